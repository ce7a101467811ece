import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRedis } from '../../src/adapters/redis/redis-connection.js';
import { MlopsError } from '../../src/errors.js';
import { closeQueues, createJobWorker, createQueues, QUEUE_NAMES, QUEUE_PREFIX, RETRY_AFTER_BACKOFF, type Queues } from '../../src/queues.js';
import { eventually } from '../helpers/bot-harness.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';

/**
 * A rolling update runs workers of two releases against one Redis: each must run, and retry, the jobs the
 * other's web pods queued. "Previous release" is a worker built as that release built it: BullMQ's
 * Worker with no backoff settings (it knew only BullMQ's built-in backoff types).
 */
const QUEUE = QUEUE_NAMES.notifications;
const throttled = () => new MlopsError('RATE_LIMITED', 'OCI said 429', { retryAfterMs: 3_000 });

describe('workers of the previous release and of this one, side by side on the same queues', () => {
  let redis: TestRedis;
  let connection: Redis;
  let queues: Queues;
  const workers: Worker[] = [];
  const connections: Redis[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    connection = createRedis(redis.url, 'command', 'test');
    queues = createQueues(connection);
  });

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((worker) => worker.close()));
    for (const worker of connections.splice(0)) worker.disconnect();
    await queues.notifications.obliterate({ force: true });
  });

  afterAll(async () => {
    await closeQueues(queues);
    connection.disconnect();
    await redis.stop();
  });

  /** `run` fails the first attempt of every job with `error`, then succeeds. */
  const failingOnce = (error: () => Error, attempts: Map<string, number>) => (job: Job) => {
    const seen = (attempts.get(job.id ?? '') ?? 0) + 1;
    attempts.set(job.id ?? '', seen);
    return seen === 1 ? Promise.reject(error()) : Promise.resolve('done');
  };

  const previousReleaseWorker = (run: (job: Job) => Promise<unknown>) => {
    const workerConnection = createRedis(redis.url, 'worker', 'previous-release');
    connections.push(workerConnection);
    const worker = new Worker(QUEUE, run, { connection: workerConnection, prefix: QUEUE_PREFIX, concurrency: 4, autorun: true });
    workers.push(worker);
    return worker;
  };

  const thisReleaseWorker = (run: (job: Job) => Promise<unknown>) => {
    const workerConnection = createRedis(redis.url, 'worker', 'this-release');
    connections.push(workerConnection);
    const worker = createJobWorker(QUEUE, run, { connection: workerConnection, concurrency: 4 });
    workers.push(worker);
    return worker;
  };

  it('a previous-release worker retries the jobs this release queues, Retry-After or not', async () => {
    const attempts = new Map<string, number>();
    previousReleaseWorker(failingOnce(throttled, attempts));
    // Queued with this release's options (createQueues), as a new web pod would.
    const job = await queues.notifications.add('notification', { notification: { kind: 'generic' }, receivedAt: new Date().toISOString() } as never, { jobId: 'from-this-release' });
    await eventually(async () => (await job.getState()) === 'completed', 10_000, 'the job completed on the old worker');
    expect(attempts.get('from-this-release')).toBe(2);
  });

  it('(the failure this avoids) a previous-release worker cannot compute the custom retry-after backoff type', async () => {
    const errors: Error[] = [];
    const attempts = new Map<string, number>();
    previousReleaseWorker(failingOnce(() => new Error('upstream 503'), attempts)).on('error', (error) => errors.push(error));
    await queues.notifications.add('notification', {} as never, { jobId: 'custom-type', backoff: { type: RETRY_AFTER_BACKOFF, delay: 10 } });
    await eventually(() => errors.length > 0, 10_000, 'the old worker failing on the backoff type');
    expect(errors[0]?.message).toMatch(/Unknown backoff strategy retry-after/);
  });

  it('a worker of this release honours Retry-After on a job queued as the previous release queued it', async () => {
    const attempts = new Map<string, number>();
    thisReleaseWorker(failingOnce(throttled, attempts));
    const job = await queues.notifications.add('notification', {} as never, { jobId: 'from-previous-release', attempts: 3, backoff: { type: 'exponential', delay: 10 } });
    const delayed = await eventually(async () => {
      const current = await queues.notifications.getJob('from-previous-release');
      return current && (await current.getState()) === 'delayed' ? current : undefined;
    }, 10_000, 'the job waiting for its retry');
    // Not the 10 ms the exponential backoff gives, the 3 s Retry-After; and Redis keeps the type every worker knows.
    expect(delayed.delay).toBeGreaterThanOrEqual(3_000);
    expect(delayed.opts.backoff).toEqual({ type: 'exponential', delay: 10 });
    await delayed.promote();
    await eventually(async () => (await job.getState()) === 'completed', 10_000, 'the job completed');
    expect(attempts.get('from-previous-release')).toBe(2);
  });

  it('a worker of this release still runs jobs queued with the retry-after type, honouring Retry-After', async () => {
    const attempts = new Map<string, number>();
    thisReleaseWorker(failingOnce(throttled, attempts));
    const job = await queues.notifications.add('notification', {} as never, { jobId: 'custom-type-here', attempts: 3, backoff: { type: RETRY_AFTER_BACKOFF, delay: 10 } });
    const delayed = await eventually(async () => {
      const current = await queues.notifications.getJob('custom-type-here');
      return current && (await current.getState()) === 'delayed' ? current : undefined;
    }, 10_000, 'the job waiting for its retry');
    expect(delayed.delay).toBeGreaterThanOrEqual(3_000);
    await delayed.promote();
    await eventually(async () => (await job.getState()) === 'completed', 10_000, 'the job completed');
  });

  it('both on one queue: every job, each failing once, completes and none fails', async () => {
    const attempts = new Map<string, number>();
    const run = failingOnce(() => new MlopsError('UPSTREAM_UNAVAILABLE', 'upstream 503'), attempts);
    const failed: string[] = [];
    for (const worker of [previousReleaseWorker(run), thisReleaseWorker(run)]) worker.on('failed', (job, error) => (job && job.attemptsMade >= (job.opts.attempts ?? 1) ? failed.push(`${job.id ?? ''}: ${error.message}`) : undefined));
    const ids = Array.from({ length: 12 }, (_, index) => `mixed-${index}`);
    // Half queued as the previous release queued them, half with this release's options.
    await Promise.all(ids.map((jobId, index) => queues.notifications.add('notification', {} as never, index % 2 === 0 ? { jobId, attempts: 8, backoff: { type: 'exponential', delay: 200 } } : { jobId })));
    await eventually(async () => (await queues.notifications.getJobCounts('completed')).completed === ids.length, 15_000, 'every job completed');
    expect(failed).toEqual([]);
    expect(ids.map((id) => attempts.get(id))).toEqual(ids.map(() => 2));
  });
});
