import { LogLevel, WebClient } from '@slack/web-api';
import { BOT_TOKEN } from '../test/helpers/bot-harness.js';
import type { FakeMessage, FakeSlackApi, FakeSlackCall } from '../test/fakes/fake-slack-api.js';
import { openLoop, runLoad, type LoadResult } from './load.js';
import { deliveryShot, jobRunEventBody, type BurstPlan, type BurstRun } from './oci-events.js';

/** The root message of a run as the bot renders it starts with the state's emoji. */
const FINAL_EMOJI: Record<BurstRun['final'], string> = { SUCCEEDED: ':white_check_mark:', FAILED: ':x:' };

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** `burst-0-a-run1` must not match `burst-0-a-run10`. */
const mentions = (name: string) => new RegExp(`${escape(name)}(?![0-9])`);

export interface SlackTraffic {
  calls: number;
  byMethod: Record<string, number>;
  rateLimited: number;
  /** Most chat.postMessage calls that took effect in one channel within any 1 s. */
  maxPostsPerChannelPerSecond: number;
  /** Shortest time between two posts that took effect in the same channel. */
  minPostGapMs: number;
}

export function slackTraffic(calls: readonly FakeSlackCall[]): SlackTraffic {
  const byMethod: Record<string, number> = {};
  for (const call of calls) byMethod[call.method] = (byMethod[call.method] ?? 0) + 1;
  const postsByChannel = new Map<string, number[]>();
  for (const call of calls) {
    if (call.method !== 'chat.postMessage' || call.response.ok !== true) continue;
    const channel = typeof call.args.channel === 'string' ? call.args.channel : '';
    postsByChannel.set(channel, [...(postsByChannel.get(channel) ?? []), call.at]);
  }
  let maxPostsPerChannelPerSecond = 0;
  let minPostGapMs = Number.POSITIVE_INFINITY;
  for (const times of postsByChannel.values()) {
    times.sort((a, b) => a - b);
    for (let index = 1; index < times.length; index++) minPostGapMs = Math.min(minPostGapMs, (times[index] ?? 0) - (times[index - 1] ?? 0));
    let from = 0;
    for (let to = 0; to < times.length; to++) {
      while ((times[to] ?? 0) - (times[from] ?? 0) >= 1_000) from += 1;
      maxPostsPerChannelPerSecond = Math.max(maxPostsPerChannelPerSecond, to - from + 1);
    }
  }
  return { calls: calls.length, byMethod, rateLimited: calls.filter((call) => call.status === 429).length, maxPostsPerChannelPerSecond, minPostGapMs };
}

/**
 * The floor Slack's limits set for a burst: before every run shows its final state, each channel must post
 * one root per run and one on-call alert per failed run, one post per `intervalMs` (about one a second per
 * channel); the busiest channel sets it. chat.update is not counted: a root posted once its run has ended
 * needs none.
 */
export function burstFloorMs(plan: BurstPlan, intervalMs: number): { floorMs: number; postsPerChannel: number } {
  const posts = new Map<string, number>();
  for (const run of plan.runs) posts.set(run.channel, (posts.get(run.channel) ?? 0) + (run.final === 'FAILED' ? 2 : 1));
  const postsPerChannel = Math.max(0, ...posts.values());
  return { floorMs: postsPerChannel * intervalMs, postsPerChannel };
}

/** What the bot posted for a burst, split the way the targets count it. */
export interface BurstPosts {
  /** Root messages posted (chat.postMessage outside a thread) that took effect. */
  roots: number;
  /** chat.update calls that took effect. */
  updates: number;
  /** Thread replies broadcast to the channel: the on-call alerts. */
  alerts: number;
  /** Other thread replies: the narration of each run's states. */
  narration: number;
  /** Failed runs whose thread holds an on-call alert, of all failed runs. */
  failedAlerted: number;
  failed: number;
}

function burstPosts(calls: readonly FakeSlackCall[], messages: readonly FakeMessage[], plan: BurstPlan): BurstPosts {
  const effective = calls.filter((call) => call.status === 200 && call.response.ok === true);
  const posts = effective.filter((call) => call.method === 'chat.postMessage');
  const inThread = (call: FakeSlackCall) => typeof call.args.thread_ts === 'string' && call.args.thread_ts !== '';
  const broadcast = (call: FakeSlackCall) => call.args.reply_broadcast === true || call.args.reply_broadcast === 'true';
  const failed = plan.runs.filter((run) => run.final === 'FAILED');
  return {
    roots: posts.filter((call) => !inThread(call)).length,
    updates: effective.filter((call) => call.method === 'chat.update').length,
    alerts: posts.filter((call) => inThread(call) && broadcast(call)).length,
    narration: posts.filter((call) => inThread(call) && !broadcast(call)).length,
    failedAlerted: failed.filter((run) => rootsOf(messages, run).some((root) => root.replies.some((reply) => reply.replyBroadcast))).length,
    failed: failed.length,
  };
}

export interface BotBurstResult {
  deliveries: LoadResult;
  /** ms from the first delivery until every run's message showed its final state; undefined if not within the wait. */
  allFinalMs: number | undefined;
  /** Runs not showing their final state once Slack went quiet (or at the end of the wait). */
  lostFinal: number;
  /** Runs with more than one root message. */
  duplicated: number;
  /** Slack traffic from the first delivery until Slack went quiet. */
  traffic: SlackTraffic;
  posts: BurstPosts;
  quietAfterMs: number;
}

function rootsOf(messages: readonly FakeMessage[], run: BurstRun): FakeMessage[] {
  const pattern = mentions(run.name);
  return messages.filter((message) => message.channel === run.channel && pattern.test(message.text));
}

function finalShown(messages: readonly FakeMessage[], run: BurstRun): boolean {
  const roots = rootsOf(messages, run);
  return roots.length >= 1 && roots.every((root) => root.text.startsWith(FINAL_EMOJI[run.final]));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until no Slack call arrived for `quietMs` (at most `capMs`); returns when the last call came. */
async function untilQuiet(slack: FakeSlackApi, since: number, quietMs: number, capMs: number): Promise<number> {
  const deadline = performance.now() + capMs;
  let count = slack.calls().length;
  let lastChange = performance.now();
  while (performance.now() < deadline) {
    await sleep(200);
    const now = slack.calls().length;
    if (now !== count) {
      count = now;
      lastChange = performance.now();
    } else if (performance.now() - lastChange >= quietMs) {
      break;
    }
  }
  return lastChange - since;
}

export interface DeliveredBurst {
  slack: FakeSlackApi;
  plan: BurstPlan;
  /** performance.now() when the first delivery was due. */
  started: number;
  /** How many Slack calls the fake had recorded before the burst. */
  before: number;
  deliveries: LoadResult;
}

/** Delivers the burst to the bot (round robin over `webs`) at the plan's pace: `withinMs` for all of it. */
export async function deliverBurst(slack: FakeSlackApi, plan: BurstPlan, webs: readonly string[], withinMs: number): Promise<DeliveredBurst> {
  const before = slack.calls().length;
  const shots = plan.events.map((event, index) => deliveryShot(jobRunEventBody(event), index % webs.length));
  const started = performance.now();
  const deliveries = await runLoad({ targets: webs, rate: (plan.events.length * 1000) / withinMs, shots, timeoutMs: 5_000 });
  return { slack, plan, started, before, deliveries };
}

/**
 * Watches the fake Slack until every run's message shows its final state (or `waitMs` from the first
 * delivery), then until Slack traffic stops, and counts what the burst cost.
 */
export async function settleBurst(burst: DeliveredBurst, waitMs: number): Promise<BotBurstResult> {
  const { slack, plan, started } = burst;
  // Polled (one snapshot of the fake per look) rather than checked on every call, to stay cheap while other
  // measurements run in this process.
  let allFinalMs: number | undefined;
  while (performance.now() - started < waitMs) {
    const messages = slack.messages();
    if (plan.runs.every((run) => finalShown(messages, run))) {
      allFinalMs = performance.now() - started;
      break;
    }
    await sleep(100);
  }
  const quietAfterMs = await untilQuiet(slack, started, 3_000, 20_000);
  const messages = slack.messages();
  return {
    deliveries: burst.deliveries,
    allFinalMs,
    lostFinal: plan.runs.filter((run) => !finalShown(messages, run)).length,
    duplicated: plan.runs.filter((run) => rootsOf(messages, run).length > 1).length,
    traffic: slackTraffic(slack.calls().slice(burst.before)),
    posts: burstPosts(slack.calls().slice(burst.before), messages, plan),
    quietAfterMs,
  };
}

export interface NaiveBurstResult {
  traffic: SlackTraffic;
  posted: number;
  /** Runs whose latest visible message is their final state. */
  finalShown: number;
  lostFinal: number;
}

/**
 * The baseline: one chat.postMessage per event, as OCI's own Slack delivery does, through @slack/web-api
 * with no retries (a 429 is a lost message) against a FakeSlackApi with the same default limits.
 */
export async function burstNaive(slack: FakeSlackApi, plan: BurstPlan, withinMs: number): Promise<NaiveBurstResult> {
  const client = new WebClient(BOT_TOKEN, { slackApiUrl: slack.url, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true, logLevel: LogLevel.ERROR });
  const sends: Array<Promise<boolean>> = [];
  await openLoop(plan.events.length, (plan.events.length * 1000) / withinMs, (index) => {
    const event = plan.events[index];
    if (!event) return;
    sends.push(
      client.chat.postMessage({ channel: event.channel, text: `${event.name}: ${event.state}${event.lifecycleDetails ? ` (${event.lifecycleDetails})` : ''}` }).then(
        () => true,
        () => false,
      ),
    );
  });
  const outcomes = await Promise.all(sends);
  const messages = slack.messages();
  const shown = plan.runs.filter((run) => {
    const latest = rootsOf(messages, run).at(-1);
    return latest?.text.endsWith(`: ${run.final}`) ?? false;
  }).length;
  return { traffic: slackTraffic(slack.calls()), posted: outcomes.filter(Boolean).length, finalShown: shown, lostFinal: plan.runs.length - shown };
}
