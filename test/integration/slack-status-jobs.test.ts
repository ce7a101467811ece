import { Queue, Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../src/adapters/redis/keys.js';
import { createRedis } from '../../src/adapters/redis/redis-connection.js';
import type { RunningBot } from '../../src/app.js';
import { enqueueRunStatus, jobId, QUEUE_PREFIX, type SlackStatusJob } from '../../src/queues.js';
import { FakeSlackApi } from '../fakes/fake-slack-api.js';
import { eventually, startTestBot, waitReady } from '../helpers/bot-harness.js';
import { startTestOci, type TestOci } from '../helpers/oci.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';

let seq = 0;
function jobRunEvent(eventType: string, resourceId: string, name: string) {
  seq++;
  return {
    eventType: `com.oraclecloud.datascience.${eventType}`,
    cloudEventsVersion: '0.1',
    eventTime: new Date(Date.UTC(2026, 10, 22, 12, 0, seq)).toISOString(),
    eventID: `slack-status-jobs-${seq}`,
    data: { compartmentId: 'ocid1.compartment.oc1..ml', resourceName: name, resourceId },
  };
}

describe('Slack status jobs: one pending job per run, roots waiting for their slot show the latest state', () => {
  let redis: TestRedis;

  beforeAll(async () => {
    redis = await startRedis();
  });

  afterAll(async () => {
    await redis.stop();
  });

  it('keeps one pending job per run however often it is asked, and the last ask made while one runs', async () => {
    const connection = createRedis(redis.url, 'command', 'test-queue');
    const name = `slack-status-dedupe-${Date.now()}`;
    const queue = new Queue<SlackStatusJob>(name, { connection, prefix: QUEUE_PREFIX });
    const queues = { slackStatus: queue };
    try {
      for (let version = 1; version <= 40; version++) {
        await enqueueRunStatus(queues, 'run-a', version);
        await enqueueRunStatus(queues, 'run-b', version);
      }
      expect(await queue.getWaitingCount()).toBe(2);

      // While a run's job is being processed, later asks are kept as one job, queued when it finishes.
      const seen: SlackStatusJob[] = [];
      let release: () => void = () => undefined;
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      const worker = new Worker<SlackStatusJob>(
        name,
        async (job) => {
          seen.push(job.data);
          if (job.data.kind === 'run' && job.data.runKey === 'run-a' && seen.filter((data) => data.kind === 'run' && data.runKey === 'run-a').length === 1) await held;
        },
        { connection: createRedis(redis.url, 'worker', 'test-worker'), prefix: QUEUE_PREFIX, concurrency: 4 },
      );
      try {
        await eventually(() => seen.some((data) => data.kind === 'run' && data.runKey === 'run-a'), 10_000, 'run-a active');
        for (let version = 41; version <= 60; version++) await enqueueRunStatus(queues, 'run-a', version);
        expect(await queue.getWaitingCount()).toBe(0);
        release();
        await eventually(async () => (await queue.getJobCounts('waiting', 'active', 'delayed')).active === 0 && seen.length >= 3, 10_000, 'queue drained');
        const runA = seen.filter((data) => data.kind === 'run' && data.runKey === 'run-a');
        expect(runA).toEqual([
          { kind: 'run', runKey: 'run-a', version: 1 },
          { kind: 'run', runKey: 'run-a', version: 60 },
        ]);
        expect(seen.filter((data) => data.kind === 'run' && data.runKey === 'run-b')).toHaveLength(1);
      } finally {
        await worker.close();
      }
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
      connection.disconnect();
    }
  });

  it('makes a run job delayed for later due again when a final state is asked for, and only then', async () => {
    const connection = createRedis(redis.url, 'command', 'test-queue');
    const name = `slack-status-reschedule-${Date.now()}`;
    const queue = new Queue<SlackStatusJob>(name, { connection, prefix: QUEUE_PREFIX });
    const queues = { slackStatus: queue };
    const dueIn = async () => {
      const [job] = await queue.getDelayed();
      if (!job) return undefined;
      return Number(await connection.zscore(`${QUEUE_PREFIX}:${name}:delayed`, job.id ?? '')) / 0x1000 - Date.now();
    };
    try {
      // The run's one pending job, delayed a minute (as a come-back for an edit slot leaves it).
      await queue.add('run', { kind: 'run', runKey: 'run-r', version: 1 }, { deduplication: { id: jobId('show-run', 'run-r'), keepLastIfActive: true }, delay: 60_000 });
      expect(await dueIn()).toBeGreaterThan(50_000);
      // An intermediate state keeps the delay: the job shows it with the rest when it runs.
      await enqueueRunStatus(queues, 'run-r', 2);
      expect(await queue.getDelayedCount()).toBe(1);
      expect(await dueIn()).toBeGreaterThan(50_000);
      // A final one makes the same job due now; still one job.
      await enqueueRunStatus(queues, 'run-r', 3, { now: true });
      expect(await queue.getJobCountByTypes('delayed', 'waiting')).toBe(1);
      expect(await dueIn()).toBeLessThan(1_000);
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
      connection.disconnect();
    }
  });

  describe('with the bot', () => {
    let slack: FakeSlackApi;
    let oci: TestOci;
    let bot: RunningBot;

    beforeAll(async () => {
      slack = await FakeSlackApi.start({ usergroups: { S0ONCALL: ['U0ONCALL'] } });
      oci = await startTestOci();
      bot = await startTestBot({ redisUrl: redis.url, slackApiUrl: slack.url, oci: oci.gateway, env: oci.env });
      await waitReady(bot);
    });

    afterAll(async () => {
      await bot.stop();
      await oci.stop();
      await slack.stop();
    });

    const post = (body: unknown) => fetch(`${bot.url}/oci/notifications`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

    it('posts a root that waited for its channel slot with the state the run has when the slot comes, not the one it had when it started waiting', async () => {
      const channel = 'C0TRAIN';
      const bucket = `chat.postMessage:${channel}`;
      // The channel's slot is taken for a long while (as after a 429 with Retry-After).
      await bot.context.limiter.pause(bucket, 60_000);
      const runId = 'ocid1.datasciencejobrun.oc1.iad.waitingroot1';
      const name = 'waiting-root-1';
      expect((await post(jobRunEvent('createjobrun.begin', runId, name))).status).toBe(200);
      await eventually(async () => (await bot.context.redis.zrange(keys.waitingRoots(channel), '0', '-1')).includes(runId), 10_000, 'the run waiting for its root');
      expect((await post(jobRunEvent('succeededjobrun', runId, name))).status).toBe(200);
      await eventually(async () => (await bot.context.runs.get(runId))?.state === 'SUCCEEDED', 10_000, 'the final state folded');
      expect(slack.messages(channel).filter((message) => message.text.includes(name))).toHaveLength(0);

      // The slot comes: the channel's waiting-roots job, delayed until then, runs now.
      await bot.context.redis.del(keys.rateLimit(bucket));
      for (const job of await bot.context.queues.slackStatus.getDelayed()) await job.promote();

      const root = await slack.waitFor(() => slack.messages(channel).find((message) => message.text.includes(name)), 10_000, 'the root');
      expect(root.text).toContain('succeeded');
      await eventually(async () => (await bot.context.redis.zcard(keys.waitingRoots(channel))) === 0, 10_000, 'the line empty');
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(slack.messages(channel).filter((message) => message.text.includes(name))).toHaveLength(1);
      // Posted with its final state: no edit was needed.
      expect(slack.effective('chat.update').filter((call) => call.args.ts === root.ts)).toHaveLength(0);
    });

    it('shows a failure at once while the run job waits a minute for an edit slot: the alert narrates it, one reply', async () => {
      const channel = 'C0TRAIN';
      const run = { id: 'ocid1.datasciencejobrun.oc1.iad.editwait1', name: 'edit-wait-1' };
      expect((await post(jobRunEvent('createjobrun.begin', run.id, run.name))).status).toBe(200);
      const root = await slack.waitFor(() => slack.messages(channel).find((message) => message.text.includes(run.name)), 10_000, 'the root');
      // chat.update's budget is spent for a minute (as after a 429 with Retry-After).
      await bot.context.limiter.pause('chat.update', 60_000);
      expect((await post({ ...jobRunEvent('updatejobrun', run.id, run.name), data: { compartmentId: 'ocid1.compartment.oc1..ml', resourceName: run.name, resourceId: run.id, additionalDetails: { lifecycleState: 'IN_PROGRESS' } } })).status).toBe(200);
      await eventually(async () => (await bot.context.runs.get(run.id))?.state === 'IN_PROGRESS', 10_000, 'in progress folded');
      await slack.waitFor(() => slack.thread(channel, root.ts).find((reply) => reply.text.includes('In progress') || reply.text.includes(':arrows_counterclockwise:')), 10_000, 'the narration of in progress');
      // The run's job now waits for the edit slot, far ahead (after first waiting out the 3 s between edits).
      await eventually(async () => (await bot.context.queues.slackStatus.getDelayed()).some((job) => job.data.kind === 'run' && job.data.runKey === run.id && job.delay > 30_000), 15_000, 'the run job delayed for the edit slot');

      expect((await post(jobRunEvent('failedjobrun', run.id, run.name))).status).toBe(200);
      const alert = await slack.waitFor(() => slack.thread(channel, root.ts).find((reply) => reply.replyBroadcast), 10_000, 'the alert, long before the edit slot');
      expect(alert.text).toContain(':x:');
      await new Promise((resolve) => setTimeout(resolve, 300));
      // The alert is the failure's narration: no second reply saying it failed.
      const replies = slack.thread(channel, root.ts).filter((reply) => !reply.files.length && !reply.text.toLowerCase().includes('log'));
      expect(replies.filter((reply) => reply.text.includes(':x:'))).toHaveLength(1);
      const message = await bot.context.runs.getMessage(run.id);
      const stored = await bot.context.runs.get(run.id);
      expect(message?.narrated).toBe(stored?.history.length);
      await bot.context.redis.del(keys.rateLimit('chat.update'));
    });

    it('gives the next slot to a failed run before runs that have waited longer but are still going', async () => {
      const channel = 'C0TRAIN';
      const bucket = `chat.postMessage:${channel}`;
      await bot.context.limiter.pause(bucket, 60_000);
      const going = { id: 'ocid1.datasciencejobrun.oc1.iad.waitinggoing', name: 'waiting-going' };
      const failed = { id: 'ocid1.datasciencejobrun.oc1.iad.waitingfailed', name: 'waiting-failed' };
      expect((await post(jobRunEvent('createjobrun.begin', going.id, going.name))).status).toBe(200);
      await eventually(async () => (await bot.context.redis.zrange(keys.waitingRoots(channel), '0', '-1')).includes(going.id), 10_000, 'the older run waiting');
      expect((await post(jobRunEvent('createjobrun.begin', failed.id, failed.name))).status).toBe(200);
      expect((await post(jobRunEvent('failedjobrun', failed.id, failed.name))).status).toBe(200);
      await eventually(async () => (await bot.context.runs.get(failed.id))?.state === 'FAILED', 10_000, 'the failure folded');
      await eventually(async () => (await bot.context.redis.zrange(keys.waitingRoots(channel), '0', '-1')).includes(failed.id), 10_000, 'the failed run waiting');

      await bot.context.redis.del(keys.rateLimit(bucket));
      for (const job of await bot.context.queues.slackStatus.getDelayed()) await job.promote();
      await slack.waitFor(() => [going, failed].every((run) => slack.messages(channel).some((message) => message.text.includes(run.name))), 15_000, 'both roots');
      const order = slack
        .effective('chat.postMessage')
        .filter((call) => call.args.thread_ts === undefined && typeof call.args.text === 'string' && [going, failed].some((run) => String(call.args.text).includes(run.name)))
        .map((call) => (String(call.args.text).includes(failed.name) ? failed.name : going.name));
      expect(order).toEqual([failed.name, going.name]);
    });
  });
});
