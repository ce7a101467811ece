import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import { keys } from '../src/adapters/redis/keys.js';
import { Lease } from '../src/adapters/redis/run-lock.js';
import type { RunMessage } from '../src/adapters/redis/run-store.js';
import { postOnce } from '../src/adapters/slack-api/post-once.js';
import type { Context } from '../src/context.js';
import { pickChannel } from '../src/domain/route.js';
import { isFailure } from '../src/domain/run-state.js';
import type { Run } from '../src/domain/run.js';
import { isMlopsError } from '../src/errors.js';
import { mrkdwnText } from '../src/slack/blocks.js';
import { renderApprovalMessage } from '../src/slack/approval-message.js';
import { renderNotice } from '../src/slack/notice-message.js';
import { explainLater } from './explain-failure.js';
import { approvalLinks } from './promote.js';
import { renderFailureAlert, renderRunMessage, renderTransitions, type RunLinks } from '../src/slack/run-message.js';
import { link } from '../src/slack/mrkdwn.js';
import { messageLink } from '../src/slack/permalink.js';
import { announceVersion } from './version-registered.js';
import type { SlackStatusJob } from '../src/queues.js';

const LEASE_MS = 30_000;
const BUSY_RETRY_MIN_MS = 200;
const BUSY_RETRY_MAX_MS = 2_000;

/**
 * Brings a run's Slack message up to date with the run as it is in Redis now: post it once, then
 * chat.update in place, narrate new states in the thread (one reply per batch) and alert on-call once on
 * failure. Bursts coalesce: a job whose run has moved past its version leaves the work to the job of
 * the newer version (every fold that changes a run enqueues one), and a job whose run is already shown
 * ends at once. A lease per run keeps two workers from posting the same message twice; a job that finds
 * it taken comes back when the holder should be done, and rate limits reschedule the job without
 * spending an attempt.
 */
export function createSlackStatusProcessor(context: Context) {
  return async (job: Job<SlackStatusJob>, token?: string): Promise<void> => {
    try {
      await process(context, job.data);
    } catch (error) {
      const delayMs = error instanceof RunBusy ? error.retryInMs : isMlopsError(error) && error.code === 'RATE_LIMITED' ? (error.retryAfterMs ?? 1_000) : undefined;
      if (delayMs !== undefined && token) {
        await job.moveToDelayed(Date.now() + delayMs, token);
        context.metrics.jobOutcomes.inc({ queue: job.queueName, outcome: 'delayed' });
        throw new DelayedError();
      }
      if (isMlopsError(error) && !error.retryable) throw new UnrecoverableError(`${error.code}: ${error.message}`);
      throw error;
    }
  };
}

/** Another worker holds the run's lease; this job comes back when the holder should be done. */
class RunBusy extends Error {
  constructor(readonly retryInMs: number) {
    super('run is being shown by another worker');
  }
}

/** Nothing is left to show: the message has the run's version, its thread every state, and on-call the alert. */
function upToDate(run: Run, message: RunMessage | undefined): boolean {
  return message !== undefined && message.renderedVersion >= run.version && message.narrated >= run.history.length && (message.alerted || !isFailure(run.state));
}

async function process(context: Context, data: SlackStatusJob): Promise<void> {
  switch (data.kind) {
    case 'notice':
      await context.slack.postMessage({ channel: data.channel, ...renderNotice(data.notice) });
      return;
    case 'message':
      await context.slack.postMessage({ channel: data.channel, text: data.text, blocks: data.blocks });
      return;
    case 'approval': {
      const approval = await context.approvals.get(data.approvalId);
      if (!approval?.channel || !approval.ts) return;
      await context.slack.updateMessage(approval.channel, approval.ts, renderApprovalMessage(approval, await approvalLinks(context, approval)));
      return;
    }
    case 'text':
      await context.slack.postMessage({ channel: data.channel, text: data.text, blocks: [{ type: 'section', text: mrkdwnText(data.text) }] });
      return;
    case 'note':
      await postNote(context, data);
      return;
    case 'version':
      await announceVersion(context, data);
      return;
    case 'run': {
      const [run, message] = await Promise.all([context.runs.get(data.runKey), context.runs.getMessage(data.runKey)]);
      // A newer version's job exists (its fold enqueued it), and it shows at least that version.
      if (!run || run.version > data.version || upToDate(run, message)) return;
      const lockKey = keys.runLock(data.runKey);
      const lease = await Lease.acquire(context.redis, lockKey, LEASE_MS);
      if (!lease) {
        // The holder may be waiting for a Slack rate-limit slot; come back about when its lease says.
        const left = await context.redis.pttl(lockKey);
        throw new RunBusy(Math.min(BUSY_RETRY_MAX_MS, Math.max(BUSY_RETRY_MIN_MS, left)) + Math.floor(Math.random() * BUSY_RETRY_MIN_MS));
      }
      try {
        await syncRun(context, data.runKey);
      } finally {
        // A release that fails (Redis gone) must not hide the sync's own error; the lease expires anyway.
        await lease.release().catch((error: unknown) => context.logger.warn({ err: error, runKey: data.runKey }, 'run lease not released'));
      }
    }
  }
}

/**
 * A reply in a run's thread. The run's message (and the message it links to) may not be posted yet,
 * e.g. a retrain announced in the thread of an alarm whose message is being posted right now: the job
 * comes back until they are, or until `until`, after which it posts without the link (or drops a note
 * whose thread never appeared).
 */
async function postNote(context: Context, data: Extract<SlackStatusJob, { kind: 'note' }>): Promise<void> {
  const waiting = context.now().toISOString() < data.until;
  const [run, message] = await Promise.all([context.runs.get(data.runKey), context.runs.getMessage(data.runKey)]);
  if (!message) {
    if (run && waiting) throw new RunBusy(BUSY_RETRY_MAX_MS);
    context.logger.warn({ runKey: data.runKey }, 'thread note dropped: the run has no message');
    return;
  }
  const linked = data.linkRunKey ? await context.runs.getMessage(data.linkRunKey) : undefined;
  if (data.linkRunKey && !linked && waiting) throw new RunBusy(BUSY_RETRY_MAX_MS);
  const url = messageLink(linked?.channel, linked?.ts);
  const text = url ? `${data.text} ${link(url, 'Open its message')}` : data.text;
  const threadTs = run?.details.threadTs ?? message.ts;
  const blocks = data.blocks ?? [{ type: 'section', text: mrkdwnText(text) }];
  await postOnce(context, { key: `note:${data.runKey}:${data.id}`, channel: message.channel, threadTs }, (metadata) =>
    context.slack.postMessage({ channel: message.channel, threadTs, text, blocks, metadata: metadata() }),
  );
}

/** The message of the alarm a retrain came from, for its link. */
async function runLinks(context: Context, run: Run): Promise<RunLinks> {
  if (!run.details.alarmRunKey) return {};
  const alarm = await context.runs.getMessage(run.details.alarmRunKey);
  return { alarm: messageLink(alarm?.channel, alarm?.ts) };
}

function channelFor(context: Context, run: Run): string {
  if (run.details.channel) return run.details.channel;
  const { routes, slack } = context.config.file;
  return pickChannel(routes, slack.defaultChannel, {
    kind: run.kind,
    compartmentId: run.compartmentId,
    resourceName: run.subject === 'alarm' ? (run.details.model ?? run.name) : run.name,
    severity: run.details.severity,
  });
}

async function syncRun(context: Context, runKey: string): Promise<void> {
  const run = await context.runs.get(runKey);
  if (!run) return;
  // Rendered after the rate-limit slot is taken, so the message shows the newest state of the run.
  let shown = run;
  const links = await runLinks(context, run);
  const latest = async () => {
    shown = (await context.runs.get(runKey)) ?? shown;
    return renderRunMessage(shown, context.now(), links);
  };
  let message: RunMessage | undefined = await context.runs.getMessage(runKey);
  if (!message) {
    const channel = channelFor(context, run);
    // A deployment started by a promotion lives in the approval's thread rather than as a new message.
    // Posted once even if this worker dies before the ts is stored: a retry finds the message instead.
    const posted = await postOnce(context, { key: `run:${runKey}`, channel, threadTs: run.details.threadTs }, (metadata) =>
      context.slack.postLatest(channel, async () => ({ ...(await latest()), ...(run.details.threadTs ? { threadTs: run.details.threadTs } : {}), metadata: metadata({ version: shown.version, narrated: shown.history.length }) })),
    );
    const version = typeof posted.payload.version === 'number' ? posted.payload.version : shown.version;
    const narrated = typeof posted.payload.narrated === 'number' ? posted.payload.narrated : shown.history.length;
    message = { channel: posted.channel, ts: posted.ts, renderedVersion: version, narrated, alerted: false };
    await context.runs.setMessage(runKey, message);
  }
  // Also right after a post: a message found again after an interrupted post shows the version it was
  // posted with, which may be older than the run now.
  if (message.renderedVersion < shown.version) {
    await context.slack.updateLatest(message.channel, message.ts, latest);
    message = { ...message, renderedVersion: shown.version };
    await context.runs.setMessage(runKey, message);
  }

  if (shown.history.length > message.narrated) {
    const from = message.narrated;
    const posted = message;
    let narrated = shown.history.length;
    const threadTs = shown.details.threadTs ?? posted.ts;
    const batch = await postOnce(context, { key: `narrate:${runKey}:${from}`, channel: posted.channel, threadTs }, (metadata) =>
      context.slack.postLatest(posted.channel, async () => {
        shown = (await context.runs.get(runKey)) ?? shown;
        narrated = shown.history.length;
        const text = renderTransitions(shown, shown.history.slice(from));
        return { threadTs, text, blocks: [{ type: 'section', text: mrkdwnText(text) }], metadata: metadata({ narrated }) };
      }),
    );
    if (typeof batch.payload.narrated === 'number') narrated = batch.payload.narrated;
    message = { ...message, narrated };
    await context.runs.setMessage(runKey, message);
  }

  if (isFailure(shown.state) && !message.alerted) {
    const alert = renderFailureAlert(shown, context.config.file.slack.oncall, context.now());
    const threadTs = shown.details.threadTs ?? message.ts;
    const { channel } = message;
    await postOnce(context, { key: `alert:${runKey}`, channel, threadTs }, (metadata) => context.slack.postMessage({ channel, threadTs, broadcast: true, ...alert, metadata: metadata() }));
    message = { ...message, alerted: true };
    await context.runs.setMessage(runKey, message);
  }
  // The log tail, MLflow run and alarm chart come in their own job, after the alert.
  await explainLater(context, shown, message);
}
