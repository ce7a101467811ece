import { UnrecoverableError, type Job } from 'bullmq';
import { keys } from '../src/adapters/redis/keys.js';
import { Lease } from '../src/adapters/redis/run-lock.js';
import type { RunMessage } from '../src/adapters/redis/run-store.js';
import { WaitingRoots } from '../src/adapters/redis/waiting-roots.js';
import { postOnce } from '../src/adapters/slack-api/post-once.js';
import type { Context } from '../src/context.js';
import { pickChannel } from '../src/domain/route.js';
import { isFailure, isTerminal } from '../src/domain/run-state.js';
import { DirectMessages } from '../src/adapters/slack-api/direct-messages.js';
import { jobId } from '../src/queues.js';
import { decisionOf, renderDecisionDm, renderRunEndDm } from '../src/slack/direct-message.js';
import { messageLink } from '../src/slack/permalink.js';
import { publishHome, scheduleHomeRefresh } from './app-home.js';
import type { Run } from '../src/domain/run.js';
import { isMlopsError } from '../src/errors.js';
import { mrkdwnText } from '../src/slack/blocks.js';
import { renderApprovalMessage } from '../src/slack/approval-message.js';
import { renderNotice } from '../src/slack/notice-message.js';
import { explainLater } from './explain-failure.js';
import { approvalLinks, refreshApprovalMessage } from './promote.js';
import { renderFailureAlert, renderRunMessage, renderTransitions, type RunLinks } from '../src/slack/run-message.js';
import { link } from '../src/slack/mrkdwn.js';
import { announceVersion } from './version-registered.js';
import { comeBackLater, enqueueRunStatus, enqueueWaitingRoots, type SlackStatusJob } from '../src/queues.js';
import { deploymentViewFor } from '../src/slack/deployment-stages.js';

const LEASE_MS = 30_000;
const BUSY_RETRY_MIN_MS = 200;
const BUSY_RETRY_MAX_MS = 2_000;
/**
 * A root is edited at most this often while its run is still moving (Slack's guidance for messages that
 * change: one chat.update every 3 s); a final or failed state goes out at once. chat.update is Tier 3 for
 * the whole workspace, so one busy run must not spend what the others' final states need.
 */
const EDIT_INTERVAL_MS = 3_000;
/** Of chat.update's burst, this many slots are left to final and failed states: a run still moving waits for more. */
const UPDATES_KEPT_FOR_URGENT = 5;
/** The waiting-roots job posts for this long, then hands over to a fresh job, so shutdown never waits on a long line. */
const ROOTS_TURN_MS = 5_000;
/** How many of a channel's waiting runs are read to pick the next root. */
const ROOTS_LOOKAHEAD = 50;
/** Work that waits for a channel's waiting roots comes back after about this long per waiting root (capped). */
const DEFER_PER_ROOT_MS = 1_000;
const DEFER_MAX_MS = 10_000;

/**
 * Brings a run's Slack message up to date with the run as it is in Redis now: post it once, then
 * chat.update in place, alert on-call once on failure and narrate new states in the thread (one reply per
 * batch). There is one pending job per run (enqueueRunStatus), and it renders whatever the run is when its
 * Slack slot comes, so a burst of events costs one message, not one call per event.
 *
 * A run's first message (its root) goes out at once when its channel's chat.postMessage slot is free and
 * nobody waits for it; otherwise the run joins the channel's waiting line (WaitingRoots) and one job per
 * channel (`roots`) posts the line as the slots come, picking failed, then finished, then the oldest runs
 * first, each rendered with its latest state. Narration in a channel waits while roots wait there: final
 * states first, the story after. A lease per run keeps two workers from posting the same message twice; a
 * job that finds it taken comes back when the holder should be done, and rate limits reschedule the job
 * without spending an attempt.
 */
export function createSlackStatusProcessor(context: Context) {
  const waiting = new WaitingRoots(context.redis);
  return async (job: Job<SlackStatusJob>, token?: string): Promise<void> => {
    try {
      await process(context, waiting, job.data);
    } catch (error) {
      const delayMs = error instanceof ComeBack ? error.retryInMs : isMlopsError(error) && error.code === 'RATE_LIMITED' ? (error.retryAfterMs ?? 1_000) : undefined;
      if (delayMs !== undefined && token) await comeBackLater(job, token, delayMs, context.metrics);
      if (isMlopsError(error) && !error.retryable) throw new UnrecoverableError(`${error.code}: ${error.message}`);
      throw error;
    }
  };
}

/** The job has more to do later (the run's lease is taken, an edit or a thread reply must wait): it comes back then, still the run's one pending job. */
class ComeBack extends Error {
  constructor(
    readonly retryInMs: number,
    reason: string,
  ) {
    super(reason);
  }
}

/** Nothing is left to show: the message has the run's version, its thread every state, and on-call the alert. */
function upToDate(run: Run, message: RunMessage | undefined): boolean {
  return message !== undefined && message.renderedVersion >= run.version && message.narrated >= run.history.length && (message.alerted || !isFailure(run.state));
}

/** States shown as soon as Slack allows, whatever the edit interval. */
function urgent(run: Run): boolean {
  return isTerminal(run.state) || isFailure(run.state);
}

async function process(context: Context, waiting: WaitingRoots, data: SlackStatusJob): Promise<void> {
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
      // The Homes show pending requests; the requester hears a decision (once per request and state).
      await scheduleHomeRefresh(context);
      const decision = decisionOf(approval);
      if (decision) await context.queues.slackStatus.add('dm-approval', { kind: 'dm-approval', approvalId: approval.id }, { jobId: jobId('dm-approval', approval.id, decision) });
      return;
    }
    case 'approval-expiry': {
      const expired = await context.approvals.expire(data.approvalId, context.now());
      if (expired) {
        await context.audit.record({ actor: 'system', action: 'approval.expire', subject: `${expired.model} v${expired.version}`, outcome: 'expired', jobId: expired.id });
        await refreshApprovalMessage(context, expired.id);
      }
      return;
    }
    case 'home':
      await publishHome(context, data.user);
      return;
    case 'dm-run': {
      const run = await context.runs.get(data.runKey);
      if (!run?.startedBy || !isTerminal(run.state)) return;
      const message = await context.runs.getMessage(data.runKey);
      const outcome = await new DirectMessages(context.redis, context.slack).sendOnce(run.startedBy, `run:${run.key}`, renderRunEndDm(run, messageLink(message?.channel, message?.ts), context.now()));
      context.logger.info({ runKey: run.key, user: run.startedBy, outcome }, 'run outcome direct message');
      return;
    }
    case 'dm-approval': {
      const approval = await context.approvals.get(data.approvalId);
      const dm = approval ? renderDecisionDm(approval, messageLink(approval.channel, approval.ts)) : undefined;
      if (!approval || !dm) return;
      const outcome = await new DirectMessages(context.redis, context.slack).sendOnce(approval.requestedBy, `approval:${approval.id}:${decisionOf(approval) ?? ''}`, dm);
      context.logger.info({ approval: approval.id, user: approval.requestedBy, state: approval.state, outcome }, 'promotion decision direct message');
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
    case 'roots':
      await postWaitingRoots(context, waiting, data.channel);
      return;
    case 'run': {
      // The job's version is only the one that asked first: later asks were absorbed by this job, so it shows
      // whatever the run is now.
      const [run, message] = await Promise.all([context.runs.get(data.runKey), context.runs.getMessage(data.runKey)]);
      if (!run || upToDate(run, message)) return;
      const lockKey = keys.runLock(data.runKey);
      const lease = await Lease.acquire(context.redis, lockKey, LEASE_MS);
      if (!lease) {
        // The holder may be waiting for a Slack rate-limit slot; come back about when its lease says.
        const left = await context.redis.pttl(lockKey);
        throw new ComeBack(Math.min(BUSY_RETRY_MAX_MS, Math.max(BUSY_RETRY_MIN_MS, left)) + Math.floor(Math.random() * BUSY_RETRY_MIN_MS), 'run is being shown by another worker');
      }
      try {
        await syncRun(context, waiting, data.runKey);
        await scheduleHomeRefresh(context);
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
    if (run && waiting) throw new ComeBack(BUSY_RETRY_MAX_MS, 'thread note waits for the message it replies to or links');
    context.logger.warn({ runKey: data.runKey }, 'thread note dropped: the run has no message');
    return;
  }
  const linked = data.linkRunKey ? await context.runs.getMessage(data.linkRunKey) : undefined;
  if (data.linkRunKey && !linked && waiting) throw new ComeBack(BUSY_RETRY_MAX_MS, 'thread note waits for the message it replies to or links');
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

/**
 * Posts the run's root in the channel slot the caller already holds, rendered now with the run's latest
 * state, and stores where it lives. Posted once even if this worker dies before the ts is stored: a retry
 * finds the message instead (postOnce).
 */
async function postRoot(context: Context, run: Run, channel: string): Promise<RunMessage> {
  let shown = run;
  // A deployment started by a promotion lives in the approval's thread rather than as a new message.
  const threadTs = run.details.threadTs;
  const posted = await postOnce(context, { key: `run:${run.key}`, channel, threadTs }, (metadata) =>
    context.slack.postReserved(channel, async () => {
      shown = (await context.runs.get(run.key)) ?? shown;
      return { ...renderRunMessage(shown, context.now(), await runLinks(context, shown), deploymentViewFor(context.config.file, shown)), ...(threadTs ? { threadTs } : {}), metadata: metadata({ version: shown.version, narrated: shown.history.length }) };
    }),
  );
  const message: RunMessage = {
    channel: posted.channel,
    ts: posted.ts,
    renderedVersion: typeof posted.payload.version === 'number' ? posted.payload.version : shown.version,
    narrated: typeof posted.payload.narrated === 'number' ? posted.payload.narrated : shown.history.length,
    alerted: false,
    renderedAt: Date.now(),
  };
  await context.runs.setMessage(run.key, message);
  return message;
}

/** Failed first (they also owe on-call an alert), then finished, then the run waiting longest. */
function rootPriority(run: Run): number {
  if (isFailure(run.state)) return 0;
  return isTerminal(run.state) ? 1 : 2;
}

/**
 * The channel's waiting line: take the next slot, then pick the run to post in it from the line as the runs
 * are now, post it rendered with its latest state, and hand the rest of that run (edits, alert, thread) to
 * its own job. Runs for ROOTS_TURN_MS, then hands over to a fresh job if anyone still waits.
 */
async function postWaitingRoots(context: Context, waiting: WaitingRoots, channel: string): Promise<void> {
  const turnEnds = Date.now() + ROOTS_TURN_MS;
  while (Date.now() < turnEnds) {
    if ((await waiting.count(channel)) === 0) return;
    // Waits in-process up to the gateway's maxWaitMs; a longer wait reschedules this job (RATE_LIMITED).
    await context.slack.reservePost(channel);
    const candidates = await waiting.oldest(channel, ROOTS_LOOKAHEAD);
    const runs = await context.runs.getMany(candidates);
    let next: Run | undefined;
    for (const [index, run] of runs.entries()) {
      if (!run) {
        await waiting.take(channel, candidates[index] ?? '');
        continue;
      }
      if (!next || rootPriority(run) < rootPriority(next)) next = run;
    }
    if (!next || !(await waiting.take(channel, next.key))) continue;
    await postTakenRoot(context, waiting, next, channel);
  }
  if ((await waiting.count(channel)) > 0) await enqueueWaitingRoots(context.queues, channel);
}

async function postTakenRoot(context: Context, waiting: WaitingRoots, run: Run, channel: string): Promise<void> {
  const lockKey = keys.runLock(run.key);
  const lease = (await Lease.acquire(context.redis, lockKey, LEASE_MS)) ?? (await new Promise((resolve) => setTimeout(resolve, 50)).then(() => Lease.acquire(context.redis, lockKey, LEASE_MS)));
  if (!lease) {
    // Its own job is busy with it; back in line (this slot goes unused).
    await waiting.add(channel, run.key);
    return;
  }
  try {
    if (!(await context.runs.getMessage(run.key))) await postRoot(context, run, channel);
  } catch (error) {
    await waiting.add(channel, run.key);
    throw error;
  } finally {
    await lease.release().catch((error: unknown) => context.logger.warn({ err: error, runKey: run.key }, 'run lease not released'));
  }
  await enqueueRunStatus(context.queues, run.key, run.version);
}

async function syncRun(context: Context, waiting: WaitingRoots, runKey: string): Promise<void> {
  const run = await context.runs.get(runKey);
  if (!run) return;
  let message: RunMessage | undefined = await context.runs.getMessage(runKey);
  if (!message) {
    const channel = channelFor(context, run);
    if ((await waiting.count(channel)) > 0 || !(await context.slack.tryReservePost(channel))) {
      await waiting.add(channel, runKey);
      await enqueueWaitingRoots(context.queues, channel);
      return;
    }
    message = await postRoot(context, run, channel);
  }

  // Rendered after the rate-limit slot is taken, so the message shows the newest state of the run.
  let shown = run;
  const links = await runLinks(context, run);
  const latest = async () => {
    shown = (await context.runs.get(runKey)) ?? shown;
    return renderRunMessage(shown, context.now(), links, deploymentViewFor(context.config.file, shown));
  };
  let comeBackInMs: number | undefined;
  const later = (ms: number) => {
    comeBackInMs = Math.min(comeBackInMs ?? ms, Math.max(1, ms));
  };

  // Roots still waiting for the channel's slot: their final states come before this run's intermediate
  // edits and its thread.
  let rootsWaiting: number | undefined;
  const { channel } = message;
  const waitingInChannel = async () => (rootsWaiting ??= await waiting.count(channel));
  const deferral = (count: number) => Math.min(DEFER_MAX_MS, count * DEFER_PER_ROOT_MS) + Math.floor((Math.random() * DEFER_PER_ROOT_MS) / 4);
  // Also right after a post: a message found again after an interrupted post shows the version it was
  // posted with, which may be older than the run now.
  if (message.renderedVersion < shown.version) {
    const sinceEdit = Date.now() - message.renderedAt;
    if (!urgent(shown) && sinceEdit < EDIT_INTERVAL_MS) {
      later(EDIT_INTERVAL_MS - sinceEdit);
    } else if (!urgent(shown) && (await waitingInChannel()) > 0) {
      later(deferral(await waitingInChannel()));
    } else {
      try {
        // Only a free update slot is taken: otherwise the job comes back when there is one (rendering the run
        // as it is then), and the alert and the thread do not wait for it meanwhile.
        await context.slack.updateLatest(message.channel, message.ts, latest, 0, urgent(shown) ? 0 : UPDATES_KEPT_FOR_URGENT);
        message = { ...message, renderedVersion: shown.version, renderedAt: Date.now() };
        await context.runs.setMessage(runKey, message);
      } catch (error) {
        if (!isMlopsError(error) || error.code !== 'RATE_LIMITED') throw error;
        later(error.retryAfterMs ?? 1_000);
      }
    }
  }

  // Runs started through the bot (train, retry) tell their requester how they ended, once.
  if (isTerminal(shown.state) && shown.startedBy && shown.target) {
    await context.queues.slackStatus.add('dm-run', { kind: 'dm-run', runKey }, { jobId: jobId('dm-run', runKey) });
  }

  if (isFailure(shown.state) && !message.alerted) {
    // The alert narrates the failure (and the states before it the thread has not told): one post, not two.
    const failed = shown;
    const narrated = failed.history.at(-1)?.state === failed.state ? failed.history.length : message.narrated;
    const alert = renderFailureAlert(failed, context.config.file.slack.oncall, context.now(), failed.history.slice(message.narrated, narrated - 1));
    const threadTs = failed.details.threadTs ?? message.ts;
    const posted = await postOnce(context, { key: `alert:${runKey}`, channel, threadTs }, (metadata) => context.slack.postMessage({ channel, threadTs, broadcast: true, ...alert, metadata: metadata({ narrated }) }));
    const told = typeof posted.payload.narrated === 'number' ? posted.payload.narrated : message.narrated;
    message = { ...message, alerted: true, narrated: Math.max(message.narrated, told) };
    await context.runs.setMessage(runKey, message);
  }
  // The log tail, MLflow run and alarm chart come in their own job, after the alert.
  await explainLater(context, shown, message);

  if (shown.history.length > message.narrated) {
    if ((await waitingInChannel()) > 0) {
      later(deferral(await waitingInChannel()));
    } else {
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
  }

  if (comeBackInMs !== undefined) throw new ComeBack(comeBackInMs, 'more to show later');
}
