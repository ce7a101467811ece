import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ResponseUrlServer {
  /** A fresh response_url for one command or click. */
  url(): string;
  /** Replies posted to one response_url. */
  replies(url: string): Record<string, unknown>[];
  waitFor(url: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

/** Stands in for hooks.slack.com: records what the bot posts to each response_url. */
export async function startResponseUrlServer(): Promise<ResponseUrlServer> {
  const received = new Map<string, Record<string, unknown>[]>();
  let counter = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const list = received.get(req.url ?? '') ?? [];
      try {
        list.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>);
      } catch {
        list.push({ unparsable: Buffer.concat(chunks).toString('utf8') });
      }
      received.set(req.url ?? '', list);
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const pathOf = (url: string) => new URL(url).pathname;
  return {
    url: () => `${base}/commands/T0FAKE/${++counter}/token`,
    replies: (url) => received.get(pathOf(url)) ?? [],
    waitFor: async (url, timeoutMs = 10_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const reply = received.get(pathOf(url))?.[0];
        if (reply) return reply;
        if (Date.now() > deadline) throw new Error(`no reply posted to ${url}`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
