import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SLACK_BODY_LIMIT } from '../../src/http/slack-receiver.js';
import { eventually, SIGNING_SECRET } from '../helpers/bot-harness.js';
import { anyText, wellFormed } from '../helpers/arbitraries.js';
import { blockActionsBody, encodeInteractionPayload, FORM_CONTENT_TYPE, postSigned, signSlackBody, slashCommandBody, type SignedResponse } from '../helpers/slack-request.js';
import { recordReliability } from './reliability.js';
import { startFaultStack, type FaultStack } from './stack.js';

/**
 * Hostile requests on /slack/events against the real bot: each batch is refused with the documented status,
 * no listener runs for any of them (no reply reaches its response_url, no OCI run is started), and afterwards
 * the process still answers /healthz and a valid command still works.
 */
describe('hostile Slack requests', () => {
  let stack: FaultStack;
  let url: string;
  let tag = 0;
  const hostileUrls: string[] = [];

  /** A `train` command whose listener would post to its response_url and start an OCI build run. */
  const trainBody = () => {
    const responseUrl = stack.hooks.url();
    hostileUrls.push(responseUrl);
    return slashCommandBody({ text: `train churn-model TAG=t${++tag}`, responseUrl });
  };
  const buildRunPosts = () => stack.oci.fake.requests().filter((request) => request.method === 'POST' && request.path.startsWith('/20210630/buildRuns')).length;
  const nowSeconds = () => Math.floor(Date.now() / 1000);

  /** Sends `requests` eight at a time (a loaded 2-core machine), keeping their order in the result. */
  const inBatches = async <T>(items: readonly T[], send: (item: T) => Promise<SignedResponse>): Promise<SignedResponse[]> => {
    const results: SignedResponse[] = [];
    for (let start = 0; start < items.length; start += 8) results.push(...(await Promise.all(items.slice(start, start + 8).map(send))));
    return results;
  };
  const statusCounts = (responses: readonly SignedResponse[]) => {
    const counts = new Map<number, number>();
    for (const response of responses) counts.set(response.status, (counts.get(response.status) ?? 0) + 1);
    return [...counts].map(([status, count]) => `${status}×${count}`).join(', ');
  };

  /** After a batch: alive, a valid command still starts a run, and no hostile request's listener ran. */
  const afterBatch = async (runsBefore: number): Promise<string> => {
    expect(await stack.healthy()).toBe(true);
    const control = await stack.command(`train churn-model TAG=control${++tag}`);
    expect(control.status).toBe(200);
    expect(String((await stack.hooks.waitFor(control.responseUrl, 15_000)).text)).toContain('queued training');
    await eventually(() => buildRunPosts() === runsBefore + 1, 15_000, 'the control build run');
    const replied = hostileUrls.filter((hostile) => stack.hooks.replies(hostile).length > 0).length;
    expect(replied).toBe(0);
    expect(buildRunPosts()).toBe(runsBefore + 1);
    return `no listener ran (0 replies, ${buildRunPosts() - runsBefore - 1} extra runs); /healthz 200; a valid command after the batch started 1 run`;
  };

  beforeAll(async () => {
    stack = await startFaultStack();
    url = `${stack.bot.url}/slack/events`;
  });

  afterAll(async () => {
    await stack.stop();
  });

  test('timestamps outside ±5 minutes, up to a day either way, are refused with 401', async (ctx) => {
    const runs = buildRunPosts();
    // 10 s outside the window: a request signed at second N may be checked at N + 1 or later on a loaded
    // machine, which would bring a future timestamp 301 s ahead back inside.
    const offsets = [310, -310, 311, -311, 3600, -3600, 86_400, -86_400, ...fc.sample(fc.integer({ min: 310, max: 86_400 }).chain((abs) => fc.constantFrom(abs, -abs)), 192)];
    const responses = await inBatches(offsets, (offset) => postSigned(url, SIGNING_SECRET, trainBody(), { timestampSeconds: nowSeconds() + offset }));
    const refused = responses.filter((response) => response.status === 401 && (response.json as { error?: string }).error === 'invalid signature').length;
    expect(refused, statusCounts(responses)).toBe(offsets.length);
    // The window itself: ±290 s (10 s of slack for a loaded machine) is accepted.
    const inside = await inBatches([-290, -120, 0, 120, 290], (offset) => postSigned(url, SIGNING_SECRET, slashCommandBody({ text: 'help' }), { timestampSeconds: nowSeconds() + offset }));
    expect(inside.map((response) => response.status)).toEqual([200, 200, 200, 200, 200]);
    const after = await afterBatch(runs);
    recordReliability(ctx, { area: 'Slack requests', fault: 'timestamp 310 s to 1 day stale or in the future', cases: offsets.length, outcome: `401 for ${refused} of ${offsets.length}; ±290 s accepted 5 of 5; ${after}` });
  });

  test('a signature with any one bit flipped, and the signed body cut at every length, are refused with 401', async (ctx) => {
    const runs = buildRunPosts();
    const body = trainBody();
    const signed = signSlackBody(SIGNING_SECRET, body);
    const hex = signed['x-slack-signature'].slice(3);
    const flipped = Array.from({ length: 256 }, (_, bit) => {
      const bytes = Buffer.from(hex, 'hex');
      bytes[bit >> 3] = (bytes[bit >> 3] ?? 0) ^ (1 << (bit & 7));
      return `v0=${bytes.toString('hex')}`;
    });
    const timestampSeconds = Number(signed['x-slack-request-timestamp']);
    const flips = await inBatches(flipped, (signature) => postSigned(url, SIGNING_SECRET, body, { timestampSeconds, signature }));
    const cuts = Array.from({ length: body.length }, (_, length) => body.slice(0, length));
    const truncated = await inBatches(cuts, (cut) => postSigned(url, SIGNING_SECRET, cut, { timestampSeconds, signature: signed['x-slack-signature'] }));
    // The right signature on the same body at another timestamp (the timestamp is signed too).
    const shifted = await inBatches([-1, 1, -60, 60], (delta) => postSigned(url, SIGNING_SECRET, body, { timestampSeconds: timestampSeconds + delta, signature: signed['x-slack-signature'] }));
    const all = [...flips, ...truncated, ...shifted];
    const refused = all.filter((response) => response.status === 401).length;
    expect(refused, statusCounts(all)).toBe(all.length);
    const after = await afterBatch(runs);
    recordReliability(ctx, { area: 'Slack requests', fault: 'signature with one bit flipped (every bit), body truncated at every length, signed timestamp shifted', cases: all.length, outcome: `401 for ${refused} of ${all.length}; ${after}` });
  });

  test('missing and malformed signature headers are refused with 401', async (ctx) => {
    const runs = buildRunPosts();
    const body = trainBody();
    const good = signSlackBody(SIGNING_SECRET, body);
    const variants: Record<string, string | undefined>[] = [
      { 'x-slack-signature': undefined },
      { 'x-slack-request-timestamp': undefined },
      { 'x-slack-signature': undefined, 'x-slack-request-timestamp': undefined },
      { 'x-slack-signature': good['x-slack-signature'].replace('v0=', 'v1=') },
      { 'x-slack-signature': good['x-slack-signature'].toUpperCase() },
      { 'x-slack-signature': good['x-slack-signature'].slice(3) },
      { 'x-slack-signature': `${good['x-slack-signature']}00` },
      { 'x-slack-signature': good['x-slack-signature'].slice(0, -2) },
      { 'x-slack-signature': `v0=${'0'.repeat(64)}` },
      { 'x-slack-signature': '' },
      { 'x-slack-request-timestamp': '' },
      { 'x-slack-request-timestamp': `${good['x-slack-request-timestamp']}.5` },
      { 'x-slack-request-timestamp': `-${good['x-slack-request-timestamp']}` },
      { 'x-slack-request-timestamp': `0x${Number(good['x-slack-request-timestamp']).toString(16)}` },
      { 'x-slack-request-timestamp': `${good['x-slack-request-timestamp']}000` },
      { 'x-slack-request-timestamp': '1e9' },
      { 'x-slack-request-timestamp': 'now' },
      ...fc.sample(anyText(80), 40).map((junk) => ({ 'x-slack-signature': encodeURIComponent(wellFormed(junk)) })),
    ];
    const responses = await inBatches(variants, async (variant) => {
      const headers: Record<string, string> = { ...good };
      for (const [name, value] of Object.entries(variant)) {
        if (value === undefined) delete headers[name];
        else headers[name] = value;
      }
      const response = await fetch(url, { method: 'POST', headers, body });
      return { status: response.status, text: await response.text(), ms: 0, headers: response.headers };
    });
    const refused = responses.filter((response) => response.status === 401).length;
    expect(refused, statusCounts(responses)).toBe(variants.length);
    const after = await afterBatch(runs);
    recordReliability(ctx, { area: 'Slack requests', fault: 'missing, empty, re-cased, v1=, lengthened or shortened, hex/float/negative timestamp, random signature headers', cases: variants.length, outcome: `401 for ${refused} of ${variants.length}; ${after}` });
  });

  test('bodies over 256 KiB are refused with 413 whether declared or streamed; one at the limit is read', async (ctx) => {
    const runs = buildRunPosts();
    const sizes = [SLACK_BODY_LIMIT + 1, SLACK_BODY_LIMIT + 1024, 2 * SLACK_BODY_LIMIT, 8 * 1024 * 1024];
    const declared = await inBatches(sizes, (size) => {
      const body = `${trainBody()}&pad=${'a'.repeat(size)}`.slice(0, size);
      return postSigned(url, SIGNING_SECRET, body);
    });
    // Streamed without Content-Length: the limit is enforced while reading.
    const streamed = await inBatches(sizes, async (size) => {
      const chunk = Buffer.alloc(64 * 1024, 'a');
      let sent = 0;
      const stream = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent >= size) controller.close();
          else {
            controller.enqueue(chunk.subarray(0, Math.min(chunk.length, size - sent)));
            sent += chunk.length;
          }
        },
      });
      const headers: Record<string, string> = { ...signSlackBody(SIGNING_SECRET, 'unused') };
      try {
        const response = await fetch(url, { method: 'POST', headers, body: stream, duplex: 'half' });
        return { status: response.status, text: await response.text(), ms: 0, headers: response.headers };
      } catch (error) {
        // The server may answer 413 and close before the whole stream is sent; fetch then reports the reset.
        return { status: -1, text: String(error), ms: 0, headers: new Headers() };
      }
    });
    const tooLarge = [...declared, ...streamed].filter((response) => response.status === 413).length;
    const resets = streamed.filter((response) => response.status === -1).length;
    expect(declared.every((response) => response.status === 413 && /over the \d+ byte limit/.test(response.text)), statusCounts(declared)).toBe(true);
    expect(streamed.every((response) => response.status === 413 || response.status === -1), statusCounts(streamed)).toBe(true);
    const atLimit = slashCommandBody({ text: 'help' });
    const exactly = await postSigned(url, SIGNING_SECRET, `${atLimit}&pad=${'b'.repeat(SLACK_BODY_LIMIT - atLimit.length - 5)}`);
    expect(exactly.status).toBe(200);
    const after = await afterBatch(runs);
    recordReliability(ctx, { area: 'Slack requests', fault: 'body 256 KiB + 1 B to 8 MiB, with and without Content-Length', cases: sizes.length * 2, outcome: `413 for ${tooLarge} of ${sizes.length * 2} (${resets} streamed uploads cut off by the server's 413 before finishing); a body of exactly 256 KiB answered 200; ${after}` });
  });

  test('validly signed but malformed form and JSON bodies are refused with 400 naming the problem', async (ctx) => {
    const runs = buildRunPosts();
    const fixed: [string, string][] = [
      ['payload=%7Bnot%20json', FORM_CONTENT_TYPE],
      ['payload=%5B1%2C2%5D', FORM_CONTENT_TYPE],
      ['payload=null', FORM_CONTENT_TYPE],
      ['payload=42', FORM_CONTENT_TYPE],
      ['payload=', FORM_CONTENT_TYPE],
      ['{"type":', 'application/json'],
      ['[{"type":"event_callback"}]', 'application/json'],
      ['null', 'application/json'],
      ['"text"', 'application/json'],
      ['', 'application/json'],
      [slashCommandBody({ text: 'help' }), 'text/plain'],
      [slashCommandBody({ text: 'help' }), 'multipart/form-data; boundary=x'],
      ['{"type":"url_verification","challenge":"c"}', 'application/xml'],
    ];
    const generated: [string, string][] = fc
      .sample(anyText(200).filter((text) => {
        try {
          const value: unknown = JSON.parse(text);
          return typeof value !== 'object' || value === null || Array.isArray(value);
        } catch {
          return true;
        }
      }), 120)
      .map((text, index) => (index % 2 === 0 ? [`payload=${encodeURIComponent(wellFormed(text))}`, FORM_CONTENT_TYPE] : [text, 'application/json']));
    const cases = [...fixed, ...generated];
    const responses = await inBatches(cases, ([body, contentType]) => postSigned(url, SIGNING_SECRET, body, { contentType }));
    const clear = responses.filter((response) => response.status === 400 && /JSON|content type/.test((response.json as { error?: string } | undefined)?.error ?? '')).length;
    expect(clear, statusCounts(responses)).toBe(cases.length);
    const after = await afterBatch(runs);
    recordReliability(ctx, { area: 'Slack requests', fault: 'signed malformed JSON, non-object JSON, bad `payload` form field, unsupported content types', cases: cases.length, outcome: `400 with the problem named for ${clear} of ${cases.length}; ${after}` });
  });

  test('validly signed payloads of unknown types get a prompt answer and run no listener', async (ctx) => {
    const runs = buildRunPosts();
    const payloads: { body: string; contentType?: string }[] = [
      { body: encodeInteractionPayload({ type: 'no_such_type', trigger_id: '1.2.3' }) },
      { body: encodeInteractionPayload({}) },
      { body: encodeInteractionPayload({ type: 'shortcut', callback_id: 'unknown', trigger_id: '1.2.4', user: { id: 'U0DS1' }, team: { id: 'T0FAKE' } }) },
      { body: encodeInteractionPayload({ type: 'message_action', callback_id: 'unknown', trigger_id: '1.2.5', user: { id: 'U0DS1' }, team: { id: 'T0FAKE' }, channel: { id: 'C0TRAIN' }, message: { ts: '1.1' } }) },
      { body: blockActionsBody({ actionId: 'no.such.action', messageTs: '1700000000.000100' }) },
      { body: blockActionsBody({ actionId: 'approval.approve', messageTs: '1700000000.000100', value: '{"broken' }) },
      { body: blockActionsBody({ actionId: 'approval.approve', messageTs: '1700000000.000100', value: 'no-such-approval' }) },
      { body: slashCommandBody({ text: 'help', command: '/other' }) },
      { body: slashCommandBody({ text: 'train churn-model', userId: 'not-a-user' }) },
      { body: JSON.stringify({ type: 'event_callback', event_id: 'Ev0UNKNOWN1', team_id: 'T0FAKE', api_app_id: 'A0MLOPS', event: { type: 'no_such_event' } }), contentType: 'application/json' },
      { body: JSON.stringify({ type: 'app_rate_limited', team_id: 'T0FAKE', minute_rate_limited: 1 }), contentType: 'application/json' },
      { body: JSON.stringify({ type: 'something_else' }), contentType: 'application/json' },
    ];
    const responses = await inBatches(payloads, ({ body, contentType }) => postSigned(url, SIGNING_SECRET, body, { ...(contentType ? { contentType } : {}) }));
    const prompt = responses.filter((response) => response.status < 500).length;
    expect(prompt, responses.map((response) => `${response.status} ${response.text.slice(0, 80)}`).join(' | ')).toBe(payloads.length);
    expect(responses.some((response) => response.text.includes('queued training'))).toBe(false);
    const after = await afterBatch(runs);
    recordReliability(ctx, { area: 'Slack requests', fault: 'signed payloads of unknown type, unknown action_id/callback_id, broken button values, foreign command, bad user_id', cases: payloads.length, outcome: `answered below 500 for ${prompt} of ${payloads.length} (${statusCounts(responses)}); ${after}` });
  });

  test('a replay of each valid command inside the window runs its listener once', async (ctx) => {
    const runs = buildRunPosts();
    const originals = Array.from({ length: 12 }, (_, index) => {
      const responseUrl = stack.hooks.url();
      const body = slashCommandBody({ text: `train churn-model TAG=replayed${index}`, responseUrl });
      return { body, responseUrl, headers: signSlackBody(SIGNING_SECRET, body) };
    });
    const send = (original: (typeof originals)[number], retry?: number) =>
      postSigned(url, SIGNING_SECRET, original.body, {
        timestampSeconds: Number(original.headers['x-slack-request-timestamp']),
        ...(retry === undefined ? {} : { headers: { 'x-slack-retry-num': String(retry), 'x-slack-retry-reason': 'http_timeout' } }),
      });
    const first = await inBatches(originals, (original) => send(original));
    expect(first.every((response) => response.status === 200)).toBe(true);
    await eventually(() => originals.every((original) => stack.hooks.replies(original.responseUrl).length >= 1), 15_000, "the originals' replies");
    const replays = await inBatches(originals.flatMap((original) => [1, 2, 3].map((retry) => ({ original, retry }))), ({ original, retry }) => send(original, retry));
    await eventually(() => buildRunPosts() === runs + originals.length, 20_000, 'one run per original');
    // A control command after the replays: once its reply and run are in, any replay's listener has had its turn.
    const control = await stack.command(`train churn-model TAG=control${++tag}`);
    expect(String((await stack.hooks.waitFor(control.responseUrl, 15_000)).text)).toContain('queued training');
    await eventually(() => buildRunPosts() === runs + originals.length + 1, 15_000, 'the control build run');
    const replies = originals.map((original) => stack.hooks.replies(original.responseUrl).length);
    const extraReplies = replies.reduce((sum, count) => sum + count - 1, 0);
    expect(replies.every((count) => count === 1), `replies per original: ${replies.join(',')}`).toBe(true);
    expect(await stack.healthy()).toBe(true);
    recordReliability(ctx, {
      area: 'Slack requests',
      fault: 'each of 12 valid commands replayed 3 times inside the 5 minute window (same signature and trigger_id, X-Slack-Retry-Num 1-3)',
      cases: replays.length,
      outcome: `replays answered ${statusCounts(replays)}; listener replies ${extraReplies} beyond the ${originals.length} originals; build runs ${buildRunPosts() - runs - 1} for ${originals.length} originals; control command worked`,
    });
  });
});

