import { createServer } from 'node:http';
import { Redis } from 'ioredis';
import { baselinePort, required } from './baseline-env.js';

/**
 * Baseline for notification ingest: node:http reading the body plus one Redis round trip (SET NX with a
 * TTL on the delivery's message id, the cheapest possible dedupe), then 200. Same client library and the
 * same Redis as the bot.
 */
const redis = new Redis(required('REDIS_URL'), { maxRetriesPerRequest: 1 });

const server = createServer((req, res) => {
  const id = req.headers['x-oci-ns-messageid'];
  req.on('data', () => undefined);
  req.on('end', () => {
    redis.set(`bench:ingest:${typeof id === 'string' ? id : 'none'}`, '1', 'EX', 600, 'NX').then(
      () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"status":"accepted"}');
      },
      () => {
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end('{"error":"unavailable"}');
      },
    );
  });
});
server.keepAliveTimeout = 5_000;
server.listen(baselinePort(), '127.0.0.1');
process.once('SIGTERM', () => {
  server.close(() => {
    void redis.quit().finally(() => process.exit(0));
  });
});
