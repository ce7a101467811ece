import {
  WebAPIHTTPError,
  WebAPIPlatformError,
  WebAPIRateLimitedError,
  WebAPIRequestError,
  WebClient,
} from '@slack/web-api';
import { z } from 'zod';
import { MlopsError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { Metrics } from '../../metrics.js';
import type { Block, HomeView, ModalView } from '../../slack/blocks.js';
import type { RateLimit, RateLimiter } from '../redis/rate-limiter.js';
import { slackLogger } from './slack-logger.js';

/**
 * Slack's published limits, kept with a margin: chat.postMessage about one message per second per
 * channel, chat.update Tier 3 (50 a minute per workspace: a burst of 10, then one every 1.5 s).
 */
export const SLACK_LIMITS = {
  postMessagePerChannel: { intervalMs: 1_000, burst: 1 },
  update: { intervalMs: 1_500, burst: 10 },
  /** conversations.history / .replies are Tier 3 too; only crash recovery reads them. */
  history: { intervalMs: 1_500, burst: 5 },
  /** views.publish and views.update are Tier 4 (100 a minute per workspace): a burst of 10, then one every 0.75 s. */
  views: { intervalMs: 750, burst: 10 },
  /** conversations.open is Tier 3. */
  conversationsOpen: { intervalMs: 1_500, burst: 5 },
} as const satisfies Record<string, RateLimit>;

/** Slack message metadata the bot attaches so a message can be found again (see findPosted). */
export interface MessageMetadata {
  event_type: string;
  event_payload: Record<string, string | number>;
}

/** Platform errors a retry can fix; every other `ok:false` (not_in_channel, invalid_blocks...) is final. */
const TRANSIENT_PLATFORM_ERRORS = new Set(['ratelimited', 'rate_limited', 'internal_error', 'fatal_error', 'service_unavailable', 'request_timeout', 'team_is_restricted_temporarily']);

export interface OutgoingMessage {
  channel: string;
  text: string;
  blocks?: Block[];
  threadTs?: string;
  broadcast?: boolean;
  metadata?: MessageMetadata;
}

/**
 * A message that yields (postYielding) takes its channel's slot only once the slot has been free this long:
 * a root or an on-call alert arriving within that moment goes first.
 */
export const YIELD_MS = 400;

export interface GatewayOptions {
  /** Waits up to this long in-process for a rate-limit slot; longer waits throw RATE_LIMITED so the job is rescheduled. */
  maxWaitMs: number;
  limits: { postMessagePerChannel: RateLimit; update: RateLimit; history?: RateLimit; views?: RateLimit; conversationsOpen?: RateLimit };
}

export interface UploadedFile {
  filename: string;
  title: string;
  /** For screen readers. */
  altText: string;
  bytes: Buffer;
  /** The message text that introduces the file in the thread. */
  initialComment?: string;
}

/** Sending the bytes of one chart is quick; a stalled upload URL must not hold the job. */
const UPLOAD_TIMEOUT_MS = 20_000;

const uploadTarget = z.object({ upload_url: z.url(), file_id: z.string().min(1) });
const postResult = z.object({ ts: z.string(), channel: z.string() });
const membersResult = z.object({ users: z.array(z.string()) });
const viewResult = z.object({ view: z.object({ id: z.string(), hash: z.string().optional() }).loose() });
const openResult = z.object({ channel: z.object({ id: z.string().regex(/^D[A-Z0-9]+$/) }).loose() });
const historyPage = z.object({
  messages: z.array(z.object({ ts: z.string(), metadata: z.object({ event_type: z.string(), event_payload: z.record(z.string(), z.unknown()).optional() }).optional() })).optional(),
  has_more: z.boolean().optional(),
  response_metadata: z.object({ next_cursor: z.string().optional() }).optional(),
});
/** Pages of conversations.history / .replies read when looking for a message after a crash. */
const MAX_HISTORY_PAGES = 5;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const postBucket = (channel: string) => `chat.postMessage:${channel}`;

export function createSlackWebClient(token: string, apiUrl: string, logger: Logger): WebClient {
  // One retry layer only: BullMQ retries failed jobs with backoff, so the client itself never retries,
  // and 429s reach us instead of silently pausing the client's whole queue.
  return new WebClient(token, {
    slackApiUrl: apiUrl,
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    logger: slackLogger(logger.child({ component: 'slack-web-api' })),
    timeout: 10_000,
  });
}

/**
 * Every Slack Web API call the bot makes goes through here: limited per channel and per method across all
 * replicas, 429 honoured by pausing the shared bucket for Retry-After, errors turned into the catalogue.
 */
export class SlackGateway {
  private readonly options: GatewayOptions;

  constructor(
    private readonly client: WebClient,
    private readonly limiter: RateLimiter,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    options: Partial<GatewayOptions> = {},
  ) {
    this.options = { maxWaitMs: 2_000, limits: SLACK_LIMITS, ...options };
  }

  /**
   * `maxWaitMs` overrides how long this call may wait for its channel's slot: 0 for messages that are
   * worth sending only if the channel is idle (progress lines), longer for ones that must not be lost.
   */
  postMessage(message: OutgoingMessage, maxWaitMs = this.options.maxWaitMs): Promise<{ ts: string; channel: string }> {
    return this.postLatest(message.channel, () => Promise.resolve(message), maxWaitMs);
  }

  /**
   * Posts a message that matters less than the run messages and on-call alerts around it (log tails, links):
   * it takes its channel's slot only once the slot has been free for YIELD_MS and never books one ahead, so
   * what arrives meanwhile goes first. Waits in-process up to `maxWaitMs` for such a moment, else RATE_LIMITED.
   */
  async postYielding(message: OutgoingMessage, maxWaitMs = this.options.maxWaitMs): Promise<{ ts: string; channel: string }> {
    await this.takeWhenIdle(postBucket(message.channel), this.options.limits.postMessagePerChannel, maxWaitMs);
    return this.postReserved(message.channel, () => Promise.resolve(message));
  }

  /**
   * Takes the channel's slot first and renders afterwards, so a message that waited for its slot still
   * shows the newest state (that is how bursts coalesce into one up-to-date message).
   */
  async postLatest(channel: string, render: () => Promise<Omit<OutgoingMessage, 'channel'>>, maxWaitMs = this.options.maxWaitMs): Promise<{ ts: string; channel: string }> {
    await this.reservePost(channel, maxWaitMs);
    return this.postReserved(channel, render);
  }

  /**
   * Takes the channel's next chat.postMessage slot (waiting up to `maxWaitMs` for it, else RATE_LIMITED), for a
   * caller that decides what to post only once the slot is its own; it then posts with postReserved.
   */
  async reservePost(channel: string, maxWaitMs = this.options.maxWaitMs): Promise<void> {
    await this.take(postBucket(channel), this.options.limits.postMessagePerChannel, maxWaitMs);
  }

  /** True when the channel's slot is free right now; it is then taken (post with postReserved). */
  async tryReservePost(channel: string): Promise<boolean> {
    const reservation = await this.limiter.reserve(postBucket(channel), this.options.limits.postMessagePerChannel, 0);
    return reservation.granted;
  }

  /** Posts in a slot already taken with reservePost or tryReservePost, rendering the message now. */
  async postReserved(channel: string, render: () => Promise<Omit<OutgoingMessage, 'channel'>>): Promise<{ ts: string; channel: string }> {
    const bucket = postBucket(channel);
    const message = await render();
    const thread = message.threadTs ? { thread_ts: message.threadTs, reply_broadcast: message.broadcast ?? false } : {};
    const result = await this.call('chat.postMessage', bucket, () =>
      this.client.chat.postMessage({
        channel,
        text: message.text,
        blocks: message.blocks ?? [],
        ...thread,
        ...(message.metadata ? { metadata: message.metadata } : {}),
        unfurl_links: false,
        unfurl_media: false,
      }),
    );
    return postResult.parse(result);
  }

  updateMessage(channel: string, ts: string, message: { text: string; blocks: Block[] }, maxWaitMs = this.options.maxWaitMs): Promise<void> {
    return this.updateLatest(channel, ts, () => Promise.resolve(message), maxWaitMs);
  }

  /**
   * Like postLatest: the update is rendered once its rate-limit slot is taken. `spare` slots of the burst are
   * left to other callers: an update that matters less only goes while the bucket has more than that free.
   */
  async updateLatest(channel: string, ts: string, render: () => Promise<{ text: string; blocks: Block[] }>, maxWaitMs = this.options.maxWaitMs, spare = 0): Promise<void> {
    const bucket = 'chat.update';
    const limit = this.options.limits.update;
    await this.take(bucket, { intervalMs: limit.intervalMs, burst: Math.max(1, limit.burst - spare) }, maxWaitMs);
    const message = await render();
    // Blocks are always sent: chat.update with text alone would strip them.
    await this.call('chat.update', bucket, () => this.client.chat.update({ channel, ts, text: message.text, blocks: message.blocks }));
  }

  async postEphemeral(channel: string, user: string, message: { text: string; blocks?: Block[]; threadTs?: string | undefined }): Promise<void> {
    await this.call('chat.postEphemeral', 'chat.postEphemeral', () =>
      this.client.chat.postEphemeral({ channel, user, text: message.text, ...(message.blocks ? { blocks: message.blocks } : {}), ...(message.threadTs ? { thread_ts: message.threadTs } : {}) }),
    );
  }

  /**
   * views.open with a trigger_id, which Slack honours once and for 3 seconds: never waits for a rate-limit
   * slot (views.open is Tier 4, far above what people can click), so it is the one Slack call an
   * acknowledgement may wait for.
   */
  async openView(triggerId: string, view: ModalView): Promise<{ id: string }> {
    const result = await this.call('views.open', 'views.open', () => this.client.views.open({ trigger_id: triggerId, view }));
    return viewResult.parse(result).view;
  }

  /** views.update of a modal the user has open (by its view id). */
  async updateView(viewId: string, view: ModalView): Promise<void> {
    await this.take('views', this.options.limits.views ?? SLACK_LIMITS.views);
    await this.call('views.update', 'views', () => this.client.views.update({ view_id: viewId, view }));
  }

  /** views.publish of a user's Home tab; shares the Tier 4 views bucket with views.update. */
  async publishHome(userId: string, view: HomeView, maxWaitMs = this.options.maxWaitMs): Promise<void> {
    await this.take('views', this.options.limits.views ?? SLACK_LIMITS.views, maxWaitMs);
    await this.call('views.publish', 'views', () => this.client.views.publish({ user_id: userId, view }));
  }

  /** The bot's direct message channel (D…) with a user, from conversations.open (scope im:write). */
  async openDirectMessage(userId: string): Promise<string> {
    await this.take('conversations.open', this.options.limits.conversationsOpen ?? SLACK_LIMITS.conversationsOpen);
    const result = await this.call('conversations.open', 'conversations.open', () => this.client.conversations.open({ users: userId }));
    return openResult.parse(result).channel.id;
  }

  /**
   * Shares a file as a reply in a thread with Slack's current upload flow (files.upload is retired):
   * files.getUploadURLExternal, the bytes POSTed to the URL it returns, then files.completeUploadExternal
   * into the thread. The share is a message in the channel, so it takes the channel's posting slot like
   * any other message. Needs the files:write scope.
   */
  /** Shares the file in a thread; it yields to the channel's other messages like postYielding. */
  async uploadToThread(channel: string, threadTs: string, file: UploadedFile, maxWaitMs = this.options.maxWaitMs): Promise<{ fileId: string }> {
    const bucket = postBucket(channel);
    await this.takeWhenIdle(bucket, this.options.limits.postMessagePerChannel, maxWaitMs);
    const target = uploadTarget.parse(
      await this.call('files.getUploadURLExternal', 'files.getUploadURLExternal', () =>
        this.client.files.getUploadURLExternal({ filename: file.filename, length: file.bytes.length, alt_text: file.altText }),
      ),
    );
    let answer: Response;
    try {
      // The URL is pre-signed by Slack: no token goes with the bytes.
      answer = await fetch(target.upload_url, { method: 'POST', body: new Uint8Array(file.bytes), headers: { 'content-type': 'application/octet-stream' }, signal: AbortSignal.timeout(UPLOAD_TIMEOUT_MS) });
      await answer.arrayBuffer();
    } catch (error) {
      throw new MlopsError('UPSTREAM_UNAVAILABLE', `Slack file upload unreachable: ${error instanceof Error ? error.message : String(error)}`, { details: { method: 'upload' }, cause: error });
    }
    if (answer.status !== 200) {
      throw new MlopsError(answer.status >= 500 ? 'UPSTREAM_UNAVAILABLE' : 'UPSTREAM_REJECTED', `Slack file upload answered HTTP ${answer.status}`, { details: { method: 'upload', status: answer.status } });
    }
    this.metrics.slackCalls.inc({ method: 'upload', outcome: 'ok' });
    await this.call('files.completeUploadExternal', 'files.completeUploadExternal', () =>
      this.client.files.completeUploadExternal({
        files: [{ id: target.file_id, title: file.title }],
        channel_id: channel,
        thread_ts: threadTs,
        ...(file.initialComment ? { initial_comment: file.initialComment } : {}),
      }),
    );
    return { fileId: target.file_id };
  }

  async usergroupMembers(groupId: string): Promise<string[]> {
    const result = await this.call('usergroups.users.list', 'usergroups.users.list', () => this.client.usergroups.users.list({ usergroup: groupId }));
    return membersResult.parse(result).users;
  }

  /**
   * Finds a message this bot posted with `metadata` matching (event type and every field of `payload`), in
   * the channel (or the thread under `threadTs`) since `oldest` (Slack ts seconds): how a post whose answer
   * was lost (crash, Redis outage) is recognised instead of posted twice. Needs channels:history /
   * groups:history and the bot in the channel.
   */
  async findPosted(channel: string, match: { eventType: string; payload: Record<string, string | number> }, where: { threadTs?: string | undefined; oldest: number }): Promise<{ ts: string; payload: Record<string, unknown> } | undefined> {
    const bucket = where.threadTs ? 'conversations.replies' : 'conversations.history';
    let cursor: string | undefined;
    for (let page = 0; page < MAX_HISTORY_PAGES; page++) {
      await this.take(bucket, this.options.limits.history ?? SLACK_LIMITS.history);
      const args = { channel, oldest: String(Math.max(0, where.oldest)), inclusive: true, include_all_metadata: true, limit: 200, ...(cursor ? { cursor } : {}) };
      const threadTs = where.threadTs;
      const result = historyPage.parse(
        await this.call(bucket, bucket, () => (threadTs ? this.client.conversations.replies({ ...args, ts: threadTs }) : this.client.conversations.history(args))),
      );
      for (const message of result.messages ?? []) {
        const payload = message.metadata?.event_payload;
        if (message.metadata?.event_type !== match.eventType || !payload) continue;
        if (Object.entries(match.payload).every(([key, value]) => payload[key] === value)) return { ts: message.ts, payload };
      }
      cursor = result.response_metadata?.next_cursor;
      if (!result.has_more || !cursor) return undefined;
    }
    return undefined;
  }

  private async take(bucket: string, limit: RateLimit, maxWaitMs = this.options.maxWaitMs): Promise<void> {
    const reservation = await this.limiter.reserve(bucket, limit, maxWaitMs);
    if (!reservation.granted) throw rateLimited(bucket, reservation.retryAfterMs);
    if (reservation.waitMs > 0) await sleep(reservation.waitMs);
  }

  /** Like take, for a call that yields: polls for a slot free for YIELD_MS, up to `maxWaitMs` in all. */
  private async takeWhenIdle(bucket: string, limit: RateLimit, maxWaitMs: number): Promise<void> {
    const deadline = Date.now() + maxWaitMs;
    for (;;) {
      const reservation = await this.limiter.reserve(bucket, limit, 0, YIELD_MS);
      if (reservation.granted) return;
      // A little later than the moment named, so yielding callers in other workers do not all come at once.
      const retryInMs = reservation.retryAfterMs + Math.floor(Math.random() * 100);
      if (Date.now() + retryInMs > deadline) throw rateLimited(bucket, retryInMs);
      await sleep(retryInMs);
    }
  }

  private async call<T>(method: string, bucket: string, send: () => Promise<T>): Promise<T> {
    try {
      const result = await send();
      this.metrics.slackCalls.inc({ method, outcome: 'ok' });
      return result;
    } catch (error) {
      const mapped = this.mapError(method, error);
      this.metrics.slackCalls.inc({ method, outcome: mapped.code });
      if (mapped.code === 'RATE_LIMITED') {
        this.metrics.slackRateLimited.inc({ method });
        await this.limiter.pause(bucket, mapped.retryAfterMs ?? 1_000);
        this.logger.warn({ method, bucket, retryAfterMs: mapped.retryAfterMs }, 'slack rate limited');
      }
      throw mapped;
    }
  }

  private mapError(method: string, error: unknown): MlopsError {
    if (error instanceof WebAPIRateLimitedError) {
      return new MlopsError('RATE_LIMITED', `Slack ${method} answered 429`, { retryAfterMs: Math.max(1, error.retryAfter) * 1000, cause: error });
    }
    if (error instanceof WebAPIPlatformError) {
      const code = error.data.error;
      const transient = TRANSIENT_PLATFORM_ERRORS.has(code);
      return new MlopsError(transient ? 'UPSTREAM_UNAVAILABLE' : 'UPSTREAM_REJECTED', `Slack ${method} failed: ${code}`, {
        userMessage: `Slack refused ${method}: ${code}`,
        details: { method, slackError: code },
        cause: error,
      });
    }
    if (error instanceof WebAPIHTTPError) {
      const retryable = error.statusCode >= 500 || error.statusCode === 408;
      return new MlopsError(retryable ? 'UPSTREAM_UNAVAILABLE' : 'UPSTREAM_REJECTED', `Slack ${method} answered HTTP ${error.statusCode}`, {
        details: { method, status: error.statusCode },
        cause: error,
      });
    }
    if (error instanceof WebAPIRequestError) {
      return new MlopsError('UPSTREAM_UNAVAILABLE', `Slack ${method} unreachable: ${error.original.message}`, { details: { method }, cause: error });
    }
    return new MlopsError('UPSTREAM_UNAVAILABLE', `Slack ${method} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

function rateLimited(bucket: string, retryAfterMs: number): MlopsError {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return new MlopsError('RATE_LIMITED', `Slack bucket ${bucket} is busy`, {
    userMessage: `Slack is busy with other messages here (its rate limit); try again in ${seconds} s.`,
    retryAfterMs,
    details: { bucket },
  });
}
