import { createHash } from 'node:crypto';
import { DelayedError, Queue, Worker, type Job, type JobsOptions, type MinimalJob } from 'bullmq';
import type { Redis } from 'ioredis';
import type { GenericNotification, OciNotification } from './domain/oci-notification.js';
import type { GateResult } from './domain/gates.js';
import { isMlopsError } from './errors.js';
import type { Metrics } from './metrics.js';
import type { Block } from './slack/blocks.js';

export const QUEUE_PREFIX = 'mlops:bull';

export const QUEUE_NAMES = {
  notifications: 'oci-notifications',
  slackStatus: 'slack-status',
  train: 'train',
  promote: 'promote',
  rollback: 'rollback',
  explain: 'explain-failure',
  retrain: 'retrain',
  modelVersions: 'model-versions',
  deploymentPoll: 'deployment-poll',
  deploymentAction: 'deployment-action',
  commands: 'commands',
} as const;
export type QueueName = (typeof QUEUE_NAMES)[keyof typeof QUEUE_NAMES];

/**
 * A `/mlops` command acknowledged by a web process, for a worker to run: who typed what where, and the
 * response_url its reply goes to (Slack honours it for 30 minutes).
 */
export interface CommandJob {
  subcommand: string;
  input: { userId: string; channelId: string; teamId: string; args: string[]; triggerId?: string };
  responseUrl: string;
  receivedAt: string;
}

export interface NotificationJob {
  notification: OciNotification;
  receivedAt: string;
  messageId?: string;
}

export type SlackStatusJob =
  | { kind: 'run'; runKey: string; version: number }
  | { kind: 'roots'; channel: string }
  | { kind: 'notice'; channel: string; notice: GenericNotification }
  | { kind: 'text'; channel: string; text: string }
  | { kind: 'message'; channel: string; text: string; blocks: Block[] }
  | { kind: 'approval'; approvalId: string }
  /** A reply in a run's thread, once its message is posted (waits for it until `until`), optionally linking another run's message. */
  | { kind: 'note'; runKey: string; id: string; text: string; blocks?: Block[]; linkRunKey?: string; until: string }
  /** MLflow registered a version: posted in the thread of the bot's run that trained it, else in the model's channel. */
  | { kind: 'version'; model: string; version: string; runId?: string; gates?: GateResult[] }
  /** An approval request's expiry time has come: close it if nobody decided (delayed to expiresAt). */
  | { kind: 'approval-expiry'; approvalId: string }
  /** Publish one user's Home tab (debounced per user, see scheduleHomeRefresh). */
  | { kind: 'home'; user: string }
  /** Tell the requester of a training run how it ended. */
  | { kind: 'dm-run'; runKey: string }
  /** Tell the requester of a promotion what was decided. */
  | { kind: 'dm-approval'; approvalId: string };

/** Why a model is retrained: an alarm (its episode's run key), a Retrain click, or its schedule's tick. */
export type RetrainJob =
  | { trigger: 'alarm'; model: string; alarmRunKey: string; alarmTitle: string; triggerId: string }
  | { trigger: 'schedule'; model: string };

/**
 * Explaining a failure in its alert's thread (log tail, MLflow run, alarm chart), off the status path: a
 * `failure` job once the on-call alert is posted, a `recovery` job when an alarm that fired returns to
 * OK, a `more-log` job for a More click on a log tail.
 */
export type ExplainJob =
  | { kind: 'failure'; runKey: string; state: string }
  | { kind: 'recovery'; runKey: string }
  | { kind: 'more-log'; pageId: string; channel: string; user: string };

export interface TrainJob {
  runKey: string;
  target: string;
  arguments: Record<string, string>;
  requestedBy: string;
  requestedAt: string;
}

/** A new model version to handle (webhook or sweep), or a sweep for versions whose webhook was missed. */
export type ModelVersionJob = { kind: 'version'; model: string; version: string; via: 'webhook' | 'sweep' } | { kind: 'sweep' };

export interface PromoteJob {
  approvalId: string;
}

/** The rollback job's data (see jobs/rollback.ts for its meaning). */
export interface RollbackJobData {
  namespace: string;
  name: string;
  model?: string;
  /** The model's environment, and the kubeconfig context of its cluster (unset: in-cluster). */
  environment?: string;
  kubeContext?: string;
  timeoutMs: number;
  targetReplicaSet: string;
  goal: { revision?: number | undefined; replicaSet?: string; images: string[]; changeCause?: string; modelVersion?: string };
  requestedBy: string;
  channel: string;
  /** Offered in the confirm step: move this alias back to the version the target revision runs. */
  aliasOffer?: AliasMove;
  /** Chosen in the confirm step: move the alias too, once the rollout succeeded. */
  moveAlias?: AliasMove;
  /** A GitOps controller manages the Deployment (who): the confirm step warned, the user rolled back anyway. */
  gitops?: string;
  /** The environment (`confirm: typed`) whose name the user must type to confirm. */
  typedEnvironment?: string;
}

/** An MLflow alias of a model to move to a version (after a rollback, so registry and serving agree). */
export interface AliasMove {
  model: string;
  alias: string;
  version: string;
  /** The version the alias held when the confirm step was shown. */
  from?: string;
}

/** One poller per deployment (job id from the deployment OCID); it re-delays itself until the deployment ends. */
export interface DeploymentPollJob {
  deploymentId: string;
  runKey: string;
  /** Polls in a row that changed nothing (the delay grows with it). */
  unchanged?: number;
  /** Failed reads in a row (OCI down or throttling). */
  failures?: number;
}

/** Approve, Reject or Cancel, decided in Slack: one OCI call. */
export interface DeploymentActionJob {
  action: 'approve' | 'reject' | 'cancel';
  runKey: string;
  deploymentId: string;
  stageId?: string;
  /** The Slack user(s) the decision names, and the reason given (reject, cancel). */
  users: string[];
  reason?: string;
  /** Where the deciding click came from, for the ephemeral answer when OCI refuses. */
  channel?: string;
}

export interface Queues {
  notifications: Queue<NotificationJob>;
  slackStatus: Queue<SlackStatusJob>;
  train: Queue<TrainJob>;
  promote: Queue<PromoteJob>;
  rollback: Queue<RollbackJobData>;
  explain: Queue<ExplainJob>;
  retrain: Queue<RetrainJob>;
  modelVersions: Queue<ModelVersionJob>;
  deploymentPoll: Queue<DeploymentPollJob>;
  deploymentAction: Queue<DeploymentActionJob>;
  commands: Queue<CommandJob>;
}

/**
 * BullMQ job ids must not contain ':' and should be short; a deterministic id from the parts makes every
 * enqueue idempotent (adding an id that exists is a no-op).
 */
export function jobId(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 40);
}

/**
 * Asks the Slack side to show a run as it is in Redis when the job runs. One pending job per run: while one
 * waits (for a worker, or delayed for a rate-limit slot) further asks are absorbed by it, since it renders
 * the latest state anyway; while one is active, the last ask is kept and queued when it finishes (BullMQ
 * deduplication with keepLastIfActive). The deduplication id is what makes asking idempotent; the job id is
 * BullMQ's own counter, because an ask kept while its twin is active would otherwise be queued under the
 * finishing job's id and removed with it.
 */
export async function enqueueRunStatus(queues: Pick<Queues, 'slackStatus'>, runKey: string, version: number, options: { now?: boolean } = {}): Promise<void> {
  // `now` (a new final or failed state): a pending job delayed for a later edit, a rate-limit slot or a
  // channel's waiting roots is made due again in the same script, so the state reaches Slack at once instead
  // of when that delay ends.
  await queues.slackStatus.add('run', { kind: 'run', runKey, version }, { deduplication: { id: jobId('show-run', runKey), keepLastIfActive: true, ...(options.now ? { reschedule: true } : {}) } });
}

/** Hands an acknowledged command to the workers; Slack's trigger_id (one per command typed) makes a replay of it a no-op. */
export async function enqueueCommand(queues: Pick<Queues, 'commands'>, data: CommandJob): Promise<void> {
  await queues.commands.add('command', data, data.input.triggerId ? { jobId: jobId('command', data.input.triggerId) } : {});
}

/** Asks for the job that posts the roots waiting for a channel's slot (jobs/slack-status.ts): one per channel, deduplicated like enqueueRunStatus. */
export async function enqueueWaitingRoots(queues: Pick<Queues, 'slackStatus'>, channel: string): Promise<void> {
  await queues.slackStatus.add('roots', { kind: 'roots', channel }, { deduplication: { id: jobId('waiting-roots', channel), keepLastIfActive: true } });
}

/**
 * Every queue's retry backoff: exponential from the job's `backoff.delay`, but never sooner than the
 * Retry-After the failing service asked for (OCI, MLflow and the Kubernetes API send one with 429 and
 * some 503s), up to 10 minutes.
 *
 * Jobs are queued with BullMQ's built-in `exponential` type, which workers of every release know: during
 * a rolling upgrade a worker of the previous release may retry a job this release queued. (One release
 * queued the custom type `retry-after`, which such a worker cannot compute: BullMQ "Unknown backoff
 * strategy", and the job failed instead of being retried.) This release's workers honour Retry-After all
 * the same (createJobWorker), and still run jobs that carry the `retry-after` type: BullMQ hands every
 * type it does not know to `settings.backoffStrategy`, this function.
 */
export const RETRY_AFTER_BACKOFF = 'retry-after';
const JOB_BACKOFF_TYPE = 'exponential';
const MAX_RETRY_AFTER_MS = 10 * 60_000;

export function jobBackoff(attemptsMade: number, _type?: string, error?: Error, job?: MinimalJob): number {
  const backoff = job?.opts.backoff;
  const delay = (typeof backoff === 'number' ? backoff : backoff?.delay) ?? 1_000;
  const exponential = Math.round(2 ** Math.max(0, attemptsMade - 1) * delay);
  const asked = isMlopsError(error) ? (error.retryAfterMs ?? 0) : 0;
  return Math.max(exponential, Math.min(asked, MAX_RETRY_AFTER_MS));
}

/**
 * A BullMQ worker of this release: `run` per job, retries timed by jobBackoff. BullMQ computes a built-in
 * type itself, so when a job queued as `exponential` fails with a Retry-After, its backoff type is
 * switched to `retry-after` on this in-memory copy only (BullMQ reads it right after the processor
 * throws, to schedule the retry; nothing of it is written back), and jobBackoff decides the delay. In
 * Redis the job keeps the type every worker knows.
 */
export function createJobWorker(name: string, run: (job: Job, token?: string) => Promise<unknown>, options: { connection: Redis; concurrency: number }): Worker {
  const processor = async (job: Job, token?: string): Promise<unknown> => {
    try {
      return await run(job, token);
    } catch (error) {
      const backoff = job.opts.backoff;
      if (typeof backoff === 'object' && backoff.type === JOB_BACKOFF_TYPE && isMlopsError(error) && (error.retryAfterMs ?? 0) > 0) {
        job.opts.backoff = { ...backoff, type: RETRY_AFTER_BACKOFF };
      }
      throw error;
    }
  };
  return new Worker(name, processor, { connection: options.connection, prefix: QUEUE_PREFIX, concurrency: options.concurrency, autorun: true, settings: { backoffStrategy: jobBackoff } });
}

/**
 * Moves the job being processed back to delayed, due in `delayMs`, without spending one of its attempts (a
 * Slack rate-limit slot or a lease it waits for is not a failure), and ends its run: BullMQ expects the
 * DelayedError this throws.
 */
export async function comeBackLater(job: Job, token: string, delayMs: number, metrics: Pick<Metrics, 'jobOutcomes'>): Promise<never> {
  await job.moveToDelayed(Date.now() + delayMs, token);
  metrics.jobOutcomes.inc({ queue: job.queueName, outcome: 'delayed' });
  throw new DelayedError();
}

/**
 * A command runs once: its effects (a run queued, an approval requested) are not repeated by a retry, and
 * a failure is answered to the user by the command itself. Nothing is kept once done: the job holds a
 * response_url, and the worker remembers the trigger_id against replays (jobs/command.ts).
 */
export const COMMAND_JOB_OPTIONS: JobsOptions = {
  attempts: 1,
  removeOnComplete: true,
  removeOnFail: { age: 3600 },
};

/** Notification jobs stay 3 hours after completion: OCI retries a delivery for 2, so a redelivery is a no-op. */
export const NOTIFICATION_JOB_OPTIONS: JobsOptions = {
  attempts: 8,
  backoff: { type: JOB_BACKOFF_TYPE, delay: 1_000 },
  removeOnComplete: { age: 3 * 3600 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

export const SLACK_STATUS_JOB_OPTIONS: JobsOptions = {
  attempts: 12,
  backoff: { type: JOB_BACKOFF_TYPE, delay: 1_000 },
  removeOnComplete: true,
  removeOnFail: { age: 7 * 24 * 3600 },
};

/** Starting a run is retried for OCI throttling and outages; the opc-retry-token keeps it to one run. */
export const TRAIN_JOB_OPTIONS: JobsOptions = {
  attempts: 5,
  backoff: { type: JOB_BACKOFF_TYPE, delay: 2_000 },
  removeOnComplete: { age: 24 * 3600 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

/**
 * Kept a day after completion so the deterministic id (run + state) turns a second enqueue into a no-op;
 * OCI and Monitoring failures are reported in the thread rather than retried, Slack failures retried.
 */
export const EXPLAIN_JOB_OPTIONS: JobsOptions = {
  attempts: 8,
  backoff: { type: JOB_BACKOFF_TYPE, delay: 1_000 },
  removeOnComplete: { age: 24 * 3600 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

/** Kept a week after completion, so a late webhook or sweep for the same version adds nothing. */
export const MODEL_VERSION_JOB_OPTIONS: JobsOptions = {
  attempts: 8,
  backoff: { type: JOB_BACKOFF_TYPE, delay: 2_000 },
  removeOnComplete: { age: 7 * 24 * 3600 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

/** A poller that failed for good is removed, so the next event of its deployment can start another. */
export const DEPLOYMENT_POLL_JOB_OPTIONS: JobsOptions = {
  attempts: 5,
  backoff: { type: JOB_BACKOFF_TYPE, delay: 2_000 },
  removeOnComplete: true,
  removeOnFail: true,
};

/** The opc-retry-token (the job id) keeps a retried call to one action in OCI. */
export const DEPLOYMENT_ACTION_JOB_OPTIONS: JobsOptions = {
  attempts: 5,
  backoff: { type: JOB_BACKOFF_TYPE, delay: 2_000 },
  removeOnComplete: { age: 24 * 3600 },
  removeOnFail: true,
};

export function createQueues(connection: Redis): Queues {
  return {
    notifications: new Queue<NotificationJob>(QUEUE_NAMES.notifications, { connection, prefix: QUEUE_PREFIX, defaultJobOptions: NOTIFICATION_JOB_OPTIONS }),
    slackStatus: new Queue<SlackStatusJob>(QUEUE_NAMES.slackStatus, { connection, prefix: QUEUE_PREFIX, defaultJobOptions: SLACK_STATUS_JOB_OPTIONS }),
    train: new Queue<TrainJob>(QUEUE_NAMES.train, { connection, prefix: QUEUE_PREFIX, defaultJobOptions: TRAIN_JOB_OPTIONS }),
    commands: new Queue<CommandJob>(QUEUE_NAMES.commands, { connection, prefix: QUEUE_PREFIX, defaultJobOptions: COMMAND_JOB_OPTIONS }),
    promote: new Queue<PromoteJob>(QUEUE_NAMES.promote, { connection, prefix: QUEUE_PREFIX, defaultJobOptions: TRAIN_JOB_OPTIONS }),
    rollback: new Queue<RollbackJobData>(QUEUE_NAMES.rollback, { connection, prefix: QUEUE_PREFIX, defaultJobOptions: TRAIN_JOB_OPTIONS }),
    explain: new Queue<ExplainJob>(QUEUE_NAMES.explain, { connection, prefix: QUEUE_PREFIX, defaultJobOptions: EXPLAIN_JOB_OPTIONS }),
    retrain: new Queue<RetrainJob>(QUEUE_NAMES.retrain, { connection, prefix: QUEUE_PREFIX, defaultJobOptions: TRAIN_JOB_OPTIONS }),
    modelVersions: new Queue<ModelVersionJob>(QUEUE_NAMES.modelVersions, { connection, prefix: QUEUE_PREFIX, defaultJobOptions: MODEL_VERSION_JOB_OPTIONS }),
    deploymentPoll: new Queue<DeploymentPollJob>(QUEUE_NAMES.deploymentPoll, { connection, prefix: QUEUE_PREFIX, defaultJobOptions: DEPLOYMENT_POLL_JOB_OPTIONS }),
    deploymentAction: new Queue<DeploymentActionJob>(QUEUE_NAMES.deploymentAction, { connection, prefix: QUEUE_PREFIX, defaultJobOptions: DEPLOYMENT_ACTION_JOB_OPTIONS }),
  };
}

export async function closeQueues(queues: Queues): Promise<void> {
  await Promise.all(Object.values(queues).map((queue: Queue) => queue.close()));
}
