import { createServer } from 'node:http';
import { baselinePort } from './baseline-env.js';

/**
 * Baseline for slash-command acks: node:http reading the body and answering 200, nothing else. The floor
 * any Slack receiver on this machine stands on.
 */
const server = createServer((req, res) => {
  req.on('data', () => undefined);
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('');
  });
});
server.keepAliveTimeout = 5_000;
server.listen(baselinePort(), '127.0.0.1');
process.once('SIGTERM', () => server.close(() => process.exit(0)));
