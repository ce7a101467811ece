import { botEnv, ociConfigEnv } from './bot-env.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { FakeSlackApi } from '../test/fakes/fake-slack-api.js';
import { baseConfigFile, BOT_TOKEN, SIGNING_SECRET } from '../test/helpers/bot-harness.js';
import { startTestOci, type TestOci } from '../test/helpers/oci.js';
import { startRedis, type TestRedis } from '../test/helpers/redis-server.js';
import { startResponseUrlServer, type ResponseUrlServer } from '../test/helpers/response-url-server.js';
import { SLACK_LIMITS } from '../src/adapters/slack-api/slack-gateway.js';
import { burstFloorMs, burstNaive, deliverBurst, settleBurst, type BotBurstResult, type NaiveBurstResult } from './burst.js';
import { measureNotifyLatency, type LatencyResult } from './notify-latency.js';
import { CpuMeter, findPid, machineBusyPercent } from './cpu.js';
import { findIngestCeiling, INGEST_P99_BOUND_MS, type IngestCeiling } from './ingest.js';
import { describeMachine } from './machine.js';
import { BURST_CHANNELS, burstPlan } from './oci-events.js';
import { spawnChild, type Child } from './processes.js';
import { QueueDepth } from './queue-depth.js';
import { measureAcks, type AckFigure, type SlashCommand } from './slash-acks.js';
import { failures, latency, mb, ms, renderTable, seconds, type Row } from './table.js';

/**
 * `npm run bench`: every figure of issue 7 beside a baseline measured the same way, on this machine, in one
 * run, printed as one markdown table and written to bench/results.md. It never asserts: a missed target is
 * a row marked **no**, with what bounds it in the notes. Exit code 1 only when a scenario crashed.
 *
 * Durations are shorter than the issue's examples so the whole run stays near three minutes on 2 cores.
 * The bursts are the exception: the bench waits for the bot to show every final state, however long the
 * bot takes, and saves time instead by running the scale-out phase while the single-process bot is only
 * waiting on Slack's rate limits to finish its burst.
 */
const ACK_RATE = 200;
const ACK_MS = 20_000;
/** Each server's 10 s are taken in this many interleaved slices (bot, bare Bolt, raw, bot, ...). */
const ACK_ROUNDS = 10;
const INGEST_RATES = [500, 1_000, 1_500, 2_000, 3_000, 4_000, 6_000];
const INGEST_STEP_MS = 1_500;
/**
 * The scale-out phase shows the target holding across processes, not the ceiling (item 2 has it): its steps
 * stop at 1.5 × the target, so the backlog its two workers drain afterwards stays near a real one's size.
 */
const SCALED_INGEST_RATES = INGEST_RATES.filter((rate) => rate <= 3_000);
const BURST_RUNS = 50;
const BURST_EVENTS_PER_RUN = 40;
const BURST_WITHIN_MS = 2_000;
const BURST_WAIT_MS = 150_000;
const LATENCY_RUNS = 20;
const LATENCY_EVERY_MS = 200;
const DRAIN_CAP_MS = 30_000;
const USERGROUPS = { S0DS: ['U0DS1'], S0ONCALL: ['U0ONCALL'], S0SRE: ['U0SRE1'] };

type Memory = { rssMb: number; peakMb: number };
type Drain = { ms: number; left: number; backlog: number };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const repoRoot = new URL('../../', import.meta.url);
process.chdir(fileURLToPath(repoRoot));

const benchStarted = performance.now();
const rows: Row[] = [];
const footer: string[] = [];
const crashes: string[] = [];
const children: Child[] = [];

async function scenario(name: string, body: () => Promise<void>): Promise<void> {
  const started = performance.now();
  try {
    await body();
  } catch (error) {
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
    crashes.push(`${name}: ${message.split('\n').slice(0, 6).join(' / ')}`);
    console.error(`[bench] ${name} crashed:`, error);
  }
  console.error(`[bench] ${name}: ${seconds(performance.now() - started)}`);
}

function logLines(child: Child): string {
  const entries = [...child.logSummary().entries()].sort((a, b) => b[1] - a[1]);
  if (entries.length === 0) return `${child.name}: nothing at warn or above`;
  return `${child.name}: ${entries.slice(0, 6).map(([key, count]) => `${count}× "${key}"`).join(', ')}`;
}

const percent = (value: number | undefined) => `${Math.round(value ?? Number.NaN)}%`;

function stepText(ceiling: IngestCeiling, process?: string): string {
  return ceiling.steps
    .map((step, index) => {
      const again = ceiling.steps[index - 1]?.retried === true ? 'again ' : '';
      const cpu = process === undefined ? '' : `, CPU ${percent(step.cpu[process])}`;
      return `${again}${step.rate}/s: p99 ${ms(step.result.p99)} ms${step.result.errors > 0 ? `, ${failures(step.result)}` : ''}${cpu}`;
    })
    .join('; ');
}

function ceilingText(ceiling: IngestCeiling | undefined): string {
  if (!ceiling) return 'crashed';
  if (!ceiling.best) return `< ${INGEST_RATES[0]}/s`;
  const last = ceiling.steps.at(-1);
  const capped = last?.held === true ? ` (or more: the highest step, ${last.rate}/s, still held)` : '';
  return `**${ceiling.best.rate}/s** (p99 ${ms(ceiling.best.result.p99)} ms)${capped}`;
}

/**
 * CPU shares at the step where the search stopped, and what one delivery costs in each process at the
 * highest rate that held (past saturation, work queues up and CPU per delivery reads low).
 */
function cpuAt(ceiling: IngestCeiling | undefined): string {
  const failing = ceiling?.steps.at(-1);
  if (!ceiling || !failing || failing.held) return '';
  const shares = Object.entries(failing.cpu)
    .filter(([, value]) => Number.isFinite(value))
    .map(([name, value]) => `${name} ${percent(value)}`)
    .join(', ');
  const steady = ceiling.best ?? failing;
  // % of one core over the step ÷ deliveries per second = ms of CPU per delivery.
  const perDelivery = Object.entries(steady.cpu)
    .filter(([name, value]) => name !== 'generator' && name !== 'others' && Number.isFinite(value) && value >= 1)
    .map(([name, value]) => `${name} ${((value * 10) / steady.rate).toFixed(2)} ms`)
    .join(', ');
  return `CPU at ${failing.rate}/s (% of one core; 200% = both cores): ${shares}. CPU per delivery at ${steady.rate}/s: ${perDelivery}. Generator send lag up to ${ms(failing.result.maxSendLagMs)} ms.`;
}

function pushBurstRows(item: string, what: string, bot: BotBurstResult | undefined, baseline: NaiveBurstResult | undefined, floor: { floorMs: number; postsPerChannel: number }, notes: string): void {
  const methods = (byMethod: Record<string, number>) =>
    Object.entries(byMethod)
      .sort((a, b) => b[1] - a[1])
      .map(([method, count]) => `${count} ${method}`)
      .join(', ');
  const naiveText = (text: (naive: NaiveBurstResult) => string) => (baseline ? `one post per event: ${text(baseline)}` : 'crashed');
  const posts = bot?.posts;
  const rootCalls = posts ? posts.roots + posts.updates : Number.NaN;
  rows.push({
    item,
    figure: `${what}: root posts + chat.updates`,
    bot: posts ? `${rootCalls} = **${(rootCalls / BURST_RUNS).toFixed(2)} × runs** (${posts.roots} roots, ${posts.updates} chat.update)\nthread replies: ${posts.alerts} on-call alerts, ${posts.narration} narration` : 'crashed',
    baseline: naiveText((naive) => `${naive.traffic.calls} (${naive.posted} took effect)`),
    target: `≤ 1.25 × runs (${BURST_RUNS * 1.25})`,
    met: posts ? rootCalls <= 1.25 * BURST_RUNS : undefined,
    notes: bot
      ? `All Slack calls: ${bot.traffic.calls} (${methods(bot.traffic.byMethod)}); Slack quiet ${seconds(bot.quietAfterMs)} after the first delivery. The minimum is one root per run and no update: a root posted once its run has ended needs none. Thread replies (narration, on-call alerts) are counted apart; narration may follow the final states. Deliveries answered: ${latency(bot.deliveries)}.`
      : '',
  });
  rows.push({
    item,
    figure: `${what}: failed runs alerting on-call`,
    bot: posts ? `${posts.failedAlerted} of ${posts.failed}` : 'crashed',
    baseline: '—',
    target: `all ${posts?.failed ?? ''}`.trim(),
    met: posts ? posts.failedAlerted === posts.failed : undefined,
    notes: 'A failed run has an on-call alert (a reply broadcast to the channel) in its thread once Slack is quiet.',
  });
  rows.push({
    item,
    figure: `${what}: 429s received`,
    bot: bot ? `${bot.traffic.rateLimited}` : 'crashed',
    baseline: naiveText((naive) => `${naive.traffic.rateLimited}`),
    target: '0',
    met: bot ? bot.traffic.rateLimited === 0 : undefined,
    notes: bot
      ? `Per channel, most posts within any 1 s: bot ${bot.traffic.maxPostsPerChannelPerSecond}, shortest gap between two posts ${ms(bot.traffic.minPostGapMs)} ms${baseline ? `; baseline ${baseline.traffic.maxPostsPerChannelPerSecond}` : ''}. The fake allows 2 posts per channel per second and 50 chat.update a minute; the bot aims at 1 post/s/channel.`
      : '',
  });
  rows.push({
    item,
    figure: `${what}: lost final states`,
    bot: bot ? `${bot.lostFinal} of ${BURST_RUNS}${bot.duplicated > 0 ? `; ${bot.duplicated} runs got more than one message` : ''}` : 'crashed',
    baseline: naiveText((naive) => `${naive.lostFinal} of ${BURST_RUNS} (the run's latest message is not its final state)`),
    target: '0',
    met: bot ? bot.lostFinal === 0 && bot.duplicated === 0 : undefined,
    notes: "Shown = the run's one message reads succeeded / failed once Slack is quiet. Every run also gets 3 stale deliveries; all 2,000 arrive shuffled.",
  });
  const ratio = bot?.allFinalMs === undefined ? Number.NaN : bot.allFinalMs / floor.floorMs;
  rows.push({
    item,
    figure: `${what}: time until every run's message shows its final state`,
    bot: bot ? (bot.allFinalMs === undefined ? `not within ${seconds(BURST_WAIT_MS)}` : `${seconds(bot.allFinalMs)} = **${ratio.toFixed(2)} × floor**`) : 'crashed',
    baseline: naiveText((naive) => (naive.lostFinal === 0 ? 'all shown' : 'never (final states lost)')),
    target: `≤ 1.5 × floor (${seconds(1.5 * floor.floorMs)})`,
    met: bot ? Number.isFinite(ratio) && ratio <= 1.5 : undefined,
    notes: `Floor ${seconds(floor.floorMs)}: the posts the busiest channel must make before every run shows its final state (one root per run, one on-call alert per failed run: ${floor.postsPerChannel}) at one a second per channel. Counted from the first delivery. ${notes}`,
  });
}

// ------------------------------------------------------------------------------------------------------------

const machine = describeMachine();
const busyBefore = await machineBusyPercent(1_000);
console.error(`[bench] ${machine}; machine ${percent(busyBefore)} busy before the run`);

let redis: TestRedis | undefined;
let redisB: TestRedis | undefined;
let slack: FakeSlackApi | undefined;
let slackB: FakeSlackApi | undefined;
let oci: TestOci | undefined;
let responseUrls: ResponseUrlServer | undefined;
let configDir: string | undefined;

try {
  redis = await startRedis();
  slack = await FakeSlackApi.start({ usergroups: USERGROUPS });
  oci = await startTestOci();
  responseUrls = await startResponseUrlServer();
  const redisA = redis;
  const slackA = slack;
  const responses = responseUrls;

  // The bot reads its config as in production: a YAML file, an OCI config file with a key, the environment.
  const dir = mkdtempSync(join(tmpdir(), 'mlops-bench-'));
  configDir = dir;
  const base = baseConfigFile();
  const configPath = join(dir, 'mlops.yaml');
  const burstRoutes = BURST_CHANNELS.map((channel, index) => ({ match: { resourceName: `burst-${index}-*` }, channel }));
  writeFileSync(configPath, stringify({ ...base, routes: [...burstRoutes, ...(base.routes as unknown[])] }));
  const ociEnv = ociConfigEnv(dir, oci);
  const spawnBot = async (name: string, role: 'all' | 'web' | 'worker', redisUrl: string, slackUrl: string) => {
    const env = botEnv({ role, slackUrl, redisUrl, configPath, oci: ociEnv });
    const child = await spawnChild({ name, script: 'dist/src/main.js', env, readyPath: '/readyz' });
    children.push(child);
    return child;
  };
  const spawnBaseline = async (name: string, script: string, env: Record<string, string> = {}) => {
    const child = await spawnChild({ name, script, env, readyPath: '/', anyAnswer: true });
    children.push(child);
    return child;
  };
  const redisPid = (server: TestRedis) => findPid('redis-server', `:${server.port}`);

  // ---- Phase A: one bot process, ROLE=all (web and workers), as a single-replica install runs it. ----
  const bot = await spawnBot('bot (ROLE=all)', 'all', redisA.url, slackA.url);
  await sleep(2_000);
  const idle = bot.memory();

  // ---- 1. Slash-command acknowledgement ----
  // The figure against the target is the bot as manifests/base deploys it: a ROLE=web process answering
  // Slack, with a ROLE=worker process beside it running what it queued (both measured for CPU), on a Redis
  // of their own. The single-process install (phase A's ROLE=all bot) is measured too, informative.
  const acks: Partial<Record<SlashCommand, { web?: AckFigure; webAlone?: AckFigure; all?: AckFigure; bolt?: AckFigure; raw?: AckFigure }>> = {};
  const ackOthers: Partial<Record<SlashCommand, number>> = {};
  let bolt: Child | undefined;
  let boltIdle: Memory = { rssMb: Number.NaN, peakMb: Number.NaN };
  await scenario('1. slash-command acks', async () => {
    const redisC = await startRedis();
    try {
      const [web, worker] = await Promise.all([spawnBot('web (ROLE=web)', 'web', redisC.url, slackA.url), spawnBot('worker (ROLE=worker)', 'worker', redisC.url, slackA.url)]);
      const bare = await spawnBaseline('bare Bolt', 'dist/bench/servers/bare-bolt.js', { SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_API_URL: slackA.url });
      bolt = bare;
      const raw = await spawnBaseline('raw node:http', 'dist/bench/servers/raw-http.js');
      await sleep(1_000);
      boltIdle = bare.memory();
      const ack = { rate: ACK_RATE, durationMs: ACK_MS };
      for (const command of ['help', 'train'] as const) {
        const meter = new CpuMeter({ web: web.pid, worker: worker.pid, all: bot.pid, bolt: bare.pid, raw: raw.pid, redis: redisPid(redisA), 'redis (web)': redisPid(redisC) });
        meter.start();
        const servers = [
          { name: 'web', url: web.url, pid: web.pid, companions: [{ name: 'worker', pid: worker.pid }] },
          // Only commands the worker runs differ with the worker stopped (help is answered in the ack).
          ...(command === 'train' ? [{ name: 'webAlone', url: web.url, pid: web.pid, companions: [{ name: 'worker', pid: worker.pid }], paused: [worker.pid] }] : []),
          { name: 'bolt', url: bare.url, pid: bare.pid },
          { name: 'raw', url: raw.url, pid: raw.pid },
          { name: 'all', url: bot.url, pid: bot.pid },
        ];
        const figures = await measureAcks(servers, command, ack, ACK_ROUNDS, responses);
        ackOthers[command] = meter.stop().others ?? Number.NaN;
        acks[command] = figures;
      }
      await raw.stop();
      await web.stop();
      await worker.stop();
    } finally {
      await redisC.stop();
    }
  });
  const ackText = (figure: AckFigure | undefined) => (figure ? `${latency(figure.result)}; CPU ${ms(figure.cpuMsPerRequest)} ms/request` : 'crashed');
  for (const command of ['help', 'train'] as const) {
    const figures = acks[command];
    const counted = command === 'train' ? figures?.webAlone : figures?.web;
    const countedP99 = counted?.result.p99 ?? Number.NaN;
    const boltP99 = figures?.bolt?.result.p99 ?? Number.NaN;
    const workerCpu = figures?.web?.companionsCpuMsPerRequest.worker;
    rows.push({
      item: '1',
      figure: `ack \`/mlops ${command === 'help' ? 'help' : 'train fraud-model'}\`, ${ACK_RATE}/s for ${ACK_MS / 1000} s, open loop`,
      bot:
        command === 'train'
          ? `ROLE=web, its worker stopped during the turns: ${ackText(figures?.webAlone)}\nROLE=web, its worker running beside it on the same 2 cores: ${ackText(figures?.web)}${workerCpu === undefined ? '' : ` (the worker: CPU ${ms(workerCpu)} ms/request)`}\nROLE=all, one process: ${ackText(figures?.all)}`
          : `ROLE=web: ${ackText(figures?.web)}\nROLE=all, one process: ${ackText(figures?.all)}`,
      baseline: `bare Bolt: ${ackText(figures?.bolt)}\nraw node:http: ${ackText(figures?.raw)}`,
      target: `p99 ≤ 1.5× bare Bolt and < 50 ms (here ≤ ${ms(Math.min(1.5 * boltP99, 50))} ms)`,
      met: counted && figures?.bolt ? counted.result.errors === 0 && countedP99 <= 1.5 * boltP99 && countedP99 < 50 : undefined,
      notes: `${
        command === 'help'
          ? 'Answered in the ack.'
          : 'The web process checks the request and acks, then queues the command (one Redis write); the worker runs it (replay check, trainers check, dedupe, audit) and answers through response_url (a local stand-in). Identical requests within 60 s are deduplicated: one run is queued. In one ROLE=all process the same work shares the event loop with the acks, informative.'
      } The target counts the ROLE=web process, the bot as manifests/base deploys it (web and worker Deployments)${
        command === 'train' ? ', measured as item 2 measures ingest: its worker stopped (SIGSTOP) during its turns and continued after them to run the queued commands and reply; with the worker running on the same 2 cores as the web process, Redis and the generator, the ack tail is the CPU they share (the same web process acks at Bolt\'s p99 with no worker)' : ''
      }. Latency counts from each request's scheduled time; the servers take turns in ${ACK_ROUNDS} slices of ${ACK_MS / ACK_ROUNDS / 1000} s each, so a disturbance on the machine falls on all of them alike, and each turn starts once the previous server's queued work is done. A p99 of ${(ACK_RATE * ACK_MS) / 1000} samples still moves by several ms between runs here. Processes the bench did not start used ${percent(ackOthers[command])} of a core meanwhile.`,
    });
  }

  // ---- 2. Notification ingest ----
  // The figure against the target is a ROLE=web process, as manifests/base deploys the bot (web and worker
  // Deployments), on a Redis of its own so no worker folds during the steps; a ROLE=worker then drains
  // the backlog (the fold rate). The ROLE=all figure (a single-replica install) follows, informative.
  let webIngest: IngestCeiling | undefined;
  let webDrained: Drain | undefined;
  let botIngest: IngestCeiling | undefined;
  let baseIngest: IngestCeiling | undefined;
  let drained: Drain | undefined;
  const depthA = new QueueDepth(redisA.url);
  await scenario('2. notification ingest', async () => {
    const redisW = await startRedis();
    const depthW = new QueueDepth(redisW.url);
    try {
      const web = await spawnBot('web (ROLE=web)', 'web', redisW.url, slackA.url);
      webIngest = await findIngestCeiling([web.url], INGEST_RATES, INGEST_STEP_MS, 500, { web: web.pid, redis: redisPid(redisW) });
      await web.stop();
      const backlog = await depthW.notificationsBacklog();
      const worker = await spawnBot('worker (ROLE=worker)', 'worker', redisW.url, slackA.url);
      webDrained = { ...(await depthW.drain(DRAIN_CAP_MS)), backlog };
      await worker.stop();
    } finally {
      await depthW.close();
      await redisW.stop();
    }
    botIngest = await findIngestCeiling([bot.url], INGEST_RATES, INGEST_STEP_MS, 500, { bot: bot.pid, redis: redisPid(redisA) });
    const backlog = await depthA.notificationsBacklog();
    drained = { ...(await depthA.drain(DRAIN_CAP_MS)), backlog };
    const baseline = await spawnBaseline('raw node:http + Redis SET NX', 'dist/bench/servers/redis-ingest.js', { REDIS_URL: redisA.url });
    baseIngest = await findIngestCeiling([baseline.url], INGEST_RATES, INGEST_STEP_MS, 500, { baseline: baseline.pid, redis: redisPid(redisA) });
    await baseline.stop();
  });
  {
    const best = webIngest?.best?.rate ?? 0;
    const baseBest = baseIngest?.best?.rate ?? Number.NaN;
    const drainText = (drain: Drain | undefined) =>
      drain ? `${drain.backlog} jobs in ${seconds(drain.ms)} (≈ ${Math.round(drain.backlog / Math.max(drain.ms / 1000, 0.001))}/s)${drain.left > 0 ? `, ${drain.left} left at the ${DRAIN_CAP_MS / 1000} s cap` : ''}` : 'crashed';
    rows.push({
      item: '2',
      figure: `notification ingest: highest rate holding p99 < ${INGEST_P99_BOUND_MS} ms with Basic auth, parse, dedupe, enqueue (${INGEST_STEP_MS / 1000} s steps)`,
      bot: `ROLE=web: ${ceilingText(webIngest)}\nsteps: ${webIngest ? stepText(webIngest, 'web') : 'n/a'}`,
      baseline: `raw node:http + 1 Redis SET NX: ${ceilingText(baseIngest)}\nsteps: ${baseIngest ? stepText(baseIngest, 'baseline') : 'n/a'}`,
      target: `≥ 2000/s and ≥ ½ baseline (${Number.isFinite(baseBest) ? `${baseBest / 2}/s` : 'n/a'})`,
      met: webIngest && baseIngest ? best >= 2_000 && best >= baseBest / 2 : undefined,
      notes: `A ROLE=web process as manifests/base runs it (workers in their own Deployment), on its own Redis, with no worker running during the steps. ${cpuAt(webIngest)} One Node process answers on one core; see docs/performance.md for what a delivery costs and why.`,
    });
    rows.push({
      item: '2',
      figure: 'notification fold: that backlog drained by one ROLE=worker process',
      bot: drainText(webDrained),
      baseline: '—',
      target: '—',
      met: undefined,
      notes: 'Informative. Deliveries here are stale events of one run that change nothing, so no Slack calls follow.',
    });
    rows.push({
      item: '2',
      figure: 'notification ingest, single process (ROLE=all: web and workers in one process)',
      bot: `ROLE=all: ${ceilingText(botIngest)}\nsteps: ${botIngest ? stepText(botIngest, 'bot') : 'n/a'}; backlog ${drainText(drained)} after`,
      baseline: 'as above',
      target: '—',
      met: undefined,
      notes: `Informative: a single-replica install, where the workers fold every delivery in the same event loop while ingest goes on. ${cpuAt(botIngest)}`,
    });
  }

  // ---- 5a. Scale-out ingest: two web and two worker processes on their own Redis and fake Slack ----
  redisB = await startRedis();
  slackB = await FakeSlackApi.start({ usergroups: USERGROUPS });
  const redisBUrl = redisB.url;
  const redisBPort = redisB.port;
  const slackBApi = slackB;
  const scaled: Child[] = [];
  let webs: string[] = [];
  let startAll = Number.NaN;
  let scaledIngest: IngestCeiling | undefined;
  let scaledDrain: Drain | undefined;
  await scenario('5. scale-out start and ingest', async () => {
    const started = performance.now();
    const roles = [
      ['web-1', 'web'],
      ['web-2', 'web'],
      ['worker-1', 'worker'],
      ['worker-2', 'worker'],
    ] as const;
    scaled.push(...(await Promise.all(roles.map(([name, role]) => spawnBot(name, role, redisBUrl, slackBApi.url)))));
    startAll = performance.now() - started;
    webs = scaled.filter((child) => child.name.startsWith('web')).map((child) => child.url);
    const watch: Record<string, number | undefined> = { redis: findPid('redis-server', `:${redisBPort}`), 'phase A bot (idle)': bot.pid };
    for (const child of scaled) watch[child.name] = child.pid;
    // As in item 2, no worker folds during the steps: the two workers are stopped (SIGSTOP) and continued
    // afterwards to drain the backlog. The web and worker tiers are separate Deployments so that they scale
    // apart; on 2 cores, workers folding meanwhile would only take the webs' CPU.
    const workers = scaled.filter((child) => child.name.startsWith('worker'));
    for (const worker of workers) process.kill(worker.pid, 'SIGSTOP');
    try {
      scaledIngest = await findIngestCeiling(webs, SCALED_INGEST_RATES, INGEST_STEP_MS, 500, watch);
    } finally {
      for (const worker of workers) process.kill(worker.pid, 'SIGCONT');
    }
    const depthB = new QueueDepth(redisBUrl);
    try {
      const backlog = await depthB.notificationsBacklog();
      scaledDrain = { ...(await depthB.drain(DRAIN_CAP_MS)), backlog };
    } finally {
      await depthB.close();
    }
  });

  // ---- 3 and 5b. The ordinary-load latency row, then the bursts: the single process first, then (once it
  // has settled) the same burst on the scale-out processes, each on its own fake workspace. ----
  let loaded: Memory = { rssMb: Number.NaN, peakMb: Number.NaN };
  let foldedA: Drain | undefined;
  let botBurst: BotBurstResult | undefined;
  let scaledBurst: BotBurstResult | undefined;
  let notifyLatency: LatencyResult | undefined;
  await scenario('3. latency at ordinary load', async () => {
    notifyLatency = await measureNotifyLatency(slackA, bot.url, { tag: 'a', runs: LATENCY_RUNS, everyMs: LATENCY_EVERY_MS, quietMs: 3_000, capMs: 60_000 });
  });
  await scenario('3 and 5. bursts', async () => {
    const deliveredA = await deliverBurst(slackA, burstPlan('a', BURST_RUNS, BURST_EVENTS_PER_RUN), [bot.url], BURST_WITHIN_MS);
    foldedA = { ...(await depthA.drain(DRAIN_CAP_MS)), backlog: 0 };
    botBurst = await settleBurst(deliveredA, BURST_WAIT_MS);
    loaded = bot.memory();
    if (webs.length > 0) scaledBurst = await settleBurst(await deliverBurst(slackBApi, burstPlan('b', BURST_RUNS, BURST_EVENTS_PER_RUN), webs, BURST_WITHIN_MS), BURST_WAIT_MS);
  });
  await depthA.close();

  // ---- 3. baseline: one post per event, on its own fake workspace, once everything else is quiet ----
  let naive: NaiveBurstResult | undefined;
  await scenario('3. one-post-per-event baseline', async () => {
    const naiveSlack = await FakeSlackApi.start();
    try {
      naive = await burstNaive(naiveSlack, burstPlan('a', BURST_RUNS, BURST_EVENTS_PER_RUN), BURST_WITHIN_MS);
    } finally {
      await naiveSlack.stop();
    }
  });

  const burstFloor = burstFloorMs(burstPlan('a', BURST_RUNS, BURST_EVENTS_PER_RUN), SLACK_LIMITS.postMessagePerChannel.intervalMs);
  const howNote =
    "A run's root goes out at once when its channel's slot is free; otherwise it waits in the channel's line (in Redis) and is posted, failed runs first, then ended ones, then the oldest, rendered with the run's state when the slot comes. Edits of runs still moving wait while roots wait, then come at most every 3 s; narration follows once the channel's roots are out.";
  pushBurstRows(
    '3',
    `${BURST_RUNS * BURST_EVENTS_PER_RUN} events, ${BURST_RUNS} runs, ${BURST_CHANNELS.length} channels, in ${BURST_WITHIN_MS / 1000} s (ROLE=all)`,
    botBurst,
    naive,
    burstFloor,
    `${howNote}${foldedA ? ` All deliveries were folded ${seconds(foldedA.ms)} after the last was answered.` : ''}`,
  );

  rows.push({
    item: '3',
    figure: `ordinary load: ${LATENCY_RUNS} runs moving through their states, one delivery every ${LATENCY_EVERY_MS} ms (ROLE=all): from the delivery's 200 to the change visible in Slack`,
    bot: notifyLatency ? `p50 ${ms(notifyLatency.p50)} / p99 ${ms(notifyLatency.p99)} / max ${ms(notifyLatency.max)} ms${notifyLatency.unseen > 0 ? `; ${notifyLatency.unseen} changes never shown` : ''}` : 'crashed',
    baseline: notifyLatency ? `the run's root alone: p50 ${ms(notifyLatency.rootP50)} / p99 ${ms(notifyLatency.rootP99)} ms` : '—',
    target: 'p50 ≤ 300 ms, p99 ≤ 1 s',
    met: notifyLatency ? notifyLatency.errors === 0 && notifyLatency.unseen === 0 && notifyLatency.p50 <= 300 && notifyLatency.p99 <= 1_000 : undefined,
    notes: notifyLatency
      ? `${notifyLatency.deliveries} deliveries (${notifyLatency.errors} not 200): each run accepted, in progress, then succeeded (one in five failed), the runs interleaved over the 5 burst channels. Visible = the first call the fake Slack recorded showing that state or a later one: the root posted or updated, or a reply in its thread (narration, on-call alert). chat.update allows 50 a minute for the workspace, fewer than the ${LATENCY_RUNS * 2} state changes of running roots here, so the thread shows a change first when the update budget is spent, and the root catches up. Slack calls: ${Object.entries(notifyLatency.calls).map(([method, count]) => `${count} ${method}`).join(', ')}; ${notifyLatency.rateLimited} × 429.`
      : '',
  });

  // ---- 4. Memory and start ----
  const boltLoaded: Memory = bolt ? bolt.memory() : { rssMb: Number.NaN, peakMb: Number.NaN };
  rows.push({
    item: '4',
    figure: 'RSS idle (2 s after /readyz 200)',
    bot: mb(idle.rssMb),
    baseline: `bare Bolt: ${mb(boltIdle.rssMb)}`,
    target: '< 150 MB',
    met: Number.isFinite(idle.rssMb) ? idle.rssMb < 150 : undefined,
    notes: 'node dist/src/main.js alone (LOG_LEVEL=warn), VmRSS from /proc/<pid>/status.',
  });
  rows.push({
    item: '4',
    figure: 'RSS after items 1–3 (now / peak)',
    bot: `${mb(loaded.rssMb)} / ${mb(loaded.peakMb)}`,
    baseline: `bare Bolt after item 1: ${mb(boltLoaded.rssMb)} / ${mb(boltLoaded.peakMb)}`,
    target: '< 300 MB',
    met: Number.isFinite(loaded.peakMb) ? loaded.peakMb < 300 : undefined,
    notes: 'Peak is VmHWM, the high-water mark since start.',
  });
  rows.push({
    item: '4',
    figure: 'start to first /readyz 200',
    bot: seconds(bot.readyMs),
    baseline: `bare Bolt, spawn to first HTTP answer: ${bolt ? seconds(bolt.readyMs) : 'n/a'}`,
    target: '< 1.5 s',
    met: bot.readyMs < 1_500,
    notes: 'From spawn() of node dist/src/main.js (Node start-up and module loading included) to 200: Redis ping, Slack auth.test (local fake), 5 BullMQ workers running.',
  });
  if (bolt) await bolt.stop();
  const botShutdownMs = await bot.stop();
  footer.push(`Phase A bot logs at warn or above: ${logLines(bot)}. SIGTERM to exit: ${seconds(botShutdownMs)}.`);

  // ---- 5. rows ----
  rows.push({
    item: '5',
    figure: 'scale-out ingest: 2 web + 2 worker processes, deliveries round robin over the webs',
    bot: `${ceilingText(scaledIngest)}\nsteps: ${scaledIngest ? stepText(scaledIngest) : 'n/a'}`,
    baseline: `one raw node:http + SET NX (item 2): ${ceilingText(baseIngest)}`,
    target: '≥ 2000/s',
    met: scaledIngest ? (scaledIngest.best?.rate ?? 0) >= 2_000 : undefined,
    notes: `${cpuAt(scaledIngest)} As in item 2, no worker folds during the steps: both worker processes are stopped (SIGSTOP) meanwhile and continued afterwards to drain the backlog. Four bot processes, Redis and the generator share 2 cores, so two webs add no throughput over one here; the figure shows that ingest holds across processes.${
      scaledDrain ? ` The workers drained the ${scaledDrain.backlog}-job backlog in ${seconds(scaledDrain.ms)}${scaledDrain.left > 0 ? ` (${scaledDrain.left} left at the cap)` : ''}.` : ''
    }`,
  });
  pushBurstRows(
    '5',
    'scale-out: the same burst over 2 web + 2 worker processes',
    scaledBurst,
    naive,
    burstFloor,
    `${howNote} Limiter buckets and the waiting lines live in Redis, shared by both workers. Delivered once the phase A burst had settled.`,
  );
  const memories = scaled.map((child) => `${child.name} ${mb(child.memory().rssMb)} (peak ${mb(child.memory().peakMb)}), ready in ${seconds(child.readyMs)}`).join('\n');
  rows.push({
    item: '5',
    figure: 'scale-out start (4 processes at once, until all /readyz 200) and RSS after',
    bot: `${seconds(startAll)}\n${memories}`,
    baseline: `one ROLE=all process alone: ${seconds(bot.readyMs)}`,
    target: '< 300 MB each',
    met: scaled.length === 4 ? scaled.every((child) => child.memory().peakMb < 300) : undefined,
    notes: 'Start is informative: the four Node start-ups compete for 2 cores (item 4 has the single-process start target).',
  });
  for (const child of scaled) {
    await child.stop();
    footer.push(`Phase B logs at warn or above: ${logLines(child)}.`);
  }
} catch (error) {
  crashes.push(`set-up: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  console.error('[bench] set-up crashed:', error);
} finally {
  for (const child of children) await child.stop().catch(() => undefined);
  await responseUrls?.stop().catch(() => undefined);
  await oci?.stop().catch(() => undefined);
  await slack?.stop().catch(() => undefined);
  await slackB?.stop().catch(() => undefined);
  await redis?.stop().catch(() => undefined);
  await redisB?.stop().catch(() => undefined);
  if (configDir) rmSync(configDir, { recursive: true, force: true });
}

const totalMs = performance.now() - benchStarted;
footer.unshift(
  `Whole run: ${seconds(totalMs)}, plus the TypeScript build before it. The machine was ${percent(busyBefore)} busy (of one core) in the second before the run: other sessions share it, and every CPU figure has an \`others\` share for them.`,
  `Acks ${ACK_RATE}/s for ${ACK_MS / 1000} s per command and server, as the issue's example; shorter than its examples: ingest steps of ${INGEST_STEP_MS / 1000} s.`,
  'Load comes from an open-loop generator (raw keep-alive HTTP/1.1 sockets, latency counted from each request\'s scheduled time) in the bench process, which also hosts the fake Slack, OCI and response_url servers. Every measured server is its own child process on the same 2 cores as Redis.',
  'Phase B (item 5) has its own Redis and its own FakeSlackApi (same default limits: 2 posts/s/channel, chat.update 50/min). Its ingest steps run before any burst; its burst is delivered once the phase A burst has settled.',
);
for (const crash of crashes) footer.push(`CRASHED: ${crash}`);
const table = renderTable('mlops-chatops benchmarks', machine, rows, footer);
console.log(table);
writeFileSync(new URL('bench/results.md', repoRoot), table);
process.exit(crashes.length > 0 ? 1 : 0);
