import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { enqueueNewVersion } from '../../jobs/model-version.js';
import { botAliasKey, modelChannel } from '../../jobs/promote.js';
import { KEY_PREFIX } from '../adapters/redis/keys.js';
import type { Context } from '../context.js';
import { isMlopsError } from '../errors.js';
import { jobId } from '../queues.js';
import { mrkdwnText, type SlackMessage } from '../slack/blocks.js';
import { code } from '../slack/mrkdwn.js';
import { readBody } from './read-body.js';
import { sendJson } from './respond.js';

const BODY_LIMIT = 64 * 1024;
const WINDOW_SECONDS = 300;

const header = (req: IncomingMessage, name: string): string | undefined => {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
};

/** MLflow's scheme: `v1,` + base64(HMAC-SHA256(secret, "<delivery id>.<timestamp>.<raw body>")). */
export function verifyMlflowSignature(secret: string, deliveryId: string | undefined, timestamp: string | undefined, signature: string | undefined, rawBody: string, nowSeconds: number): string | undefined {
  if (!deliveryId || !timestamp || !signature) return 'missing signature headers';
  if (!/^\d{1,12}$/.test(timestamp)) return 'malformed timestamp';
  if (Math.abs(nowSeconds - Number(timestamp)) > WINDOW_SECONDS) return 'timestamp outside the 5 minute window';
  const match = /^v1,([A-Za-z0-9+/]+=*)$/.exec(signature);
  if (!match?.[1]) return 'malformed signature';
  const expected = createHmac('sha256', secret).update(`${deliveryId}.${timestamp}.${rawBody}`).digest();
  const given = Buffer.from(match[1], 'base64');
  return given.length === expected.length && timingSafeEqual(given, expected) ? undefined : 'signature mismatch';
}

const payloadSchema = z.object({ entity: z.string().max(64), action: z.string().max(64), data: z.record(z.string(), z.unknown()).default({}) });
const versionData = z.object({
  name: z.string().max(256),
  version: z.union([z.string(), z.number()]).transform(String),
  run_id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).nullish().catch(undefined),
});
const aliasData = z.object({ name: z.string().max(256), alias: z.string().max(255), version: z.union([z.string(), z.number()]).transform(String).optional() });

/**
 * POST /mlflow/webhooks: MLflow 3 registry webhooks, HMAC verified and de-duplicated by delivery id. A new
 * version of a configured model gets a "Request promotion" message; an alias moved outside the bot is noted
 * in the model's channel (the bot's own alias changes are recognised and not echoed).
 */
export function createMlflowWebhooksHandler(context: Context) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const secret = context.config.env.MLFLOW_WEBHOOK_SECRET;
    let raw: string;
    try {
      raw = (await readBody(req, BODY_LIMIT)).toString('utf8');
    } catch (error) {
      sendJson(res, isMlopsError(error) ? error.httpStatus : 400, { error: isMlopsError(error) ? error.message : 'unreadable body' });
      return;
    }
    if (!secret) {
      sendJson(res, 403, { error: 'MLFLOW_WEBHOOK_SECRET is not set, so deliveries cannot be verified' });
      return;
    }
    const deliveryId = header(req, 'x-mlflow-delivery-id');
    const problem = verifyMlflowSignature(secret, deliveryId, header(req, 'x-mlflow-timestamp'), header(req, 'x-mlflow-signature'), raw, Math.floor(context.now().getTime() / 1000));
    if (problem || !deliveryId) {
      context.logger.warn({ reason: problem }, 'mlflow webhook refused');
      sendJson(res, 401, { error: problem ?? 'missing delivery id' });
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      sendJson(res, 400, { error: 'body is not valid JSON' });
      return;
    }
    const payload = payloadSchema.safeParse(json);
    if (!payload.success) {
      sendJson(res, 400, { error: 'not an MLflow webhook payload' });
      return;
    }
    try {
      const first = await context.redis.set(`${KEY_PREFIX}:mlflow-delivery:${deliveryId.slice(0, 100)}`, '1', 'EX', 3600, 'NX');
      if (first !== 'OK') {
        sendJson(res, 200, { status: 'duplicate' });
        return;
      }
      await handle(context, payload.data, deliveryId);
    } catch (error) {
      context.logger.error({ err: error }, 'mlflow webhook not handled');
      sendJson(res, 503, { error: 'unavailable; retry later' });
      return;
    }
    sendJson(res, 200, { status: 'accepted' });
  };
}

async function handle(context: Context, payload: z.output<typeof payloadSchema>, deliveryId: string): Promise<void> {
  const model = typeof payload.data.name === 'string' ? payload.data.name : undefined;
  if (!model || !Object.hasOwn(context.config.file.models, model)) return;
  const channel = modelChannel(context, model);
  const post = (message: SlackMessage) =>
    context.queues.slackStatus.add('message', { kind: 'message', channel, ...message }, { jobId: jobId('mlflow', deliveryId) });
  if (payload.entity === 'model_version' && payload.action === 'created') {
    const data = versionData.safeParse(payload.data);
    if (!data.success) return;
    // Gates, the automatic first step and the "version registered" offer run in the model-versions queue;
    // where it is announced depends on its run's tags (jobs/version-registered.ts).
    await enqueueNewVersion(context, model, data.data.version, 'webhook');
    return;
  }
  if (payload.entity === 'model_version_alias') {
    const data = aliasData.safeParse(payload.data);
    if (!data.success) return;
    const { alias, version } = data.data;
    // When each alias moved, for soaks and status: the bot's own moves are recorded already (kept, earlier).
    if (payload.action === 'deleted') await context.aliasMoves.forget(model, alias);
    else if (version) await context.aliasMoves.record(model, alias, version, context.now(), 'webhook');
    if (payload.action === 'created' && version && (await context.redis.get(botAliasKey(model, alias, version)))) return;
    const text =
      payload.action === 'deleted'
        ? `:warning: Alias ${code(`@${alias}`)} of ${code(model)} was removed in MLflow, outside the bot.`
        : `:warning: Alias ${code(`@${alias}`)} of ${code(model)} now points to version ${code(version ?? '?')}: changed in MLflow, outside the bot.`;
    await post({ text, blocks: [{ type: 'section', text: mrkdwnText(text) }] });
  }
}
