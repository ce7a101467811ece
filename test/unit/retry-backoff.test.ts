import { Backoffs, type MinimalJob } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { MlopsError } from '../../src/errors.js';
import { parseRetryAfter } from '../../src/http/retry-after.js';
import { jobBackoff, NOTIFICATION_JOB_OPTIONS, RETRY_AFTER_BACKOFF, SLACK_STATUS_JOB_OPTIONS, TRAIN_JOB_OPTIONS } from '../../src/queues.js';

const job = (delay: number) => ({ opts: { backoff: { type: RETRY_AFTER_BACKOFF, delay } } }) as unknown as MinimalJob;

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-11-23T06:00:00Z');

  it.each([
    ['7', 7_000],
    [' 120 ', 120_000],
    ['0', 0],
    ['Mon, 23 Nov 2026 06:00:30 GMT', 30_000],
    ['Mon, 23 Nov 2026 05:59:00 GMT', 0],
  ])('reads %j as %i ms', (header, ms) => {
    expect(parseRetryAfter(header, now)).toBe(ms);
  });

  it.each([undefined, null, '', '-5', '1.5', 'soon', '12abc', '{}'])('ignores %j', (header) => {
    expect(parseRetryAfter(header, now)).toBeUndefined();
  });
});

describe('jobBackoff', () => {
  it('grows exponentially from the job delay when the error asks for nothing', () => {
    expect([1, 2, 3, 4].map((attempts) => jobBackoff(attempts, RETRY_AFTER_BACKOFF, new Error('boom'), job(2_000)))).toEqual([2_000, 4_000, 8_000, 16_000]);
  });

  it('waits at least as long as a Retry-After the upstream sent', () => {
    const throttled = new MlopsError('RATE_LIMITED', 'throttled', { retryAfterMs: 30_000 });
    expect(jobBackoff(1, RETRY_AFTER_BACKOFF, throttled, job(2_000))).toBe(30_000);
    // A shorter Retry-After does not shorten the backoff.
    expect(jobBackoff(4, RETRY_AFTER_BACKOFF, new MlopsError('RATE_LIMITED', 'throttled', { retryAfterMs: 1_000 }), job(2_000))).toBe(16_000);
  });

  it('caps an absurd Retry-After at 10 minutes', () => {
    expect(jobBackoff(1, RETRY_AFTER_BACKOFF, new MlopsError('RATE_LIMITED', 'throttled', { retryAfterMs: 86_400_000 }), job(2_000))).toBe(600_000);
  });

  it('falls back to a 1 s delay without a job', () => {
    expect(jobBackoff(1)).toBe(1_000);
  });
});

describe('the backoff jobs are queued with', () => {
  it('is a type every BullMQ worker knows, so a worker of the previous release can retry them', () => {
    for (const options of [NOTIFICATION_JOB_OPTIONS, SLACK_STATUS_JOB_OPTIONS, TRAIN_JOB_OPTIONS]) {
      const backoff = options.backoff;
      expect(typeof backoff === 'object' ? backoff.type : undefined).toBe('exponential');
      expect(Object.keys(Backoffs.builtinStrategies)).toContain(typeof backoff === 'object' ? backoff.type : '');
    }
  });

  it('grows like jobBackoff when nothing asks for longer', () => {
    const builtIn = Backoffs.builtinStrategies.exponential?.(2_000);
    expect([1, 2, 3, 4].map((attempts) => builtIn?.(attempts, 'exponential'))).toEqual([1, 2, 3, 4].map((attempts) => jobBackoff(attempts, 'exponential', new Error('boom'), job(2_000))));
  });
});
