import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { FakeSlackApi } from '../fakes/fake-slack-api.js';
import { baseConfigFile, eventually, SIGNING_SECRET } from '../helpers/bot-harness.js';
import { freePort, startRedis, type TestRedis } from '../helpers/redis-server.js';

/** The bot as operators run it: the built entry point in its own process, configured by environment. */
describe('the bot process: start-up checks, readiness and graceful shutdown', () => {
  let redis: TestRedis;
  let slack: FakeSlackApi;
  let configPath: string;

  beforeAll(async () => {
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'ignore' });
    redis = await startRedis();
    slack = await FakeSlackApi.start();
    const dir = mkdtempSync(join(tmpdir(), 'mlops-config-'));
    configPath = join(dir, 'mlops.yaml');
    writeFileSync(configPath, stringify(baseConfigFile()));
  }, 120_000);

  afterAll(async () => {
    await slack.stop();
    await redis.stop();
  });

  function run(env: Record<string, string>): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
    let output = '';
    const child = spawn(process.execPath, ['dist/src/main.js'], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    return { child, output: () => output, exited };
  }

  it('refuses to start on bad configuration, naming every bad key at once', async () => {
    const bad = run({ PORT: 'eighty', ROLE: 'everything', REDIS_URL: 'http://nope', MLOPS_CONFIG: configPath });
    expect(await bad.exited).toBe(2);
    for (const key of ['SLACK_BOT_TOKEN', 'SLACK_SIGNING_SECRET', 'PORT', 'ROLE', 'REDIS_URL']) expect(bad.output()).toContain(key);
  });

  it('becomes ready, then stops cleanly on SIGTERM', async () => {
    const port = await freePort();
    const bot = run({
      SLACK_BOT_TOKEN: 'xoxb-test',
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_API_URL: slack.url,
      REDIS_URL: redis.url,
      PORT: String(port),
      HOST: '127.0.0.1',
      METRICS_PORT: '0',
      MLOPS_CONFIG: configPath,
      LOG_LEVEL: 'info',
    });
    try {
      await eventually(async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200, 15_000, 'readyz 200');
      const started = Date.now();
      bot.child.kill('SIGTERM');
      expect(await bot.exited).toBe(0);
      expect(Date.now() - started).toBeLessThan(25_000);
      expect(bot.output()).toContain('"msg":"stopped"');
      expect(bot.output()).not.toContain('xoxb-test');
    } finally {
      bot.child.kill('SIGKILL');
    }
  });
});
