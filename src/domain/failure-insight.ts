import type { Run } from './run.js';

/**
 * Pure decisions behind the "explain the failure" thread replies: which log to search for a failed run
 * and over which window, and how an alarm's trigger rule splits into the metric to draw and its threshold.
 */

/** How far before the run's start and after its end the log search reaches (clock skew, buffered output). */
const WINDOW_MARGIN_MS = 2 * 60_000;
/** A run whose start is unknown: search the last hours before it ended. */
const DEFAULT_LOOKBACK_MS = 6 * 3600_000;
/** OCI Logging Search refuses windows longer than 14 days. */
const MAX_WINDOW_MS = 14 * 24 * 3600_000;

export function logWindow(run: Pick<Run, 'startedAt' | 'finishedAt' | 'stateAt' | 'history'>, now: Date): { timeStart: string; timeEnd: string } {
  const endMs = Math.min(now.getTime(), Date.parse(run.finishedAt ?? run.stateAt) + WINDOW_MARGIN_MS);
  const firstSeen = run.startedAt ?? run.history[0]?.at;
  const startMs = firstSeen ? Date.parse(firstSeen) - WINDOW_MARGIN_MS : endMs - DEFAULT_LOOKBACK_MS;
  const safeEnd = Number.isFinite(endMs) ? endMs : now.getTime();
  const safeStart = Number.isFinite(startMs) ? Math.max(startMs, safeEnd - MAX_WINDOW_MS) : safeEnd - DEFAULT_LOOKBACK_MS;
  return { timeStart: new Date(Math.min(safeStart, safeEnd)).toISOString(), timeEnd: new Date(safeEnd).toISOString() };
}

/** Where a DevOps run's lines are found in its project's log: DevOps log records carry the run's id. */
export function devopsLogFilter(run: Pick<Run, 'subject' | 'resourceId'>): { field: string; value: string } | undefined {
  if (run.subject === 'buildRun') return { field: 'data.buildRunId', value: run.resourceId };
  if (run.subject === 'deployment') return { field: 'data.deploymentId', value: run.resourceId };
  return undefined;
}

export interface AlarmRule {
  /** The metric part of the MQL, what summarizeMetricsData draws. */
  metricQuery: string;
  threshold?: { operator: string; value: number };
}

/**
 * `CpuUtilization[1m].mean() > 90` → metric `CpuUtilization[1m].mean()`, threshold `> 90`. A range
 * (`in (a, b)`), `absent()` or anything else without a plain comparison is drawn without a threshold.
 */
export function splitAlarmQuery(query: string): AlarmRule {
  const trimmed = query.trim();
  const comparison = /^(.*\))\s*(>=|<=|==|!=|>|<)\s*(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)$/.exec(trimmed);
  if (comparison?.[1] && comparison[2] && comparison[3]) return { metricQuery: comparison[1].trim(), threshold: { operator: comparison[2], value: Number(comparison[3]) } };
  const range = /^(.*\))\s*(?:not\s+)?in\s*\(.*\)$/i.exec(trimmed);
  if (range?.[1]) return { metricQuery: range[1].trim() };
  return { metricQuery: trimmed.replace(/\.absent\(\)$/, '.count()') };
}

/** A series belongs to the alarm's firing streams when every dimension the notification named matches. */
export function matchesStream(dimensions: Record<string, string>, streams: readonly { dimensions: Record<string, string> }[]): boolean {
  if (streams.length === 0) return true;
  return streams.some((stream) => {
    const id = stream.dimensions.resourceId;
    // Notifications list many dimensions; the resource id alone identifies the stream when present.
    if (id) return dimensions.resourceId === id;
    return Object.entries(stream.dimensions).every(([key, value]) => dimensions[key] === undefined || dimensions[key] === value);
  });
}
