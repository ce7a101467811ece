import { createHash } from 'node:crypto';
import { UnrecoverableError, type Job } from 'bullmq';
import { keys } from '../src/adapters/redis/keys.js';
import type { TrainTarget } from '../src/config/config-file.js';
import type { Context, OciRunInfo } from '../src/context.js';
import { pickChannel } from '../src/domain/route.js';
import { fromOciLifecycleState } from '../src/domain/run-state.js';
import { applyRunUpdate, RUN_KEY_VARIABLE, startedRunKey } from '../src/domain/run.js';
import { trainTargetKind } from '../src/domain/train-target.js';
import { foldAndShow, isRetry } from './fold-run.js';
import { toMlopsError } from '../src/errors.js';
import { enqueueRunStatus, jobId, TRAIN_JOB_OPTIONS, type TrainJob } from '../src/queues.js';
import { consoleUrlFor } from '../src/adapters/oci/console-links.js';

/** A second identical `/mlops train` within this window is answered with the first one's job. */
export const TRAIN_DEDUPE_SECONDS = 60;

export interface TrainRequest {
  target: string;
  arguments: Record<string, string>;
  /** The Slack user who asked; none for a retrain the bot starts itself (an alarm's auto retrain, a schedule). */
  requestedBy: string | undefined;
  /** What makes two requests "the same" for the dedupe window; by default the target and its arguments. */
  dedupeOn?: string;
  /** Facts the run's message shows from the start: why it runs (retrainOf, trigger, the alarm it came from). */
  details?: Record<string, string>;
}

export type Queued = { duplicate: false; jobId: string; runKey: string; channel: string } | { duplicate: true; jobId: string };

function fingerprint(request: TrainRequest): string {
  if (request.dedupeOn) return createHash('sha256').update(request.dedupeOn).digest('hex').slice(0, 32);
  const args = Object.entries(request.arguments).sort(([a], [b]) => a.localeCompare(b));
  return createHash('sha256').update(JSON.stringify([request.target, args])).digest('hex').slice(0, 32);
}

/**
 * Records the run as queued (its Slack message is posted right away), then queues the job that starts it
 * in OCI. The job id is derived from the request, and an identical request within the dedupe window gets
 * the first one's id back instead of a second run.
 */
export async function enqueueTraining(context: Context, request: TrainRequest): Promise<Queued> {
  const target = context.config.file.train[request.target];
  if (!target) throw new Error(`unknown train target ${request.target}`);
  const now = context.now();
  const print = fingerprint(request);
  const id = jobId('train', print, now.toISOString());
  // One round trip: claims the fingerprint, or answers with the job that holds it.
  const holder = await context.redis.set(keys.trainDedupe(print), id, 'EX', TRAIN_DEDUPE_SECONDS, 'NX', 'GET');
  if (holder !== null) return { duplicate: true, jobId: holder };
  const { kind, subject } = trainTargetKind(target);
  const runKey = startedRunKey.train(id);
  const channel = pickChannel(context.config.file.routes, context.config.file.slack.defaultChannel, { kind, resourceName: request.target });
  const { run } = applyRunUpdate(undefined, {
    key: runKey,
    resourceId: id,
    subject,
    kind,
    at: now.toISOString(),
    state: 'QUEUED',
    name: request.target,
    ...(request.requestedBy ? { startedBy: request.requestedBy } : {}),
    target: request.target,
    arguments: request.arguments,
    details: { ...request.details, channel },
  });
  await context.runs.update(runKey, () => run);
  await enqueueRunStatus(context.queues, runKey, run.version);
  await context.queues.train.add(
    'train',
    { runKey, target: request.target, arguments: request.arguments, requestedBy: request.requestedBy ?? 'system', requestedAt: now.toISOString() },
    { jobId: id },
  );
  return { duplicate: false, jobId: id, runKey, channel };
}

function commandLine(values: Record<string, string>): string {
  const quote = (value: string) => (/^[A-Za-z0-9_./:=@%+-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`);
  return Object.entries(values)
    .map(([key, value]) => `--${key} ${quote(value)}`)
    .join(' ');
}

function displayName(target: string, at: string): string {
  return `${target}-${at.replace(/[-:T]/g, '').slice(0, 14)}`;
}

/** The run key goes last: an argument of the same name cannot break the run's lineage. */
async function start(context: Context, target: TrainTarget, data: TrainJob, retryToken: string): Promise<OciRunInfo> {
  const name = displayName(data.target, data.requestedAt);
  const withRunKey = { ...data.arguments, [RUN_KEY_VARIABLE]: data.runKey };
  if ('dataScienceJob' in target) {
    const job = target.dataScienceJob;
    const args =
      job.argumentsAs === 'commandLine'
        ? { environmentVariables: { [RUN_KEY_VARIABLE]: data.runKey }, ...(Object.keys(data.arguments).length > 0 ? { commandLineArguments: commandLine(data.arguments) } : {}) }
        : { environmentVariables: withRunKey };
    return context.oci.createJobRun({ jobId: job.jobId, projectId: job.projectId, compartmentId: job.compartmentId, displayName: name, retryToken, runKey: data.runKey, ...args });
  }
  if ('dataSciencePipeline' in target) {
    const pipeline = target.dataSciencePipeline;
    return context.oci.createPipelineRun({
      pipelineId: pipeline.pipelineId,
      projectId: pipeline.projectId,
      compartmentId: pipeline.compartmentId,
      displayName: name,
      retryToken,
      runKey: data.runKey,
      environmentVariables: withRunKey,
    });
  }
  return context.oci.createBuildRun({ buildPipelineId: target.devopsBuild.buildPipelineId, displayName: name, arguments: withRunKey, retryToken, runKey: data.runKey });
}

/**
 * Starts the OCI run for a queued training request. OCI throttling and outages are retried by BullMQ with
 * backoff (the SDK itself does not retry) and the job id doubles as opc-retry-token, so a retry after a
 * lost answer cannot start a second run. A refusal (bad OCID, no permission) ends the run as failed, with
 * OCI's error code and request id in its message.
 */
export function createTrainProcessor(context: Context) {
  return async (job: Job<TrainJob>): Promise<void> => {
    const data = job.data;
    const retry = { retry: isRetry(job) };
    const run = await context.runs.get(data.runKey);
    const base = { key: data.runKey, resourceId: run?.resourceId ?? job.id ?? data.runKey, subject: run?.subject ?? 'jobRun', kind: run?.kind ?? 'training' } as const;
    const target = context.config.file.train[data.target];
    if (!target) {
      await foldAndShow(context, { ...base, at: context.now().toISOString(), state: 'FAILED', details: { lifecycleDetails: `Train target ${data.target} is no longer configured.` } }, retry);
      throw new UnrecoverableError(`unknown train target ${data.target}`);
    }
    let info: OciRunInfo;
    try {
      info = await start(context, target, data, job.id ?? data.runKey);
    } catch (error) {
      const mlops = toMlopsError(error);
      const attempts = job.opts.attempts ?? TRAIN_JOB_OPTIONS.attempts ?? 1;
      if (mlops.retryable && job.attemptsMade + 1 < attempts) throw mlops;
      await foldAndShow(context, { ...base, at: context.now().toISOString(), state: 'FAILED', details: { lifecycleDetails: mlops.userMessage } }, retry);
      await context.audit.record({ actor: 'system', action: 'job.train', subject: data.target, outcome: `failed: ${mlops.code}`, jobId: job.id ?? '', detail: mlops.userMessage });
      throw new UnrecoverableError(mlops.message);
    }
    await context.runs.setAlias(info.id, data.runKey);
    const details: Record<string, string> = {};
    if (info.pipelineId) details.pipelineId = info.pipelineId;
    if (info.projectId) details.projectId = info.projectId;
    const consoleUrl = consoleUrlFor(base.subject, info.id, details, context.config.env.OCI_REGION);
    if (consoleUrl) details.consoleUrl = consoleUrl;
    const state = fromOciLifecycleState(info.lifecycleState) ?? 'ACCEPTED';
    await foldAndShow(context, {
      ...base,
      resourceId: info.id,
      at: info.timeCreated ?? context.now().toISOString(),
      state,
      ...(info.displayName ? { name: info.displayName } : {}),
      ...(info.compartmentId ? { compartmentId: info.compartmentId } : {}),
      details,
    }, retry);
    await context.audit.record({ actor: 'system', action: 'job.train', subject: data.target, outcome: 'started', jobId: job.id ?? '', detail: info.id });
  };
}
