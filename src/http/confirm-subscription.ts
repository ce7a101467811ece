import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import type { ConfirmHostRule } from '../config/confirm-hosts.js';

export type UrlCheck = { ok: true; url: URL; rule: ConfirmHostRule } | { ok: false; reason: string };

/** OCI documents the body's ConfirmationURL HTML-escaped in some viewers; `&amp;` is turned back into `&`. */
export function normaliseConfirmationUrl(raw: string): string {
  return raw.trim().replace(/&amp;/gi, '&');
}

/**
 * Only https URLs on an allowed host (`*.oraclecloud.com` by default), or exactly an allowed origin, may
 * be fetched: the URL comes from an unauthenticated body and must not reach internal addresses.
 */
export function checkConfirmationUrl(raw: string, rules: readonly ConfirmHostRule[]): UrlCheck {
  let url: URL;
  try {
    url = new URL(normaliseConfirmationUrl(raw));
  } catch {
    return { ok: false, reason: 'ConfirmationURL is not a URL' };
  }
  if (url.username || url.password) return { ok: false, reason: 'ConfirmationURL must not carry credentials' };
  for (const rule of rules) {
    if (rule.kind === 'origin' && url.origin === rule.origin) return { ok: true, url, rule };
  }
  if (url.protocol !== 'https:') return { ok: false, reason: `ConfirmationURL must be https (got ${url.protocol.replace(':', '')})` };
  const host = url.hostname.toLowerCase();
  if (isIP(host.replace(/^\[|\]$/g, '')) !== 0) return { ok: false, reason: 'ConfirmationURL must name a host, not an IP address' };
  if (url.port !== '' && url.port !== '443') return { ok: false, reason: 'ConfirmationURL must use the default https port' };
  for (const rule of rules) {
    if (rule.kind !== 'host') continue;
    if (rule.pattern.startsWith('*.') ? host.endsWith(rule.pattern.slice(1)) && host.length > rule.pattern.length - 1 : host === rule.pattern) {
      return { ok: true, url, rule };
    }
  }
  return { ok: false, reason: `ConfirmationURL host ${host} is not in OCI_CONFIRM_HOSTS` };
}

/** An IPv6 address in one spelling (lower case, compressed, hex groups), as the WHATWG URL parser writes it. */
function canonicalV6(address: string): string {
  try {
    return new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return address.toLowerCase();
  }
}

/** The IPv4 address inside an IPv4-mapped (::ffff:0:0/96) or NAT64 (64:ff9b::/96) IPv6 address. */
function embeddedV4(v6: string): string | undefined {
  // The compressed spelling drops zero groups: 64:ff9b::1 is 0.0.0.1 and 64:ff9b:: is 0.0.0.0.
  const match = /^(?:::ffff:|64:ff9b::)(?:(?:([0-9a-f]{1,4}):)?([0-9a-f]{1,4}))?$/.exec(v6);
  if (!match) return undefined;
  const high = parseInt(match[1] ?? '0', 16);
  const low = parseInt(match[2] ?? '0', 16);
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
}

/**
 * True for loopback, private, link-local (169.254/16: cloud metadata), CGNAT, multicast and unspecified
 * addresses, including IPv4 ones written inside IPv6 (`::ffff:a9fe:a9fe` is 169.254.169.254).
 */
export function isInternalAddress(address: string): boolean {
  const v6 = isIP(address) === 6 ? canonicalV6(address) : address.toLowerCase();
  const v4 = embeddedV4(v6) ?? address;
  if (isIP(v4) === 4) {
    const [a = 0, b = 0] = v4.split('.').map(Number);
    return a === 0 || a === 10 || a === 127 || (a === 169 && b === 254) || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127) || a >= 224;
  }
  // Unspecified, loopback, unique local fc00::/7, link-local fe80::/10 (with or without a zone), multicast ff00::/8.
  return v6 === '::' || v6 === '::1' || /^f[cd][0-9a-f]{2}:/.test(v6) || /^fe[89ab][0-9a-f]:/.test(v6) || /^ff[0-9a-f]{2}:/.test(v6);
}

/** A DNS lookup that refuses internal addresses, so a public name pointed at 169.254.169.254 is refused too. */
const publicOnlyLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
    if (error) {
      callback(error, '', 0);
      return;
    }
    const allowed = addresses.filter((entry) => !isInternalAddress(entry.address));
    if (allowed.length === 0) {
      callback(Object.assign(new Error(`${hostname} resolves only to internal addresses`), { code: 'EREFUSED' }), '', 0);
      return;
    }
    if (options.all) callback(null, allowed);
    else callback(null, allowed[0]?.address ?? '', allowed[0]?.family ?? 4);
  });
};

const MAX_REDIRECTS = 3;

/**
 * GETs the ConfirmationURL (OCI activates the subscription when it is visited). Redirects are followed
 * only to URLs that pass the same checks; the whole exchange is bounded by `timeoutMs` so the delivery is
 * still answered inside OCI's 5 second window.
 */
export async function visitConfirmationUrl(start: URL, rules: readonly ConfirmHostRule[], timeoutMs: number): Promise<{ status: number }> {
  const deadline = Date.now() + timeoutMs;
  let url = start;
  let originRule = rules.some((rule) => rule.kind === 'origin' && rule.origin === url.origin);
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw new Error('confirmation timed out');
    const { status, location } = await getOnce(url, originRule, remaining);
    if (status < 300 || status >= 400 || !location) return { status };
    const next = checkConfirmationUrl(new URL(location, url).toString(), rules);
    if (!next.ok) throw new Error(`confirmation redirected to a refused URL: ${next.reason}`);
    url = next.url;
    originRule = next.rule.kind === 'origin';
  }
  throw new Error('confirmation redirected too many times');
}

function getOnce(url: URL, originRule: boolean, timeoutMs: number): Promise<{ status: number; location?: string }> {
  return new Promise((resolve, reject) => {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    // An explicitly allowed origin (local tests) may be loopback; everything else must resolve publicly.
    const req = send(url, { method: 'GET', timeout: timeoutMs, ...(originRule ? {} : { lookup: publicOnlyLookup }), headers: { 'user-agent': 'mlops-chatops' } }, (res) => {
      res.resume();
      const location = res.headers.location;
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ...(location ? { location } : {}) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('confirmation timed out')));
    req.on('error', reject);
    req.end();
  });
}
