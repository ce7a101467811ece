import type { Redis } from 'ioredis';
import { keys } from './keys.js';

/** A run waits this long at most; one still waiting after a week of Slack refusals is dropped with its key. */
const WAITING_TTL_SECONDS = 7 * 24 * 3600;

/**
 * The runs whose first message waits for its channel's chat.postMessage slot, per channel, oldest first, in
 * Redis so that every replica sees the same line. Whoever takes the channel's next slot picks from it (see
 * jobs/slack-status.ts), and narration in the channel waits while anyone is in it.
 */
export class WaitingRoots {
  constructor(private readonly redis: Redis) {}

  /** Adds the run (keeping its place if it is already waiting). */
  async add(channel: string, runKey: string): Promise<void> {
    const key = keys.waitingRoots(channel);
    await this.redis.multi().zadd(key, 'NX', Date.now(), runKey).expire(key, WAITING_TTL_SECONDS).exec();
  }

  async count(channel: string): Promise<number> {
    return this.redis.zcard(keys.waitingRoots(channel));
  }

  /** The `limit` runs waiting longest. */
  async oldest(channel: string, limit: number): Promise<string[]> {
    return this.redis.zrange(keys.waitingRoots(channel), '0', String(limit - 1));
  }

  /** Takes the run out of the line; false when someone else took it first. */
  async take(channel: string, runKey: string): Promise<boolean> {
    return (await this.redis.zrem(keys.waitingRoots(channel), runKey)) === 1;
  }
}
