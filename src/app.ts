import type { AddressInfo } from 'node:net';
import { App, LogLevel, SocketModeReceiver } from '@slack/bolt';
import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { createCommandListener } from '../commands/index.js';
import { createApprovalsCommand } from '../commands/approvals.js';
import { createPromoteCommand } from '../commands/promote.js';
import { createRollbackCommand } from '../commands/rollback.js';
import { createStatusCommand } from '../commands/status.js';
import { createTrainCommand } from '../commands/train.js';
import { createNotificationProcessor } from '../jobs/oci-notification.js';
import { createExplainProcessor } from '../jobs/explain-failure.js';
import { createSlackStatusProcessor } from '../jobs/slack-status.js';
import { createPromoteProcessor } from '../jobs/promote.js';
import { createRollbackProcessor } from '../jobs/rollback.js';
import { createTrainProcessor } from '../jobs/train.js';
import { retryRun } from './interactions/retry-run.js';
import type { KubeClient } from './adapters/kube/kube-client.js';
import { MlflowClient } from './adapters/mlflow/mlflow-client.js';
import { ApprovalStore } from './adapters/redis/approval-store.js';
import { AuditLog } from './adapters/redis/audit-log.js';
import { RateLimiter } from './adapters/redis/rate-limiter.js';
import { createRedis } from './adapters/redis/redis-connection.js';
import { RunStore } from './adapters/redis/run-store.js';
import { slackLogger } from './adapters/slack-api/slack-logger.js';
import { createSlackWebClient, SlackGateway, type GatewayOptions } from './adapters/slack-api/slack-gateway.js';
import { Authorizer } from './authorizer.js';
import type { Config } from './config/load-config.js';
import type { Context, OciLogSearch, OciMonitoring, OciReader, OciStarter } from './context.js';
import { lazyLogSearch, lazyMonitoring } from './adapters/oci/lazy-oci-gateway.js';
import { createMlflowWebhooksHandler } from './http/mlflow-webhooks-route.js';
import { createOciNotificationsHandler } from './http/oci-notifications-route.js';
import { sendJson, sendText } from './http/respond.js';
import { createHttpServer, type RouteTable } from './http/server.js';
import { SlackHttpReceiver } from './http/slack-receiver.js';
import { registerApprovalButtons } from './interactions/approval-buttons.js';
import { registerRollbackButtons, rollbackFromRun } from './interactions/rollback-buttons.js';
import { registerLogTailButtons } from './interactions/log-tail-buttons.js';
import { registerRunButtons } from './interactions/run-buttons.js';
import { createLogger, type Logger } from './log.js';
import { createMetrics } from './metrics.js';
import { closeQueues, createQueues, jobBackoff, QUEUE_NAMES, QUEUE_PREFIX } from './queues.js';

export interface BotOptions {
  config: Config;
  oci: OciReader & OciStarter;
  /** OCI Logging Search and Monitoring; built from the environment (on first use) when not given. */
  logSearch?: OciLogSearch;
  monitoring?: OciMonitoring;
  logger?: Logger;
  now?: () => Date;
  slackGateway?: Partial<GatewayOptions>;
}

export interface RunningBot {
  url: string;
  port: number;
  context: Context;
  ready(): Promise<{ ready: boolean; checks: Record<string, boolean> }>;
  stop(): Promise<void>;
}

const SLACK_IDENTITY_RETRY_MS = [500, 1_000, 2_000, 5_000, 10_000];

/**
 * Starts one bot process in the role ROLE asks for: `web` serves HTTP (Slack, OCI, probes), `worker` runs
 * the BullMQ workers (and still serves probes and metrics), `all` does both.
 */
export async function startBot(options: BotOptions): Promise<RunningBot> {
  const { config } = options;
  const { env } = config;
  const logger = options.logger ?? createLogger({ level: env.LOG_LEVEL });
  const metrics = createMetrics();
  const now = options.now ?? (() => new Date());
  const serveWeb = env.ROLE !== 'worker';
  const runWorkers = env.ROLE !== 'web';

  const redis = createRedis(env.REDIS_URL, 'command', 'commands');
  redis.on('error', (error: Error) => logger.debug({ err: error }, 'redis connection error'));
  const queues = createQueues(redis);
  const limiter = new RateLimiter(redis);
  const webClient = createSlackWebClient(env.SLACK_BOT_TOKEN, env.SLACK_API_URL, logger);
  const slack = new SlackGateway(webClient, limiter, metrics, logger.child({ component: 'slack-gateway' }), options.slackGateway);
  let kube: Promise<KubeClient> | undefined;
  const audit = new AuditLog(redis, logger.child({ component: 'audit' }));
  // Loaded on first use only, so building them costs nothing when the caller brings its own.
  const ownLogSearch = lazyLogSearch(env, logger.child({ component: 'oci-logging' }));
  const ownMonitoring = lazyMonitoring(env, logger.child({ component: 'oci-monitoring' }));
  const context: Context = { config, logger, metrics, redis, runs: new RunStore(redis), limiter, slack, oci: options.oci, logSearch: options.logSearch ?? ownLogSearch, monitoring: options.monitoring ?? ownMonitoring, queues, audit, approvals: new ApprovalStore(redis), mlflow: env.MLFLOW_TRACKING_URI ? new MlflowClient(env) : undefined, kube: () => (kube ??= import('./adapters/kube/kube-client.js').then(({ KubeClient: Client }) => Client.create(env)).catch((error: unknown) => {
      kube = undefined;
      throw error;
    })), now };
  const authorizer = new Authorizer(config.file.roles, slack, redis, logger.child({ component: 'authorizer' }));

  // Bolt would call auth.test itself and cache even a failure; we learn the bot's identity with retries
  // and hand it over, so a Slack hiccup at start-up only delays readiness.
  let bolt: App | undefined;
  let receiver: SlackHttpReceiver | undefined;
  let stopping = false;
  const identify = async () => {
    for (let attempt = 0; !stopping; attempt++) {
      try {
        const identity = await webClient.auth.test();
        if (!identity.user_id) throw new Error('auth.test returned no user_id');
        receiver = env.SLACK_APP_TOKEN ? undefined : new SlackHttpReceiver(env.SLACK_SIGNING_SECRET ?? '', redis, logger.child({ component: 'slack-receiver' }), now);
        const app = new App({
          token: env.SLACK_BOT_TOKEN,
          botId: identity.bot_id ?? '',
          botUserId: identity.user_id,
          logger: slackLogger(logger.child({ component: 'bolt' })),
          logLevel: LogLevel.INFO,
          clientOptions: { slackApiUrl: env.SLACK_API_URL, retryConfig: { retries: 0 } },
          // Socket Mode: built here rather than by Bolt so that apps.connections.open also goes to SLACK_API_URL.
          receiver:
            receiver ??
            new SocketModeReceiver({
              appToken: env.SLACK_APP_TOKEN ?? '',
              logger: slackLogger(logger.child({ component: 'slack-socket-mode' })),
              installerOptions: { clientOptions: { slackApiUrl: env.SLACK_API_URL } },
            }),
        });
        app.command('/mlops', createCommandListener({ context, authorizer }, [createTrainCommand(), createPromoteCommand(), createRollbackCommand(), createStatusCommand(), createApprovalsCommand()]));
        registerRunButtons(app, context, authorizer, { retry: (click) => retryRun(context, click), rollback: (click) => rollbackFromRun(context, click) });
        registerRollbackButtons(app, context, authorizer);
        registerApprovalButtons(app, context, authorizer);
        registerLogTailButtons(app, context);
        app.event('subteam_members_changed', async ({ event }) => {
          const subteam = (event as { subteam_id?: unknown }).subteam_id;
          if (typeof subteam === 'string') await authorizer.forget(subteam);
        });
        app.error(async (error) => {
          logger.error({ err: error }, 'bolt listener failed');
          return Promise.resolve();
        });
        if (env.SLACK_APP_TOKEN) await app.start();
        bolt = app;
        logger.info({ botUserId: identity.user_id, socketMode: Boolean(env.SLACK_APP_TOKEN) }, 'slack connected');
        return;
      } catch (error) {
        const wait = SLACK_IDENTITY_RETRY_MS[Math.min(attempt, SLACK_IDENTITY_RETRY_MS.length - 1)] ?? 10_000;
        logger.warn({ err: error, retryInMs: wait }, 'slack identity unavailable');
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  };
  const identified = serveWeb ? identify() : Promise.resolve();

  const workers: Worker[] = [];
  const workerConnections: Redis[] = [];
  if (runWorkers) {
    const processors: Record<string, { run: (job: Job, token?: string) => Promise<unknown>; concurrency: number }> = {
      [QUEUE_NAMES.notifications]: { run: createNotificationProcessor(context), concurrency: 16 },
      [QUEUE_NAMES.slackStatus]: { run: createSlackStatusProcessor(context), concurrency: 32 },
      [QUEUE_NAMES.train]: { run: createTrainProcessor(context), concurrency: 8 },
      [QUEUE_NAMES.promote]: { run: createPromoteProcessor(context), concurrency: 4 },
      [QUEUE_NAMES.rollback]: { run: createRollbackProcessor(context), concurrency: 4 },
      [QUEUE_NAMES.explain]: { run: createExplainProcessor(context), concurrency: 4 },
    };
    for (const [name, { run, concurrency }] of Object.entries(processors)) {
      const connection: Redis = createRedis(env.REDIS_URL, 'worker', `worker:${name}`);
      connection.on('error', (error: Error) => logger.debug({ err: error, queue: name }, 'redis worker connection error'));
      workerConnections.push(connection);
      const worker = new Worker(name, run, { connection, prefix: QUEUE_PREFIX, concurrency, autorun: true, settings: { backoffStrategy: jobBackoff } });
      worker.on('completed', () => metrics.jobOutcomes.inc({ queue: name, outcome: 'completed' }));
      worker.on('failed', (job, error) => {
        const final = !job || job.attemptsMade >= (job.opts.attempts ?? 1) || error.name === 'UnrecoverableError';
        metrics.jobOutcomes.inc({ queue: name, outcome: final ? 'failed' : 'retried' });
        logger[final ? 'error' : 'warn']({ err: error, queue: name, job: job?.id, attempts: job?.attemptsMade }, final ? 'job failed' : 'job will be retried');
      });
      worker.on('error', (error) => logger.debug({ err: error, queue: name }, 'worker error'));
      workers.push(worker);
    }
  }

  const ready = async () => {
    const checks: Record<string, boolean> = {};
    try {
      checks.redis = redis.status === 'ready' && (await redis.ping()) === 'PONG';
    } catch {
      checks.redis = false;
    }
    if (serveWeb) checks.slack = bolt !== undefined;
    if (runWorkers) checks.workers = workers.every((worker) => worker.isRunning());
    return { ready: Object.values(checks).every(Boolean), checks };
  };

  const notifications = createOciNotificationsHandler(context);
  const routes: RouteTable = {
    '/healthz': { method: 'GET', handler: (_req, res) => Promise.resolve(sendJson(res, 200, { status: 'ok' })) },
    '/readyz': {
      method: 'GET',
      handler: async (_req, res) => {
        const state = await ready();
        sendJson(res, state.ready ? 200 : 503, { status: state.ready ? 'ready' : 'not ready', checks: state.checks });
      },
    },
    '/metrics': {
      method: 'GET',
      handler: async (_req, res) => {
        if (redis.status === 'ready') {
          await Promise.all(
            Object.values(queues).map(async (queue: { name: string; getJobCounts: () => Promise<Record<string, number>> }) => {
              const counts = await queue.getJobCounts().catch(() => ({}));
              for (const [state, count] of Object.entries(counts)) metrics.queueDepth.set({ queue: queue.name, state }, count);
            }),
          );
        }
        sendText(res, 200, await metrics.registry.metrics(), metrics.registry.contentType);
      },
    },
  };
  if (serveWeb) {
    routes['/oci/notifications'] = { method: 'POST', handler: notifications };
    routes['/mlflow/webhooks'] = { method: 'POST', handler: createMlflowWebhooksHandler(context) };
    if (!env.SLACK_APP_TOKEN) {
      routes['/slack/events'] = {
        method: 'POST',
        handler: async (req, res) => {
          if (!receiver || !bolt) {
            req.resume();
            sendJson(res, 503, { error: 'slack not connected yet' }, { 'retry-after': '5' });
            return;
          }
          await receiver.handle(req, res);
        },
      };
    }
  }
  const server = createHttpServer(routes, metrics, logger);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(env.PORT, env.HOST, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = env.HOST === '0.0.0.0' || env.HOST === '::' ? '127.0.0.1' : env.HOST;
  logger.info({ port, role: env.ROLE }, 'listening');

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      stopping = true;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await identified;
      if (bolt && env.SLACK_APP_TOKEN) await bolt.stop().catch(() => undefined);
      // Closing a worker waits for its active jobs; anything not finished stays in Redis for another replica.
      await Promise.all(workers.map((worker) => worker.close()));
      await Promise.all(workerConnections.map((connection) => connection.quit().catch(() => connection.disconnect())));
      await closeQueues(queues).catch(() => undefined);
      await redis.quit().catch(() => redis.disconnect());
      await Promise.all([ownLogSearch.close(), ownMonitoring.close()]).catch(() => undefined);
      logger.info('stopped');
    })();
    return stopped;
  };

  return { url: `http://${host}:${port}`, port, context, ready, stop };
}
