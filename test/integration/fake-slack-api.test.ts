import { ErrorCode, LogLevel, WebAPIHTTPError, WebAPIPlatformError, WebAPIRateLimitedError, WebClient } from '@slack/web-api';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket } from 'ws';
import { verifySlackSignature } from '../../src/http/slack-receiver.js';
import { FakeSlackApi } from '../fakes/fake-slack-api.js';

const TOKEN = 'xoxb-test';

/** The client as the bot builds it: no silent retries, 429s surface as errors. */
const clientFor = (fake: FakeSlackApi, token: string) =>
  new WebClient(token, { slackApiUrl: fake.url, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true, logLevel: LogLevel.ERROR });

/** Resolves with the rejection of `promise`, failing if it resolves. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail');
}

/** Slack's shapes with short windows, so the suite never waits long. */
const SHORT_LIMITS = { postMessagePerChannel: { limit: 3, windowMs: 300 }, methods: { 'chat.update': { limit: 5, windowMs: 300 } } };

const approval = [
  { type: 'header', text: { type: 'plain_text', text: 'Deploy fraud-model v7?' } },
  { type: 'section', text: { type: 'mrkdwn', text: '*Requested by* <@U0DS1>' }, fields: [{ type: 'mrkdwn', text: '*Stage*\nprod' }] },
  {
    type: 'actions',
    block_id: 'run-actions-1',
    elements: [
      { type: 'button', action_id: 'approve', text: { type: 'plain_text', text: 'Approve' }, style: 'primary', value: 'run-1' },
      { type: 'button', action_id: 'reject', text: { type: 'plain_text', text: 'Reject' }, style: 'danger', value: 'run-1' },
    ],
  },
];

describe('FakeSlackApi through the real WebClient', () => {
  let fake: FakeSlackApi;
  let client: WebClient;

  beforeAll(async () => {
    fake = await FakeSlackApi.start({
      channels: { C0TRAIN: 'ml-training', C0OTHER: 'other' },
      usergroups: { S0DS: ['U0DS1', 'U0DS2'] },
      limits: SHORT_LIMITS,
    });
    client = clientFor(fake, TOKEN);
  });

  afterAll(async () => {
    await fake.stop();
  });

  beforeEach(() => {
    fake.reset();
  });

  it('answers auth.test with the bot identity Bolt asks for', async () => {
    const result = await client.auth.test();
    expect(result).toMatchObject({ ok: true, team_id: 'T0FAKE', user_id: 'U0BOT', bot_id: 'B0BOT' });
    expect(fake.calls('auth.test')[0]).toMatchObject({ token: TOKEN, status: 200 });
  });

  it('opens Socket Mode connections only for an app-level token, and an app-level token for nothing else', async () => {
    const appClient = clientFor(fake, 'xapp-1-A0MLOPS-test');
    const opened = await appClient.apps.connections.open({});
    expect(opened.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/link\/\?ticket=[0-9a-f]+/);
    expect(fake.socketMode.connectionsOpened).toBeGreaterThanOrEqual(1);
    expect(await rejection(client.apps.connections.open({}))).toMatchObject({ data: { error: 'not_allowed_token_type' } });
    expect(await rejection(appClient.chat.postMessage({ channel: 'C0ANY', text: 'hi' }))).toMatchObject({ data: { error: 'not_allowed_token_type' } });
    expect(await rejection(clientFor(fake, 'xapp-1-unknown').apps.connections.open({}))).toMatchObject({ data: { error: 'invalid_auth' } });
    // A ticket is good for one connection, which Slack greets with hello; the same URL again is refused.
    const first = new WebSocket(String(opened.url));
    const hello = await new Promise<string>((resolve, reject) => {
      first.once('message', (data: Buffer) => resolve(data.toString('utf8')));
      first.once('error', reject);
    });
    expect(JSON.parse(hello)).toMatchObject({ type: 'hello', connection_info: { app_id: 'A0MLOPS' } });
    const again = new WebSocket(String(opened.url));
    again.on('error', () => undefined);
    const refused = await new Promise<number>((resolve) => again.once('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0)));
    expect(refused).toBe(401);
    again.terminate();
    first.close();
  });

  it('tells onChange listeners after every call, with the new state already visible, until they unsubscribe', async () => {
    const seen: string[] = [];
    const unsubscribe = fake.onChange(() => seen.push(`${fake.messages('C0TRAIN').map((message) => message.text).join(',')} ephemerals=${fake.ephemerals().length}`));
    try {
      const posted = await client.chat.postMessage({ channel: 'C0TRAIN', text: 'training started' });
      await client.chat.update({ channel: 'C0TRAIN', ts: posted.ts ?? '', text: 'training succeeded' });
      await client.chat.postEphemeral({ channel: 'C0TRAIN', user: 'U0DS1', text: 'only you' });
      await rejection(client.chat.postMessage({ channel: 'C0NOWHERE', text: 'lost' }));
      expect(seen).toEqual(['training started ephemerals=0', 'training succeeded ephemerals=0', 'training succeeded ephemerals=1', 'training succeeded ephemerals=1']);
    } finally {
      unsubscribe();
    }
    await client.chat.postMessage({ channel: 'C0TRAIN', text: 'after' });
    expect(seen).toHaveLength(4);
  });

  it('posts a message and updates the same ts, keeping the edit history', async () => {
    const posted = await client.chat.postMessage({ channel: 'C0TRAIN', text: 'training started' });
    expect(posted.ts).toMatch(/^\d{10}\.\d{6}$/);
    expect(posted.channel).toBe('C0TRAIN');

    const updated = await client.chat.update({ channel: 'C0TRAIN', ts: posted.ts ?? '', text: 'training succeeded' });
    expect(updated.ts).toBe(posted.ts);

    const [message, ...others] = fake.messages('C0TRAIN');
    expect(others).toHaveLength(0);
    expect(message).toMatchObject({ ts: posted.ts, text: 'training succeeded', edits: 1, user: 'U0BOT', botId: 'B0BOT' });
    expect(message?.history.map((version) => version.text)).toEqual(['training started']);
    expect(fake.effective('chat.update').map((call) => call.args.ts)).toEqual([posted.ts]);
  });

  it('round-trips blocks and metadata as objects, and text-only chat.update drops the blocks as Slack does', async () => {
    const metadata = { event_type: 'run', event_payload: { run_id: 'run-1' } };
    const posted = await client.chat.postMessage({ channel: 'C0TRAIN', text: 'Deploy fraud-model v7?', blocks: approval, metadata });
    expect(posted.message?.blocks).toEqual(approval);
    expect(fake.calls('chat.postMessage')[0]?.args.blocks).toEqual(approval);
    expect(fake.message('C0TRAIN', posted.ts ?? '')).toMatchObject({ blocks: approval, metadata });

    await client.chat.update({ channel: 'C0TRAIN', ts: posted.ts ?? '', text: 'Approved' });
    expect(fake.message('C0TRAIN', posted.ts ?? '')).toMatchObject({ text: 'Approved', blocks: undefined, metadata });
  });

  it('threads replies under their root, with reply_broadcast', async () => {
    const root = await client.chat.postMessage({ channel: 'C0TRAIN', text: 'run-1' });
    await client.chat.postMessage({ channel: 'C0TRAIN', text: 'step 1 done', thread_ts: root.ts ?? '' });
    await client.chat.postMessage({ channel: 'C0TRAIN', text: 'failed', thread_ts: root.ts ?? '', reply_broadcast: true });

    expect(fake.messages('C0TRAIN')).toHaveLength(1);
    const thread = fake.thread('C0TRAIN', root.ts ?? '');
    expect(thread.map((reply) => [reply.text, reply.threadTs, reply.replyBroadcast])).toEqual([
      ['step 1 done', root.ts, false],
      ['failed', root.ts, true],
    ]);

    // A root ts from another channel is no thread here.
    const orphan = await rejection(client.chat.postMessage({ channel: 'C0OTHER', text: 'x', thread_ts: root.ts ?? '' }));
    expect(orphan).toBeInstanceOf(WebAPIPlatformError);
    expect(orphan).toMatchObject({ data: { error: 'thread_not_found' } });
  });

  it('takes a file through the external upload flow and shares it as a reply in the thread', async () => {
    const root = await client.chat.postMessage({ channel: 'C0TRAIN', text: 'alert' });
    const bytes = Buffer.from('\x89PNG fake chart bytes');
    const target = await client.files.getUploadURLExternal({ filename: 'chart.png', length: bytes.length, alt_text: 'a chart' });
    expect(target.upload_url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/upload\/v1\//);
    // Completing before the bytes arrived shares nothing.
    await expect(client.files.completeUploadExternal({ files: [{ id: target.file_id ?? '' }], channel_id: 'C0TRAIN', thread_ts: root.ts ?? '' })).rejects.toMatchObject({ data: { error: 'file_not_found' } });
    const upload = await fetch(target.upload_url ?? '', { method: 'POST', body: bytes });
    expect(upload.status).toBe(200);
    expect(await upload.text()).toBe(`OK - ${bytes.length}`);
    await expect(client.files.completeUploadExternal({ files: [{ id: target.file_id ?? '' }], channel_id: 'C0TRAIN', thread_ts: '1.000001' })).rejects.toMatchObject({ data: { error: 'thread_not_found' } });
    const done = await client.files.completeUploadExternal({ files: [{ id: target.file_id ?? '', title: 'CPU' }], channel_id: 'C0TRAIN', thread_ts: root.ts ?? '', initial_comment: 'the chart' });
    expect(done.files?.[0]).toMatchObject({ id: target.file_id, title: 'CPU' });
    const [reply] = fake.thread('C0TRAIN', root.ts ?? '');
    expect(reply?.text).toBe('the chart');
    expect(reply?.files[0]?.bytes?.equals(bytes)).toBe(true);
    expect(fake.files()[0]).toMatchObject({ name: 'chart.png', altText: 'a chart', channel: 'C0TRAIN', threadTs: root.ts, length: bytes.length });
    // The URL takes the bytes once: after the share it is gone.
    expect((await fetch(target.upload_url ?? '', { method: 'POST', body: bytes })).status).toBe(404);
  });

  it('refuses invalid Block Kit with invalid_blocks and posts nothing', async () => {
    const longHeader = [{ type: 'header', text: { type: 'plain_text', text: 'x'.repeat(151) } }];
    const error = await rejection(client.chat.postMessage({ channel: 'C0TRAIN', text: 'x', blocks: longHeader }));
    expect(error).toBeInstanceOf(WebAPIPlatformError);
    expect(error).toMatchObject({ data: { error: 'invalid_blocks', response_metadata: { messages: [expect.stringContaining('/blocks/0/text/text')] } } });

    const tooMany = Array.from({ length: 51 }, () => ({ type: 'divider' }));
    const tooManyButtons = [{ type: 'actions', elements: Array.from({ length: 26 }, (_, i) => ({ type: 'button', action_id: `b${i}`, text: { type: 'plain_text', text: 'b' } })) }];
    const longValue = [{ type: 'actions', elements: [{ type: 'button', action_id: 'a', text: { type: 'plain_text', text: 'a' }, value: 'v'.repeat(2001) }] }];
    const untyped = [{ text: 'no type' }];
    const duplicateIds = [{ type: 'divider', block_id: 'a' }, { type: 'divider', block_id: 'a' }];
    for (const blocks of [tooMany, tooManyButtons, longValue, untyped, duplicateIds]) {
      // apiCall: the typed method would not even compile some of these.
      await expect(client.apiCall('chat.postMessage', { channel: 'C0TRAIN', text: 'x', blocks })).rejects.toMatchObject({ data: { error: 'invalid_blocks' } });
    }
    expect(fake.messages()).toHaveLength(0);
  });

  it('answers the platform errors Slack would', async () => {
    await expect(client.chat.postMessage({ channel: 'C0NOPE', text: 'x' })).rejects.toMatchObject({ data: { error: 'channel_not_found' } });
    await expect(client.chat.postMessage({ channel: 'C0TRAIN', text: '' })).rejects.toMatchObject({ data: { error: 'no_text' } });
    await expect(client.chat.update({ channel: 'C0TRAIN', ts: '1.000000', text: 'x' })).rejects.toMatchObject({ data: { error: 'message_not_found' } });
    const posted = await client.chat.postMessage({ channel: 'C0TRAIN', text: 'x' });
    await expect(client.chat.update({ channel: 'C0TRAIN', ts: posted.ts ?? '', text: 'y'.repeat(4001) })).rejects.toMatchObject({ data: { error: 'msg_too_long' } });
    const human = fake.seedMessage({ channel: 'C0TRAIN', text: 'hi', user: 'U0DS1' });
    await expect(client.chat.update({ channel: 'C0TRAIN', ts: human.ts, text: 'edited' })).rejects.toMatchObject({ data: { error: 'cant_update_message' } });
    await expect(client.apiCall('chat.nope')).rejects.toMatchObject({ data: { error: 'unknown_method' } });
    expect(fake.message('C0TRAIN', posted.ts ?? '')?.edits).toBe(0);
  });

  it('refuses unknown tokens with invalid_auth and missing ones with not_authed', async () => {
    await expect(clientFor(fake, 'xoxb-wrong').chat.postMessage({ channel: 'C0TRAIN', text: 'x' })).rejects.toMatchObject({
      code: ErrorCode.PlatformError,
      data: { error: 'invalid_auth' },
    });
    // WebClient sends no Authorization header for an empty token.
    await expect(clientFor(fake, '').auth.test()).rejects.toMatchObject({ data: { error: 'not_authed' } });
    expect(fake.messages()).toHaveLength(0);
    expect(fake.calls().map((call) => call.token)).toEqual(['xoxb-wrong', undefined]);
  });

  it('rate limits chat.postMessage per channel with a 429 and Retry-After, and the limited post has no effect', async () => {
    for (const text of ['1', '2', '3']) await client.chat.postMessage({ channel: 'C0TRAIN', text });
    const error = await rejection(client.chat.postMessage({ channel: 'C0TRAIN', text: '4' }));
    expect(error).toBeInstanceOf(WebAPIRateLimitedError);
    expect(error instanceof WebAPIRateLimitedError && error.retryAfter).toBe(1);

    // Another channel has its own allowance.
    await client.chat.postMessage({ channel: 'C0OTHER', text: 'elsewhere' });
    expect(fake.messages('C0TRAIN').map((m) => m.text)).toEqual(['1', '2', '3']);
    expect(fake.rateLimitedCount('chat.postMessage')).toBe(1);
    expect(fake.calls('chat.postMessage')[3]).toMatchObject({ status: 429, retryAfter: 1, response: { ok: false, error: 'ratelimited' } });

    // The window rolls: once the first posts age out, posting works again.
    await new Promise((resolve) => setTimeout(resolve, 320));
    await client.chat.postMessage({ channel: 'C0TRAIN', text: '4' });
    expect(fake.messages('C0TRAIN').map((m) => m.text)).toEqual(['1', '2', '3', '4']);
  });

  it('rate limits chat.update across the workspace (Tier 3, shortened here)', async () => {
    const posted = await client.chat.postMessage({ channel: 'C0TRAIN', text: 'v0' });
    for (let i = 1; i <= 5; i++) await client.chat.update({ channel: 'C0TRAIN', ts: posted.ts ?? '', text: `v${i}` });
    await expect(client.chat.update({ channel: 'C0TRAIN', ts: posted.ts ?? '', text: 'v6' })).rejects.toBeInstanceOf(WebAPIRateLimitedError);
    expect(fake.message('C0TRAIN', posted.ts ?? '')).toMatchObject({ text: 'v5', edits: 5 });
  });

  it('Retry-After follows the window: a 60 s Tier 2 window asks for the remaining whole seconds', async () => {
    fake.setLimits({ methods: { 'usergroups.users.list': { limit: 1, windowMs: 60_000 } } });
    try {
      await client.usergroups.users.list({ usergroup: 'S0DS' });
      const error = await rejection(client.usergroups.users.list({ usergroup: 'S0DS' }));
      expect(error).toBeInstanceOf(WebAPIRateLimitedError);
      expect(error instanceof WebAPIRateLimitedError && error.retryAfter).toBeGreaterThanOrEqual(59);
      expect(error instanceof WebAPIRateLimitedError && error.retryAfter).toBeLessThanOrEqual(60);
    } finally {
      fake.setLimits(SHORT_LIMITS);
    }
  });

  it('failNext answers with an HTTP status or a platform error, changes nothing, then recovers', async () => {
    fake.failNext('chat.postMessage', { status: 500 });
    const http = await rejection(client.chat.postMessage({ channel: 'C0TRAIN', text: 'x' }));
    expect(http).toBeInstanceOf(WebAPIHTTPError);
    expect(http instanceof WebAPIHTTPError && http.statusCode).toBe(500);

    fake.failNext('chat.postMessage', { status: 429, retryAfter: 7 });
    const limited = await rejection(client.chat.postMessage({ channel: 'C0TRAIN', text: 'x' }));
    expect(limited instanceof WebAPIRateLimitedError && limited.retryAfter).toBe(7);

    fake.failNext('*', { error: 'internal_error', count: 2 });
    await expect(client.auth.test()).rejects.toMatchObject({ data: { error: 'internal_error' } });
    await expect(client.chat.postMessage({ channel: 'C0TRAIN', text: 'x' })).rejects.toMatchObject({ data: { error: 'internal_error' } });

    expect(fake.messages()).toHaveLength(0);
    expect(fake.calls().every((call) => call.injected)).toBe(true);
    await client.chat.postMessage({ channel: 'C0TRAIN', text: 'x' });
    expect(fake.messages()).toHaveLength(1);
  });

  it('lists user group members and refuses unknown groups', async () => {
    await expect(client.usergroups.users.list({ usergroup: 'S0DS' })).resolves.toMatchObject({ users: ['U0DS1', 'U0DS2'] });
    fake.setUsergroup('S0DS', ['U0DS3']);
    await expect(client.usergroups.users.list({ usergroup: 'S0DS' })).resolves.toMatchObject({ users: ['U0DS3'] });
    await expect(client.usergroups.users.list({ usergroup: 'S0NOPE' })).rejects.toMatchObject({ data: { error: 'no_such_subteam' } });
  });

  it('opens a modal once per trigger and updates it by id', async () => {
    const view = { type: 'modal' as const, callback_id: 'train', title: { type: 'plain_text' as const, text: 'Train' }, blocks: [] };
    const trigger = fake.triggerId('U0DS1');
    const opened = await client.views.open({ trigger_id: trigger, view });
    const id = opened.view?.id ?? '';
    expect(id).toMatch(/^V/);
    await expect(client.views.open({ trigger_id: trigger, view })).rejects.toMatchObject({ data: { error: 'exchanged_trigger_id' } });
    // A trigger_id Slack never issued.
    await expect(client.views.open({ trigger_id: '1.2.abc', view })).rejects.toMatchObject({ data: { error: 'invalid_arguments' } });
    await client.views.update({ view_id: id, view: { ...view, title: { type: 'plain_text', text: 'Training…' } } });
    expect(fake.views()).toMatchObject([{ id, updates: 1, view: { title: { text: 'Training…' } } }]);
  });

  it('records ephemeral messages apart from the channel', async () => {
    const result = await client.chat.postEphemeral({ channel: 'C0TRAIN', user: 'U0DS1', text: 'only you' });
    expect(result.message_ts).toMatch(/^\d+\.\d{6}$/);
    expect(fake.ephemerals('C0TRAIN')).toMatchObject([{ user: 'U0DS1', text: 'only you' }]);
    expect(fake.messages()).toHaveLength(0);
  });

  it('accepts JSON bodies with a Bearer token', async () => {
    const response = await fetch(`${fake.url}chat.postMessage`, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ channel: 'C0OTHER', text: 'json', blocks: [{ type: 'divider' }] }),
    });
    expect(await response.json()).toMatchObject({ ok: true, channel: 'C0OTHER' });
    expect(fake.messages('C0OTHER')).toMatchObject([{ text: 'json', blocks: [{ type: 'divider' }] }]);
  });

  it('gives unique, increasing ts values even for many posts in one millisecond', async () => {
    const unlimited = await FakeSlackApi.start({ limits: false, now: () => 1_700_000_000_000 });
    try {
      const fast = clientFor(unlimited, TOKEN);
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => fast.chat.postMessage({ channel: 'C1', text: String(i) })));
      const stamps = unlimited.messages('C1').map((m) => m.ts);
      expect(new Set(results.map((r) => r.ts)).size).toBe(50);
      expect(stamps[0]).toBe('1700000000.000000');
      expect(stamps.at(-1)).toBe('1700000000.000049');
      expect([...stamps].sort()).toEqual(stamps);
    } finally {
      await unlimited.stop();
    }
  });

  it('waitFor resolves with the first match and explains a timeout', async () => {
    const pending = fake.waitFor(() => fake.messages('C0TRAIN').find((m) => m.text.includes('done')), 2_000, 'done message');
    await client.chat.postMessage({ channel: 'C0TRAIN', text: 'not yet' });
    await client.chat.postMessage({ channel: 'C0OTHER', text: 'done' });
    setTimeout(() => void client.chat.postMessage({ channel: 'C0TRAIN', text: 'all done' }), 20);
    await expect(pending).resolves.toMatchObject({ text: 'all done' });

    await expect(fake.waitFor(() => fake.messages('C0NOPE').length > 0, 50, 'a message in C0NOPE')).rejects.toThrow(
      /timed out after 50 ms waiting for a message in C0NOPE[\s\S]*chat\.postMessage C0TRAIN -> 200 ok/,
    );
  });
});

describe('FakeSlackApi views, direct messages and deliveries to the app', () => {
  let fake: FakeSlackApi;
  let client: WebClient;
  let clock = 1_800_000_000_000;
  let app: Server;
  const received: { headers: Record<string, string | string[] | undefined>; body: string }[] = [];
  let answer: (body: string) => unknown = () => undefined;
  const SECRET = 'app-signing-secret';

  beforeAll(async () => {
    fake = await FakeSlackApi.start({ now: () => clock, users: { U0DS1: {}, U0LEAD1: {}, U0GONE: { deleted: true } } });
    client = clientFor(fake, TOKEN);
    app = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        received.push({ headers: req.headers, body });
        const reply = answer(body);
        res.writeHead(200, { 'content-type': 'application/json' }).end(reply === undefined ? '' : JSON.stringify(reply));
      });
    });
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    fake.connectApp({ transport: 'http', requestUrl: `http://127.0.0.1:${(app.address() as AddressInfo).port}/slack/events`, signingSecret: SECRET });
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => app.close(() => resolve()));
    await fake.stop();
  });

  const lastPayload = () => {
    const last = received.at(-1);
    if (!last) throw new Error('nothing delivered');
    const signature = verifySlackSignature(SECRET, last.body, String(last.headers['x-slack-request-timestamp']), String(last.headers['x-slack-signature']), Math.floor(Date.now() / 1000));
    expect(signature).toEqual({ ok: true });
    const form = new URLSearchParams(last.body).get('payload');
    return JSON.parse(form ?? last.body) as Record<string, unknown>;
  };

  it('refuses a trigger_id older than 3 seconds with expired_trigger_id, as Slack does', async () => {
    const view = { type: 'modal' as const, title: { type: 'plain_text' as const, text: 'Train' }, blocks: [] };
    const trigger = fake.triggerId('U0DS1');
    clock += 3_001;
    await expect(client.views.open({ trigger_id: trigger, view })).rejects.toMatchObject({ data: { error: 'expired_trigger_id' } });
    expect(fake.views()).toEqual([]);
  });

  it('publishes a Home tab per user, replaced whole, and refuses a stale hash and a modal', async () => {
    const home = { type: 'home' as const, blocks: [{ type: 'section', text: { type: 'mrkdwn', text: 'hello' } }] };
    const first = await client.views.publish({ user_id: 'U0LEAD1', view: home });
    await client.views.publish({ user_id: 'U0LEAD1', view: { ...home, blocks: [{ type: 'divider' }] } });
    expect(fake.home('U0LEAD1')).toMatchObject({ user: 'U0LEAD1', updates: 1, view: { blocks: [{ type: 'divider' }] } });
    await expect(client.views.publish({ user_id: 'U0LEAD1', hash: first.view?.hash ?? '', view: home })).rejects.toMatchObject({ data: { error: 'hash_conflict' } });
    await expect(client.views.publish({ user_id: 'U0LEAD1', view: { ...home, type: 'modal' } as never })).rejects.toMatchObject({ data: { error: 'invalid_arguments' } });
    await expect(client.views.publish({ user_id: 'U0NOBODY', view: home })).rejects.toMatchObject({ data: { error: 'user_not_found' } });
  });

  it('opens one direct message channel per user and posts there', async () => {
    const opened = await client.conversations.open({ users: 'U0DS1' });
    expect(opened.channel?.id).toBe('D0DS1');
    expect((await client.conversations.open({ users: 'U0DS1' })).channel?.id).toBe('D0DS1');
    await client.chat.postMessage({ channel: 'D0DS1', text: 'your run ended' });
    expect(fake.directMessages('U0DS1').map((message) => message.text)).toEqual(['your run ended']);
    await expect(client.conversations.open({ users: 'U0GONE' })).rejects.toMatchObject({ data: { error: 'user_disabled' } });
    await expect(client.conversations.open({ users: 'U0NOBODY' })).rejects.toMatchObject({ data: { error: 'user_not_found' } });
  });

  it('delivers app_home_opened and shortcuts signed, and applies view_submission answers to the modal', async () => {
    await fake.app.openHome('U0LEAD1');
    expect(lastPayload()).toMatchObject({ type: 'event_callback', event: { type: 'app_home_opened', user: 'U0LEAD1', tab: 'home', view: { type: 'home' } } });
    expect(received.at(-1)?.headers['content-type']).toBe('application/json');

    await fake.app.shortcut('U0DS1', 'shortcut.train');
    const shortcut = lastPayload();
    expect(shortcut).toMatchObject({ type: 'shortcut', callback_id: 'shortcut.train', user: { id: 'U0DS1' } });
    expect(received.at(-1)?.headers['content-type']).toBe('application/x-www-form-urlencoded');

    const modal = {
      type: 'modal' as const,
      callback_id: 'form',
      title: { type: 'plain_text' as const, text: 'Form' },
      submit: { type: 'plain_text' as const, text: 'Go' },
      blocks: [
        { type: 'input', block_id: 'target', label: { type: 'plain_text', text: 'Target' }, element: { type: 'static_select', action_id: 'target', options: [{ text: { type: 'plain_text', text: 'fraud' }, value: 'fraud' }] } },
        { type: 'input', block_id: 'version', label: { type: 'plain_text', text: 'Version' }, element: { type: 'external_select', action_id: 'version', min_query_length: 0 } },
      ],
    };
    const { view } = await client.views.open({ trigger_id: String(shortcut.trigger_id), view: modal });
    const id = view?.id ?? '';

    answer = () => ({ options: [{ text: { type: 'plain_text', text: 'v2' }, value: '2' }] });
    const suggestion = await fake.app.suggest(id, 'U0DS1', 'version', '', { target: 'fraud' });
    expect(suggestion.options).toEqual([{ text: { type: 'plain_text', text: 'v2' }, value: '2' }]);
    expect(lastPayload()).toMatchObject({ type: 'block_suggestion', action_id: 'version', block_id: 'version', value: '', view: { id, state: { values: { target: { target: { selected_option: { value: 'fraud' } } } } } } });
    answer = () => ({ options: [{ text: { type: 'plain_text', text: 'x'.repeat(80) }, value: '2' }] });
    await expect(fake.app.suggest(id, 'U0DS1', 'version')).rejects.toThrow(/invalid options/);

    answer = () => ({ response_action: 'errors', errors: { version: 'no such version' } });
    await fake.app.submit(id, 'U0DS1', { target: 'fraud', version: { value: '9', label: 'v9' } });
    expect(lastPayload()).toMatchObject({ type: 'view_submission', view: { callback_id: 'form', state: { values: { version: { version: { type: 'external_select', selected_option: { value: '9' } } } } } } });
    expect(fake.views()).toMatchObject([{ id, errors: { version: 'no such version' } }]);

    answer = () => ({ response_action: 'update', view: { ...modal, blocks: [{ type: 'section', text: { type: 'mrkdwn', text: 'done' } }] } });
    await fake.app.submit(id, 'U0DS1', { target: 'fraud', version: { value: '2', label: 'v2' } });
    expect(fake.views()).toMatchObject([{ id, errors: {}, view: { blocks: [{ type: 'section' }] } }]);
    answer = () => undefined;
    await fake.app.submit(id, 'U0DS1');
    expect(fake.views()).toEqual([]);
  });
});
