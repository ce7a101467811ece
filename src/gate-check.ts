import type { MlflowClient } from './adapters/mlflow/mlflow-client.js';
import { readSnapshot } from './adapters/mlflow/run-metrics.js';
import type { Context } from './context.js';
import { approvalTargetLabel, type Approval } from './domain/approval.js';
import { evaluateGates, explainFailure, failedGates, gateId, gatesFor, type GateResult } from './domain/gates.js';

export type GateRecheck = { ok: true; gates: GateResult[] | undefined } | { ok: false; gates: GateResult[]; reason: string };

/** The version the request's target serves at this moment. */
async function holderNow(mlflow: MlflowClient, approval: Approval): Promise<string | undefined> {
  if (approval.target.kind === 'alias') return (await mlflow.getVersionByAlias(approval.model, approval.target.alias))?.version;
  return (await mlflow.getRegisteredModel(approval.model)).stages[approval.target.stage];
}

/**
 * The gates again, just before the alias moves: the target may serve another version than when the
 * request was made, and the runs' latest metrics may have moved. An override lifts the gates that had
 * failed when it was given; any other failing gate stops the promotion, with the reason.
 */
export async function recheckGates(context: Context, mlflow: MlflowClient, approval: Approval, environment: string | undefined): Promise<GateRecheck> {
  const model = context.config.file.models[approval.model];
  const gates = gatesFor(model, environment);
  if (gates.length === 0) return { ok: true, gates: undefined };
  const holder = await holderNow(mlflow, approval);
  // An earlier attempt moved it already and died before finishing: the promotion is done, not re-judged.
  if (holder === approval.version) return { ok: true, gates: approval.gates };
  const candidateRun = approval.candidate.runId ?? (await mlflow.getModelVersion(approval.model, approval.version)).runId;
  const candidate = await readSnapshot(mlflow, candidateRun, approval.version);
  const held = holder ? await readSnapshot(mlflow, (await mlflow.getModelVersion(approval.model, holder)).runId, holder) : undefined;
  const label = approvalTargetLabel(approval);
  const results = evaluateGates(gates, model?.metrics ?? {}, { candidate: candidate.metrics, holder: held?.version ? { version: held.version, metrics: held.metrics } : undefined, targetLabel: label });
  const overridden = new Set(approval.gateOverride ? failedGates(approval.gates).map(gateId) : []);
  const blocking = failedGates(results).filter((result) => !overridden.has(gateId(result)));
  if (blocking.length === 0) return { ok: true, gates: results };
  const moved = holder !== approval.current.version ? ` ${label} now serves ${holder ? `v${holder}` : 'no version'} (the request was made against ${approval.current.version ? `v${approval.current.version}` : 'none'}).` : '';
  return { ok: false, gates: results, reason: `Stopped before moving ${label}: a quality gate failed when checked again.${moved} ${blocking.map((result) => explainFailure(result, approval.version)).join('; ')}.` };
}
