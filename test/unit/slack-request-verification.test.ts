import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseSlackBody, verifySlackSignature } from '../../src/http/slack-receiver.js';

// Slack's worked example (reference/slack.md §1); the clock is frozen at its timestamp.
const SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const TIMESTAMP = '1531420618';
const NOW = 1531420618;
const BODY =
  'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
const SIGNATURE = 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503';

const sign = (body: string, timestamp: string, secret = SECRET): string =>
  `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`;

describe('verifySlackSignature', () => {
  it('accepts Slack’s known-answer vector', () => {
    expect(BODY).toHaveLength(362);
    expect(verifySlackSignature(SECRET, BODY, TIMESTAMP, SIGNATURE, NOW)).toEqual({ ok: true });
  });

  it('accepts a request up to exactly five minutes old or ahead', () => {
    expect(verifySlackSignature(SECRET, BODY, TIMESTAMP, SIGNATURE, NOW + 300)).toEqual({ ok: true });
    expect(verifySlackSignature(SECRET, BODY, TIMESTAMP, SIGNATURE, NOW - 300)).toEqual({ ok: true });
  });

  it('refuses a stale timestamp (more than 300 s old), even with a valid signature', () => {
    expect(verifySlackSignature(SECRET, BODY, TIMESTAMP, SIGNATURE, NOW + 301)).toEqual({ ok: false, reason: 'timestamp outside the 5 minute window' });
  });

  it('refuses a timestamp more than 300 s in the future, unlike Bolt', () => {
    expect(verifySlackSignature(SECRET, BODY, TIMESTAMP, SIGNATURE, NOW - 301)).toEqual({ ok: false, reason: 'timestamp outside the 5 minute window' });
    const future = String(NOW + 3600);
    expect(verifySlackSignature(SECRET, BODY, future, sign(BODY, future), NOW).ok).toBe(false);
  });

  it('refuses a wrong signature, a changed body, another secret or a replayed signature with a new timestamp', () => {
    const mismatch = { ok: false, reason: 'signature mismatch' };
    expect(verifySlackSignature(SECRET, `${BODY}&x=1`, TIMESTAMP, SIGNATURE, NOW)).toEqual(mismatch);
    expect(verifySlackSignature('another-secret', BODY, TIMESTAMP, SIGNATURE, NOW)).toEqual(mismatch);
    expect(verifySlackSignature(SECRET, BODY, String(NOW + 1), SIGNATURE, NOW)).toEqual(mismatch);
    expect(verifySlackSignature(SECRET, BODY, TIMESTAMP, `v0=${'0'.repeat(64)}`, NOW)).toEqual(mismatch);
  });

  it('accepts a request signed with the same algorithm over any body', () => {
    const body = JSON.stringify({ type: 'event_callback', event_id: 'Ev1', text: 'ünïcødé <!channel>' });
    expect(verifySlackSignature(SECRET, body, TIMESTAMP, sign(body, TIMESTAMP), NOW)).toEqual({ ok: true });
  });

  it.each([
    [undefined, SIGNATURE, 'missing signature headers'],
    [TIMESTAMP, undefined, 'missing signature headers'],
    ['', SIGNATURE, 'missing signature headers'],
    ['1531420618.5', SIGNATURE, 'malformed timestamp'],
    ['-1531420618', SIGNATURE, 'malformed timestamp'],
    [' 1531420618', SIGNATURE, 'malformed timestamp'],
    ['1'.repeat(13), SIGNATURE, 'malformed timestamp'],
    ['abc', SIGNATURE, 'malformed timestamp'],
    [TIMESTAMP, SIGNATURE.replace('v0=', 'v1='), 'malformed signature'],
    [TIMESTAMP, SIGNATURE.slice(0, -2), 'malformed signature'],
    [TIMESTAMP, SIGNATURE.toUpperCase().replace('V0=', 'v0='), 'malformed signature'],
    [TIMESTAMP, `${SIGNATURE},${SIGNATURE}`, 'malformed signature'],
    [TIMESTAMP, 'a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503', 'malformed signature'],
  ])('refuses timestamp %j with signature %j: %s', (timestamp, signature, reason) => {
    expect(verifySlackSignature(SECRET, BODY, timestamp, signature, NOW)).toEqual({ ok: false, reason });
  });
});

describe('parseSlackBody', () => {
  it('reads a slash command form', () => {
    const parsed = parseSlackBody(BODY, 'application/x-www-form-urlencoded');
    expect(parsed).toMatchObject({ ok: true, body: { command: '/webhook-collect', user_id: 'U2CERLKJA', text: '', team_id: 'T1DC2JH3J' } });
    if (parsed.ok) expect(parsed.body.response_url).toBe('https://hooks.slack.com/commands/T1DC2JH3J/397700885554/96rGlfmibIGlgcZRskXaIFfN');
  });

  it('ignores a charset parameter and case in the content type', () => {
    expect(parseSlackBody('command=%2Fmlops&text=help', 'Application/X-WWW-Form-Urlencoded; charset=utf-8')).toEqual({ ok: true, body: { command: '/mlops', text: 'help' } });
  });

  it('reads the JSON payload field of an interactivity form', () => {
    const payload = { type: 'block_actions', user: { id: 'U0LEAD1' }, actions: [{ action_id: 'run.retry', value: '{"run":"jobRun:x"}' }] };
    const form = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
    expect(parseSlackBody(form, 'application/x-www-form-urlencoded')).toEqual({ ok: true, body: payload });
  });

  it('refuses an interactivity payload that is not a JSON object', () => {
    expect(parseSlackBody('payload=%7Bnot-json', 'application/x-www-form-urlencoded')).toEqual({ ok: false, error: 'payload is not valid JSON' });
    expect(parseSlackBody('payload=%5B1%2C2%5D', 'application/x-www-form-urlencoded')).toEqual({ ok: false, error: 'payload is not a JSON object' });
    expect(parseSlackBody('payload=null', 'application/x-www-form-urlencoded')).toEqual({ ok: false, error: 'payload is not a JSON object' });
  });

  it('keeps a __proto__ key as a plain field instead of letting it set the prototype', () => {
    const json = parseSlackBody('{"__proto__":{"polluted":1},"type":"block_actions"}', 'application/json');
    if (!json.ok) throw new Error(json.error);
    expect(Object.keys(json.body)).toEqual(['__proto__', 'type']);
    expect(Object.getPrototypeOf(json.body)).toBe(Object.prototype);
    expect((json.body as { polluted?: unknown }).polluted).toBeUndefined();
    const form = parseSlackBody(`payload=${encodeURIComponent('{"__proto__":{"polluted":1}}')}`, 'application/x-www-form-urlencoded');
    if (!form.ok) throw new Error(form.error);
    expect((form.body as { polluted?: unknown }).polluted).toBeUndefined();
  });

  it('reads an Events API JSON body', () => {
    const body = { type: 'url_verification', challenge: '3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P', token: 'x' };
    expect(parseSlackBody(JSON.stringify(body), 'application/json')).toEqual({ ok: true, body });
  });

  it('refuses JSON that is invalid or not an object', () => {
    expect(parseSlackBody('{"type":', 'application/json')).toEqual({ ok: false, error: 'body is not valid JSON' });
    expect(parseSlackBody('[]', 'application/json')).toEqual({ ok: false, error: 'body is not a JSON object' });
    expect(parseSlackBody('"text"', 'application/json')).toEqual({ ok: false, error: 'body is not a JSON object' });
  });

  it('refuses an unsupported or missing content type', () => {
    expect(parseSlackBody('command=/mlops', 'text/plain')).toEqual({ ok: false, error: 'unsupported content type text/plain' });
    expect(parseSlackBody('command=/mlops', undefined)).toEqual({ ok: false, error: 'unsupported content type (none)' });
    expect(parseSlackBody('{}', 'multipart/form-data; boundary=x')).toEqual({ ok: false, error: 'unsupported content type multipart/form-data' });
  });

  it('keeps __proto__ form fields as plain data without polluting prototypes', () => {
    const parsed = parseSlackBody('__proto__=polluted&constructor=x&text=hi', 'application/x-www-form-urlencoded');
    expect(parsed.ok).toBe(true);
    if (parsed.ok) {
      expect(Object.getPrototypeOf(parsed.body)).toBe(Object.prototype);
      expect(parsed.body.text).toBe('hi');
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const json = parseSlackBody('{"__proto__":{"polluted":"yes"},"type":"event_callback"}', 'application/json');
    expect(json).toMatchObject({ ok: true, body: { type: 'event_callback' } });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
