import type { Redis } from 'ioredis';
import { isMlopsError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { KEY_PREFIX } from '../redis/keys.js';
import type { MessageMetadata, SlackGateway } from './slack-gateway.js';

/** The metadata event type on every message posted through postOnce. */
export const POSTED_EVENT_TYPE = 'mlops_post';

/** Long enough for every BullMQ retry of the job that posts (12 attempts with exponential backoff). */
const MARKER_SECONDS = 6 * 3600;
/** Slack's clock and ours may differ a little; the history search starts this much before the marker. */
const CLOCK_MARGIN_SECONDS = 120;

const markerKey = (key: string) => `${KEY_PREFIX}:posting:${key}`;

export interface PostOnceDeps {
  redis: Redis;
  slack: SlackGateway;
  logger: Logger;
}

/**
 * Posts a message at most once per `key`, even when the worker dies (or Redis goes away) after Slack
 * accepted the post but before its ts was stored. A marker in Redis is written before posting and the
 * message carries the key in its metadata; a later attempt that finds the marker first looks for the
 * message in the channel (or thread) and returns it instead of posting again. The normal path costs one
 * Redis GET and SET; the history lookup only happens after an attempt that may have posted.
 *
 * `send` posts with the metadata it is given; `payload` fields it adds come back from a found message.
 */
export async function postOnce(
  deps: PostOnceDeps,
  where: { key: string; channel: string; threadTs?: string | undefined },
  send: (metadata: (payload?: Record<string, string | number>) => MessageMetadata) => Promise<{ ts: string; channel: string }>,
): Promise<{ ts: string; channel: string; payload: Record<string, unknown> }> {
  const marker = markerKey(where.key);
  const markedAt = Number(await deps.redis.get(marker));
  if (markedAt > 0) {
    try {
      const found = await deps.slack.findPosted(where.channel, { eventType: POSTED_EVENT_TYPE, payload: { key: where.key } }, { threadTs: where.threadTs, oldest: markedAt - CLOCK_MARGIN_SECONDS });
      if (found) {
        deps.logger.info({ postKey: where.key, ts: found.ts }, 'slack message found after an interrupted post');
        return { ts: found.ts, channel: where.channel, payload: found.payload };
      }
    } catch (error) {
      // No history access (missing scope, bot not in the channel) must not block the status: post again.
      if (!isMlopsError(error) || error.retryable) throw error;
      deps.logger.warn({ err: error, postKey: where.key }, 'slack history not readable; posting without the duplicate check');
    }
  }
  await deps.redis.set(marker, String(Math.floor(Date.now() / 1000)), 'EX', MARKER_SECONDS);
  let payload: Record<string, string | number> = {};
  try {
    const posted = await send((extra = {}) => {
      payload = { ...extra, key: where.key };
      return { event_type: POSTED_EVENT_TYPE, event_payload: payload };
    });
    return { ...posted, payload };
  } catch (error) {
    // A 429 or a platform refusal proves Slack posted nothing, so the next attempt need not look for it.
    if (isMlopsError(error) && (error.code === 'RATE_LIMITED' || error.code === 'UPSTREAM_REJECTED')) await deps.redis.del(marker).catch(() => undefined);
    throw error;
  }
}
