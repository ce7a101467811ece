import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { readBody } from '../../src/http/read-body.js';

describe('readBody', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  /** Serves one request through readBody and reports what it gave: the body's text or the error's message. */
  async function serve(limit: number, send: (port: number) => void): Promise<string> {
    return new Promise<string>((resolve) => {
      server = createServer((req, res) => {
        readBody(req, limit).then(
          (body) => {
            resolve(`body:${body.toString('utf8')}`);
            res.end('ok');
          },
          (error: unknown) => {
            resolve(`error:${error instanceof Error ? error.message : String(error)}`);
            res.destroy();
          },
        );
      });
      server.listen(0, '127.0.0.1', () => send((server?.address() as AddressInfo).port));
    });
  }

  const post = (port: number, chunks: string[], options: { end: boolean; length?: number }) => {
    const req = request({ port, host: '127.0.0.1', method: 'POST', path: '/', headers: options.length === undefined ? {} : { 'content-length': options.length } });
    req.on('error', () => undefined);
    for (const chunk of chunks) req.write(chunk);
    if (options.end) req.end();
    else setTimeout(() => req.destroy(), 50);
  };

  it('returns a body sent in several chunks', async () => {
    expect(await serve(100, (port) => post(port, ['{"a":', '1}'], { end: true }))).toBe('body:{"a":1}');
  });

  it('refuses a declared length over the limit before reading', async () => {
    expect(await serve(10, (port) => post(port, ['x'.repeat(20)], { end: true, length: 20 }))).toBe('error:body of 20 bytes is over the 10 byte limit');
  });

  it('refuses a streamed body once it passes the limit', async () => {
    expect(await serve(10, (port) => post(port, ['x'.repeat(8), 'x'.repeat(8)], { end: true }))).toBe('error:body is over the 10 byte limit');
  });

  it('rejects, rather than hanging, when the client goes away mid-body', async () => {
    expect(await serve(100, (port) => post(port, ['{"partial'], { end: false, length: 50 }))).toMatch(/^error:(aborted|request closed before its body was read)$/);
  });
});
