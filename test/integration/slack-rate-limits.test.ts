import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../src/adapters/redis/keys.js';
import type { RunningBot } from '../../src/app.js';
import { FakeSlackApi } from '../fakes/fake-slack-api.js';
import { baseConfigFile, startTestBot, waitReady } from '../helpers/bot-harness.js';
import { startTestOci, type TestOci } from '../helpers/oci.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';

const CHANNELS = ['C0BURSTA', 'C0BURSTB', 'C0BURSTC', 'C0BURSTD'];

function event(eventType: string, runId: string, name: string, second: number, id: string) {
  return {
    eventType: `com.oraclecloud.datascience.${eventType}`,
    cloudEventsVersion: '0.1',
    eventTime: new Date(Date.UTC(2026, 10, 22, 14, 0, second)).toISOString(),
    eventID: id,
    data: { resourceId: runId, resourceName: name, compartmentId: 'ocid1.compartment.oc1..ml' },
  };
}

describe('Slack rate limits: bursts coalesce, two replicas share one limiter, 429 and 5xx lose nothing', () => {
  let redis: TestRedis;
  let slack: FakeSlackApi;
  let oci: TestOci;
  const bots: RunningBot[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    slack = await FakeSlackApi.start({ usergroups: { S0ONCALL: ['U0ONCALL'] } });
    oci = await startTestOci();
    const file = baseConfigFile({ routes: CHANNELS.map((channel, index) => ({ match: { resourceName: `burst-${index}-*` }, channel })) });
    for (let replica = 0; replica < 2; replica++) {
      const bot = await startTestBot({ redisUrl: redis.url, slackApiUrl: slack.url, oci: oci.gateway, env: oci.env, file });
      await waitReady(bot);
      bots.push(bot);
    }
  });

  afterAll(async () => {
    for (const bot of bots) await bot.stop();
    await oci.stop();
    await slack.stop();
    await redis.stop();
  });

  it('lets a call that yields take a slot only once it has been free a while, and never book one ahead', async () => {
    const { limiter, redis: client } = bots[0]?.context ?? expect.unreachable();
    const bucket = `yield-test-${Date.now()}`;
    const limit = { intervalMs: 1_000, burst: 1 };
    expect(await limiter.reserve(bucket, limit, 0)).toEqual({ granted: true, waitMs: 0 });
    // The slot is taken for the next second: the yielding call hears when to come back, and books nothing.
    const refused = await limiter.reserve(bucket, limit, 5_000, 400);
    expect(refused.granted).toBe(false);
    expect(refused.granted ? 0 : refused.retryAfterMs).toBeGreaterThan(1_000);
    expect(refused.granted ? 0 : refused.retryAfterMs).toBeLessThanOrEqual(1_400);
    // A call that does not yield books the next slot as if the yielding one had not asked.
    const next = await limiter.reserve(bucket, limit, 5_000);
    expect(next.granted && next.waitMs).toBeLessThanOrEqual(1_000);
    // Free for a moment only: still refused. Free for longer than 400 ms: granted at once.
    const [seconds, micros] = await client.time();
    const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    await client.set(keys.rateLimit(bucket), String(now - 100));
    expect((await limiter.reserve(bucket, limit, 5_000, 400)).granted).toBe(false);
    await client.set(keys.rateLimit(bucket), String(now - 1_000));
    expect(await limiter.reserve(bucket, limit, 5_000, 400)).toEqual({ granted: true, waitMs: 0 });
  });

  it('shows every run of a burst in its final state, one message each, without a single 429', async () => {
    const runs = Array.from({ length: 8 }, (_, index) => ({
      id: `ocid1.datasciencejobrun.oc1.iad.burst${index}`,
      name: `burst-${index % CHANNELS.length}-run${index}`,
      final: index % 3 === 0 ? 'failedjobrun' : 'succeededjobrun',
    }));
    const events = runs.flatMap((run, runIndex) => [
      event('createjobrun.begin', run.id, run.name, 1, `b-${runIndex}`),
      ...Array.from({ length: 20 }, (_, i) => event('createjobrun.end', run.id, run.name, 2 + i, `e-${runIndex}-${i}`)),
      event(run.final, run.id, run.name, 40, `f-${runIndex}`),
      ...Array.from({ length: 3 }, (_, i) => event('createjobrun.end', run.id, run.name, 30 + i, `late-${runIndex}-${i}`)),
    ]);
    // Deterministic shuffle: deliveries arrive out of order, spread over both replicas.
    const shuffled = events.map((value, index) => ({ value, key: (index * 7919) % 104729 })).sort((a, b) => a.key - b.key).map(({ value }) => value);
    const statuses = await Promise.all(
      shuffled.map((body, index) =>
        fetch(`${bots[index % 2]?.url ?? ''}/oci/notifications`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((response) => response.status),
      ),
    );
    expect(statuses.every((status) => status === 200)).toBe(true);

    await slack.waitFor(
      () =>
        runs.every((run) => {
          const roots = slack.messages().filter((message) => message.text.includes(run.name));
          return roots.length === 1 && roots[0]?.text.includes(run.final === 'failedjobrun' ? 'failed' : 'succeeded');
        }),
      60_000,
      'every run in its final state',
    );
    for (const run of runs) {
      expect(slack.messages().filter((message) => message.text.includes(run.name))).toHaveLength(1);
    }
    expect(slack.rateLimitedCount()).toBe(0);
    // Coalescing: far fewer Slack calls than the 200 deliveries.
    const calls = slack.effective('chat.postMessage').length + slack.effective('chat.update').length;
    expect(calls).toBeLessThan(events.length / 3);
    // Failed runs alert on-call once each (the alert follows the root update, within the channel budget).
    const failed = runs.filter((candidate) => candidate.final === 'failedjobrun');
    const alertsOf = (name: string) => {
      const root = slack.messages().find((message) => message.text.includes(name));
      return slack.thread(root?.channel ?? '', root?.ts ?? '').filter((reply) => reply.replyBroadcast);
    };
    await slack.waitFor(() => failed.every((run) => alertsOf(run.name).length > 0), 30_000, 'on-call alerts');
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    for (const run of failed) expect(alertsOf(run.name)).toHaveLength(1);
    expect(slack.rateLimitedCount()).toBe(0);
  });

  it('honours a 429 with Retry-After and a 5xx from Slack: the state still lands, once', async () => {
    slack.failNext('chat.postMessage', { status: 429, retryAfter: 1, count: 1 });
    slack.failNext('chat.update', { status: 503, count: 1 });
    const runId = 'ocid1.datasciencejobrun.oc1.iad.throttled';
    const name = 'burst-0-throttled';
    const send = (body: unknown) => fetch(`${bots[0]?.url ?? ''}/oci/notifications`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    await send(event('createjobrun.begin', runId, name, 1, 't-begin'));
    const root = await slack.waitFor(() => slack.messages().find((message) => message.text.includes(name)), 15_000, 'root after 429');
    await send(event('succeededjobrun', runId, name, 9, 't-done'));
    await slack.waitFor(() => slack.message(root.channel, root.ts)?.text.includes('succeeded'), 20_000, 'update after 503');
    expect(slack.messages().filter((message) => message.text.includes(name))).toHaveLength(1);
    expect(slack.calls('chat.postMessage').some((call) => call.status === 429)).toBe(true);
    expect(slack.calls('chat.update').some((call) => call.status === 503)).toBe(true);
  });
});
