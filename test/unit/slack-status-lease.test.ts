import type { Job } from 'bullmq';
import { describe, expect, it, vi } from 'vitest';
import { createSlackStatusProcessor } from '../../jobs/slack-status.js';
import type { Context } from '../../src/context.js';
import { MlopsError } from '../../src/errors.js';
import type { SlackStatusJob } from '../../src/queues.js';

describe('the Slack status job when Redis goes away mid-sync', () => {
  it('fails with the sync error, not the lease release error, and logs the release failure', async () => {
    const warn = vi.fn();
    const syncError = new MlopsError('REDIS_UNAVAILABLE', 'run store unreachable');
    // Redis answers the first run read and the lease SET, then dies: the sync's run read and the lease
    // release both fail.
    const get = vi.fn().mockResolvedValueOnce({ key: 'jobRun:lease-test', version: 2, history: [], state: 'IN_PROGRESS', details: {} }).mockRejectedValue(syncError);
    const context = {
      redis: { set: () => Promise.resolve('OK'), eval: () => Promise.reject(new Error('Connection is closed.')) },
      runs: { get, getMessage: () => Promise.resolve(undefined) },
      logger: { warn },
    } as unknown as Context;
    const job = { data: { kind: 'run', runKey: 'jobRun:lease-test', version: 2 }, queueName: 'slack-status' } as unknown as Job<SlackStatusJob>;

    await expect(createSlackStatusProcessor(context)(job)).rejects.toBe(syncError);
    expect(warn).toHaveBeenCalledWith(expect.objectContaining({ runKey: 'jobRun:lease-test' }), 'run lease not released');
  });
});
