import { App, LogLevel } from '@slack/bolt';
import type { Job, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { createCommandListener, createSubcommands } from '../commands/index.js';
import { createCommandProcessor } from '../jobs/command.js';
import { createNotificationProcessor } from '../jobs/oci-notification.js';
import { createExplainProcessor } from '../jobs/explain-failure.js';
import { createSlackStatusProcessor } from '../jobs/slack-status.js';
import { createPromoteProcessor } from '../jobs/promote.js';
import { createRollbackProcessor } from '../jobs/rollback.js';
import { createDeploymentActionProcessor } from '../jobs/deployment-action.js';
import { createDeploymentPollProcessor } from '../jobs/deployment-poll.js';
import { createTrainProcessor } from '../jobs/train.js';
import { createRetrainProcessor, syncRetrainSchedules } from '../jobs/retrain.js';
import { createModelVersionProcessor } from '../jobs/model-version.js';
import { retryRun } from './interactions/retry-run.js';
import { retrainFromAlarm } from './interactions/retrain-run.js';
import type { KubeClient } from './adapters/kube/kube-client.js';
import { MlflowClient } from './adapters/mlflow/mlflow-client.js';
import { AliasMoveStore } from './adapters/redis/alias-moves.js';
import { ApprovalStore } from './adapters/redis/approval-store.js';
import { AuditLog } from './adapters/redis/audit-log.js';
import { RateLimiter } from './adapters/redis/rate-limiter.js';
import { createRedis } from './adapters/redis/redis-connection.js';
import { RunStore } from './adapters/redis/run-store.js';
import { slackLogger } from './adapters/slack-api/slack-logger.js';
import { createSlackWebClient, SlackGateway, type GatewayOptions } from './adapters/slack-api/slack-gateway.js';
import { Authorizer } from './authorizer.js';
import { contextKey } from './domain/environments.js';
import { kubeContextProblems } from './adapters/kube/kubeconfig-contexts.js';
import type { Config } from './config/load-config.js';
import type { Context, DeploymentPollTimings, OciDeploymentActions, OciLogSearch, OciMonitoring, OciReader, OciStarter } from './context.js';
import { lazyLogSearch, lazyMonitoring } from './adapters/oci/lazy-oci-gateway.js';
import { createMlflowWebhooksHandler } from './http/mlflow-webhooks-route.js';
import { createOciNotificationsHandler } from './http/oci-notifications-route.js';
import { sendJson } from './http/respond.js';
import { createHttpServer, createMetricsServer, listen, type RouteTable } from './http/server.js';
import { SlackHttpReceiver, SlackSocketReceiver } from './http/slack-receiver.js';
import { registerAppHome } from './interactions/app-home.js';
import { registerApprovalButtons } from './interactions/approval-buttons.js';
import { registerGateOverride } from './interactions/gate-override.js';
import { registerDeploymentButtons } from './interactions/deployment-buttons.js';
import { registerModals } from './interactions/modals.js';
import { registerRollbackButtons, rollbackFromRun } from './interactions/rollback-buttons.js';
import { registerLogTailButtons } from './interactions/log-tail-buttons.js';
import { registerRunButtons } from './interactions/run-buttons.js';
import { createLogger, type Logger } from './log.js';
import { createMetrics, measureQueues, type MeasuredQueue } from './metrics.js';
import { closeQueues, createJobWorker, createQueues, jobId, QUEUE_NAMES } from './queues.js';

export interface BotOptions {
  config: Config;
  oci: OciReader & OciStarter & OciDeploymentActions;
  /** OCI Logging Search and Monitoring; built from the environment (on first use) when not given. */
  logSearch?: OciLogSearch;
  monitoring?: OciMonitoring;
  logger?: Logger;
  /** How often running deployments are read (tests shorten it). */
  deploymentPoll?: DeploymentPollTimings;
  now?: () => Date;
  slackGateway?: Partial<GatewayOptions>;
  /** How often workers look for model versions whose MLflow webhook was missed (default 5 minutes). */
  modelVersionSweepMs?: number;
}

export interface RunningBot {
  url: string;
  port: number;
  /** The metrics listener (METRICS_PORT): GET /metrics. */
  metricsUrl: string;
  context: Context;
  /** `degraded` names failed checks that do not make the pod unready (Slack's socket in Socket Mode). */
  ready(): Promise<{ ready: boolean; checks: Record<string, boolean>; degraded: string[] }>;
  stop(): Promise<void>;
}

/** Waits between attempts at start-up work that needs Slack or Redis. */
/** Every 5 s while stages run (backing off to 60 s while nothing changes), every 60 s while an approval waits (reference/oci.md §8.4). */
const DEFAULT_DEPLOYMENT_POLL: DeploymentPollTimings = { fastMs: 5_000, slowMs: 60_000 };

const SLACK_IDENTITY_RETRY_MS = [500, 1_000, 2_000, 5_000, 10_000];
const MODEL_VERSION_SWEEP_MS = 5 * 60_000;

/**
 * Starts one bot process in the role ROLE asks for: `web` serves HTTP (Slack, OCI, probes), `worker` runs
 * the BullMQ workers (and still serves probes and metrics), `all` does both.
 */
export async function startBot(options: BotOptions): Promise<RunningBot> {
  const { config } = options;
  const { env } = config;
  const logger = options.logger ?? createLogger({ level: env.LOG_LEVEL });
  const metrics = createMetrics();
  // Rollbacks and status of those Deployments will fail with the same message; the rest works, so start.
  for (const problem of kubeContextProblems(config.file.models, env.KUBECONFIG)) logger.error({ problem }, 'kubernetes context unusable');
  const now = options.now ?? (() => new Date());
  const serveWeb = env.ROLE !== 'worker';
  const runWorkers = env.ROLE !== 'web';

  const redis = createRedis(env.REDIS_URL, 'command', 'commands');
  redis.on('error', (error: Error) => logger.debug({ err: error }, 'redis connection error'));
  const queues = createQueues(redis);
  const limiter = new RateLimiter(redis);
  const webClient = createSlackWebClient(env.SLACK_BOT_TOKEN, env.SLACK_API_URL, logger);
  const slack = new SlackGateway(webClient, limiter, metrics, logger.child({ component: 'slack-gateway' }), options.slackGateway);
  // One Kubernetes client per kubeconfig context (one per cluster), built on first use; a failure is not kept.
  const kubeClients = new Map<string, Promise<KubeClient>>();
  const kubeClient = (name?: string): Promise<KubeClient> => {
    const cacheKey = name ?? '';
    let client = kubeClients.get(cacheKey);
    if (!client) {
      client = import('./adapters/kube/kube-client.js')
        .then(({ KubeClient: Client }) => Client.create(env, name, name === undefined ? undefined : contextKey(config.file.models, name)))
        .catch((error: unknown) => {
          kubeClients.delete(cacheKey);
          throw error;
        });
      kubeClients.set(cacheKey, client);
    }
    return client;
  };
  const audit = new AuditLog(redis, logger.child({ component: 'audit' }));
  // Loaded on first use only, so building them costs nothing when the caller brings its own.
  const ownLogSearch = lazyLogSearch(env, logger.child({ component: 'oci-logging' }));
  const ownMonitoring = lazyMonitoring(env, logger.child({ component: 'oci-monitoring' }));
  const context: Context = { config, logger, metrics, redis, runs: new RunStore(redis), limiter, slack, oci: options.oci, logSearch: options.logSearch ?? ownLogSearch, monitoring: options.monitoring ?? ownMonitoring, queues, audit, approvals: new ApprovalStore(redis), aliasMoves: new AliasMoveStore(redis), mlflow: env.MLFLOW_TRACKING_URI ? new MlflowClient(env) : undefined, kube: (name?: string) => kubeClient(name), now, deploymentPoll: options.deploymentPoll ?? DEFAULT_DEPLOYMENT_POLL };
  const authorizer = new Authorizer(config.file.roles, slack, redis, logger.child({ component: 'authorizer' }));
  const subcommands = createSubcommands();

  // Bolt would call auth.test itself and cache even a failure; we learn the bot's identity with retries
  // and hand it over, so a Slack hiccup at start-up only delays readiness.
  let bolt: App | undefined;
  let receiver: SlackHttpReceiver | undefined;
  let socket: SlackSocketReceiver | undefined;
  let stopping = false;
  const identify = async () => {
    for (let attempt = 0; !stopping; attempt++) {
      try {
        const identity = await webClient.auth.test();
        if (!identity.user_id) throw new Error('auth.test returned no user_id');
        receiver = env.SLACK_APP_TOKEN ? undefined : new SlackHttpReceiver(env.SLACK_SIGNING_SECRET ?? '', redis, logger.child({ component: 'slack-receiver' }), now);
        // Socket Mode: built here rather than by Bolt so that apps.connections.open also goes to SLACK_API_URL.
        socket = env.SLACK_APP_TOKEN
          ? new SlackSocketReceiver(
              { appToken: env.SLACK_APP_TOKEN, logger: slackLogger(logger.child({ component: 'slack-socket-mode' })), installerOptions: { clientOptions: { slackApiUrl: env.SLACK_API_URL } } },
              redis,
              logger.child({ component: 'slack-receiver' }),
            )
          : undefined;
        const app = new App({
          token: env.SLACK_BOT_TOKEN,
          botId: identity.bot_id ?? '',
          botUserId: identity.user_id,
          logger: slackLogger(logger.child({ component: 'bolt' })),
          logLevel: LogLevel.INFO,
          clientOptions: { slackApiUrl: env.SLACK_API_URL, retryConfig: { retries: 0 } },
          receiver: receiver ?? socket,
          // Bolt's conversation store keeps state in memory; the bot keeps none there (and it costs every event a lookup).
          convoStore: false,
        });
        app.command('/mlops', createCommandListener({ context, authorizer }, subcommands));
        registerRunButtons(app, context, authorizer, { retry: (click) => retryRun(context, click), retrain: (click) => retrainFromAlarm(context, click), rollback: (click) => rollbackFromRun(context, click) });
        registerRollbackButtons(app, context, authorizer);
        registerApprovalButtons(app, context, authorizer);
        registerLogTailButtons(app, context);
        registerGateOverride(app, context, authorizer);
        registerDeploymentButtons(app, context, authorizer);
        await registerModals(app, context, authorizer);
        registerAppHome(app, context);
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
      [QUEUE_NAMES.retrain]: { run: createRetrainProcessor(context), concurrency: 4 },
      [QUEUE_NAMES.modelVersions]: { run: createModelVersionProcessor(context), concurrency: 4 },
      [QUEUE_NAMES.deploymentPoll]: { run: createDeploymentPollProcessor(context), concurrency: 8 },
      [QUEUE_NAMES.deploymentAction]: { run: createDeploymentActionProcessor(context), concurrency: 4 },
      [QUEUE_NAMES.commands]: { run: createCommandProcessor({ context, authorizer }, subcommands), concurrency: 16 },
    };
    for (const [name, { run, concurrency }] of Object.entries(processors)) {
      const connection: Redis = createRedis(env.REDIS_URL, 'worker', `worker:${name}`);
      connection.on('error', (error: Error) => logger.debug({ err: error, queue: name }, 'redis worker connection error'));
      workerConnections.push(connection);
      const worker = createJobWorker(name, run, { connection, concurrency });
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

  // The config's retrain schedules become BullMQ job schedulers (and schedulers no longer in it go); a
  // Redis outage at start-up only delays this.
  const scheduled = runWorkers
    ? (async () => {
        for (let attempt = 0; !stopping; attempt++) {
          try {
            await syncRetrainSchedules(context);
            return;
          } catch (error) {
            const wait = SLACK_IDENTITY_RETRY_MS[Math.min(attempt, SLACK_IDENTITY_RETRY_MS.length - 1)] ?? 10_000;
            logger.warn({ err: error, retryInMs: wait }, 'retrain schedules not synced');
            await new Promise((resolve) => setTimeout(resolve, wait));
          }
        }
      })()
    : Promise.resolve();
  if (runWorkers && context.mlflow && Object.keys(config.file.models).length > 0) {
    // Missed MLflow webhooks: one scheduler shared by every replica (upserting the same id is idempotent), and
    // one sweep at start; two replicas starting together add it once.
    const every = options.modelVersionSweepMs ?? MODEL_VERSION_SWEEP_MS;
    const startSweep = jobId('model-version-sweep', String(Math.floor(Date.now() / every)));
    await Promise.all([
      queues.modelVersions.upsertJobScheduler('model-version-sweep', { every }, { name: 'sweep', data: { kind: 'sweep' }, opts: { removeOnComplete: true, removeOnFail: { age: 24 * 3600 }, attempts: 1 } }),
      queues.modelVersions.add('sweep', { kind: 'sweep' }, { jobId: startSweep, removeOnComplete: { age: 3600 }, attempts: 1 }),
    ]).catch((error: unknown) => logger.warn({ err: error }, 'model version sweep not scheduled'));
  }

  const ready = async () => {
    const checks: Record<string, boolean> = {};
    try {
      checks.redis = redis.status === 'ready' && (await redis.ping()) === 'PONG';
    } catch {
      checks.redis = false;
    }
    // In Socket Mode the web pod also takes OCI Notifications and MLflow webhooks over HTTP: a lost socket
    // to Slack is reported, but the pod stays ready so those keep flowing while it reconnects.
    if (serveWeb) checks.slack = bolt !== undefined && (socket?.connected ?? true);
    if (runWorkers) checks.workers = workers.every((worker) => worker.isRunning());
    const degraded = env.SLACK_APP_TOKEN && checks.slack === false ? ['slack'] : [];
    return { ready: Object.entries(checks).every(([name, ok]) => ok || degraded.includes(name)), checks, degraded };
  };

  const notifications = createOciNotificationsHandler(context);
  const routes: RouteTable = {
    '/healthz': { method: 'GET', handler: (_req, res) => Promise.resolve(sendJson(res, 200, { status: 'ok' })) },
    '/readyz': {
      method: 'GET',
      handler: async (_req, res) => {
        const state = await ready();
        sendJson(res, state.ready ? 200 : 503, { status: state.ready ? 'ready' : 'not ready', ...(state.degraded.length > 0 ? { degraded: state.degraded } : {}), checks: state.checks });
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
  const metricsServer = createMetricsServer(metrics, () => (redis.status === 'ready' ? measureQueues(metrics, Object.values(queues).map((queue: MeasuredQueue) => queue), now()) : Promise.resolve()), logger);
  const port = await listen(server, env.PORT, env.HOST);
  const metricsPort = await listen(metricsServer, env.METRICS_PORT, env.METRICS_HOST).catch(async (error: unknown) => {
    await new Promise((resolve) => server.close(resolve));
    throw error;
  });
  const loopback = (host: string) => (host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host);
  const host = loopback(env.HOST);
  logger.info({ port, metricsPort, role: env.ROLE }, 'listening');

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      stopping = true;
      await Promise.all(
        [server, metricsServer].map(
          (listener) =>
            new Promise<void>((resolve) => {
              listener.close(() => resolve());
              listener.closeIdleConnections();
            }),
        ),
      );
      // Closing the socket also ends a start still waiting for Slack (an outage), so identify() returns.
      await socket?.stop().catch(() => undefined);
      await identified;
      await scheduled;
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

  return { url: `http://${host}:${port}`, port, metricsUrl: `http://${loopback(env.METRICS_HOST)}:${metricsPort}`, context, ready, stop };
}
