import type { MetricsSnapshot } from '../../domain/approval.js';
import { MlopsError } from '../../errors.js';
import type { MlflowClient } from './mlflow-client.js';

/**
 * A version's run metrics (MLflow's runs/get: the latest value per key) for comparisons and gates. A
 * version without a run, or whose run was deleted, has none: that costs the comparison (and fails the
 * gates that need its metrics), never the request.
 */
export async function readSnapshot(mlflow: MlflowClient, runId: string | undefined, version: string | undefined): Promise<MetricsSnapshot> {
  if (!runId) return { ...(version ? { version } : {}), metrics: {} };
  try {
    const run = await mlflow.getRun(runId);
    return { ...(version ? { version } : {}), runId, metrics: run.metrics };
  } catch (error) {
    if (error instanceof MlopsError && !error.retryable) return { ...(version ? { version } : {}), runId, metrics: {} };
    throw error;
  }
}
