import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { FakeSlackApi } from '../fakes/fake-slack-api.js';
import { baseConfigFile, eventually } from '../helpers/bot-harness.js';
import { startTestOci, type TestOci } from '../helpers/oci.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { botLauncher, type BotProcess } from './support/bot-process.js';
import { deliver } from './support/notifications.js';

const ALARM_ID = 'ocid1.alarm.oc1.iad.churndriftfaults';

/** A Monitoring alarm delivery of one firing episode (OK_TO_FIRING, then REPEATs a minute apart). */
function churnAlarm(type: 'OK_TO_FIRING' | 'REPEAT', at: number): Record<string, unknown> {
  return {
    dedupeKey: 'churn-drift-faults',
    title: 'churn-model-drift',
    type,
    severity: 'WARNING',
    timestampEpochMillis: at,
    timestamp: new Date(at).toISOString(),
    alarmMetaData: [{ id: ALARM_ID, status: 'FIRING', severity: 'WARNING', namespace: 'custom_model_quality', query: 'Drift[1h].mean() > 0.2', totalMetricsFiring: 1, dimensions: [{ model: 'churn-model' }], metricValues: [{ 'Drift[1h].mean()': '0.31' }] }],
    version: 1.5,
  };
}

/**
 * auto: true with a cooldown, across separate bot processes: an alarm repeating every minute, its deliveries
 * spread over two processes at once, starts one retrain; a process killed and replaced changes nothing
 * (the cooldown lives in Redis).
 */
describe('automatic retrains across bot processes', () => {
  let redis: TestRedis;
  let slack: FakeSlackApi;
  let oci: TestOci;
  let launcher: ReturnType<typeof botLauncher>;
  const bots: BotProcess[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    slack = await FakeSlackApi.start({ usergroups: { S0DS: ['U0DS1'], S0ONCALL: ['U0ONCALL'] } });
    oci = await startTestOci();
    const file = baseConfigFile({
      routes: [
        { match: { kind: 'build' }, channel: 'C0TRAIN' },
        { match: { kind: 'alarm' }, channel: 'C0ALARMS' },
      ],
      models: { 'churn-model': { alias: 'champion', train: 'churn-model', retrain: { onAlarms: ['churn-*'], auto: true, cooldown: '1h' } } },
    });
    launcher = botLauncher({ redisUrl: redis.url, slackApiUrl: slack.url, file, oci: { url: oci.fake.url, key: oci.key }, env: { MLFLOW_TRACKING_URI: 'http://127.0.0.1:9' } });
    bots.push(await launcher.start('all'), await launcher.start('all'));
  }, 90_000);

  afterAll(async () => {
    await Promise.all(bots.map((bot) => bot.stop()));
    await oci.stop();
    await slack.stop();
    await redis.stop();
  });

  const buildRuns = () => oci.fake.requests().filter((request) => request.method === 'POST' && request.path === '/20210630/buildRuns' && request.status === 200);
  const thread = () => {
    const roots = slack.messages('C0ALARMS').filter((message) => message.text.includes('churn-model-drift'));
    return { roots, replies: roots.flatMap((root) => slack.thread('C0ALARMS', root.ts)) };
  };

  test('six deliveries over two processes start one build run; a replaced process starts none within the cooldown', async () => {
    const t0 = Date.now();
    const statuses = await Promise.all(
      Array.from({ length: 6 }, (_, index) => deliver((bots[index % 2] as BotProcess).url, churnAlarm(index === 0 ? 'OK_TO_FIRING' : 'REPEAT', t0 + index * 60_000))),
    );
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200]);
    await eventually(() => thread().replies.some((reply) => reply.text.includes('Automatic retrain started of `churn-model`')), 30_000, 'the retrain announced in the alarm thread');
    await eventually(() => thread().replies.some((reply) => reply.text.includes('skipped')), 30_000, 'the skip noted');
    await eventually(() => buildRuns().length >= 1, 30_000, 'the build run');

    // One process dies and another takes its place; the alarm keeps repeating.
    await (bots[0] as BotProcess).kill();
    const replacement = await launcher.start('all');
    bots[0] = replacement;
    expect(await deliver(replacement.url, churnAlarm('REPEAT', t0 + 6 * 60_000))).toBe(200);
    expect(await deliver((bots[1] as BotProcess).url, churnAlarm('REPEAT', t0 + 7 * 60_000))).toBe(200);
    // Let every queued job finish before counting.
    await new Promise((resolve) => setTimeout(resolve, 3_000));

    expect(buildRuns()).toHaveLength(1);
    const body = buildRuns()[0]?.body as { buildRunArguments?: { items?: { name: string; value: string }[] } } | undefined;
    expect(body?.buildRunArguments?.items?.find((item) => item.name === 'MLOPS_RUN_KEY')?.value).toMatch(/^train-[0-9a-f]+$/);
    const { roots, replies } = thread();
    expect(roots).toHaveLength(1);
    expect(replies.filter((reply) => reply.text.includes('Automatic retrain started'))).toHaveLength(1);
    expect(replies.filter((reply) => reply.text.includes('skipped'))).toHaveLength(1);
  });
});
