import type { Redis } from 'ioredis';
import { keys } from './keys.js';

/**
 * A generic cell rate limiter (GCRA) shared by every replica through Redis, using Redis' own clock so
 * replicas with skewed clocks agree. `reserve` books the next slot and says how long to wait for it;
 * a wait longer than `maxWaitMs` books nothing, so the caller can reschedule its job instead of sleeping.
 * `pause` pushes the bucket back after Slack answered 429 with Retry-After. A call that yields (`idleMs`)
 * takes a slot only once it has been free that long, so calls that matter more, arriving meanwhile, go first.
 */
const RESERVE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local idle = tonumber(ARGV[4] or '0')
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if idle > 0 then
  -- A call that yields: only a slot that has been free for idle ms, never one booked ahead.
  local free_for = now - tat + (burst - 1) * interval
  if free_for < idle then return -(idle - free_for) end
end
if tat < now then tat = now end
local new_tat = tat + interval
local wait = new_tat - now - burst * interval
if wait < 0 then wait = 0 end
if wait > max_wait then return -wait end
redis.call('SET', KEYS[1], new_tat, 'PX', math.max(1, new_tat - now + 1000))
return wait
`;

const PAUSE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local until_ms = now + tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < until_ms then
  redis.call('SET', KEYS[1], until_ms, 'PX', tonumber(ARGV[1]) + 1000)
end
return 1
`;

export interface RateLimit {
  /** Milliseconds between calls in the long run. */
  intervalMs: number;
  /** How many calls may go at once after a quiet period. */
  burst: number;
}

export type Reservation = { granted: true; waitMs: number } | { granted: false; retryAfterMs: number };

export class RateLimiter {
  constructor(private readonly redis: Redis) {}

  async reserve(bucket: string, limit: RateLimit, maxWaitMs: number, idleMs = 0): Promise<Reservation> {
    const result = Number(await this.redis.eval(RESERVE, 1, keys.rateLimit(bucket), limit.intervalMs, limit.burst, maxWaitMs, idleMs));
    return result < 0 ? { granted: false, retryAfterMs: -result } : { granted: true, waitMs: result };
  }

  async pause(bucket: string, forMs: number): Promise<void> {
    await this.redis.eval(PAUSE, 1, keys.rateLimit(bucket), Math.max(1, Math.ceil(forMs)));
  }
}
