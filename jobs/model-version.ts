import type { Job } from 'bullmq';
import type { MlflowClient } from '../src/adapters/mlflow/mlflow-client.js';
import { readSnapshot } from '../src/adapters/mlflow/run-metrics.js';
import { KEY_PREFIX } from '../src/adapters/redis/keys.js';
import type { Context } from '../src/context.js';
import { AUTOMATIC_REQUESTER } from '../src/domain/approval.js';
import { evaluateGates, failedGates, gatesFor, type GateResult } from '../src/domain/gates.js';
import { MlopsError, toMlopsError } from '../src/errors.js';
import { jobId, type ModelVersionJob } from '../src/queues.js';
import { defaultTarget, requestPromotion } from './promote.js';

/** How many of each model's newest versions the sweep compares with those handled. */
const SWEEP_DEPTH = 20;

/** The versions of a model already handled, kept for good (a few bytes per version ever registered). */
const handledKey = (model: string) => `${KEY_PREFIX}:model-version:handled:${model}`;
const isHandled = async (context: Context, model: string, version: string) => (await context.redis.sismember(handledKey(model), version)) === 1;
const markHandled = (context: Context, model: string, version: string) => context.redis.sadd(handledKey(model), version);
const baselineKey = (model: string) => `${KEY_PREFIX}:model-version:baseline:${model}`;

/**
 * Queues the handling of a new model version (from MLflow's webhook or the sweep). The job id is the
 * version's, so the webhook, the sweep and every replica enqueue it once; the model's set of handled versions
 * in Redis keeps it once after the job itself is gone.
 */
export async function enqueueNewVersion(context: Context, model: string, version: string, via: 'webhook' | 'sweep'): Promise<void> {
  await context.queues.modelVersions.add('version', { kind: 'version', model, version, via }, { jobId: jobId('model-version', model, version) });
}

/** Where a new version of the model goes first, and how it is labelled. */
function firstStep(context: Context, model: string): { alias: string | undefined; stage: string | undefined; environment: string | undefined; label: string; autoPromote: boolean } {
  const config = context.config.file.models[model];
  const first = config?.environments?.[0];
  if (first) return { alias: first.alias, stage: undefined, environment: first.name, label: first.name, autoPromote: first.autoPromote && first.approvals?.required === 0 };
  const target = defaultTarget(context, model);
  return target.kind === 'alias'
    ? { alias: target.alias, stage: undefined, environment: undefined, label: `@${target.alias}`, autoPromote: false }
    : { alias: undefined, stage: target.stage, environment: undefined, label: `stage ${target.stage}`, autoPromote: false };
}

/** The version's gates for its first step, against what that step serves now. */
async function firstStepGates(context: Context, mlflow: MlflowClient, model: string, runId: string | undefined, version: string): Promise<GateResult[]> {
  const config = context.config.file.models[model];
  const step = firstStep(context, model);
  const gates = gatesFor(config, step.environment);
  if (gates.length === 0) return [];
  const registered = await mlflow.getRegisteredModel(model);
  const holder = step.alias ? registered.aliases[step.alias] : step.stage ? registered.stages[step.stage] : undefined;
  const candidate = await readSnapshot(mlflow, runId, version);
  const held = holder && holder !== version ? await readSnapshot(mlflow, (await mlflow.getModelVersion(model, holder)).runId, holder) : undefined;
  return evaluateGates(gates, config?.metrics ?? {}, { candidate: candidate.metrics, holder: held?.version ? { version: held.version, metrics: held.metrics } : undefined, targetLabel: step.label });
}

/** The "version registered" message, in the model's channel; one per version whatever retries happen. */
async function postVersionRegistered(context: Context, model: string, version: string, runId: string | undefined, gates: GateResult[]): Promise<void> {
  // Where it is announced (the training run's thread, or the model's channel) depends on its run's tags: jobs/version-registered.ts.
  await context.queues.slackStatus.add('version', { kind: 'version', model, version, ...(runId ? { runId } : {}), gates }, { jobId: jobId('version-registered', model, version) });
}

/**
 * A new version of a configured model: its gates for the first step are evaluated; when that step is an
 * environment with autoPromote (and no approval needed) and every gate passes, the bot promotes it there
 * itself, posted and audited as acting on MLflow's webhook. Otherwise the "version registered" message
 * offers Request promotion, naming the failed gates (then for gate overriders only).
 */
async function handleNewVersion(context: Context, mlflow: MlflowClient, data: Extract<ModelVersionJob, { kind: 'version' }>): Promise<void> {
  const { model, version, via } = data;
  if (!Object.hasOwn(context.config.file.models, model)) return;
  if (await isHandled(context, model, version)) return;
  let found;
  try {
    found = await mlflow.getModelVersion(model, version);
  } catch (error) {
    // Deleted since: nothing to offer.
    if (error instanceof MlopsError && error.code === 'NOT_FOUND') return;
    throw error;
  }
  if (found.status === 'PENDING_REGISTRATION') throw new MlopsError('UPSTREAM_UNAVAILABLE', `version ${version} of ${model} is still registering`);
  if (found.status === 'FAILED_REGISTRATION') {
    await markHandled(context, model, version);
    return;
  }
  const gates = await firstStepGates(context, mlflow, model, found.runId, version);
  const step = firstStep(context, model);
  const actor = via === 'webhook' ? 'mlflow.webhook' : 'mlflow.sweep';
  if (step.autoPromote && failedGates(gates).length === 0) {
    try {
      const { approval } = await requestPromotion(context, { model, version, requestedBy: AUTOMATIC_REQUESTER, ...(step.environment ? { environment: step.environment } : {}) });
      await markHandled(context, model, version);
      await context.audit.record({ actor: AUTOMATIC_REQUESTER, action: `${actor}.auto_promote`, subject: `${model} v${version} ${step.label}`, outcome: 'requested', jobId: approval.id });
      return;
    } catch (error) {
      const mlops = toMlopsError(error);
      if (mlops.retryable) throw mlops;
      // Refused (already serves it, say): offered by hand instead, and the reason is in the audit log.
      await context.audit.record({ actor: AUTOMATIC_REQUESTER, action: `${actor}.auto_promote`, subject: `${model} v${version} ${step.label}`, outcome: 'refused', detail: mlops.userMessage });
    }
  }
  await postVersionRegistered(context, model, version, found.runId, gates);
  await markHandled(context, model, version);
  await context.audit.record({
    actor: AUTOMATIC_REQUESTER,
    action: `${actor}.version_registered`,
    subject: `${model} v${version}`,
    outcome: failedGates(gates).length > 0 ? 'gate failed' : 'offered',
    ...(failedGates(gates).length > 0 ? { detail: failedGates(gates).map((gate) => `${gate.metric} ${gate.kind} ${gate.threshold}: ${gate.note}`).join('; ') } : {}),
  });
}

/**
 * MLflow delivers a webhook once and never again. Each configured model's newest versions are compared
 * with those handled; a version past the model's baseline (the newest one when the bot first looked) that
 * nobody handled is handled now, through the same deterministic job as its webhook.
 */
export async function sweepModelVersions(context: Context): Promise<number> {
  const mlflow = context.mlflow;
  if (!mlflow) return 0;
  let queued = 0;
  for (const model of Object.keys(context.config.file.models)) {
    let versions;
    try {
      versions = await mlflow.newestVersions(model, SWEEP_DEPTH);
    } catch (error) {
      // A model not registered yet has nothing to miss; anything else waits for the next sweep.
      if (!(error instanceof MlopsError && error.code === 'NOT_FOUND')) context.logger.warn({ err: error, model }, 'model version sweep skipped a model');
      continue;
    }
    const newest = Math.max(0, ...versions.map((candidate) => Number(candidate.version)).filter(Number.isFinite));
    // First look at this model: what exists now predates the bot and is not news.
    await context.redis.set(baselineKey(model), String(newest), 'NX');
    const baseline = Number(await context.redis.get(baselineKey(model)));
    for (const candidate of versions) {
      // Still registering: the next sweep sees it; failed: nothing to offer.
      if (!(Number(candidate.version) > baseline) || candidate.status === 'PENDING_REGISTRATION' || candidate.status === 'FAILED_REGISTRATION') continue;
      if (await isHandled(context, model, candidate.version)) continue;
      await enqueueNewVersion(context, model, candidate.version, 'sweep');
      queued += 1;
    }
  }
  if (queued > 0) context.logger.info({ queued }, 'missed model versions queued');
  return queued;
}

export function createModelVersionProcessor(context: Context) {
  return async (job: Job<ModelVersionJob>): Promise<void> => {
    const mlflow = context.mlflow;
    if (job.data.kind === 'sweep') {
      await sweepModelVersions(context);
      return;
    }
    // Without MLFLOW_TRACKING_URI nothing can be read or gated: the version is only announced.
    if (!mlflow) {
      if (Object.hasOwn(context.config.file.models, job.data.model)) await postVersionRegistered(context, job.data.model, job.data.version, undefined, []);
      return;
    }
    await handleNewVersion(context, mlflow, job.data);
  };
}
