import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { checkConfirmationUrl } from '../../src/http/confirm-subscription.js';
import { parseConfirmHosts } from '../../src/config/confirm-hosts.js';
import { recordReliability } from './reliability.js';
import { OCI_PASSWORD, OCI_USER, startFaultStack, startRecordingServer, type FaultStack, type RecordingServer } from './stack.js';

const basic = `Basic ${Buffer.from(`${OCI_USER}:${OCI_PASSWORD}`).toString('base64')}`;

/** The IPv4 address `a.b.c.d` spelled as one decimal number, one hex number, octal parts, hex parts or short forms. */
function spellings([a, b, c, d]: readonly [number, number, number, number]): string[] {
  const whole = ((a << 24) >>> 0) + (b << 16) + (c << 8) + d;
  return [
    `${a}.${b}.${c}.${d}`,
    String(whole),
    `0x${whole.toString(16)}`,
    [a, b, c, d].map((part) => `0${part.toString(8)}`).join('.'),
    [a, b, c, d].map((part) => `0x${part.toString(16)}`).join('.'),
    `${a}.${(b << 16) + (c << 8) + d}`,
    `${a}.${b}.${(c << 8) + d}`,
    `[::ffff:${a}.${b}.${c}.${d}]`,
    `[::ffff:${((a << 8) + b).toString(16)}:${((c << 8) + d).toString(16)}]`,
    `[64:ff9b::${a}.${b}.${c}.${d}]`,
  ];
}

/** Addresses in loopback, private, link-local, CGNAT, multicast and unspecified ranges. */
const internalV4 = fc.oneof(
  fc.tuple(fc.constant(127), fc.nat(255), fc.nat(255), fc.nat(255)),
  fc.tuple(fc.constant(10), fc.nat(255), fc.nat(255), fc.nat(255)),
  fc.tuple(fc.constant(169), fc.constant(254), fc.nat(255), fc.nat(255)),
  fc.tuple(fc.constant(172), fc.integer({ min: 16, max: 31 }), fc.nat(255), fc.nat(255)),
  fc.tuple(fc.constant(192), fc.constant(168), fc.nat(255), fc.nat(255)),
  fc.tuple(fc.constant(100), fc.integer({ min: 64, max: 127 }), fc.nat(255), fc.nat(255)),
  fc.tuple(fc.integer({ min: 224, max: 255 }), fc.nat(255), fc.nat(255), fc.nat(255)),
  fc.tuple(fc.constant(0), fc.nat(255), fc.nat(255), fc.nat(255)),
);

const NAMED_HOSTS = [
  'localhost',
  'LOCALHOST',
  'localhost.',
  '[::1]',
  '[::]',
  '[0:0:0:0:0:0:0:1]',
  '[fd00::1]',
  '[fe80::1]',
  '[ff02::1]',
  'metadata.google.internal',
  'evil.example',
  'oraclecloud.com',
  'oraclecloud.com.evil.example',
  'evil-oraclecloud.com',
  'xoraclecloud.com',
  'notification.us-ashburn-1.oci.oraclecloud.com.',
  'notification.us-ashburn-1.oci.oraclecloud.com.evil.example',
];

/** URLs whose only "allowed" part is a trick: credentials, fragments, backslashes, other schemes. */
const TRICKS = [
  'https://oraclecloud.com@evil.example/',
  'https://x.oraclecloud.com@169.254.169.254/latest/meta-data/',
  'https://x.oraclecloud.com:pw@evil.example/',
  'https://evil.example#@x.oraclecloud.com/',
  'https://evil.example?.oraclecloud.com',
  'https://evil.example\\@x.oraclecloud.com/',
  'https://evil.example/.oraclecloud.com',
  'https://169.254.169.254/x.oraclecloud.com',
  'http://notification.us-ashburn-1.oci.oraclecloud.com/20181201/subscriptions/x/confirmation',
  'https://notification.us-ashburn-1.oci.oraclecloud.com:8443/x',
  'https://notification.us-ashburn-1.oci.oraclecloud.com:80/x',
  'ftp://notification.us-ashburn-1.oci.oraclecloud.com/x',
  'file:///etc/passwd',
  'gopher://127.0.0.1:6379/_FLUSHALL',
  'data:text/plain,hello',
  'javascript:alert(1)',
  '//evil.example/x',
  '/relative/path',
  'not a url',
  '',
];

describe('hostile ConfirmationURLs', () => {
  let stack: FaultStack;
  /** The one origin OCI_CONFIRM_HOSTS allows exactly (it redirects where a test says). */
  let allowed: RecordingServer;
  /** A listener on loopback that nothing may ever reach. */
  let forbidden: RecordingServer;
  let forbiddenPort: string;

  const confirm = async (url: string, via: 'header' | 'body') => {
    const response = await fetch(`${stack.bot.url}/oci/notifications`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: basic, 'x-oci-ns-messagetype': 'SubscriptionConfirmation', ...(via === 'header' ? { 'x-oci-ns-confirmationurl': url } : {}) },
      body: JSON.stringify({ ConfirmationURL: url, Message: 'confirm' }),
    });
    return { status: response.status, error: ((await response.json()) as { error?: string }).error ?? '' };
  };
  const inBatches = async <T, R>(items: readonly T[], send: (item: T, index: number) => Promise<R>): Promise<R[]> => {
    const results: R[] = [];
    for (let start = 0; start < items.length; start += 8) results.push(...(await Promise.all(items.slice(start, start + 8).map((item, offset) => send(item, start + offset)))));
    return results;
  };
  /** After a batch: alive, a real notification is still accepted, and the allowed origin still confirms. */
  const afterBatch = async (): Promise<string> => {
    expect((await fetch(`${stack.bot.url}/healthz`)).status).toBe(200);
    const notification = await fetch(`${stack.bot.url}/oci/notifications`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: basic, 'x-oci-ns-messagetype': 'Notification' },
      body: JSON.stringify({ title: 'after the batch', body: 'still here' }),
    });
    expect(notification.status).toBe(200);
    const good = await confirm(`${allowed.origin}/confirm-ok`, 'header');
    expect(good.status).toBe(200);
    expect(forbidden.hits).toEqual([]);
    return '/healthz 200; a notification and a confirmation at the allowed origin still accepted; the loopback listener got 0 requests';
  };

  beforeAll(async () => {
    allowed = await startRecordingServer();
    forbidden = await startRecordingServer();
    forbiddenPort = new URL(forbidden.origin).port;
    stack = await startFaultStack({ env: { OCI_CONFIRM_HOSTS: `*.oraclecloud.com,${allowed.origin}` } });
  });

  afterAll(async () => {
    await stack.stop();
    await allowed.stop();
    await forbidden.stop();
  });

  test('internal addresses in every spelling, other hosts, http:, other ports and userinfo tricks are refused with 400 and never fetched', async (ctx) => {
    const generatedHosts = fc.sample(internalV4, 40).flatMap((parts) => spellings(parts));
    const hosts = [...spellings([169, 254, 169, 254]), ...spellings([127, 0, 0, 1]), ...NAMED_HOSTS, ...generatedHosts];
    const urls = [
      ...hosts.flatMap((host) => [`https://${host}/20181201/subscriptions/x/confirmation`, `http://${host}/latest/meta-data/`]),
      // The same hosts at the loopback listener's port: a fetch would show up in its hits.
      ...[...spellings([127, 0, 0, 1]), 'localhost', '[::1]'].flatMap((host) => [`http://${host}:${forbiddenPort}/pwned`, `https://${host}:${forbiddenPort}/pwned`]),
      ...TRICKS,
    ];
    const answers = await inBatches(urls, (url, index) => confirm(url, index % 2 === 0 ? 'header' : 'body'));
    const refused = answers.filter((answer) => answer.status === 400 && /ConfirmationURL/.test(answer.error)).length;
    const wrong = urls.map((url, index) => ({ url, answer: answers[index] })).filter(({ answer }) => !(answer?.status === 400 && /ConfirmationURL/.test(answer.error)));
    expect(wrong, JSON.stringify(wrong.slice(0, 5))).toEqual([]);
    expect(allowed.hits).toEqual([]);
    const after = await afterBatch();
    recordReliability(ctx, {
      area: 'OCI subscription confirmation',
      fault: 'ConfirmationURL at 169.254.169.254, loopback, private, CGNAT, multicast, IPv6 and IPv4-mapped/NAT64 addresses in decimal/hex/octal/short spellings; other hosts; http:; other ports; userinfo, fragment and backslash tricks; other schemes',
      cases: urls.length,
      outcome: `400 naming the ConfirmationURL problem for ${refused} of ${urls.length}; 0 requests left the bot; ${after}`,
    });
  });

  test('the same internal addresses, reached through a redirect from the allowed origin, are refused with 502 and never fetched', async (ctx) => {
    const targets = [
      `${forbidden.origin}/pwned`,
      `http://localhost:${forbiddenPort}/pwned`,
      `http://[::1]:${forbiddenPort}/pwned`,
      `http://2130706433:${forbiddenPort}/pwned`,
      `http://0x7f000001:${forbiddenPort}/pwned`,
      `http://0177.0.0.1:${forbiddenPort}/pwned`,
      `http://127.1:${forbiddenPort}/pwned`,
      `http://[::ffff:127.0.0.1]:${forbiddenPort}/pwned`,
      `https://127.0.0.1:${forbiddenPort}/pwned`,
      `http://oraclecloud.com@127.0.0.1:${forbiddenPort}/pwned`,
      'http://169.254.169.254/latest/meta-data/',
      'https://169.254.169.254/latest/meta-data/',
      'https://[::ffff:a9fe:a9fe]/latest/meta-data/',
      'https://2852039166/latest/meta-data/',
      'https://evil.example/',
      'http://notification.us-ashburn-1.oci.oraclecloud.com/x',
      `//127.0.0.1:${forbiddenPort}/pwned`,
      'file:///etc/passwd',
      ...fc.sample(internalV4, 20).map((parts) => `https://${spellings(parts)[1] ?? ''}/meta`),
    ];
    const hitsBefore = allowed.hits.length;
    const answers = await inBatches(targets, (target, index) => confirm(`${allowed.origin}/redirect?to=${encodeURIComponent(target)}`, index % 2 === 0 ? 'header' : 'body'));
    const refused = answers.filter((answer) => answer.status === 502 && /redirected to a refused URL/.test(answer.error)).length;
    expect(refused, JSON.stringify(answers.filter((answer) => answer.status !== 502).slice(0, 5))).toBe(targets.length);
    expect(allowed.hits.length - hitsBefore).toBe(targets.length);
    // A chain longer than three hops inside the allowed origin ends too.
    const hop = (to: string) => `${allowed.origin}/redirect?to=${encodeURIComponent(to)}`;
    const chain = await confirm(hop(hop(hop(hop(hop(`${allowed.origin}/confirm-ok`))))), 'header');
    expect(chain).toEqual({ status: 502, error: expect.stringContaining('too many') as unknown });
    // One hop inside the allowed origin is followed.
    expect((await confirm(hop(`${allowed.origin}/confirm-ok`), 'header')).status).toBe(200);
    const after = await afterBatch();
    recordReliability(ctx, {
      area: 'OCI subscription confirmation',
      fault: 'allowed origin answering 302 to loopback (7 spellings), 169.254.169.254, IPv4-mapped, other hosts, http:, file:, a 5-hop chain',
      cases: targets.length + 1,
      outcome: `502 "redirected to a refused URL" for ${refused} of ${targets.length}, "too many" for the chain; a 1-hop redirect inside the origin confirmed; ${after}`,
    });
  });

  test('notification deliveries with wrong credentials, oversized or malformed bodies are refused (401/413/400) and post nothing', async (ctx) => {
    const deliver = (body: string, headers: Record<string, string> = {}) =>
      fetch(`${stack.bot.url}/oci/notifications`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: basic, 'x-oci-ns-messagetype': 'Notification', ...headers }, body }).then(async (response) => ({ status: response.status, text: await response.text(), challenge: response.headers.get('www-authenticate') }));
    const hostile = (index: number) => JSON.stringify({ title: `HOSTILE${index}X`, body: 'must not be posted' });
    const credentials = [
      ...Array.from({ length: OCI_PASSWORD.length * 8 }, (_, bit) => {
        const bytes = Buffer.from(OCI_PASSWORD);
        bytes[bit >> 3] = (bytes[bit >> 3] ?? 0) ^ (1 << (bit & 7));
        return `Basic ${Buffer.from(`${OCI_USER}:${bytes.toString('latin1')}`, 'latin1').toString('base64')}`;
      }),
      '',
      'Basic',
      'Basic !!!',
      `Bearer ${Buffer.from(`${OCI_USER}:${OCI_PASSWORD}`).toString('base64')}`,
      `Basic ${Buffer.from(`${OCI_USER}${OCI_PASSWORD}`).toString('base64')}`,
      `Basic ${Buffer.from(`${OCI_USER}:${OCI_PASSWORD}x`).toString('base64')}`,
      `Basic ${Buffer.from(`:${OCI_PASSWORD}`).toString('base64')}`,
    ];
    const unauthorized = await inBatches(credentials, (authorization, index) => deliver(hostile(index), { authorization }));
    const oversized = await inBatches([64 * 1024 + 1, 128 * 1024, 4 * 1024 * 1024], (size, index) => deliver(`${hostile(1000 + index).slice(0, -1)},"pad":"${'p'.repeat(size)}"}`));
    const malformed = await inBatches(['{"title":"HOSTILE2000X"', '{"title":"HOSTILE2001X",}', '', '   ', `${'['.repeat(100)}`, '{"title":"HOSTILE2002X" "body":1}'], (body) => deliver(body));
    const refused401 = unauthorized.filter((answer) => answer.status === 401 && answer.challenge?.startsWith('Basic')).length;
    const refused413 = oversized.filter((answer) => answer.status === 413).length;
    const refused400 = malformed.filter((answer) => answer.status === 400 && /body/.test(answer.text)).length;
    expect([refused401, refused413, refused400]).toEqual([credentials.length, oversized.length, malformed.length]);
    // A valid delivery after the batch is posted; once it shows, nothing hostile has been posted before or with it.
    const control = await deliver(JSON.stringify({ title: 'CONTROL-AFTER-HOSTILE', body: 'posted' }));
    expect(control.status).toBe(200);
    await stack.slack.waitFor(() => stack.slack.messages().some((message) => JSON.stringify(message).includes('CONTROL-AFTER-HOSTILE')), 15_000, 'the control notification');
    const leaked = stack.slack.calls().filter((call) => JSON.stringify(call.args).includes('HOSTILE') && !JSON.stringify(call.args).includes('CONTROL-AFTER-HOSTILE')).length;
    expect(leaked).toBe(0);
    const cases = credentials.length + oversized.length + malformed.length;
    recordReliability(ctx, {
      area: 'OCI notifications',
      fault: 'Basic auth with each password bit flipped, empty/Bearer/colon-less/empty-user credentials; bodies 64 KiB + 1 B to 4 MiB; truncated, trailing-comma, empty and unbalanced JSON',
      cases,
      outcome: `401 with a Basic challenge for ${refused401} of ${credentials.length}, 413 for ${refused413} of ${oversized.length}, 400 for ${refused400} of ${malformed.length}; ${leaked} hostile messages posted; a valid delivery after the batch was posted`,
    });
  });

  test('OCI_CONFIRM_HOSTS entries never allow more than they name (generated hosts and URLs)', (ctx) => {
    const { rules } = parseConfirmHosts('*.oraclecloud.com,notification.example.org,http://127.0.0.1:8080');
    const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/);
    let cases = 0;
    fc.assert(
      fc.property(fc.array(label, { minLength: 1, maxLength: 4 }), fc.constantFrom('evil.example', 'oraclecloud.com.evil.example', 'example.org', 'notification.example.org.evil', 'xoraclecloud.com'), (labels, base) => {
        cases++;
        const check = checkConfirmationUrl(`https://${[...labels, base].join('.')}/x`, rules);
        expect(check.ok).toBe(false);
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.array(label, { minLength: 1, maxLength: 4 }), (labels) => {
        cases++;
        const check = checkConfirmationUrl(`https://${labels.join('.')}.oraclecloud.com/x`, rules);
        expect(check.ok).toBe(true);
        expect(checkConfirmationUrl(`http://${labels.join('.')}.oraclecloud.com/x`, rules).ok).toBe(false);
        expect(checkConfirmationUrl(`https://${labels.join('.')}.oraclecloud.com:444/x`, rules).ok).toBe(false);
        expect(checkConfirmationUrl(`http://127.0.0.1:8081/${labels.join('/')}`, rules).ok).toBe(false);
      }),
      { numRuns: 300 },
    );
    recordReliability(ctx, { area: 'OCI subscription confirmation', fault: 'generated hosts under and beside each allowed pattern, other ports and schemes', cases, outcome: `all ${cases} decided as the pattern says (subdomains of *.oraclecloud.com on https:443 only; look-alikes, http:, :444 and other origins refused)` });
  });
});
