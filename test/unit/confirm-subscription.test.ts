import { describe, expect, it } from 'vitest';
import { parseConfirmHosts, type ConfirmHostRule } from '../../src/config/confirm-hosts.js';
import { checkConfirmationUrl, isInternalAddress, normaliseConfirmationUrl } from '../../src/http/confirm-subscription.js';
import { ociFixtureJson } from '../helpers/oci-fixtures.js';

const DEFAULT_RULES: ConfirmHostRule[] = [{ kind: 'host', pattern: '*.oraclecloud.com' }];
const CONFIRMATION_URL =
  'https://cell1.notification.us-phoenix-1.oci.oraclecloud.com/20181201/subscriptions/ocid1.onssubscription.oc1.phx.aaaaaaaaexample/confirmation?token=MDAwMGV4YW1wbGU=&protocol=CUSTOM_HTTPS';

function rules(text: string): ConfirmHostRule[] {
  const parsed = parseConfirmHosts(text);
  expect(parsed.errors).toEqual([]);
  return parsed.rules;
}

function refusal(raw: string, allowed: readonly ConfirmHostRule[] = DEFAULT_RULES): string {
  const check = checkConfirmationUrl(raw, allowed);
  if (check.ok) throw new Error(`expected ${raw} to be refused`);
  return check.reason;
}

describe('checkConfirmationUrl', () => {
  it('allows the real ONS confirmation URL on *.oraclecloud.com', () => {
    const check = checkConfirmationUrl(CONFIRMATION_URL, DEFAULT_RULES);
    expect(check.ok).toBe(true);
    if (check.ok) {
      expect(check.url.href).toBe(CONFIRMATION_URL);
      expect(check.rule).toEqual({ kind: 'host', pattern: '*.oraclecloud.com' });
    }
  });

  it('turns the HTML-escaped &amp; of the confirmation body back into &', () => {
    const body = ociFixtureJson('subscription-confirmation.json');
    const check = checkConfirmationUrl(String(body.ConfirmationURL), DEFAULT_RULES);
    expect(check.ok).toBe(true);
    if (check.ok) {
      expect(check.url.searchParams.get('protocol')).toBe('CUSTOM_HTTPS');
      expect(check.url.searchParams.get('token')).toBe('MDAwMGV4YW1wbGU=');
      expect(check.url.search).not.toContain('amp;');
    }
    expect(normaliseConfirmationUrl('  https://a.oraclecloud.com/?a=1&AMP;b=2&amp;c=3 ')).toBe('https://a.oraclecloud.com/?a=1&b=2&c=3');
  });

  it('accepts upper-case hosts and an explicit :443', () => {
    expect(checkConfirmationUrl('https://Cell1.Notification.US-Phoenix-1.OCI.OracleCloud.com/x', DEFAULT_RULES).ok).toBe(true);
    expect(checkConfirmationUrl('https://x.oraclecloud.com:443/x', DEFAULT_RULES).ok).toBe(true);
  });

  it('refuses plain http', () => {
    expect(refusal('http://cell1.notification.us-phoenix-1.oci.oraclecloud.com/confirm')).toBe('ConfirmationURL must be https (got http)');
  });

  it.each([
    'https://oraclecloud.com.evil.com/confirm',
    'https://evil.com/.oraclecloud.com',
    'https://evil.com/?host=x.oraclecloud.com',
    'https://evil.com#.oraclecloud.com',
    'https://xoraclecloud.com/',
    'https://oraclecloud.com/',
    'https://x.oraclecloud.com.evil.com./',
  ])('refuses %s, which is not on an oraclecloud.com host', (raw) => {
    expect(refusal(raw)).toMatch(/is not in OCI_CONFIRM_HOSTS$/);
  });

  it('refuses credentials in the URL, even when the host is allowed', () => {
    expect(refusal('https://user@x.oraclecloud.com/confirm')).toBe('ConfirmationURL must not carry credentials');
    expect(refusal('https://x.oraclecloud.com:pw@evil.com/')).toBe('ConfirmationURL must not carry credentials');
    expect(refusal('http://user:pw@127.0.0.1:8080/', rules('http://127.0.0.1:8080'))).toBe('ConfirmationURL must not carry credentials');
  });

  it.each([
    'https://169.254.169.254/opc/v2/instance/',
    'https://127.0.0.1/',
    'https://0x7f.0.0.1/',
    'https://2130706433/',
    'https://10.0.0.1/',
    'https://[::1]/',
    'https://[::ffff:169.254.169.254]/',
    'https://[fd00::1]/',
  ])('refuses the IP literal %s', (raw) => {
    expect(refusal(raw)).toBe('ConfirmationURL must name a host, not an IP address');
  });

  it('refuses a port other than 443', () => {
    expect(refusal('https://x.oraclecloud.com:8443/confirm')).toBe('ConfirmationURL must use the default https port');
    expect(refusal('https://x.oraclecloud.com:80/confirm')).toBe('ConfirmationURL must use the default https port');
  });

  it.each(['', 'not a url', '/20181201/subscriptions/x/confirmation', 'javascript:alert(1)', 'file:///etc/passwd'])('refuses %j', (raw) => {
    expect(refusal(raw)).toMatch(/^ConfirmationURL /);
  });

  it('lets an exact host rule allow only that host', () => {
    const exact = rules('cell1.notification.us-phoenix-1.oci.oraclecloud.com');
    expect(checkConfirmationUrl(CONFIRMATION_URL, exact).ok).toBe(true);
    expect(refusal('https://cell2.notification.us-phoenix-1.oci.oraclecloud.com/x', exact)).toMatch(/not in OCI_CONFIRM_HOSTS/);
  });

  it('lets an origin rule allow exactly that scheme, host and port, for local tests', () => {
    const local = rules('*.oraclecloud.com,http://127.0.0.1:8080');
    const check = checkConfirmationUrl('http://127.0.0.1:8080/20181201/subscriptions/x/confirmation?token=t&amp;protocol=CUSTOM_HTTPS', local);
    expect(check.ok).toBe(true);
    if (check.ok) {
      expect(check.rule).toEqual({ kind: 'origin', origin: 'http://127.0.0.1:8080' });
      expect(check.url.searchParams.get('protocol')).toBe('CUSTOM_HTTPS');
    }
    expect(refusal('http://127.0.0.1:8081/confirm', local)).toBe('ConfirmationURL must be https (got http)');
    expect(refusal('https://127.0.0.1:8080/confirm', local)).toBe('ConfirmationURL must name a host, not an IP address');
    expect(refusal('http://localhost:8080/confirm', local)).toBe('ConfirmationURL must be https (got http)');
  });
});

describe('isInternalAddress', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['0.0.0.0', 'unspecified'],
    ['10.1.2.3', 'RFC 1918'],
    ['172.16.0.1', 'RFC 1918'],
    ['172.31.255.255', 'RFC 1918'],
    ['192.168.1.1', 'RFC 1918'],
    ['169.254.169.254', 'link-local (cloud metadata)'],
    ['100.64.0.1', 'CGNAT'],
    ['100.127.255.255', 'CGNAT'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['::1', 'IPv6 loopback'],
    ['0:0:0:0:0:0:0:1', 'IPv6 loopback, expanded'],
    ['::', 'IPv6 unspecified'],
    ['fc00::1', 'unique local'],
    ['fd12:3456:789a::1', 'unique local'],
    ['fe80::1', 'link-local'],
    ['FE80::1', 'link-local, upper case'],
    ['febf::1', 'link-local, end of fe80::/10'],
    ['fe80::1%eth0', 'link-local with a zone'],
    ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'v4-mapped loopback'],
    ['::FFFF:169.254.169.254', 'v4-mapped metadata, upper case'],
    ['::ffff:a9fe:a9fe', 'v4-mapped metadata in hex'],
    ['0:0:0:0:0:ffff:7f00:1', 'v4-mapped loopback, expanded'],
    ['::ffff:10.0.0.1', 'v4-mapped private'],
    ['64:ff9b::a9fe:a9fe', 'NAT64 of the metadata address'],
    ['64:ff9b::1', 'NAT64 of 0.0.0.1, compressed'],
    ['64:ff9b::', 'NAT64 of 0.0.0.0, compressed'],
    ['64:ff9b::7f00:1', 'NAT64 of loopback'],
  ])('treats %s as internal (%s)', (address) => {
    expect(isInternalAddress(address)).toBe(true);
  });

  it.each(['8.8.8.8', '129.146.13.10', '172.15.255.255', '172.32.0.1', '100.63.255.255', '100.128.0.1', '169.253.0.1', '11.0.0.1', '2001:4860:4860::8888', '2603:c020::1', '::ffff:8.8.8.8'])(
    'treats %s as public',
    (address) => {
      expect(isInternalAddress(address)).toBe(false);
    },
  );
});
