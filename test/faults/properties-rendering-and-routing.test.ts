import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Route } from '../../src/config/config-file.js';
import { pickChannel } from '../../src/domain/route.js';
import { code, escapeMrkdwn, link, mention } from '../../src/slack/mrkdwn.js';
import { anyText, wellFormed } from '../helpers/arbitraries.js';
import { recordReliability } from './reliability.js';
import { startFaultStack, type FaultStack } from './stack.js';

const RUNS = 500;
const unescape = (text: string) => text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&').replace(/@\u2060/g, '@');

describe('mrkdwn escaping, channel routing and HTTP route matching (property-based)', () => {
  let stack: FaultStack;

  beforeAll(async () => {
    stack = await startFaultStack();
  });

  afterAll(async () => {
    await stack.stop();
  });

  test('the escaper leaves no control character active and loses nothing; code, link and mention cannot be broken out of', (ctx) => {
    let cases = 0;
    fc.assert(
      fc.property(anyText(120), fc.oneof(anyText(60), fc.webUrl(), fc.constantFrom('https://evil.example|x>', 'https://a.example/<!channel>', 'javascript:alert(1)')), anyText(20), (text, url, principal) => {
        cases++;
        const escaped = escapeMrkdwn(text);
        expect(escaped).not.toMatch(/[<>]/);
        expect(escaped.replace(/&(amp|lt|gt);/g, '')).not.toContain('&');
        expect(escaped).not.toMatch(/@(channel|here|everyone)\b/i);
        expect(unescape(escaped)).toBe(text.replace(/@\u2060/g, '@'));
        const inline = code(text);
        expect(inline.startsWith('`') && inline.endsWith('`') && inline.split('`').length === 3).toBe(true);
        const linked = link(url, text);
        const tokens = linked.match(/<[^>]*>/g) ?? [];
        expect(tokens.length).toBeLessThanOrEqual(1);
        if (tokens.length === 1) {
          expect(linked).toBe(`<${url}|${escapeMrkdwn(text).replace(/\|/g, '¦')}>`);
          expect(url).toMatch(/^https:\/\/[^\s<>|]+$/);
        }
        expect(mention(principal)).toMatch(/^(|<@[UW][A-Z0-9]+>|<!subteam\^S[A-Z0-9]+>)$/);
      }),
      { numRuns: RUNS },
    );
    recordReliability(ctx, { area: 'Parsers', fault: 'mrkdwn escaper, inline code, links and mentions over arbitrary text, URLs and principals', cases, outcome: `all ${cases}: no raw < > or stray &, no bare @channel, escape reversible, code fenced by exactly 2 backticks, at most 1 link and only to https` });
  });

  test('channel routing: a route naming exactly the generated facts wins; arbitrary names and globs never throw', (ctx) => {
    let cases = 0;
    const kind = fc.constantFrom('build', 'training', 'deploy', 'model', 'alarm' as const);
    const name = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,20}$/);
    fc.assert(
      fc.property(kind, name, fc.array(fc.tuple(kind, name), { maxLength: 5 }), (factKind, resourceName, others) => {
        cases++;
        const decoys: Route[] = others.filter(([otherKind, otherName]) => otherKind !== factKind || otherName !== resourceName).map(([otherKind, otherName], index) => ({ match: { kind: otherKind, resourceName: otherName }, channel: `C0DECOY${index}` }));
        const routes: Route[] = [...decoys, { match: { kind: factKind, resourceName }, channel: 'C0EXACT' }];
        const picked = pickChannel(routes, 'C0DEFAULT', { kind: factKind, resourceName });
        // A decoy that is the same pattern up to case (globs match case-insensitively) may win; nothing else.
        expect(picked === 'C0EXACT' || decoys.some((route) => route.channel === picked && route.match.kind === factKind && route.match.resourceName?.toLowerCase() === resourceName.toLowerCase())).toBe(true);
        expect(pickChannel(routes, 'C0DEFAULT', { kind: factKind, resourceName: `${resourceName}x/y` })).not.toBe('C0EXACT');
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(anyText(30).filter((text) => text.length > 0), anyText(40), (glob, resourceName) => {
        cases++;
        const routes: Route[] = [{ match: { resourceName: glob }, channel: 'C0GLOB' }];
        expect(['C0GLOB', 'C0DEFAULT']).toContain(pickChannel(routes, 'C0DEFAULT', { kind: undefined, resourceName }));
      }),
      { numRuns: RUNS },
    );
    recordReliability(ctx, { area: 'Parsers', fault: 'channel routing: generated kinds and names among decoy routes; arbitrary globs and names', cases, outcome: `all ${cases} routed to the exact route (or a case-equal one) or a valid channel; nothing thrown` });
  });

  test('HTTP route matching: any path, query and method gets 404, 405 or the route\'s own answer, never 500', async (ctx) => {
    const statuses = new Map<number, number>();
    let cases = 0;
    const path = fc.oneof(
      fc.constantFrom('/healthz', '/readyz', '/metrics', '/slack/events', '/oci/notifications', '/mlflow/webhooks', '/', '//healthz', '/healthz/', '/HEALTHZ', '/slack/events/../healthz', '/%2e%2e/healthz', '/healthz%00'),
      anyText(30).map((text) => `/${encodeURIComponent(wellFormed(text))}`),
    );
    await fc.assert(
      fc.asyncProperty(path, fc.option(anyText(20).map((text) => encodeURIComponent(wellFormed(text))), { nil: undefined }), fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'), async (route, query, method) => {
        cases++;
        const response = await fetch(`${stack.bot.url}${route}${query === undefined ? '' : `?${query}`}`, { method, ...(method === 'GET' || method === 'HEAD' ? {} : { body: 'x' }) });
        await response.arrayBuffer();
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        expect(response.status).toBeLessThan(500);
        if (response.status === 405) expect(response.headers.get('allow')).toMatch(/^(GET|POST)$/);
      }),
      { numRuns: 300 },
    );
    expect((await fetch(`${stack.bot.url}/healthz`)).status).toBe(200);
    const answered = [...statuses].sort(([a], [b]) => a - b).map(([status, count]) => `${status}×${count}`).join(', ');
    recordReliability(ctx, { area: 'Parsers', fault: 'HTTP route matching: known and arbitrary paths, dot segments, encoded bytes, queries, 7 methods', cases, outcome: `answered ${answered}; none 5xx; 405s name the allowed method` });
  });
});
