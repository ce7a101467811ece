import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { Context } from '../context.js';
import { parseOciNotification } from '../domain/oci-notification.js';
import { isMlopsError } from '../errors.js';
import { jobId } from '../queues.js';
import { renderSubscriptionConfirmed } from '../slack/notice-message.js';
import { checkConfirmationUrl, visitConfirmationUrl } from './confirm-subscription.js';
import { readBody } from './read-body.js';
import { sendJson } from './respond.js';

/** OCI's own publish limit is 64 KB a message; anything larger is not from the topic. */
export const NOTIFICATION_BODY_LIMIT = 64 * 1024;
/** OCI waits 5 s for an answer; Redis gets at most this long before the delivery is refused with 503. */
const ENQUEUE_TIMEOUT_MS = 2_500;
const CONFIRM_TIMEOUT_MS = 3_500;

const header = (req: IncomingMessage, name: string): string | undefined => {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
};

const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * HTTP Basic auth against the configured user and password. OCI sends the same header every time, so the
 * usual case is one digest comparison with the header built from the configuration; anything else is
 * decoded and each part compared. Digests make each comparison take the same time whatever the lengths.
 */
function basicAuthChecker(user: string, password: string): (req: IncomingMessage) => boolean {
  const expected = digest(`Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`);
  const userDigest = digest(user);
  const passwordDigest = digest(password);
  return (req) => {
    const value = header(req, 'authorization') ?? '';
    if (timingSafeEqual(digest(value), expected)) return true;
    const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(value);
    if (!match?.[1]) return false;
    const decoded = Buffer.from(match[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return false;
    const userOk = timingSafeEqual(digest(decoded.slice(0, colon)), userDigest);
    const passwordOk = timingSafeEqual(digest(decoded.slice(colon + 1)), passwordDigest);
    return userOk && passwordOk;
  };
}

const confirmationBody = z.object({ ConfirmationURL: z.string().max(2048) }).loose();

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/**
 * POST /oci/notifications: Basic auth (when configured) → subscription confirmation, or parse → enqueue
 * with the delivery's dedupe key as job id → 200. Everything slow happens in the worker; a Redis outage is
 * a 503 so OCI keeps the message and retries.
 */
export function createOciNotificationsHandler(context: Context) {
  const { env } = context.config;
  const authorized = env.OCI_NOTIFICATIONS_USER && env.OCI_NOTIFICATIONS_PASSWORD ? basicAuthChecker(env.OCI_NOTIFICATIONS_USER, env.OCI_NOTIFICATIONS_PASSWORD) : undefined;
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const messageId = header(req, 'x-oci-ns-messageid');
    // A child logger costs more than the rest of a delivery's bookkeeping; only the rare paths log.
    let child: Context['logger'] | undefined;
    const log = () => (child ??= context.logger.child({ route: 'oci-notifications', ociMessageId: messageId }));
    if (authorized && !authorized(req)) {
      req.resume();
      context.metrics.notifications.inc({ outcome: 'unauthorized' });
      sendJson(res, 401, { error: 'unauthorized' }, { 'www-authenticate': 'Basic realm="mlops-chatops", charset="UTF-8"' });
      return;
    }

    let body: string;
    try {
      body = (await readBody(req, NOTIFICATION_BODY_LIMIT)).toString('utf8');
    } catch (error) {
      const status = isMlopsError(error) ? error.httpStatus : 400;
      context.metrics.notifications.inc({ outcome: 'invalid' });
      sendJson(res, status, { error: isMlopsError(error) ? error.message : 'unreadable body' });
      return;
    }

    const messageType = header(req, 'x-oci-ns-messagetype');
    const headerUrl = header(req, 'x-oci-ns-confirmationurl');
    let bodyUrl: string | undefined;
    if (!headerUrl && body.includes('ConfirmationURL')) {
      try {
        bodyUrl = confirmationBody.safeParse(JSON.parse(body)).data?.ConfirmationURL;
      } catch {
        bodyUrl = undefined;
      }
    }
    if (messageType === 'SubscriptionConfirmation' || headerUrl || bodyUrl) {
      await confirm(context, req, res, headerUrl ?? bodyUrl, log());
      return;
    }

    const parsed = parseOciNotification(body, {
      ...(messageId ? { messageId } : {}),
      ...(messageType ? { messageType } : {}),
      ...(header(req, 'x-oci-ns-topicname') ? { topicName: header(req, 'x-oci-ns-topicname') } : {}),
      ...(header(req, 'content-type') ? { contentType: header(req, 'content-type') } : {}),
    }, context.now().toISOString());
    if (!parsed.ok) {
      context.metrics.notifications.inc({ outcome: 'invalid' });
      log().info({ reason: parsed.reason }, 'notification refused');
      sendJson(res, 400, { error: parsed.reason });
      return;
    }

    const { notification } = parsed;
    if (context.redis.status !== 'ready') {
      context.metrics.notifications.inc({ outcome: 'unavailable' });
      sendJson(res, 503, { error: 'queue unavailable; retry later' }, { 'retry-after': '60' });
      return;
    }
    try {
      await withTimeout(
        context.queues.notifications.add(notification.type, { notification, receivedAt: context.now().toISOString(), ...(messageId ? { messageId } : {}) }, { jobId: jobId(notification.dedupeKey) }),
        ENQUEUE_TIMEOUT_MS,
      );
    } catch (error) {
      context.metrics.notifications.inc({ outcome: 'unavailable' });
      log().error({ err: error }, 'notification not enqueued');
      sendJson(res, 503, { error: 'queue unavailable; retry later' }, { 'retry-after': '60' });
      return;
    }
    context.metrics.notifications.inc({ outcome: 'enqueued' });
    if (context.logger.isLevelEnabled('debug')) log().debug({ type: notification.type, dedupeKey: notification.dedupeKey }, 'notification enqueued');
    sendJson(res, 200, { status: 'accepted', dedupeKey: notification.dedupeKey });
  };
}

async function confirm(
  context: Context,
  req: IncomingMessage,
  res: ServerResponse,
  rawUrl: string | undefined,
  logger: Context['logger'],
): Promise<void> {
  if (!rawUrl) {
    context.metrics.notifications.inc({ outcome: 'refused' });
    sendJson(res, 400, { error: 'SubscriptionConfirmation without a ConfirmationURL' });
    return;
  }
  const check = checkConfirmationUrl(rawUrl, context.config.env.OCI_CONFIRM_HOSTS);
  if (!check.ok) {
    context.metrics.notifications.inc({ outcome: 'refused' });
    logger.warn({ reason: check.reason }, 'confirmation url refused');
    sendJson(res, 400, { error: check.reason });
    return;
  }
  try {
    const { status } = await visitConfirmationUrl(check.url, context.config.env.OCI_CONFIRM_HOSTS, CONFIRM_TIMEOUT_MS);
    if (status < 200 || status >= 300) throw new Error(`confirmation answered HTTP ${status}`);
  } catch (error) {
    context.metrics.notifications.inc({ outcome: 'refused' });
    logger.warn({ err: error, host: check.url.hostname }, 'subscription confirmation failed');
    sendJson(res, 502, { error: `confirmation failed: ${error instanceof Error ? error.message : String(error)}` });
    return;
  }
  context.metrics.notifications.inc({ outcome: 'confirmed' });
  const topic = header(req, 'x-oci-ns-topicname');
  logger.info({ host: check.url.hostname, topic, subscriptionId: header(req, 'x-oci-ns-subscriptionid') }, 'subscription confirmed');
  const notice = renderSubscriptionConfirmed(topic);
  try {
    await context.queues.slackStatus.add(
      'text',
      { kind: 'text', channel: context.config.file.slack.defaultChannel, text: notice.text },
      { jobId: jobId('confirmed', header(req, 'x-oci-ns-subscriptionid') ?? check.url.pathname) },
    );
  } catch (error) {
    logger.warn({ err: error }, 'subscription notice not enqueued');
  }
  sendJson(res, 200, { status: 'confirmed' });
}
