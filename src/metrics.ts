import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * One registry per bot instance (tests run several in one process), exposed on GET /metrics of the
 * metrics listener (METRICS_PORT), never on the public port.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'mlops_' });
  return {
    registry,
    httpRequests: new Counter({
      name: 'mlops_http_requests_total',
      help: 'HTTP requests by route and status code',
      labelNames: ['route', 'status'] as const,
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'mlops_http_request_duration_seconds',
      help: 'HTTP request duration by route',
      labelNames: ['route'] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 3],
      registers: [registry],
    }),
    notifications: new Counter({
      name: 'mlops_oci_notifications_total',
      help: 'OCI Notifications deliveries by outcome (enqueued, duplicate, confirmed, refused, invalid, unavailable)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: 'mlops_queue_jobs',
      help: 'Jobs per queue and state',
      labelNames: ['queue', 'state'] as const,
      registers: [registry],
    }),
    queueOldestWaiting: new Gauge({
      name: 'mlops_queue_oldest_waiting_seconds',
      help: 'Age of the oldest job waiting to be picked up, per queue (0 when none waits)',
      labelNames: ['queue'] as const,
      registers: [registry],
    }),
    jobOutcomes: new Counter({
      name: 'mlops_jobs_total',
      help: 'Finished jobs by queue and outcome (completed, failed, retried, delayed)',
      labelNames: ['queue', 'outcome'] as const,
      registers: [registry],
    }),
    slackCalls: new Counter({
      name: 'mlops_slack_api_calls_total',
      help: 'Slack Web API calls by method and outcome',
      labelNames: ['method', 'outcome'] as const,
      registers: [registry],
    }),
    slackRateLimited: new Counter({
      name: 'mlops_slack_api_rate_limited_total',
      help: 'Slack Web API 429 answers by method',
      labelNames: ['method'] as const,
      registers: [registry],
    }),
    approvalLatency: new Histogram({
      name: 'mlops_approval_decision_seconds',
      help: 'Time from a promotion request to its approval or rejection',
      labelNames: ['outcome'] as const,
      buckets: [60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 24 * 3600, 72 * 3600],
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** What the scrape needs of a BullMQ queue. */
export interface MeasuredQueue {
  name: string;
  getJobCounts(): Promise<Record<string, number>>;
  getJobs(types: 'wait'[], start: number, end: number, asc: boolean): Promise<({ timestamp: number } | undefined)[]>;
}

/** Queue depth per state and the age of the oldest waiting job, read from Redis at scrape time. */
export async function measureQueues(metrics: Metrics, queues: MeasuredQueue[], now: Date): Promise<void> {
  await Promise.all(
    queues.map(async (queue) => {
      const counts = await queue.getJobCounts().catch(() => ({}));
      for (const [state, count] of Object.entries(counts)) metrics.queueDepth.set({ queue: queue.name, state }, count);
      const [oldest] = await queue.getJobs(['wait'], 0, 0, true).catch(() => []);
      metrics.queueOldestWaiting.set({ queue: queue.name }, oldest ? Math.max(0, (now.getTime() - oldest.timestamp) / 1000) : 0);
    }),
  );
}
