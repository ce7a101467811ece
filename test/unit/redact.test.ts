import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createRedactor, REDACTED } from '../../src/domain/redact.js';

interface SecretCase {
  line: string;
  secret: string;
  keep: string[];
  extraPattern?: boolean;
}
const corpus = JSON.parse(readFileSync(new URL('../fixtures/secrets/corpus.json', import.meta.url), 'utf8')) as { secrets: SecretCase[]; clean: string[] };
const EXTRA = ['corp-[A-Za-z0-9]{32}'];

describe('log redaction', () => {
  const redactor = createRedactor(EXTRA);

  it.each(corpus.secrets.map((entry) => [entry.line.slice(0, 40), entry] as const))('removes the secret and keeps the context: %s', (_label, entry) => {
    const out = redactor.text(entry.line);
    expect(out).not.toContain(entry.secret);
    expect(out).toContain(REDACTED);
    for (const kept of entry.keep) expect(out).toContain(kept);
  });

  it.each(corpus.clean)('leaves a line without secrets alone: %s', (line) => {
    expect(redactor.text(line)).toBe(line);
  });

  it('applies alerts.redact patterns only when configured', () => {
    const extra = corpus.secrets.find((entry) => entry.extraPattern);
    expect(extra).toBeDefined();
    expect(createRedactor().text(extra?.line ?? '')).toContain(extra?.secret);
    expect(createRedactor(EXTRA).text(extra?.line ?? '')).not.toContain(extra?.secret);
  });

  it('removes a private key printed over several log lines, BEGIN to END, and keeps what follows', () => {
    const pem = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString().trim();
    const body = pem.split('\n').slice(1, -1);
    const lines = ['writing ~/.oci/oci_api_key.pem:', ...pem.split('\n'), 'key written, fingerprint 12:34:56'];
    const out = redactor.lines(lines);
    for (const keyLine of body) expect(out.join('\n')).not.toContain(keyLine);
    expect(out[0]).toBe('writing ~/.oci/oci_api_key.pem:');
    expect(out).toContain(`-----BEGIN PRIVATE KEY----- ${REDACTED}`);
    expect(out).toContain('-----END PRIVATE KEY-----');
    expect(out.at(-1)).toBe('key written, fingerprint 12:34:56');
  });

  it('removes a private key carried on one line (escaped newlines in JSON)', () => {
    const pem = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    const line = JSON.stringify({ key_file_content: pem });
    const out = redactor.text(line.replace(/\\n/g, '\n'));
    expect(out).not.toContain(pem.split('\n')[1]);
    expect(out).toContain(REDACTED);
  });

  it('is pure: the same input gives the same output on repeated calls (no regex state leaks between lines)', () => {
    const line = corpus.secrets[0]?.line ?? '';
    expect(redactor.text(line)).toBe(redactor.text(line));
    expect(redactor.lines([line, line])).toEqual([redactor.text(line), redactor.text(line)]);
  });
});
