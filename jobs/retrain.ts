import type { Job } from 'bullmq';
import { keys } from '../src/adapters/redis/keys.js';
import type { Context } from '../src/context.js';
import { retrainTarget } from '../src/domain/retrain.js';
import { isTerminal } from '../src/domain/run-state.js';
import { formatDuration, type Run } from '../src/domain/run.js';
import { jobId, TRAIN_JOB_OPTIONS, type RetrainJob } from '../src/queues.js';
import type { Block } from '../src/slack/blocks.js';
import { code, mention, slackDate } from '../src/slack/mrkdwn.js';
import { enqueueTraining, type Queued } from './train.js';

/** How a retrain came about; shown on the run's message. */
export type RetrainTrigger = 'alarm-auto' | 'alarm-button' | 'schedule';

export interface RetrainRequest {
  model: string;
  trigger: RetrainTrigger;
  requestedBy?: string;
  /** The alarm episode it answers: the run is announced in its thread and links back to it. */
  alarm?: { runKey: string; title: string };
  /** The same retrain asked twice (a double click, a redelivered alarm, a retried job) is one run. */
  dedupeOn: string;
  /** Automatic retrains only: the trigger's id. The cooldown is claimed with SET NX; a retried job finds its own claim and goes on. */
  claim?: string;
  details?: Record<string, string>;
}

export type RetrainOutcome =
  | { started: true; queued: Queued; alreadyRunning: Run | undefined }
  | { started: false; reason: 'not-configured' | 'cooldown'; detail: string };

/** Runs are kept 30 days; so is the pointer to a model's latest retrain. */
const LATEST_TTL_SECONDS = 30 * 24 * 3600;
/** How long a thread note waits for the message it replies to (and the one it links) to be posted. */
const NOTE_WAIT_MS = 10 * 60_000;
/** Job scheduler ids: one per model with retrain.schedule. */
const SCHEDULER_PREFIX = 'retrain-';

const stampSchema = (raw: string | null): { at: string; by: string } | undefined => {
  if (!raw) return undefined;
  try {
    const value = JSON.parse(raw) as unknown;
    if (typeof value === 'object' && value !== null && 'at' in value && 'by' in value && typeof value.at === 'string' && typeof value.by === 'string') return { at: value.at, by: value.by };
  } catch {
    // Not ours: treated as no holder.
  }
  return undefined;
};

/** Queues a reply in a run's thread (posted once that run's message exists). */
export async function noteInThread(context: Context, runKey: string, text: string, options: { id: string; linkRunKey?: string; blocks?: Block[] }): Promise<void> {
  const until = new Date(context.now().getTime() + NOTE_WAIT_MS).toISOString();
  await context.queues.slackStatus.add(
    'note',
    { kind: 'note', runKey, id: options.id, text, until, ...(options.linkRunKey ? { linkRunKey: options.linkRunKey } : {}), ...(options.blocks ? { blocks: options.blocks } : {}) },
    { jobId: jobId('note', runKey, options.id) },
  );
}

/**
 * Starts the model's retrain target. Every retrain holds the model's cooldown (SET PX, in Redis so that
 * every replica sees it); an automatic one only starts when it can claim the cooldown (SET NX PX), so an
 * alarm repeating every minute starts one run per cooldown. A trainer's click always starts (the caller
 * says when a retrain is already running).
 */
export async function startRetrain(context: Context, request: RetrainRequest): Promise<RetrainOutcome> {
  const model = context.config.file.models[request.model];
  const target = retrainTarget(model);
  if (!model?.retrain || !target || !Object.hasOwn(context.config.file.train, target)) {
    return { started: false, reason: 'not-configured', detail: `${code(request.model)} has no retrain configured.` };
  }
  const cooldownMs = model.retrain.cooldown;
  const cooldownKey = keys.retrainCooldown(request.model);
  const stamp = JSON.stringify({ at: context.now().toISOString(), by: request.claim ?? request.dedupeOn });
  if (request.claim !== undefined && cooldownMs !== undefined) {
    const claimed = await context.redis.set(cooldownKey, stamp, 'PX', cooldownMs, 'NX');
    const holder = claimed === 'OK' ? undefined : stampSchema(await context.redis.get(cooldownKey));
    if (claimed !== 'OK' && holder?.by !== request.claim) {
      const since = holder ? ` (the last one started ${slackDate(holder.at)})` : '';
      return { started: false, reason: 'cooldown', detail: `the cooldown of ${formatDuration(cooldownMs)} since the last retrain of ${code(request.model)} has not passed${since}.` };
    }
  } else if (cooldownMs !== undefined) {
    await context.redis.set(cooldownKey, stamp, 'PX', cooldownMs);
  }
  const latestKey = await context.redis.get(keys.retrainLatest(request.model));
  const latest = latestKey ? await context.runs.get(latestKey) : undefined;
  const details: Record<string, string> = { ...request.details, retrainOf: request.model, trigger: request.trigger };
  if (request.alarm) {
    details.alarmRunKey = request.alarm.runKey;
    details.alarmTitle = request.alarm.title;
  }
  const queued = await enqueueTraining(context, { target, arguments: {}, requestedBy: request.requestedBy, dedupeOn: request.dedupeOn, details });
  if (!queued.duplicate) {
    await context.redis.set(keys.retrainLatest(request.model), queued.runKey, 'EX', LATEST_TTL_SECONDS);
    if (request.alarm) {
      const who = request.requestedBy ? `${mention(request.requestedBy)} started a retrain` : 'Automatic retrain started';
      const limit = request.trigger === 'alarm-auto' && cooldownMs !== undefined ? ` (at most one per ${formatDuration(cooldownMs)})` : '';
      await noteInThread(context, request.alarm.runKey, `:arrows_counterclockwise: ${who} of ${code(request.model)} with ${code(target)}${limit}.`, { id: `retrain:${queued.runKey}`, linkRunKey: queued.runKey });
    }
  }
  return { started: true, queued, alreadyRunning: latest && !isTerminal(latest.state) ? latest : undefined };
}

/**
 * The retrain queue: an alarm's automatic retrain (queued by the notification worker, one job per
 * delivery and model) and the ticks of retrain.schedule (BullMQ job schedulers: one job per tick in
 * Redis, so one run however many workers there are).
 */
export function createRetrainProcessor(context: Context) {
  return async (job: Job<RetrainJob>): Promise<void> => {
    const data = job.data;
    if (data.trigger === 'schedule') {
      const tick = new Date(job.opts.prevMillis ?? job.timestamp).toISOString();
      const outcome = await startRetrain(context, { model: data.model, trigger: 'schedule', dedupeOn: `schedule:${data.model}:${tick}`, details: { scheduledFor: tick } });
      await context.audit.record({ actor: 'system', action: 'retrain.schedule', subject: data.model, outcome: outcome.started ? (outcome.queued.duplicate ? 'duplicate' : 'queued') : outcome.reason, jobId: job.id ?? '' });
      return;
    }
    const outcome = await startRetrain(context, {
      model: data.model,
      trigger: 'alarm-auto',
      alarm: { runKey: data.alarmRunKey, title: data.alarmTitle },
      dedupeOn: `alarm:${data.triggerId}:${data.model}`,
      claim: data.triggerId,
    });
    await context.audit.record({ actor: 'system', action: 'retrain.alarm', subject: data.model, outcome: outcome.started ? (outcome.queued.duplicate ? 'duplicate' : 'queued') : outcome.reason, jobId: job.id ?? '', detail: data.alarmTitle });
    if (outcome.started || outcome.reason !== 'cooldown') return;
    // Once per alarm episode and model: an alarm repeating every minute must not fill its thread.
    const first = await context.redis.set(keys.retrainSkipNoted(data.alarmRunKey, data.model), '1', 'EX', LATEST_TTL_SECONDS, 'NX');
    if (first === 'OK') {
      await noteInThread(context, data.alarmRunKey, `:double_vertical_bar: Automatic retrain of ${code(data.model)} skipped: ${outcome.detail} A trainer can still press Retrain.`, { id: `skip:${data.model}` });
    }
  };
}

/**
 * Makes the retrain queue's job schedulers match the config: one per model with retrain.schedule (cron,
 * UTC), upserted so a changed pattern replaces the old one, and every other scheduler removed, so a
 * schedule taken out of the config leaves nothing behind. Runs at every start; replicas agree.
 */
export async function syncRetrainSchedules(context: Context): Promise<void> {
  const wanted = new Map<string, string>();
  for (const [model, config] of Object.entries(context.config.file.models)) {
    if (config.retrain?.schedule && retrainTarget(config)) wanted.set(`${SCHEDULER_PREFIX}${model}`, model);
  }
  for (const [id, model] of wanted) {
    const pattern = context.config.file.models[model]?.retrain?.schedule ?? '';
    // Each tick's job is retried like any train job: a Redis or OCI hiccup must not lose the tick.
    await context.queues.retrain.upsertJobScheduler(id, { pattern, tz: 'UTC' }, { name: 'scheduled-retrain', data: { trigger: 'schedule', model }, opts: TRAIN_JOB_OPTIONS });
  }
  const existing = await context.queues.retrain.getJobSchedulers(0, -1);
  for (const scheduler of existing) {
    const id = scheduler.id ?? scheduler.key;
    if (!wanted.has(id)) {
      await context.queues.retrain.removeJobScheduler(id);
      context.logger.info({ scheduler: id }, 'retrain schedule removed');
    }
  }
}

/** When the model's scheduled retrain runs next, from its job scheduler; undefined without a schedule. */
export async function nextScheduledRetrain(context: Context, model: string): Promise<Date | undefined> {
  if (!context.config.file.models[model]?.retrain?.schedule) return undefined;
  const scheduler = await context.queues.retrain.getJobScheduler(`${SCHEDULER_PREFIX}${model}`);
  return scheduler?.next ? new Date(scheduler.next) : undefined;
}
