import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { parseSlackBody, verifySlackSignature } from '../../src/http/slack-receiver.js';
import { anyText, wellFormed } from '../helpers/arbitraries.js';
import { blockActionsPayload, encodeInteractionPayload, FORM_CONTENT_TYPE, signSlackBody } from '../helpers/slack-request.js';
import { recordReliability } from './reliability.js';

const RUNS = 400;
const SECRET = 'property-secret';
const NOW = 1_800_000_000;

/** JSON values without prototype-sensitive keys, for bodies that must come back equal. */
const jsonObject = fc.dictionary(fc.string({ maxLength: 8 }).filter((key) => key !== '__proto__'), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 6 });

describe('Slack request parsing (property-based)', () => {
  test('verifySlackSignature accepts exactly a correct v0 HMAC inside ±300 s and never throws', (ctx) => {
    let cases = 0;
    fc.assert(
      fc.property(anyText(200), fc.integer({ min: -300, max: 300 }), (body, skew) => {
        cases++;
        const headers = signSlackBody(SECRET, body, NOW + skew);
        expect(verifySlackSignature(SECRET, body, headers['x-slack-request-timestamp'], headers['x-slack-signature'], NOW)).toEqual({ ok: true });
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(anyText(200), fc.integer({ min: 301, max: 10 ** 9 }), fc.boolean(), (body, skew, future) => {
        cases++;
        const headers = signSlackBody(SECRET, body, NOW + (future ? skew : -skew));
        expect(verifySlackSignature(SECRET, body, headers['x-slack-request-timestamp'], headers['x-slack-signature'], NOW)).toEqual({ ok: false, reason: 'timestamp outside the 5 minute window' });
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(anyText(100), anyText(100), fc.option(anyText(30), { nil: undefined }), fc.option(anyText(80), { nil: undefined }), (body, other, timestamp, signature) => {
        cases++;
        const result = verifySlackSignature(SECRET, body, timestamp, signature, NOW);
        expect(result.ok ? 'ok' : result.reason).toMatch(/^(missing signature headers|malformed timestamp|timestamp outside the 5 minute window|malformed signature|signature mismatch)$/);
        expect(result.ok).toBe(false);
        // A signature for another body, or with another secret, never verifies.
        const elsewhere = `v0=${createHmac('sha256', SECRET).update(`v0:${NOW}:${other}`).digest('hex')}`;
        if (other !== body) expect(verifySlackSignature(SECRET, body, String(NOW), elsewhere, NOW).ok).toBe(false);
        expect(verifySlackSignature(`${SECRET}x`, body, String(NOW), signSlackBody(SECRET, body, NOW)['x-slack-signature'], NOW).ok).toBe(false);
      }),
      { numRuns: RUNS },
    );
    recordReliability(ctx, { area: 'Parsers', fault: 'Slack v0 signature: generated bodies signed inside/outside the window, random headers, other bodies, other secrets', cases, outcome: `all ${cases} decided correctly (in-window correct signatures only), only documented reasons, nothing thrown` });
  });

  test('parseSlackBody: form, payload and JSON bodies round-trip; anything else is a named error, never a throw', (ctx) => {
    let cases = 0;
    fc.assert(
      fc.property(fc.dictionary(fc.stringMatching(/^[a-z_]{1,12}$/).filter((key) => key !== 'payload' && key !== '__proto__'), anyText(40).map(wellFormed), { maxKeys: 10 }), (fields) => {
        cases++;
        const body = new URLSearchParams(fields).toString();
        expect(parseSlackBody(body, FORM_CONTENT_TYPE)).toEqual({ ok: true, body: fields });
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(jsonObject, fc.constantFrom('application/json', 'application/json; charset=utf-8', 'Application/JSON'), (object, contentType) => {
        cases++;
        expect(parseSlackBody(JSON.stringify(object), contentType)).toEqual({ ok: true, body: JSON.parse(JSON.stringify(object)) as unknown });
        const interaction = blockActionsPayload({ actionId: 'run.retry', messageTs: '1.000100', value: JSON.stringify(object) });
        expect(parseSlackBody(encodeInteractionPayload(interaction), FORM_CONTENT_TYPE)).toEqual({ ok: true, body: interaction });
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(anyText(300), fc.option(anyText(40), { nil: undefined }), (raw, contentType) => {
        cases++;
        for (const type of [contentType, FORM_CONTENT_TYPE, 'application/json']) {
          const result = parseSlackBody(raw, type);
          if (result.ok) expect(typeof result.body).toBe('object');
          else expect(result.error).toMatch(/^(payload is not a JSON object|payload is not valid JSON|body is not a JSON object|body is not valid JSON|unsupported content type .*)$/s);
        }
      }),
      { numRuns: RUNS },
    );
    recordReliability(ctx, { area: 'Parsers', fault: 'Slack bodies: generated form fields, JSON objects, interaction payloads; arbitrary text under form, JSON and random content types', cases, outcome: `all ${cases} round-tripped or refused with one of the 5 documented errors; nothing thrown` });
  });
});
