import type { Gate, MetricDirection, ModelConfig } from '../config/config-file.js';
import type { Approval } from './approval.js';

/**
 * Quality gates: a candidate version's run metrics against fixed bounds (`min`, `max`) and against the
 * version its target serves now (`maxRegression`, by the metric's direction). Pure: callers bring the
 * metrics MLflow reports. NaN and infinities are values like any other here, and they fail.
 */

export type GateKind = 'min' | 'max' | 'maxRegression';

/** One gate's verdict, as stored on a request and shown on it. */
export interface GateResult {
  metric: string;
  kind: GateKind;
  threshold: number;
  /** `model` for the model's own gates, else the environment that added it. */
  scope: string;
  /** The candidate's value; undefined when its run has no such metric. */
  candidate?: number | undefined;
  /** The version the target serves now and its value, for maxRegression; undefined when nothing serves it. */
  holder?: { version: string; value?: number | undefined };
  passed: boolean;
  /** Why, in a few words: `0.02 worse than v5`, `missing from the run`, `nothing serves @champion yet`. */
  note: string;
}

export interface GateInput {
  /** The candidate's run metrics, latest value per key. */
  candidate: Readonly<Record<string, number>>;
  /** The version the target (environment alias, alias or stage) serves now, with its run metrics. */
  holder: { version: string; metrics: Readonly<Record<string, number>> } | undefined;
  /** What the target is called, for notes: `@champion`, `prod`. */
  targetLabel: string;
}

/** A gate with where it came from. */
export interface ScopedGate {
  gate: Gate;
  scope: string;
}

export function gateKind(gate: Gate): GateKind {
  if ('min' in gate) return 'min';
  if ('max' in gate) return 'max';
  return 'maxRegression';
}

function threshold(gate: Gate): number {
  if ('min' in gate) return gate.min;
  if ('max' in gate) return gate.max;
  return gate.maxRegression;
}

/** The model's gates, then those the environment adds (an environment's gates add to the model's, never replace them). */
export function gatesFor(model: Pick<ModelConfig, 'gates' | 'environments'> | undefined, environment?: string): ScopedGate[] {
  if (!model) return [];
  const own = model.gates.map((gate) => ({ gate, scope: 'model' }));
  const added = environment ? (model.environments?.find((candidate) => candidate.name === environment)?.gates ?? []) : [];
  return [...own, ...added.map((gate) => ({ gate, scope: environment ?? 'model' }))];
}

/** `x` is `y` up to float rounding (0.91 - 0.905 is 0.005000000000000004). */
function atMost(value: number, limit: number): boolean {
  const tolerance = 1e-12 * Math.max(1, Math.abs(value), Math.abs(limit));
  return value <= limit + tolerance;
}

/** How much worse `candidate` is than `holder` by direction; negative when better. */
export function regression(direction: MetricDirection, candidate: number, holder: number): number {
  return direction === 'higher' ? holder - candidate : candidate - holder;
}

export function formatNumber(value: number | undefined): string {
  if (value === undefined) return '—';
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value) || Math.abs(value) >= 1000) return String(value);
  return String(Number(value.toPrecision(4)));
}

export function evaluateGate(scoped: ScopedGate, directions: Readonly<Record<string, MetricDirection>>, input: GateInput): GateResult {
  const { gate, scope } = scoped;
  const kind = gateKind(gate);
  const limit = threshold(gate);
  const value = Object.hasOwn(input.candidate, gate.metric) ? input.candidate[gate.metric] : undefined;
  const base = { metric: gate.metric, kind, threshold: limit, scope, candidate: value };
  if (value === undefined) return { ...base, passed: false, note: 'missing from the run' };
  // NaN and infinities come from diverged training or a division by zero: never a pass.
  if (!Number.isFinite(value)) return { ...base, passed: false, note: `${String(value)} is not a score` };
  if (kind === 'min') return value >= limit ? { ...base, passed: true, note: 'at or above the minimum' } : { ...base, passed: false, note: 'below the minimum' };
  if (kind === 'max') return value <= limit ? { ...base, passed: true, note: 'at or below the maximum' } : { ...base, passed: false, note: 'above the maximum' };
  const direction = directions[gate.metric];
  if (!input.holder) return { ...base, passed: true, note: `nothing serves ${input.targetLabel} yet, so nothing to regress from` };
  const held = Object.hasOwn(input.holder.metrics, gate.metric) ? input.holder.metrics[gate.metric] : undefined;
  const holder = { version: input.holder.version, value: held };
  if (!direction) return { ...base, holder, passed: false, note: `no direction for ${gate.metric} in metrics` };
  if (held === undefined || !Number.isFinite(held)) {
    return { ...base, holder, passed: true, note: `v${input.holder.version} has ${held === undefined ? 'no' : `a ${String(held)}`} ${gate.metric}, so nothing to regress from` };
  }
  const worse = regression(direction, value, held);
  const passed = atMost(worse, limit);
  const size = formatNumber(Math.abs(worse));
  const note = worse > 0 ? `${size} worse than v${input.holder.version}` : worse < 0 ? `${size} better than v${input.holder.version}` : `same as v${input.holder.version}`;
  return { ...base, holder, passed, note };
}

/** Every gate of the model (and of the target environment), in config order. */
export function evaluateGates(gates: readonly ScopedGate[], directions: Readonly<Record<string, MetricDirection>>, input: GateInput): GateResult[] {
  return gates.map((gate) => evaluateGate(gate, directions, input));
}

/** A gate's identity on a request: an override covers the gates that failed when it was given. */
export function gateId(result: Pick<GateResult, 'metric' | 'kind' | 'threshold' | 'scope'>): string {
  return `${result.scope}:${result.metric}:${result.kind}:${result.threshold}`;
}

export function failedGates(results: readonly GateResult[] | undefined): GateResult[] {
  return (results ?? []).filter((result) => !result.passed);
}

/** `auc ≥ 0.9`, `latency_p95_ms ≤ 120`, `auc at most 0.005 worse than the serving version`. */
export function describeGate(result: Pick<GateResult, 'metric' | 'kind' | 'threshold'>): string {
  if (result.kind === 'min') return `${result.metric} ≥ ${formatNumber(result.threshold)}`;
  if (result.kind === 'max') return `${result.metric} ≤ ${formatNumber(result.threshold)}`;
  return `${result.metric} at most ${formatNumber(result.threshold)} worse than the serving version`;
}

/** One line for a refusal: `auc ≥ 0.9 (v7 has 0.85: below the minimum)`. */
export function explainFailure(result: GateResult, version: string): string {
  return `${describeGate(result)} (v${version} has ${formatNumber(result.candidate)}: ${result.note})`;
}

/** Whether a metric moved the better way: undefined without a direction or when either value is not finite. */
export function verdict(direction: MetricDirection | undefined, candidate: number | undefined, current: number | undefined): 'better' | 'worse' | 'same' | undefined {
  if (!direction || candidate === undefined || current === undefined || !Number.isFinite(candidate) || !Number.isFinite(current)) return undefined;
  const worse = regression(direction, candidate, current);
  return worse > 0 ? 'worse' : worse < 0 ? 'better' : 'same';
}

/**
 * Which metrics a request shows: the configured (directions) and gated ones when there are any, else the
 * first `limit` by name; the rest are only counted. A run can log hundreds.
 */
export function shownMetrics(keys: Iterable<string>, configured: readonly string[], limit = 20): { shown: string[]; omitted: number } {
  const all = [...new Set(keys)].sort();
  if (configured.length > 0) {
    const wanted = new Set(configured);
    const shown = all.filter((key) => wanted.has(key));
    return { shown, omitted: all.length - shown.length };
  }
  return { shown: all.slice(0, limit), omitted: Math.max(0, all.length - limit) };
}

/** The metric names a model cares about: its directions and every gate's metric, in any environment. */
export function configuredMetrics(model: Pick<ModelConfig, 'metrics' | 'gates' | 'environments'> | undefined): string[] {
  if (!model) return [];
  const names = new Set(Object.keys(model.metrics));
  for (const gate of model.gates) names.add(gate.metric);
  for (const environment of model.environments ?? []) for (const gate of environment.gates) names.add(gate.metric);
  return [...names];
}

/** What gates add to a request: its gate results, and the metrics it shows with their directions. */
export type GatedSnapshots = Pick<Approval, 'candidate' | 'current' | 'directions' | 'metricsOmitted' | 'gates'>;

/**
 * A request as it is stored and shown: its gates evaluated against the holder it names, the directions of
 * the metrics it shows, and only those metrics (the rest counted), so a run with hundreds stays readable.
 */
export function withGates(
  model: Pick<ModelConfig, 'metrics' | 'gates' | 'environments'> | undefined,
  snapshots: Pick<Approval, 'candidate' | 'current'>,
  environment: string | undefined,
  targetLabel: string,
): GatedSnapshots {
  const directions = model?.metrics ?? {};
  const { candidate, current } = snapshots;
  const gates = evaluateGates(gatesFor(model, environment), directions, {
    candidate: candidate.metrics,
    holder: current.version ? { version: current.version, metrics: current.metrics } : undefined,
    targetLabel,
  });
  const { shown, omitted } = shownMetrics([...Object.keys(candidate.metrics), ...Object.keys(current.metrics)], configuredMetrics(model));
  const pick = (metrics: Record<string, number>) => Object.fromEntries(shown.filter((key) => Object.hasOwn(metrics, key)).map((key) => [key, metrics[key] as number]));
  const shownDirections = Object.fromEntries(shown.filter((key) => Object.hasOwn(directions, key)).map((key) => [key, directions[key] as MetricDirection]));
  return {
    candidate: { ...candidate, metrics: pick(candidate.metrics) },
    current: { ...current, metrics: pick(current.metrics) },
    ...(Object.keys(shownDirections).length > 0 ? { directions: shownDirections } : {}),
    ...(omitted > 0 ? { metricsOmitted: omitted } : {}),
    ...(gates.length > 0 ? { gates } : {}),
  };
}
