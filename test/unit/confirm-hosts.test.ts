import { describe, expect, it } from 'vitest';
import { parseConfirmHosts } from '../../src/config/confirm-hosts.js';

describe('parseConfirmHosts', () => {
  it('reads host patterns and exact hosts, lower-cased, ignoring blanks', () => {
    expect(parseConfirmHosts(' *.OracleCloud.com , ,cell1.notification.us-phoenix-1.oci.oraclecloud.com,')).toEqual({
      rules: [
        { kind: 'host', pattern: '*.oraclecloud.com' },
        { kind: 'host', pattern: 'cell1.notification.us-phoenix-1.oci.oraclecloud.com' },
      ],
      errors: [],
    });
  });

  it('reads an origin with scheme and port as exactly that origin', () => {
    expect(parseConfirmHosts('http://127.0.0.1:8080').rules).toEqual([{ kind: 'origin', origin: 'http://127.0.0.1:8080' }]);
    expect(parseConfirmHosts('https://confirm.example.com:443/').rules).toEqual([{ kind: 'origin', origin: 'https://confirm.example.com' }]);
  });

  it.each([
    ['*', 'neither a host pattern'],
    ['*.com', 'neither a host pattern'],
    ['localhost', 'neither a host pattern'],
    ['127.0.0.1', 'neither a host pattern'],
    ['evil.com/.oraclecloud.com', 'neither a host pattern'],
    ['*.*.oraclecloud.com', 'neither a host pattern'],
    ['ftp://files.example.com', 'must be an origin'],
    ['http://user:pw@127.0.0.1:8080', 'must be an origin'],
    ['http://127.0.0.1:8080/path', 'must be an origin'],
    ['http://127.0.0.1:8080/?q=1', 'must be an origin'],
    ['http://[::1', 'is not a valid origin'],
  ])('refuses %s', (entry, reason) => {
    const { rules, errors } = parseConfirmHosts(entry);
    expect(rules).toEqual([]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(reason);
  });

  it('keeps the good entries and reports each bad one', () => {
    const { rules, errors } = parseConfirmHosts('*.oraclecloud.com,garbage here,http://127.0.0.1:8080,*');
    expect(rules).toHaveLength(2);
    expect(errors).toHaveLength(2);
  });

  it('refuses a list with no host at all', () => {
    expect(parseConfirmHosts(' , ')).toEqual({ rules: [], errors: ['lists no host'] });
  });
});
