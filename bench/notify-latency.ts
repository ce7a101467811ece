import type { FakeSlackApi, FakeSlackCall } from '../test/fakes/fake-slack-api.js';
import { openLoop, percentile } from './load.js';
import { BURST_CHANNELS, deliveryShot, jobRunEventBody, type JobRunEvent } from './oci-events.js';

/**
 * Latency at ordinary load: `runs` job runs over the burst channels, each moving ACCEPTED → IN_PROGRESS →
 * SUCCEEDED (every fifth FAILED), one delivery every `everyMs` in all, the runs interleaved (run i's states
 * are `runs` deliveries apart). For each delivery: the time from its 200 to the first Slack call the fake
 * recorded that shows that state (or a later one) of the run: its root posted or updated, or a reply in its
 * thread (narration, on-call alert). The root alone is reported too.
 */
const STATES = ['ACCEPTED', 'IN_PROGRESS', 'FINAL'] as const;
/** How the bot's messages start (root) or name (thread replies) each state; run-message.ts's STATE_LABEL. */
const EMOJI: Record<'ACCEPTED' | 'IN_PROGRESS' | 'SUCCEEDED' | 'FAILED', string> = {
  ACCEPTED: ':inbox_tray:',
  IN_PROGRESS: ':arrows_counterclockwise:',
  SUCCEEDED: ':white_check_mark:',
  FAILED: ':x:',
};

interface LatencyRun {
  runId: string;
  name: string;
  final: 'SUCCEEDED' | 'FAILED';
}

interface Delivery {
  run: LatencyRun;
  /** Index into STATES. */
  step: number;
  answeredAt: number;
  status: number;
}

export interface LatencyResult {
  deliveries: number;
  errors: number;
  /** ms from each delivery's 200 until Slack showed the change anywhere (root or thread), sorted. */
  anywhere: Float64Array;
  /** ms until the run's root message showed it, sorted. */
  root: Float64Array;
  /** Deliveries whose change never showed (anywhere) before Slack went quiet. */
  unseen: number;
  p50: number;
  p99: number;
  max: number;
  rootP50: number;
  rootP99: number;
  calls: Record<string, number>;
  rateLimited: number;
  /** One line per delivery, in delivery order: run, state, ms until visible anywhere / on the root. */
  detail: string[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function plan(tag: string, runs: number): { runs: LatencyRun[]; order: Array<{ run: LatencyRun; step: number }> } {
  const list = Array.from({ length: runs }, (_, index) => ({
    runId: `ocid1.datasciencejobrun.oc1.iad.latency${tag}${String(index).padStart(3, '0')}`,
    // Routed like the burst's runs: burst-<channel index>-*.
    name: `burst-${index % BURST_CHANNELS.length}-${tag}-latency${index}`,
    final: index % 5 === 4 ? ('FAILED' as const) : ('SUCCEEDED' as const),
  }));
  const order = STATES.flatMap((_, step) => list.map((run) => ({ run, step })));
  return { runs: list, order };
}

function eventOf(run: LatencyRun, step: number): JobRunEvent {
  const base = { runId: run.runId, name: run.name, second: step * 10 };
  if (step === 0) return { ...base, action: 'createjobrun.begin' };
  if (step === 1) return { ...base, action: 'updatejobrun', lifecycleState: 'IN_PROGRESS', lifecycleDetails: 'epoch 1 of 3' };
  return { ...base, action: run.final === 'FAILED' ? 'failedjobrun' : 'succeededjobrun' };
}

/** Emoji of the run's states from `step` on: a message showing any of them shows the change of `step`. */
function emojiFrom(run: LatencyRun, step: number): string[] {
  return STATES.slice(step).map((state) => EMOJI[state === 'FINAL' ? run.final : state]);
}

const ok = (call: FakeSlackCall) => call.status === 200 && call.response.ok === true;
const text = (call: FakeSlackCall) => (typeof call.args.text === 'string' ? call.args.text : '');

/** First time (fake's clock, ms) after `from` a call showed the change; root only if `rootOnly`. */
function shownAt(calls: readonly FakeSlackCall[], run: LatencyRun, step: number, rootTs: string | undefined, from: number, rootOnly: boolean): number | undefined {
  const emojis = emojiFrom(run, step);
  for (const call of calls) {
    if (call.at < from || !ok(call) || (call.method !== 'chat.postMessage' && call.method !== 'chat.update')) continue;
    const body = text(call);
    const thread = typeof call.args.thread_ts === 'string' ? call.args.thread_ts : undefined;
    const isRoot = thread === undefined && body.includes(run.name);
    if (isRoot && emojis.some((emoji) => body.startsWith(emoji))) return call.at;
    if (!rootOnly && thread !== undefined && thread === rootTs && emojis.some((emoji) => body.includes(emoji))) return call.at;
  }
  return undefined;
}

/**
 * Delivers the plan to `target` (a bot's base URL), then waits until Slack has been quiet for `quietMs`, and
 * works out each delivery's latency from the fake's record of calls (its clock is this process's Date.now).
 */
export async function measureNotifyLatency(slack: FakeSlackApi, target: string, options: { tag: string; runs: number; everyMs: number; quietMs: number; capMs: number }): Promise<LatencyResult> {
  const { runs, order } = plan(options.tag, options.runs);
  const before = slack.calls().length;
  const deliveries: Delivery[] = [];
  const sends: Array<Promise<void>> = [];
  await openLoop(order.length, 1000 / options.everyMs, (index) => {
    const item = order[index];
    if (!item) return;
    const shot = deliveryShot(jobRunEventBody(eventOf(item.run, item.step)));
    sends.push(
      fetch(`${target}${shot.path}`, { method: 'POST', headers: shot.headers, body: shot.body }).then(
        async (response) => {
          const answeredAt = Date.now();
          await response.arrayBuffer();
          deliveries.push({ run: item.run, step: item.step, answeredAt, status: response.status });
        },
        () => {
          deliveries.push({ run: item.run, step: item.step, answeredAt: Date.now(), status: 0 });
        },
      ),
    );
  });
  await Promise.all(sends);
  const analyse = () => {
    const calls = slack.calls().slice(before);
    const rootTs = new Map<string, string>();
    for (const call of calls) {
      if (call.method !== 'chat.postMessage' || !ok(call) || typeof call.args.thread_ts === 'string') continue;
      const run = runs.find((candidate) => new RegExp(`${candidate.name}(?![0-9])`).test(text(call)));
      if (run && typeof call.response.ts === 'string' && !rootTs.has(run.runId)) rootTs.set(run.runId, call.response.ts);
    }
    const anywhere: number[] = [];
    const root: number[] = [];
    const detail: string[] = [];
    let unseen = 0;
    for (const delivery of deliveries) {
      if (delivery.status !== 200) continue;
      const ts = rootTs.get(delivery.run.runId);
      // The bot may show the change a moment before the 200 reaches the sender: that counts as 0.
      const from = delivery.answeredAt - 1_000;
      const seen = shownAt(calls, delivery.run, delivery.step, ts, from, false);
      const seenOnRoot = shownAt(calls, delivery.run, delivery.step, ts, from, true);
      if (seen === undefined) unseen++;
      else anywhere.push(Math.max(0, seen - delivery.answeredAt));
      if (seenOnRoot !== undefined) root.push(Math.max(0, seenOnRoot - delivery.answeredAt));
      const ms = (at: number | undefined) => (at === undefined ? 'never' : `${Math.max(0, at - delivery.answeredAt)} ms`);
      detail.push(`${delivery.run.name} ${STATES[delivery.step] ?? ''}: anywhere ${ms(seen)}, root ${ms(seenOnRoot)}`);
    }
    return { calls, anywhere, root, unseen, detail };
  };
  // Until every change is visible anywhere and every root shows its run's final state (or the cap), then
  // until Slack is quiet for `quietMs`.
  const deadline = Date.now() + options.capMs;
  let result = analyse();
  const finalOnRoots = () => runs.every((run) => shownAt(result.calls, run, STATES.length - 1, undefined, 0, true) !== undefined);
  while (Date.now() < deadline && (result.unseen > 0 || !finalOnRoots())) {
    await sleep(200);
    result = analyse();
  }
  let count = slack.calls().length;
  let lastChange = Date.now();
  while (Date.now() < deadline && Date.now() - lastChange < options.quietMs) {
    await sleep(200);
    if (slack.calls().length !== count) {
      count = slack.calls().length;
      lastChange = Date.now();
    }
  }
  const { calls, anywhere, root, unseen, detail } = analyse();
  const sortedAnywhere = Float64Array.from(anywhere).sort();
  const sortedRoot = Float64Array.from(root).sort();
  const byMethod: Record<string, number> = {};
  for (const call of calls) byMethod[call.method] = (byMethod[call.method] ?? 0) + 1;
  return {
    deliveries: deliveries.length,
    errors: deliveries.filter((delivery) => delivery.status !== 200).length,
    anywhere: sortedAnywhere,
    root: sortedRoot,
    unseen,
    p50: percentile(sortedAnywhere, 0.5),
    p99: percentile(sortedAnywhere, 0.99),
    max: sortedAnywhere.at(-1) ?? Number.NaN,
    rootP50: percentile(sortedRoot, 0.5),
    rootP99: percentile(sortedRoot, 0.99),
    calls: byMethod,
    rateLimited: calls.filter((call) => call.status === 429).length,
    detail,
  };
}
