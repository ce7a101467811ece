import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { sendJson, sendText } from './respond.js';

export type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

export interface RouteTable {
  [path: string]: { method: 'GET' | 'POST'; handler: Handler };
}

/**
 * One node:http server for a route table: the public one (Slack, OCI, MLflow webhooks, probes) or the
 * metrics listener (only /metrics, on METRICS_PORT, kept off the load balancer). Unknown paths
 * are 404, known paths with another method 405, and a handler that throws answers 500 without taking the
 * process down.
 */
export function createHttpServer(routes: RouteTable, metrics: Metrics, logger: Logger): Server {
  const server = createServer((req, res) => {
    const started = process.hrtime.bigint();
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const route = routes[path];
    const label = route ? path : 'unknown';
    res.on('finish', () => {
      metrics.httpRequests.inc({ route: label, status: String(res.statusCode) });
      metrics.httpDuration.observe({ route: label }, Number(process.hrtime.bigint() - started) / 1e9);
    });
    if (!route) {
      req.resume();
      sendJson(res, 404, { error: 'not found' });
      return;
    }
    if (req.method !== route.method) {
      req.resume();
      sendJson(res, 405, { error: 'method not allowed' }, { allow: route.method });
      return;
    }
    route.handler(req, res).catch((error: unknown) => {
      logger.error({ err: error, route: path }, 'request failed');
      sendJson(res, 500, { error: 'internal error' });
    });
  });
  // OCI and Slack both give up after a few seconds; a slow client must not hold a socket forever.
  server.requestTimeout = 15_000;
  server.headersTimeout = 10_000;
  server.keepAliveTimeout = 5_000;
  return server;
}

/** Listens on port and host; resolves with the port actually bound (PORT=0 picks a free one). */
export function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** The metrics listener's one route: refresh what is read at scrape time (queue depth and age), then the registry. */
export function createMetricsServer(metrics: Metrics, refresh: () => Promise<void>, logger: Logger): Server {
  return createHttpServer(
    {
      '/metrics': {
        method: 'GET',
        handler: async (_req, res) => {
          await refresh();
          sendText(res, 200, await metrics.registry.metrics(), metrics.registry.contentType);
        },
      },
    },
    metrics,
    logger,
  );
}
