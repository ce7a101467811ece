import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { FakeSlackApi } from '../test/fakes/fake-slack-api.js';
import { baseConfigFile, BOT_TOKEN, SIGNING_SECRET } from '../test/helpers/bot-harness.js';
import { startRedis } from '../test/helpers/redis-server.js';
import { CpuMeter, findPid } from './cpu.js';
import { runLoad } from './load.js';
import { ingestShots, NOTIFICATION_PASSWORD, NOTIFICATION_USER } from './oci-events.js';
import { spawnChild } from './processes.js';

/**
 * A profiling aid, not part of `npm run bench`: one ROLE=web process taking deliveries at a fixed rate,
 * printing CPU milliseconds per delivery for the bot and for Redis (steadier than p99 on a shared machine).
 * `node dist/bench/probe-ingest.js [rate] [seconds] [--cpu-prof]`; with --cpu-prof the bot writes a
 * .cpuprofile into bench-profiles/ on exit.
 */
const args = process.argv.slice(2);
const rate = Number(args.find((arg) => /^\d+$/.test(arg)) ?? 1_000);
const seconds = Number(args.filter((arg) => /^\d+$/.test(arg))[1] ?? 4);
const profile = args.includes('--cpu-prof');
process.chdir(fileURLToPath(new URL('../../', import.meta.url)));

const redis = await startRedis();
const slack = await FakeSlackApi.start();
const dir = mkdtempSync(join(tmpdir(), 'mlops-probe-'));
try {
  const configPath = join(dir, 'mlops.yaml');
  writeFileSync(configPath, stringify(baseConfigFile()));
  const bot = await spawnChild({
    name: 'web',
    script: 'dist/src/main.js',
    ...(profile ? { nodeArgs: ['--cpu-prof', '--cpu-prof-dir=bench-profiles'] } : {}),
    env: {
      SLACK_BOT_TOKEN: BOT_TOKEN,
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_API_URL: slack.url,
      REDIS_URL: redis.url,
      HOST: '127.0.0.1',
      ROLE: 'web',
      MLOPS_CONFIG: configPath,
      LOG_LEVEL: 'warn',
      OCI_NOTIFICATIONS_USER: NOTIFICATION_USER,
      OCI_NOTIFICATIONS_PASSWORD: NOTIFICATION_PASSWORD,
    },
    readyPath: '/readyz',
  });
  await runLoad({ targets: [bot.url], rate: 200, shots: ingestShots(400), timeoutMs: 5_000 });
  const meter = new CpuMeter({ bot: bot.pid, redis: findPid('redis-server', `:${redis.port}`) });
  meter.start();
  const result = await runLoad({ targets: [bot.url], rate, shots: ingestShots(rate * seconds), timeoutMs: 5_000 });
  const cpu = meter.stop();
  const perDelivery = (percent: number | undefined) => (((percent ?? Number.NaN) / 100) * 1000) / rate;
  console.log(
    `${rate}/s for ${seconds} s: ok ${result.ok}, errors ${result.errors}, p50 ${result.p50.toFixed(1)} / p99 ${result.p99.toFixed(1)} / max ${result.max.toFixed(1)} ms; ` +
      `CPU per delivery: bot ${perDelivery(cpu.bot).toFixed(3)} ms, redis ${perDelivery(cpu.redis).toFixed(3)} ms; others ${Math.round(cpu.others ?? 0)}%`,
  );
  await bot.stop();
} finally {
  await slack.stop();
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
}
