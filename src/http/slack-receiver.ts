import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SocketModeReceiver, type App, type Receiver, type ReceiverEvent, type SocketModeReceiverOptions } from '@slack/bolt';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { keys } from '../adapters/redis/keys.js';
import { isMlopsError } from '../errors.js';
import type { Logger } from '../log.js';
import { readBody } from './read-body.js';
import { sendJson, sendText } from './respond.js';

/** Slack's own payloads stay far below this; larger bodies are refused with 413. */
export const SLACK_BODY_LIMIT = 256 * 1024;
const REPLAY_WINDOW_SECONDS = 300;
/** Slack gives 3 s; past this the request is answered with an error so nothing hangs. */
const ACK_DEADLINE_MS = 3_001;

const header = (req: IncomingMessage, name: string): string | undefined => {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
};

export type SignatureCheck = { ok: true } | { ok: false; reason: string };

/**
 * Slack's v0 scheme: HMAC-SHA256 of `v0:<timestamp>:<raw body>`, hex, compared in constant time. Unlike
 * Bolt's built-in check, a timestamp too far in the future is refused as well as a stale one.
 */
export function verifySlackSignature(secret: string, rawBody: string, timestamp: string | undefined, signature: string | undefined, nowSeconds: number): SignatureCheck {
  if (!timestamp || !signature) return { ok: false, reason: 'missing signature headers' };
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'malformed timestamp' };
  if (Math.abs(nowSeconds - Number(timestamp)) > REPLAY_WINDOW_SECONDS) return { ok: false, reason: 'timestamp outside the 5 minute window' };
  const match = /^v0=([0-9a-f]{64})$/.exec(signature);
  if (!match?.[1]) return { ok: false, reason: 'malformed signature' };
  const expected = createHmac('sha256', secret).update(`v0:${timestamp}:${rawBody}`).digest();
  return timingSafeEqual(expected, Buffer.from(match[1], 'hex')) ? { ok: true } : { ok: false, reason: 'signature mismatch' };
}

/**
 * A JSON object as JSON.parse built it. Not copied through z.record: copying assigns each key, and a
 * `__proto__` key then replaces the copy's prototype instead of staying a field.
 */
const jsonObject = z.custom<Record<string, unknown>>((value) => typeof value === 'object' && value !== null && !Array.isArray(value));
const eventEnvelope = z.object({ type: z.literal('event_callback'), event_id: z.string().min(1) }).loose();
/** Payload types Bolt treats as interactions (besides any body with `actions` or `name`). */
const INTERACTION_TYPES = new Set(['block_actions', 'block_suggestion', 'view_submission', 'view_closed', 'shortcut', 'message_action', 'interactive_message', 'dialog_submission', 'dialog_cancellation', 'dialog_suggestion']);
/** What Bolt dereferences while routing an interaction: `user.id`, and `channel`, `team`, `view`, `message` as objects when present. */
const interactionEnvelope = z
  .object({
    user: z.object({ id: z.string().min(1) }).loose(),
    channel: jsonObject.optional(),
    team: jsonObject.nullable().optional(),
    container: jsonObject.nullable().optional(),
    message: jsonObject.optional(),
    view: jsonObject.optional(),
    actions: z.array(jsonObject).optional(),
  })
  .loose();
const eventBody = z.object({ event: z.object({ item: jsonObject.optional(), channel: z.union([z.string(), jsonObject]).optional(), subteam: jsonObject.optional() }).loose() }).loose();

/** A body Bolt would throw on while routing it (a 500) is refused with 400 and what is missing. */
function envelopeProblem(body: Record<string, unknown>): string | undefined {
  if (body.type === 'event_callback') {
    const event = eventBody.safeParse(body);
    return event.success ? undefined : 'event_callback without a well-formed event object';
  }
  if (body.command !== undefined) return undefined;
  const interaction = body.actions !== undefined || body.name !== undefined || (typeof body.type === 'string' && INTERACTION_TYPES.has(body.type));
  if (!interaction) return undefined;
  const parsed = interactionEnvelope.safeParse(body);
  return parsed.success ? undefined : `malformed ${typeof body.type === 'string' ? body.type : 'interaction'} payload (${parsed.error.issues.map((issue) => issue.path.join('.') || '(root)').join(', ')})`;
}

/** Form bodies (commands, and interactivity with a JSON `payload` field) or JSON bodies (Events API). */
export function parseSlackBody(rawBody: string, contentType: string | undefined): { ok: true; body: Record<string, unknown> } | { ok: false; error: string } {
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase();
  if (type === 'application/x-www-form-urlencoded') {
    const form = new URLSearchParams(rawBody);
    const payload = form.get('payload');
    if (payload !== null) {
      try {
        const parsed = jsonObject.safeParse(JSON.parse(payload));
        return parsed.success ? { ok: true, body: parsed.data } : { ok: false, error: 'payload is not a JSON object' };
      } catch {
        return { ok: false, error: 'payload is not valid JSON' };
      }
    }
    return { ok: true, body: Object.fromEntries(form.entries()) };
  }
  if (type === 'application/json') {
    try {
      const parsed = jsonObject.safeParse(JSON.parse(rawBody));
      return parsed.success ? { ok: true, body: parsed.data } : { ok: false, error: 'body is not a JSON object' };
    } catch {
      return { ok: false, error: 'body is not valid JSON' };
    }
  }
  return { ok: false, error: `unsupported content type ${type || '(none)'}` };
}

/** How long a trigger_id is remembered against replays: twice the 5 minutes a request's signature is accepted. */
export const TRIGGER_MEMORY_SECONDS = 2 * REPLAY_WINDOW_SECONDS;

/** What to do with a delivery from Slack before Bolt sees it, over HTTP and over Socket Mode alike. */
export type DeliveryVerdict = 'new' | 'duplicate' | 'replay' | 'unavailable';

/**
 * Events API deliveries are deduplicated by event_id (Slack retries an event it thinks was not
 * acknowledged; without Redis the check cannot run: 'unavailable', so Slack delivers again later).
 * Clicks are never resent by Slack, so the same trigger_id again is a captured request replayed: 'replay'.
 * Slash commands are checked by the command listener itself (commands/index.ts), so that one it queues is
 * acknowledged without waiting for Redis: the worker that runs it checks the trigger_id then.
 */
export async function checkDelivery(redis: Redis, body: Record<string, unknown>): Promise<DeliveryVerdict> {
  const envelope = eventEnvelope.safeParse(body);
  if (envelope.success) {
    try {
      return (await redis.set(keys.slackEvent(envelope.data.event_id), '1', 'EX', 3600, 'NX')) === 'OK' ? 'new' : 'duplicate';
    } catch {
      return 'unavailable';
    }
  }
  if (typeof body.command === 'string' || typeof body.trigger_id !== 'string' || body.trigger_id === '') return 'new';
  return (await isReplayedTrigger(redis, body.trigger_id)) ? 'replay' : 'new';
}

/**
 * True when this trigger_id was seen in the last 10 minutes (Slack's signatures are good for 5): a captured
 * request replayed. Without Redis the check is skipped, so what needs no Redis (help) keeps working.
 */
export async function isReplayedTrigger(redis: Redis, triggerId: string): Promise<boolean> {
  if (redis.status !== 'ready') return false;
  try {
    return (await redis.set(keys.slackTrigger(triggerId), '1', 'EX', TRIGGER_MEMORY_SECONDS, 'NX')) !== 'OK';
  } catch {
    return false;
  }
}

/**
 * Carries Slack's HTTP requests (slash commands, interactivity, Events API) from our one HTTP server into
 * Bolt: verify, parse, dedupe Events API retries by event_id in Redis, then hand the body to Bolt with an
 * `ack` that writes the HTTP answer.
 */
export class SlackHttpReceiver implements Receiver {
  private app: App | undefined;

  constructor(
    private readonly signingSecret: string,
    private readonly redis: Redis,
    private readonly logger: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {}

  init(app: App): void {
    this.app = app;
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let rawBody: string;
    try {
      rawBody = (await readBody(req, SLACK_BODY_LIMIT)).toString('utf8');
    } catch (error) {
      sendJson(res, isMlopsError(error) ? error.httpStatus : 400, { error: isMlopsError(error) ? error.message : 'unreadable body' });
      return;
    }
    const check = verifySlackSignature(
      this.signingSecret,
      rawBody,
      header(req, 'x-slack-request-timestamp'),
      header(req, 'x-slack-signature'),
      Math.floor(this.now().getTime() / 1000),
    );
    if (!check.ok) {
      this.logger.warn({ reason: check.reason }, 'slack request refused');
      sendJson(res, 401, { error: 'invalid signature' });
      return;
    }
    const parsed = parseSlackBody(rawBody, header(req, 'content-type'));
    if (!parsed.ok) {
      sendJson(res, 400, { error: parsed.error });
      return;
    }
    const { body } = parsed;
    if (body.ssl_check === '1') {
      sendText(res, 200, '');
      return;
    }
    if (body.type === 'url_verification' && typeof body.challenge === 'string') {
      sendJson(res, 200, { challenge: body.challenge });
      return;
    }
    if (body.type === 'app_rate_limited') {
      // Slack's notice that it is dropping this app's events for the rest of the minute; nothing to run.
      this.logger.warn({ minute: body.minute_rate_limited }, 'slack is rate limiting event deliveries');
      sendText(res, 200, '');
      return;
    }
    const problem = envelopeProblem(body);
    if (problem) {
      sendJson(res, 400, { error: problem });
      return;
    }
    const verdict = await checkDelivery(this.redis, body);
    if (verdict === 'unavailable') {
      // A non-200 asks Slack to deliver the event again later.
      sendJson(res, 503, { error: 'unavailable' });
      return;
    }
    if (verdict !== 'new') {
      // A retried event, or a replayed command or click (inside the 5 minute signature window): answered
      // like a first delivery, without running anything.
      if (verdict === 'replay') this.logger.warn({ type: body.type, command: body.command }, 'replayed slack request ignored');
      sendText(res, 200, '');
      return;
    }
    await this.dispatch(req, res, body);
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse, body: Record<string, unknown>): Promise<void> {
    const app = this.app;
    if (!app) {
      sendJson(res, 503, { error: 'not started' });
      return;
    }
    let acked = false;
    const timer = setTimeout(() => {
      if (acked) return;
      acked = true;
      this.logger.error({ type: body.type, command: body.command }, 'slack request not acknowledged in time');
      sendJson(res, 500, { error: 'not acknowledged in time' });
    }, ACK_DEADLINE_MS);
    const ack = (response?: unknown): Promise<void> => {
      if (acked) return Promise.resolve();
      acked = true;
      clearTimeout(timer);
      if (response === undefined || response === '') sendText(res, 200, '');
      else if (typeof response === 'string') sendText(res, 200, response);
      else sendJson(res, 200, response);
      return Promise.resolve();
    };
    const retryNum = Number(header(req, 'x-slack-retry-num'));
    const retryReason = header(req, 'x-slack-retry-reason');
    try {
      await app.processEvent({
        body,
        ack,
        ...(Number.isFinite(retryNum) ? { retryNum } : {}),
        ...(retryReason ? { retryReason } : {}),
      });
      if (!acked) {
        // No listener took it (an unknown payload type, action_id or callback_id): say so now rather than
        // holding the request until the ack deadline and answering 500.
        acked = true;
        clearTimeout(timer);
        this.logger.warn({ type: body.type, command: body.command }, 'slack request matched no listener');
        sendJson(res, 404, { error: 'no listener for this request' });
      }
    } catch (error) {
      this.logger.error({ err: error, type: body.type }, 'slack request failed');
      if (!acked) {
        acked = true;
        clearTimeout(timer);
        sendJson(res, 500, { error: 'internal error' });
      }
    }
  }
}

/**
 * Bolt's Socket Mode receiver with the same delivery checks as SlackHttpReceiver (events by event_id,
 * commands and clicks by trigger_id), and whether the socket to Slack is open right now.
 */
export class SlackSocketReceiver extends SocketModeReceiver {
  private open = false;

  constructor(
    options: SocketModeReceiverOptions,
    private readonly redis: Redis,
    private readonly log: Logger,
  ) {
    super(options);
    this.client.on('connected', () => {
      this.open = true;
    });
    for (const state of ['close', 'connecting', 'reconnecting', 'disconnecting', 'disconnected']) {
      this.client.on(state, () => {
        this.open = false;
      });
    }
  }

  /** True while the socket to Slack is open (Slack said hello). */
  get connected(): boolean {
    return this.open;
  }

  override init(app: App): void {
    const processEvent = async (event: ReceiverEvent): Promise<void> => {
      const body = jsonObject.safeParse(event.body);
      const verdict = body.success ? await checkDelivery(this.redis, body.data) : 'new';
      if (verdict === 'new') return app.processEvent(event);
      // Unacknowledged, Slack delivers the event again later.
      if (verdict === 'unavailable') return this.log.warn({ type: body.data?.type }, 'slack event left unacknowledged: redis unavailable');
      if (verdict === 'replay') this.log.warn({ type: body.data?.type, command: body.data?.command }, 'replayed slack request ignored');
      await event.ack();
    };
    // Bolt's receiver hands every envelope to app.processEvent; it reaches Bolt through the checks above.
    super.init(new Proxy(app, { get: (target, property, receiver): unknown => (property === 'processEvent' ? processEvent : Reflect.get(target, property, receiver)) }));
  }
}
