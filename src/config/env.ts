import { z } from 'zod';
import { parseConfirmHosts, type ConfirmHostRule } from './confirm-hosts.js';

const optionalText = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === '' ? undefined : value.trim()));

const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });
const optionalHttpUrl = optionalText.pipe(httpUrl.optional());

const port = (fallback: number) =>
  optionalText
    .pipe(z.string().regex(/^\d{1,5}$/, 'must be a port number').optional())
    .transform((value) => (value === undefined ? fallback : Number(value)))
    .pipe(z.number().max(65535, 'must be a port number'));

export const OCI_AUTH_MODES = ['config_file', 'instance_principal', 'resource_principal', 'workload_identity'] as const;
export type OciAuthMode = (typeof OCI_AUTH_MODES)[number];
export const ROLES = ['web', 'worker', 'all'] as const;
export type ProcessRole = (typeof ROLES)[number];

export const envSchema = z
  .object({
    SLACK_BOT_TOKEN: z.string({ error: 'is required' }).regex(/^xoxb-\S+$/, 'must be a bot token (xoxb-...)'),
    SLACK_SIGNING_SECRET: optionalText,
    SLACK_APP_TOKEN: optionalText.pipe(z.string().regex(/^xapp-\S+$/, 'must be an app-level token (xapp-...)').optional()),
    SLACK_API_URL: optionalText.pipe(httpUrl.optional()).transform((url) => {
      const base = url ?? 'https://slack.com/api/';
      return base.endsWith('/') ? base : `${base}/`;
    }),
    PORT: port(3000),
    HOST: optionalText.transform((host) => host ?? '0.0.0.0'),
    // Prometheus scrapes here, not on PORT, so the load balancer never exposes /metrics.
    METRICS_PORT: port(9464),
    METRICS_HOST: optionalText.transform((host) => host ?? '0.0.0.0'),
    ROLE: optionalText.pipe(z.enum(ROLES).optional()).transform((role) => role ?? 'all'),
    REDIS_URL: optionalText
      .pipe(z.url({ protocol: /^rediss?$/, error: 'must be a redis:// or rediss:// URL' }).optional())
      .transform((url) => url ?? 'redis://127.0.0.1:6379'),
    MLOPS_CONFIG: optionalText.transform((path) => path ?? './mlops.yaml'),
    OCI_NOTIFICATIONS_USER: optionalText,
    OCI_NOTIFICATIONS_PASSWORD: optionalText,
    OCI_CONFIRM_HOSTS: optionalText.transform((text, ctx): ConfirmHostRule[] => {
      const { rules, errors } = parseConfirmHosts(text ?? '*.oraclecloud.com');
      for (const error of errors) ctx.addIssue({ code: 'custom', message: error });
      return rules;
    }),
    OCI_AUTH: optionalText.pipe(z.enum(OCI_AUTH_MODES).optional()).transform((mode) => mode ?? 'config_file'),
    OCI_CONFIG_FILE: optionalText,
    OCI_PROFILE: optionalText,
    OCI_REGION: optionalText.pipe(z.string().regex(/^[a-z]+-[a-z]+-\d+$/, 'must be a region identifier such as us-ashburn-1').optional()),
    OCI_DATASCIENCE_ENDPOINT: optionalHttpUrl,
    OCI_DEVOPS_ENDPOINT: optionalHttpUrl,
    /** Logging Search (log tails on failure alerts) and Monitoring (alarm charts) endpoint overrides. */
    OCI_LOGGING_ENDPOINT: optionalHttpUrl,
    OCI_MONITORING_ENDPOINT: optionalHttpUrl,
    MLFLOW_TRACKING_URI: optionalHttpUrl,
    MLFLOW_TRACKING_TOKEN: optionalText,
    MLFLOW_TRACKING_USERNAME: optionalText,
    MLFLOW_TRACKING_PASSWORD: optionalText,
    MLFLOW_WEBHOOK_SECRET: optionalText,
    KUBECONFIG: optionalText,
    LOG_LEVEL: optionalText
      .pipe(z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional())
      .transform((level) => level ?? 'info'),
  })
  .superRefine((env, ctx) => {
    if (!env.SLACK_APP_TOKEN && !env.SLACK_SIGNING_SECRET) {
      ctx.addIssue({ code: 'custom', path: ['SLACK_SIGNING_SECRET'], message: 'is required unless SLACK_APP_TOKEN (Socket Mode) is set' });
    }
    if (Boolean(env.OCI_NOTIFICATIONS_USER) !== Boolean(env.OCI_NOTIFICATIONS_PASSWORD)) {
      const missing = env.OCI_NOTIFICATIONS_USER ? 'OCI_NOTIFICATIONS_PASSWORD' : 'OCI_NOTIFICATIONS_USER';
      ctx.addIssue({ code: 'custom', path: [missing], message: 'must be set together with the other OCI_NOTIFICATIONS_ variable' });
    }
    if (env.OCI_AUTH === 'workload_identity' && !env.OCI_REGION) {
      ctx.addIssue({ code: 'custom', path: ['OCI_REGION'], message: 'is required when OCI_AUTH=workload_identity (the provider has no region)' });
    }
    if (Boolean(env.MLFLOW_TRACKING_USERNAME) !== Boolean(env.MLFLOW_TRACKING_PASSWORD)) {
      const missing = env.MLFLOW_TRACKING_USERNAME ? 'MLFLOW_TRACKING_PASSWORD' : 'MLFLOW_TRACKING_USERNAME';
      ctx.addIssue({ code: 'custom', path: [missing], message: 'must be set together with the other MLFLOW_TRACKING_ credential' });
    }
    // Zod skips refinements once any field failed; run them anyway so one start-up names every bad key.
    // Only presence and equality are checked, so fields that failed (still raw strings) are read safely.
  }, { when: (payload) => typeof payload.value === 'object' && payload.value !== null });

export type Env = z.output<typeof envSchema>;
