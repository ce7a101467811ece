import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { keys } from '../../src/adapters/redis/keys.js';
import { FakeSlackApi } from '../fakes/fake-slack-api.js';
import { baseConfigFile, eventually } from '../helpers/bot-harness.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { recordReliability } from './reliability.js';
import { botLauncher, type BotProcess } from './support/bot-process.js';
import { deliver, JOB_RUN_STREAM, jobRunEvent, rootsByRun, threadCheck } from './support/notifications.js';

const RUNS = 8;
const STORM_MS = 30_000;
const OUTAGE_MS = 30_000;
const SLACK_METHODS = ['chat.postMessage', 'chat.update', 'conversations.history', 'conversations.replies'];
const runId = (index: number) => `ocid1.datasciencejobrun.oc1.iad.slackoutage${index}`;

describe('the Slack API answering 429 storms and then 5xx for a minute', () => {
  let redis: TestRedis;
  let slack: FakeSlackApi;
  let bot: BotProcess;
  let reader: Redis;

  beforeAll(async () => {
    redis = await startRedis();
    slack = await FakeSlackApi.start({ usergroups: { S0ONCALL: ['U0ONCALL'] } });
    bot = await botLauncher({ redisUrl: redis.url, slackApiUrl: slack.url, file: baseConfigFile() }).start('all');
    reader = new Redis(redis.url);
  }, 60_000);

  afterAll(async () => {
    reader.disconnect();
    await bot.stop();
    await slack.stop();
    await redis.stop();
  });

  test('every run shows its final state afterwards, its thread in order, nothing twice', async (ctx) => {
    const t0 = Date.UTC(2026, 10, 22, 14, 0, 0);
    // Runs move through their states while Slack is down: each state is sent once the previous one is folded.
    const stream = async (index: number, from: number, to: number) => {
      for (const [step, { action, lifecycleState }] of JOB_RUN_STREAM.entries()) {
        if (step < from) continue;
        const event = jobRunEvent(action, runId(index), `slack-outage-${index}`, { at: new Date(t0 + step * 60_000), ...(lifecycleState ? { lifecycleState } : {}) });
        expect(await deliver(bot.url, event)).toBe(200);
        await eventually(async () => {
          const raw = await reader.get(keys.run(runId(index)));
          return raw !== null && (JSON.parse(raw) as { history: unknown[] }).history.length === step + 1;
        }, 30_000, `run ${index} folded step ${step}`);
        if (step + 1 >= to) return;
        // Spread the states over the storm and the outage.
        await new Promise((resolve) => setTimeout(resolve, (STORM_MS + OUTAGE_MS) / (JOB_RUN_STREAM.length + 1)));
      }
    };
    // Every run is posted (first state) before Slack goes down.
    await Promise.all(Array.from({ length: RUNS }, (_, i) => stream(i, 0, 1)));
    await eventually(() => Array.from({ length: RUNS }, (_, i) => rootsByRun(slack).get(runId(i))?.length === 1).every(Boolean), 60_000, 'every run posted');
    // Half a minute of 429 with Retry-After on every posting method, then half a minute of 500/503.
    slack.failFor(SLACK_METHODS, { status: 429, retryAfter: 3 }, STORM_MS);
    const stormOver = Date.now() + STORM_MS;
    const phaseTwo = (async () => {
      await eventually(() => Date.now() >= stormOver, STORM_MS + 5_000, 'the 429 storm to end');
      slack.failFor(['chat.postMessage', 'conversations.history', 'conversations.replies'], { status: 503 }, OUTAGE_MS);
      slack.failFor(['chat.update'], { status: 500 }, OUTAGE_MS);
    })();
    await Promise.all(Array.from({ length: RUNS }, (_, i) => stream(i, 1, JOB_RUN_STREAM.length)));
    await phaseTwo;

    await eventually(
      () => Array.from({ length: RUNS }, (_, i) => rootsByRun(slack).get(runId(i))?.[0]).every((root) => root?.text.includes(' canceled')),
      150_000,
      'every run shown canceled after the outage',
    );
    await eventually(async () => {
      const counts = await reader.multi().llen('mlops:bull:slack-status:wait').zcard('mlops:bull:slack-status:delayed').llen('mlops:bull:slack-status:active').exec();
      return counts?.every(([, value]) => value === 0);
    }, 60_000, 'slack-status queue drained');

    const refused429 = slack.calls().filter((call) => call.injected && call.status === 429).length;
    const refused5xx = slack.calls().filter((call) => call.injected && call.status >= 500).length;
    let roots = 0;
    let missing = 0;
    let duplicated = 0;
    let misordered = 0;
    for (let i = 0; i < RUNS; i++) {
      const mine = rootsByRun(slack).get(runId(i)) ?? [];
      roots += mine.length;
      duplicated += Math.max(0, mine.length - 1);
      const root = mine[0];
      if (!root) continue;
      const check = threadCheck(root, JOB_RUN_STREAM.map(({ state }) => state));
      missing += check.missing;
      duplicated += check.duplicated;
      if (!check.ordered) misordered++;
    }
    recordReliability(ctx, {
      area: 'Slack API',
      fault: `429 with Retry-After for ${STORM_MS / 1000} s, then 500/503 for ${OUTAGE_MS / 1000} s, on chat.postMessage, chat.update and history; ${RUNS} runs × ${JOB_RUN_STREAM.length} states arriving meanwhile`,
      cases: RUNS * JOB_RUN_STREAM.length,
      outcome: `Slack refused ${refused429} calls with 429 and ${refused5xx} with 5xx; afterwards ${roots} root messages for ${RUNS} runs, final state shown on all; states missing ${missing}, duplicated ${duplicated}, threads out of order ${misordered}`,
    });
    expect(refused429).toBeGreaterThan(0);
    expect(refused5xx).toBeGreaterThan(0);
    expect({ roots, missing, duplicated, misordered }).toEqual({ roots: RUNS, missing: 0, duplicated: 0, misordered: 0 });
  }, 240_000);
});
