import { stringify } from 'yaml';
import { startBot, type RunningBot } from '../../src/app.js';
import type { DeploymentPollTimings, OciDeploymentActions, OciLogSearch, OciMonitoring, OciReader, OciStarter } from '../../src/context.js';
import { loadConfig } from '../../src/config/load-config.js';
import { createLogger, type Logger } from '../../src/log.js';

export const SIGNING_SECRET = 'test-signing-secret-0123456789abcdef';
export const BOT_TOKEN = 'xoxb-test';

/** A config file as the YAML a user writes; tests override what they need. */
export function baseConfigFile(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    slack: { defaultChannel: 'C0DEFAULT', oncall: 'S0ONCALL' },
    routes: [
      { match: { kind: 'training' }, channel: 'C0TRAIN' },
      { match: { kind: 'alarm', severity: 'CRITICAL' }, channel: 'C0ONCALL' },
    ],
    roles: { trainers: ['S0DS'], approvers: ['U0LEAD1', 'U0LEAD2'], deployers: ['S0SRE'] },
    train: {
      'fraud-model': {
        dataScienceJob: {
          jobId: 'ocid1.datasciencejob.oc1.iad.fraudjob',
          projectId: 'ocid1.datascienceproject.oc1.iad.proj',
          compartmentId: 'ocid1.compartment.oc1..ml',
        },
      },
      'churn-model': { devopsBuild: { buildPipelineId: 'ocid1.devopsbuildpipeline.oc1.iad.churn' } },
    },
    ...overrides,
  };
}

export interface HarnessOptions {
  redisUrl: string;
  slackApiUrl: string;
  oci: OciReader & OciStarter & OciDeploymentActions;
  /** How often running deployments are read. */
  deploymentPoll?: DeploymentPollTimings;
  logSearch?: OciLogSearch;
  monitoring?: OciMonitoring;
  env?: Record<string, string>;
  file?: Record<string, unknown>;
  logger?: Logger;
  /** The bot's clock, for expiry tests. */
  now?: () => Date;
}

/** Starts the real bot in this process on a free port, with its config built the way start-up builds it. */
export async function startTestBot(options: HarnessOptions): Promise<RunningBot> {
  const yaml = stringify(options.file ?? baseConfigFile());
  const config = loadConfig(
    {
      SLACK_BOT_TOKEN: BOT_TOKEN,
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_API_URL: options.slackApiUrl,
      REDIS_URL: options.redisUrl,
      PORT: '0',
      HOST: '127.0.0.1',
      METRICS_PORT: '0',
      METRICS_HOST: '127.0.0.1',
      MLOPS_CONFIG: '/virtual/mlops.yaml',
      LOG_LEVEL: 'silent',
      ...options.env,
    },
    () => yaml,
  );
  const logger = options.logger ?? createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  return startBot({ config, oci: options.oci, logger, ...(options.logSearch ? { logSearch: options.logSearch } : {}), ...(options.monitoring ? { monitoring: options.monitoring } : {}), ...(options.now ? { now: options.now } : {}), ...(options.deploymentPoll ? { deploymentPoll: options.deploymentPoll } : {}) });
}

/** Polls until the bot reports ready (Redis, Slack identity, workers). */
export async function waitReady(bot: RunningBot, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = await bot.ready();
    if (state.ready) return;
    if (Date.now() > deadline) throw new Error(`bot not ready: ${JSON.stringify(state.checks)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Polls `check` until it returns a value other than undefined/false. */
export async function eventually<T>(check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 40));
  }
}
