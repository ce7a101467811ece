import { botEnv, ociConfigEnv } from './bot-env.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { FakeSlackApi } from '../test/fakes/fake-slack-api.js';
import { baseConfigFile, BOT_TOKEN, SIGNING_SECRET } from '../test/helpers/bot-harness.js';
import { startTestOci } from '../test/helpers/oci.js';
import { startRedis } from '../test/helpers/redis-server.js';
import { startResponseUrlServer } from '../test/helpers/response-url-server.js';
import { CpuMeter, findPid } from './cpu.js';
import { runLoad } from './load.js';
import { ingestShots } from './oci-events.js';
import { spawnChild } from './processes.js';
import { measureAcks, SLASH_COMMANDS, slashShots } from './slash-acks.js';

/**
 * A profiling aid, not part of `npm run bench`: one bot process taking OCI deliveries (ROLE=web) or signed
 * `/mlops train` commands (`--train`: ROLE=all, or with `--split` ROLE=web with a ROLE=worker beside it) at
 * a fixed rate, printing CPU milliseconds per request for the bot (and worker) and for Redis (steadier than
 * p99 on a shared machine).
 * `node dist/bench/probe-ingest.js [rate] [seconds] [--train [--split]] [--cpu-prof]`; with --cpu-prof the
 * bot writes a .cpuprofile into bench-profiles/ on exit.
 */
const args = process.argv.slice(2);
const train = args.includes('--train');
const rate = Number(args.find((arg) => /^\d+$/.test(arg)) ?? 1_000);
const seconds = Number(args.filter((arg) => /^\d+$/.test(arg))[1] ?? 4);
const profile = args.includes('--cpu-prof');
const split = args.includes('--split');
/** `--acks`: the bot's and bare Bolt's ack latency for `help` (or `train` with --train), interleaved as the bench does. */
const acks = args.includes('--acks');
process.chdir(fileURLToPath(new URL('../../', import.meta.url)));

const redis = await startRedis();
const slack = await FakeSlackApi.start({ usergroups: { S0DS: ['U0DS1'], S0ONCALL: ['U0ONCALL'], S0SRE: ['U0SRE1'] } });
const responseUrls = await startResponseUrlServer();
const oci = await startTestOci();
const dir = mkdtempSync(join(tmpdir(), 'mlops-probe-'));
try {
  const configPath = join(dir, 'mlops.yaml');
  writeFileSync(configPath, stringify(baseConfigFile()));
  const env = (role: string) => botEnv({ role, slackUrl: slack.url, redisUrl: redis.url, configPath, ...(train ? { oci: ociConfigEnv(dir, oci) } : {}) });
  // --cpu-prof profiles the worker instead of the web process with --split --prof-worker.
  const profileWorker = profile && args.includes('--prof-worker');
  const worker = split && !args.includes('--no-worker') ? await spawnChild({ name: 'worker', script: 'dist/src/main.js', env: env('worker'), readyPath: '/readyz', ...(profileWorker ? { nodeArgs: ['--cpu-prof', '--cpu-prof-dir=bench-profiles'] } : {}) }) : undefined;
  const bot = await spawnChild({
    name: 'web',
    script: 'dist/src/main.js',
    ...(profile && !profileWorker ? { nodeArgs: ['--cpu-prof', '--cpu-prof-dir=bench-profiles'] } : {}),
    env: env(train && !split ? 'all' : 'web'),
    readyPath: '/readyz',
  });
  if (acks) {
    const bolt = await spawnChild({ name: 'bare Bolt', script: 'dist/bench/servers/bare-bolt.js', env: { SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_API_URL: slack.url }, readyPath: '/', anyAnswer: true });
    const figures = await measureAcks(
      [
        { name: 'bot', url: bot.url, pid: bot.pid, ...(worker ? { companions: [{ name: 'worker', pid: worker.pid }] } : {}) },
        { name: 'bolt', url: bolt.url, pid: bolt.pid },
      ],
      train ? 'train' : 'help',
      { rate, durationMs: seconds * 1000 },
      5,
      responseUrls,
    );
    for (const [name, figure] of Object.entries(figures)) {
      console.log(`${name}: p50 ${figure.result.p50.toFixed(1)} / p99 ${figure.result.p99.toFixed(1)} / max ${figure.result.max.toFixed(1)} ms, errors ${figure.result.errors}; CPU ${figure.cpuMsPerRequest.toFixed(2)} ms/request ${JSON.stringify(figure.companionsCpuMsPerRequest)}`);
    }
    await bolt.stop();
  }
  const shots = (count: number) => (train ? slashShots(SLASH_COMMANDS.train, count, responseUrls) : ingestShots(count));
  await runLoad({ targets: [bot.url], rate: 200, shots: shots(400), timeoutMs: 5_000 });
  const meter = new CpuMeter({ bot: bot.pid, redis: findPid('redis-server', `:${redis.port}`), ...(worker ? { worker: worker.pid } : {}) });
  meter.start();
  const result = await runLoad({ targets: [bot.url], rate, shots: shots(rate * seconds), timeoutMs: 5_000 });
  const cpu = meter.stop();
  const perDelivery = (percent: number | undefined) => (((percent ?? Number.NaN) / 100) * 1000) / rate;
  console.log(
    `${rate}/s for ${seconds} s: ok ${result.ok}, errors ${result.errors}, p50 ${result.p50.toFixed(1)} / p99 ${result.p99.toFixed(1)} / max ${result.max.toFixed(1)} ms; ` +
      `CPU per request: bot ${perDelivery(cpu.bot).toFixed(3)} ms,${worker ? ` worker ${perDelivery(cpu.worker).toFixed(3)} ms,` : ''} redis ${perDelivery(cpu.redis).toFixed(3)} ms; others ${Math.round(cpu.others ?? 0)}%`,
  );
  await bot.stop();
  await worker?.stop();
} finally {
  await oci.stop();
  await responseUrls.stop();
  await slack.stop();
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
}
