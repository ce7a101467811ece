import { DelayedError, type Job } from 'bullmq';
import { KEY_PREFIX } from '../src/adapters/redis/keys.js';
import { consoleUrlFor } from '../src/adapters/oci/console-links.js';
import type { Context, OciRunInfo } from '../src/context.js';
import { awaitsApproval, CANARY_TRAFFIC_SHIFT, orderStages, type DeployStage } from '../src/domain/deploy-stages.js';
import { fromOciLifecycleState, isTerminal } from '../src/domain/run-state.js';
import type { RunUpdate } from '../src/domain/run.js';
import { describeGate, evaluateGates, explainFailure, formatNumber, gatesFor } from '../src/domain/gates.js';
import { readSnapshot } from '../src/adapters/mlflow/run-metrics.js';
import { toMlopsError } from '../src/errors.js';
import { jobId, type DeploymentPollJob } from '../src/queues.js';
import { foldAndShow } from './fold-run.js';

/** Stage definitions do not change while a pipeline is used; a day keeps an edited ramp from showing stale for long. */
const STAGE_DEFINITION_TTL_SECONDS = 24 * 3600;
/** OCI fails a deployment whose approval waited too long (one day, or seven: the docs disagree); stop well after. */
const MAX_POLLING_MS = 8 * 24 * 3600_000;
const stageDefinitionKey = (stageId: string) => `${KEY_PREFIX}:deploy-stage:${stageId}`;

export const deploymentPollJobId = (deploymentId: string) => jobId('deployment-poll', deploymentId);

/**
 * Starts the deployment's poller unless one exists (the job id is the deployment's, so every replica and
 * every event asks for the same one). The job lives in Redis: a restart or another replica picks it up.
 */
export async function ensureDeploymentPolling(context: Context, deploymentId: string, runKey: string): Promise<void> {
  await context.queues.deploymentPoll.add('poll', { deploymentId, runKey }, { jobId: deploymentPollJobId(deploymentId), delay: context.deploymentPoll.fastMs });
}

/** Brings the poller forward (after an approval the next stage starts at once); a running poller is left alone. */
export async function pollSoon(context: Context, deploymentId: string): Promise<void> {
  const job = await context.queues.deploymentPoll.getJob(deploymentPollJobId(deploymentId));
  if (job && (await job.isDelayed())) await job.promote().catch(() => undefined);
}

/** The canary traffic-shift's rampLimitPercent, from its stage definition (cached in Redis); undefined if OCI cannot say. */
async function trafficPercent(context: Context, stageId: string): Promise<number | undefined> {
  const cached = await context.redis.get(stageDefinitionKey(stageId));
  if (cached !== null) return cached === '' ? undefined : Number(cached);
  try {
    const definition = await context.oci.getDeployStage(stageId);
    const percent = definition.rampLimitPercent;
    await context.redis.set(stageDefinitionKey(stageId), percent === undefined ? '' : String(percent), 'EX', STAGE_DEFINITION_TTL_SECONDS);
    return percent;
  } catch (error) {
    context.logger.debug({ err: error, stageId }, 'deploy stage definition unavailable');
    return undefined;
  }
}

/** The deployment's stages in pipeline order, the canary's traffic filled in. */
export async function stagesOf(context: Context, info: OciRunInfo): Promise<DeployStage[] | undefined> {
  if (!info.stages || info.stages.length === 0) return undefined;
  const ordered = orderStages(info.stages);
  return Promise.all(
    ordered.map(async (stage) => {
      if (stage.type !== CANARY_TRAFFIC_SHIFT) return stage;
      const percent = await trafficPercent(context, stage.id);
      return percent === undefined ? stage : { ...stage, trafficPercent: percent };
    }),
  );
}

/**
 * The gate results to show again beside a canary approval, one line each, stored on the run as
 * `details.canaryGates` (src/slack/deployment-stages.ts renders them under the canary's traffic): the
 * model's and the environment's gates on the MLflow run of the version being deployed, against the version
 * it replaces. Read once per deployment; MLflow not answering costs the lines, never the poll.
 */
async function canaryGateLines(context: Context, runKey: string, info: OciRunInfo): Promise<string[] | undefined> {
  const run = await context.runs.get(runKey);
  const mlflow = context.mlflow;
  if (!run || run.details.canaryGates !== undefined || !mlflow) return undefined;
  const model = run.details.model ?? info.arguments?.MODEL_NAME;
  const version = run.details.modelVersion ?? info.arguments?.MODEL_VERSION;
  const environment = run.details.environment ?? info.arguments?.ENVIRONMENT;
  if (!model || !version || !Object.hasOwn(context.config.file.models, model)) return undefined;
  const config = context.config.file.models[model];
  const gates = gatesFor(config, environment);
  if (gates.length === 0) return undefined;
  try {
    const candidate = await readSnapshot(mlflow, (await mlflow.getModelVersion(model, version)).runId, version);
    const previous = run.details.previousVersion;
    const held = previous ? await readSnapshot(mlflow, (await mlflow.getModelVersion(model, previous)).runId, previous) : undefined;
    const results = evaluateGates(gates, config?.metrics ?? {}, { candidate: candidate.metrics, holder: held?.version ? { version: held.version, metrics: held.metrics } : undefined, targetLabel: environment ?? model });
    return results.map((result) => (result.passed ? `:white_check_mark: ${describeGate(result)}: v${version} has ${formatNumber(result.candidate)}` : `:x: ${explainFailure(result, version)}`));
  } catch (error) {
    context.logger.warn({ err: error, runKey, model, version }, 'canary gates not read');
    return undefined;
  }
}

/** A getDeployment answer as a fold of the deployment's run. */
export async function deploymentUpdate(context: Context, runKey: string, info: OciRunInfo): Promise<RunUpdate> {
  const details: Record<string, string> = {};
  if (info.lifecycleDetails) details.lifecycleDetails = info.lifecycleDetails;
  if (info.projectId) details.projectId = info.projectId;
  if (info.pipelineId) details.pipelineId = info.pipelineId;
  const consoleUrl = consoleUrlFor('deployment', info.id, details, context.config.env.OCI_REGION);
  if (consoleUrl) details.consoleUrl = consoleUrl;
  const state = fromOciLifecycleState(info.lifecycleState);
  const stages = await stagesOf(context, info);
  return {
    key: runKey,
    resourceId: info.id,
    subject: 'deployment',
    kind: 'deploy',
    at: info.timeFinished ?? info.timeUpdated ?? context.now().toISOString(),
    ...(state ? { state } : {}),
    ...(info.displayName ? { name: info.displayName } : {}),
    ...(info.compartmentId ? { compartmentId: info.compartmentId } : {}),
    ...(info.timeStarted ? { startedAt: info.timeStarted } : {}),
    ...(info.timeFinished ? { finishedAt: info.timeFinished } : {}),
    ...(info.arguments && Object.keys(info.arguments).length > 0 ? { arguments: info.arguments } : {}),
    ...(stages ? { stages } : {}),
    details,
  };
}

/**
 * The deployment poller: OCI emits only create/update events for a deployment, so while one runs its
 * stages are read with getDeployment and folded into its message through the same coalescing path as
 * events. It polls every `fastMs` while stages run, backing off while nothing changes, every `slowMs` while
 * an approval waits, and ends when the deployment does. The job re-delays itself (no attempt spent), so
 * exactly one poller exists per deployment; if its worker dies, BullMQ's stalled-job check hands it to
 * another worker.
 */
export function createDeploymentPollProcessor(context: Context) {
  return async (job: Job<DeploymentPollJob>, token?: string): Promise<void> => {
    const { deploymentId } = job.data;
    const logger = context.logger.child({ job: job.id, queue: job.queueName, deploymentId });
    const runKey = (await context.runs.resolveAlias(deploymentId)) ?? job.data.runKey;
    const again = async (delayMs: number, data: DeploymentPollJob) => {
      if (!token) return;
      await job.updateData(data);
      await job.moveToDelayed(Date.now() + delayMs, token);
      throw new DelayedError();
    };

    let info: OciRunInfo;
    try {
      info = await context.oci.getDeployment(deploymentId);
    } catch (error) {
      const mlops = toMlopsError(error);
      if (!mlops.retryable) {
        // OCI no longer knows it (or the bot may not read it): say so once and stop polling.
        logger.warn({ err: error, code: mlops.code }, 'deployment poll refused');
        const run = await context.runs.get(runKey);
        if (run) await foldAndShow(context, { key: runKey, resourceId: run.resourceId, subject: 'deployment', kind: 'deploy', at: context.now().toISOString(), details: { lookupError: mlops.code === 'NOT_FOUND' ? `OCI no longer knows this deployment (${mlops.userMessage}); the bot stopped following it.` : `${mlops.userMessage} The bot stopped following this deployment.` } }, { retry: false });
        return;
      }
      const failures = (job.data.failures ?? 0) + 1;
      logger.debug({ err: error, failures }, 'deployment poll failed');
      await again(Math.max(mlops.retryAfterMs ?? 0, Math.min(context.deploymentPoll.slowMs * 4, context.deploymentPoll.fastMs * 2 ** Math.min(failures, 8))), { ...job.data, failures });
      return;
    }

    const update = await deploymentUpdate(context, runKey, info);
    const gates = update.stages?.some((stage) => stage.type === 'OKE_CANARY_APPROVAL' && awaitsApproval(stage)) ? await canaryGateLines(context, runKey, info) : undefined;
    if (gates && gates.length > 0) update.details = { ...update.details, canaryGates: gates.join('\n') };
    const changed = await foldAndShow(context, update, { retry: false });
    const state = fromOciLifecycleState(info.lifecycleState);
    if ((state && isTerminal(state)) || Date.now() - job.timestamp > MAX_POLLING_MS) {
      logger.debug({ lifecycleState: info.lifecycleState }, 'deployment poll ended');
      return;
    }
    const unchanged = changed ? 0 : (job.data.unchanged ?? 0) + 1;
    const { fastMs, slowMs } = context.deploymentPoll;
    const delay = info.stages?.some(awaitsApproval) ? slowMs : Math.min(slowMs, fastMs * 2 ** Math.min(unchanged, 6));
    await again(delay, { ...job.data, runKey, unchanged, failures: 0 });
  };
}
