import type { Redis } from 'ioredis';
import type { Block } from '../../slack/blocks.js';
import { keys } from '../redis/keys.js';
import type { SlackGateway } from './slack-gateway.js';

/** A sent direct message is remembered this long, so a retried job never sends it twice. */
const SENT_SECONDS = 30 * 24 * 3600;
/** The D… channel of a user does not change; remembered a month to save conversations.open calls. */
const CHANNEL_SECONDS = 30 * 24 * 3600;
/** How long a direct message may wait for its channel's posting slot (each user's DM is its own channel). */
const DM_WAIT_MS = 10_000;

export type DmOutcome = 'sent' | 'off' | 'duplicate';

/**
 * Direct messages from the bot to one user: opened with conversations.open, posted with chat.postMessage
 * through the same per-channel limiter as every other message, at most once per key, and not at all for
 * users who switched them off with `/mlops dm off`. Preferences and the sent marks live in Redis.
 */
export class DirectMessages {
  constructor(
    private readonly redis: Redis,
    private readonly slack: SlackGateway,
  ) {}

  async enabled(userId: string): Promise<boolean> {
    return (await this.redis.sismember(keys.dmOff(), userId)) === 0;
  }

  async setEnabled(userId: string, on: boolean): Promise<void> {
    if (on) await this.redis.srem(keys.dmOff(), userId);
    else await this.redis.sadd(keys.dmOff(), userId);
  }

  /** Sends `message` to `userId` unless they switched DMs off or a message with this `key` was sent already. */
  async sendOnce(userId: string, key: string, message: { text: string; blocks?: Block[] }): Promise<DmOutcome> {
    if (!(await this.enabled(userId))) return 'off';
    const mark = keys.dmSent(key);
    if ((await this.redis.set(mark, userId, 'EX', SENT_SECONDS, 'NX')) !== 'OK') return 'duplicate';
    try {
      const channel = await this.channelOf(userId);
      await this.slack.postMessage({ channel, text: message.text, blocks: message.blocks ?? [] }, DM_WAIT_MS);
      return 'sent';
    } catch (error) {
      // Nothing was delivered: the job's retry may send it.
      await this.redis.del(mark).catch(() => undefined);
      throw error;
    }
  }

  private async channelOf(userId: string): Promise<string> {
    const cached = await this.redis.get(keys.dmChannel(userId));
    if (cached) return cached;
    const channel = await this.slack.openDirectMessage(userId);
    await this.redis.set(keys.dmChannel(userId), channel, 'EX', CHANNEL_SECONDS);
    return channel;
  }
}
