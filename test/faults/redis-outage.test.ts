import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { keys } from '../../src/adapters/redis/keys.js';
import { FakeSlackApi } from '../fakes/fake-slack-api.js';
import { baseConfigFile, eventually } from '../helpers/bot-harness.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { recordReliability } from './reliability.js';
import { botLauncher, type BotProcess } from './support/bot-process.js';
import { deliver, JOB_RUN_STREAM, jobRunEvent, rootsByRun, threadCheck } from './support/notifications.js';

const CHANNELS = 40;
const SINGLE_RUNS = 952;
const STREAM_RUNS = 12;
const STREAM = JOB_RUN_STREAM;
const TOTAL = SINGLE_RUNS + STREAM_RUNS * STREAM.length;
const SENDERS = 24;

const channelOf = (index: number) => `C0BURST${String(index % CHANNELS).padStart(2, '0')}`;
const runName = (index: number) => `burst-${String(index % CHANNELS).padStart(2, '0')}-${String(index).padStart(4, '0')}`;
const runId = (index: number) => `ocid1.datasciencejobrun.oc1.iad.burst${String(index).padStart(6, '0')}`;

describe('Redis stopped during a burst of notifications', () => {
  let redis: TestRedis;
  let slack: FakeSlackApi;
  let web: BotProcess;
  let worker: BotProcess;
  let reader: Redis;

  beforeAll(async () => {
    redis = await startRedis({ durable: true });
    // The per-channel limit stays as Slack's; the workspace-wide chat.postMessage cap is lifted so a
    // thousand runs over 40 channels post in seconds (this test is about Redis, not Slack's tiers).
    slack = await FakeSlackApi.start({ limits: { methods: { 'chat.postMessage': false } }, usergroups: { S0ONCALL: ['U0ONCALL'] } });
    const routes = Array.from({ length: CHANNELS }, (_, i) => ({ match: { kind: 'training', resourceName: `burst-${String(i).padStart(2, '0')}-*` }, channel: channelOf(i) }));
    const launcher = botLauncher({ redisUrl: redis.url, slackApiUrl: slack.url, file: baseConfigFile({ routes }) });
    [web, worker] = await Promise.all([launcher.start('web'), launcher.start('worker')]);
    reader = new Redis(redis.url, { maxRetriesPerRequest: 1, lazyConnect: true, enableOfflineQueue: false });
    reader.on('error', () => undefined);
    await reader.connect();
  }, 90_000);

  afterAll(async () => {
    reader.disconnect();
    await Promise.all([web.stop(), worker.stop()]);
    await slack.stop();
    await redis.stop();
  });

  test('every delivery is either accepted and shown in Slack exactly once, or refused with 5xx and completed by redelivery', async (ctx) => {
    let answered = 0;
    let accepted = 0;
    const refusedStatuses = new Map<number, number>();
    const otherStatuses: number[] = [];
    const refused: Array<Record<string, unknown>> = [];
    let outage: Promise<void> | undefined;
    let outageOver = false;
    const note = (status: number): boolean => {
      answered++;
      if (status >= 200 && status < 300) {
        accepted++;
        return true;
      }
      if (status >= 500) refusedStatuses.set(status, (refusedStatuses.get(status) ?? 0) + 1);
      else otherStatuses.push(status);
      // Redis goes down a third of the way in and comes back once a good share has been refused.
      return false;
    };
    const maybeStopRedis = () => {
      if (!outage && answered >= TOTAL / 3) {
        outage = (async () => {
          await redis.kill();
          await eventually(() => refused.length >= 150 || answered >= TOTAL, 60_000, 'deliveries refused during the outage');
          await redis.start();
          outageOver = true;
        })();
      }
    };

    const t0 = Date.UTC(2026, 10, 22, 12, 0, 0);
    const singles = Array.from({ length: SINGLE_RUNS }, (_, i) => jobRunEvent('succeededjobrun', runId(i), runName(i), { at: new Date(t0 + i * 1000) }));
    const queue = [...singles];
    const sender = async () => {
      for (let event = queue.shift(); event; event = queue.shift()) {
        maybeStopRedis();
        if (!note(await deliver(web.url, event))) refused.push(event);
      }
    };
    // Streamed runs: each event is redelivered until accepted (as OCI retries), and the next one is sent
    // once the run in Redis shows it, so every state must appear in its thread exactly once.
    const stream = async (index: number) => {
      for (const [step, { action, lifecycleState }] of STREAM.entries()) {
        const event = jobRunEvent(action, runId(index), runName(index), { at: new Date(t0 + 3_600_000 + step * 60_000), ...(lifecycleState ? { lifecycleState } : {}) });
        for (let first = true; ; first = false) {
          const status = await deliver(web.url, event);
          if (first) note(status);
          if (status >= 200 && status < 300) break;
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
        await eventually(async () => {
          const raw = await reader.get(keys.run(runId(index)));
          return raw !== null && (JSON.parse(raw) as { history: unknown[] }).history.length === step + 1;
        }, 60_000, `run ${index} folded step ${step}`);
      }
    };
    await Promise.all([...Array.from({ length: SENDERS }, sender), ...Array.from({ length: STREAM_RUNS }, (_, i) => stream(SINGLE_RUNS + i))]);
    expect(outage, 'Redis was stopped during the burst').toBeDefined();
    await outage;
    expect(outageOver).toBe(true);

    const firstRefusals = [...refusedStatuses.values()].reduce((sum, n) => sum + n, 0);
    // OCI redelivers what was refused; once Redis is back every redelivery is accepted.
    let redeliveries = 0;
    for (let round = 0; refused.length > 0; round++) {
      const batch = refused.splice(0);
      const statuses = await Promise.all(batch.map((event) => deliver(web.url, event)));
      redeliveries += batch.length;
      batch.forEach((event, i) => {
        if ((statuses[i] ?? 0) < 200 || (statuses[i] ?? 0) >= 300) refused.push(event);
      });
      expect(round, 'redeliveries keep being refused after Redis came back').toBeLessThan(30);
      if (refused.length > 0) await new Promise((resolve) => setTimeout(resolve, 500));
    }

    expect(answered).toBe(TOTAL);
    expect(otherStatuses, 'every answer is 2xx or 5xx').toEqual([]);
    expect(firstRefusals).toBeGreaterThan(0);
    expect(accepted).toBeGreaterThan(0);

    const expectedRuns = SINGLE_RUNS + STREAM_RUNS;
    const finalLabel = (index: number) => (index < SINGLE_RUNS ? ' succeeded' : ' canceled');
    let done = 0;
    await eventually(
      () => {
        const roots = rootsByRun(slack);
        done = 0;
        for (let i = 0; i < expectedRuns; i++) if (roots.get(runId(i))?.some((root) => root.text.includes(finalLabel(i)))) done++;
        return done === expectedRuns;
      },
      150_000,
      'every run shown in its final state',
    ).catch(async (error: unknown) => {
      const queues = await Promise.all(
        ['oci-notifications', 'slack-status'].flatMap((queue) => ['wait', 'active', 'failed', 'delayed', 'completed'].map(async (state) => {
          const key = `mlops:bull:${queue}:${state}`;
          const type = await reader.type(key);
          const size = type === 'list' ? await reader.llen(key) : type === 'zset' ? await reader.zcard(key) : 0;
          return `${queue}:${state}=${size}`;
        })),
      );
      throw new Error(`${String(error)}; ${done}/${expectedRuns} shown; ${queues.join(' ')}\n${worker.output().slice(-3_000)}\n${slack.describe(10)}`);
    });
    // Let anything still queued land before counting duplicates.
    await eventually(async () => {
      const counts = await reader.multi().llen('mlops:bull:slack-status:wait').zcard('mlops:bull:slack-status:delayed').llen('mlops:bull:slack-status:active').exec();
      return counts?.every(([, value]) => value === 0);
    }, 60_000, 'slack-status queue drained');

    const roots = rootsByRun(slack);
    let lost = 0;
    let duplicatedRoots = 0;
    let duplicatedLines = 0;
    let misordered = 0;
    for (let i = 0; i < expectedRuns; i++) {
      const mine = roots.get(runId(i)) ?? [];
      if (!mine.some((root) => root.text.includes(finalLabel(i)))) lost++;
      duplicatedRoots += Math.max(0, mine.length - 1);
      expect(mine[0]?.channel).toBe(channelOf(i));
    }
    for (let i = SINGLE_RUNS; i < expectedRuns; i++) {
      const root = roots.get(runId(i))?.[0];
      if (!root) continue;
      const check = threadCheck(root, STREAM.map(({ state }) => state));
      lost += check.missing;
      duplicatedLines += check.duplicated;
      if (!check.ordered) misordered++;
    }
    recordReliability(ctx, {
      area: 'Redis',
      fault: `killed (SIGKILL; appendonly, appendfsync always) and restarted during a burst of ${TOTAL.toLocaleString('en-US')} notifications (${SINGLE_RUNS} one-event runs, ${STREAM_RUNS} runs × ${STREAM.length} states) over ${CHANNELS} channels, ROLE=web + ROLE=worker processes`,
      cases: TOTAL,
      outcome: `accepted ${accepted}, refused ${firstRefusals} (${[...refusedStatuses].map(([status, n]) => `${n}× ${status}`).join(', ')}) then redelivered (${redeliveries} redeliveries); ${expectedRuns} runs: lost ${lost}, duplicated root messages ${duplicatedRoots}, duplicated thread lines ${duplicatedLines}, threads out of order ${misordered}`,
    });
    expect({ lost, duplicatedRoots, duplicatedLines, misordered }).toEqual({ lost: 0, duplicatedRoots: 0, duplicatedLines: 0, misordered: 0 });
    expect(roots.size).toBe(expectedRuns);
  }, 300_000);
});
