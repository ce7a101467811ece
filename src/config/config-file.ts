import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';
import { parseDuration } from './duration.js';

/** Slack IDs: users (U/W), user groups (S), channels (C/G/D). Names are never accepted: they can change. */
const userId = z.string().regex(/^[UW][A-Z0-9]{2,}$/, 'must be a Slack user ID (U...)');
const principalId = z.string().regex(/^[UWS][A-Z0-9]{2,}$/, 'must be a Slack user ID (U...) or user group ID (S...)');
const channelId = z.string().regex(/^[CGD][A-Z0-9]{2,}$/, 'must be a Slack channel ID (C...)');
const ocid = (kind: string) =>
  z.string().regex(new RegExp(`^ocid1\\.${kind}\\.[a-z0-9-]+\\.[a-z0-9-]*\\.[A-Za-z0-9._-]+$`), `must be an OCID of a ${kind}`);
const anyOcid = z.string().regex(/^ocid1\.[a-z0-9]+\.[a-z0-9-]+\.[a-z0-9-]*\.[A-Za-z0-9._-]+$/, 'must be an OCID');

/** A duration such as `90s`, `2h` or `7d`, read into milliseconds. */
const duration = (example: string) =>
  z.string().transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `must be a duration such as ${example}` });
      return z.NEVER;
    }
    return ms;
  });

export const EVENT_KINDS = ['build', 'training', 'deploy', 'model', 'alarm'] as const;
export type EventKind = (typeof EVENT_KINDS)[number];
export const ALARM_SEVERITIES = ['CRITICAL', 'ERROR', 'WARNING', 'INFO'] as const;

const routeSchema = z.strictObject({
  match: z.strictObject({
    kind: z.enum(EVENT_KINDS).optional(),
    compartmentId: anyOcid.optional(),
    /** A glob on the resource's display name: `fraud-*`. */
    resourceName: z.string().min(1).optional(),
    severity: z.enum(ALARM_SEVERITIES).optional(),
  }),
  channel: channelId,
});

const trainTargetSchema = z.union([
  z.strictObject({
    dataScienceJob: z.strictObject({
      jobId: ocid('datasciencejob'),
      projectId: ocid('datascienceproject'),
      compartmentId: anyOcid,
      /** How `key=value` arguments reach the job: environment variables (default) or `--key value` command line arguments. */
      argumentsAs: z.enum(['environment', 'commandLine']).default('environment'),
    }),
  }),
  z.strictObject({
    devopsBuild: z.strictObject({ buildPipelineId: ocid('devopsbuildpipeline') }),
  }),
  /** A Data Science pipeline, started with createPipelineRun; `key=value` arguments reach its steps as environment variables. */
  z.strictObject({
    dataSciencePipeline: z.strictObject({
      pipelineId: ocid('datasciencepipeline'),
      projectId: ocid('datascienceproject'),
      compartmentId: anyOcid,
    }),
  }),
]);

const kubeName = z.string().regex(/^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/, 'must be a Kubernetes Deployment name');
const deploymentSchema = z.strictObject({
  /** A context of KUBECONFIG: the cluster this Deployment runs in. Unset: in-cluster (or KUBECONFIG's current context). */
  context: z.string().min(1).max(253).optional(),
  namespace: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a Kubernetes namespace name'),
  name: kubeName,
  /** How long a rollback waits for the rollout, like `kubectl rollout status --timeout`. */
  timeout: duration('90s or 10m').prefault('10m'),
});

const aliasName = z.string().regex(/^[A-Za-z0-9_-]{1,255}$/, 'must be an MLflow alias');
const metricName = z.string().min(1).max(250);
export const METRIC_DIRECTIONS = ['higher', 'lower'] as const;
export type MetricDirection = (typeof METRIC_DIRECTIONS)[number];

const finite = z.number().refine(Number.isFinite, 'must be a finite number');
const gateSchema = z.union([
  z.strictObject({ metric: metricName, min: finite }),
  z.strictObject({ metric: metricName, max: finite }),
  /** At most this much worse (in the metric's units, by its direction) than the version the target serves now. */
  z.strictObject({ metric: metricName, maxRegression: finite.refine((value) => value >= 0, 'must be 0 or more') }),
]);

const approvalsPolicySchema = z.strictObject({
  /** Distinct approvers needed; 0 promotes at once (still posted and audited). */
  required: z.number().int().min(0).max(10).optional(),
  /** Replaces roles.approvers in this environment. */
  approvers: z.array(principalId).optional(),
  allowSelfApproval: z.boolean().optional(),
  ttl: duration('30m, 24h or 7d').optional(),
});

const environmentSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, 'must be a short lower-case name such as dev, qa or prod'),
  /** The MLflow alias that marks the version serving in this environment. */
  alias: aliasName,
  approvals: approvalsPolicySchema.optional(),
  /** First environment only, with approvals.required 0: a new version whose gates pass is promoted here by itself. */
  autoPromote: z.boolean().default(false),
  /** How long the version must have served the previous environment. */
  soak: duration('2h or 24h').optional(),
  /** `typed`: rollbacks and deployment approvals here ask to type the environment's name. */
  confirm: z.enum(['click', 'typed']).default('click'),
  gates: z.array(gateSchema).default([]),
  deployPipelineId: ocid('devopsdeploypipeline').optional(),
  deployment: deploymentSchema.optional(),
});

const retrainSchema = z.strictObject({
  /** The train target to start; defaults to the model's `train`. */
  train: z.string().min(1).optional(),
  /** Alarm display names (globs) or alarm OCIDs. */
  onAlarms: z.array(z.string().min(1)).default([]),
  /** Start the retrain when such an alarm fires, at most once per cooldown. */
  auto: z.boolean().default(false),
  cooldown: duration('30m or 6h').optional(),
  /** Cron (UTC), five or six fields. */
  schedule: z
    .string()
    .min(1)
    .refine((text) => {
      try {
        CronExpressionParser.parse(text, { tz: 'UTC' });
        return true;
      } catch {
        return false;
      }
    }, 'must be a cron expression such as "0 3 * * 1"')
    .optional(),
});

const modelSchema = z
  .strictObject({
    alias: aliasName.optional(),
    stage: z.enum(['Staging', 'Production', 'Archived']).optional(),
    /** With a stage: move the stage's other versions to Archived (MLflow archive_existing_versions). */
    archiveExisting: z.boolean().default(true),
    deployPipelineId: ocid('devopsdeploypipeline').optional(),
    deployment: deploymentSchema.optional(),
    channel: channelId.optional(),
    /** The train target that produces this model's versions. */
    train: z.string().min(1).optional(),
    metrics: z.record(metricName, z.enum(METRIC_DIRECTIONS)).default({}),
    gates: z.array(gateSchema).default([]),
    environments: z.array(environmentSchema).min(1).optional(),
    retrain: retrainSchema.optional(),
  })
  .superRefine((model, ctx) => {
    if (model.environments) {
      for (const key of ['alias', 'stage', 'deployPipelineId', 'deployment'] as const) {
        if (model[key] !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: 'belongs in each of environments[] when the model has environments' });
      }
      const names = new Set<string>();
      const aliases = new Set<string>();
      model.environments.forEach((environment, index) => {
        if (names.has(environment.name)) ctx.addIssue({ code: 'custom', path: ['environments', index, 'name'], message: `duplicate environment name "${environment.name}"` });
        if (aliases.has(environment.alias)) ctx.addIssue({ code: 'custom', path: ['environments', index, 'alias'], message: `alias "${environment.alias}" is already used by another environment` });
        names.add(environment.name);
        aliases.add(environment.alias);
        if (environment.autoPromote && index > 0) ctx.addIssue({ code: 'custom', path: ['environments', index, 'autoPromote'], message: 'only the first environment can be promoted to automatically' });
        if (environment.autoPromote && environment.approvals?.required !== 0) ctx.addIssue({ code: 'custom', path: ['environments', index, 'autoPromote'], message: 'needs approvals.required: 0 in the same environment' });
        if (environment.soak !== undefined && index === 0) ctx.addIssue({ code: 'custom', path: ['environments', index, 'soak'], message: 'the first environment has no previous environment to soak in' });
      });
    }
    const checkGates = (gates: readonly z.output<typeof gateSchema>[], path: (string | number)[]) => {
      gates.forEach((gate, index) => {
        if ('maxRegression' in gate && model.metrics[gate.metric] === undefined) {
          ctx.addIssue({ code: 'custom', path: [...path, index, 'maxRegression'], message: `needs a direction for "${gate.metric}" in metrics (higher or lower)` });
        }
      });
      const all = path[0] === 'gates' ? gates : [...model.gates, ...gates];
      for (const gate of gates) {
        if (!('min' in gate)) continue;
        const max = all.find((other) => 'max' in other && other.metric === gate.metric);
        if (max && 'max' in max && gate.min > max.max) {
          ctx.addIssue({ code: 'custom', path: [...path, gates.indexOf(gate), 'min'], message: `${gate.min} is above the max ${max.max} of "${gate.metric}"` });
        }
      }
    };
    checkGates(model.gates, ['gates']);
    model.environments?.forEach((environment, index) => checkGates(environment.gates, ['environments', index, 'gates']));
    if (model.retrain?.auto && model.retrain.cooldown === undefined) {
      ctx.addIssue({ code: 'custom', path: ['retrain', 'cooldown'], message: 'is required with auto: true (how often an alarm may start a retrain)' });
    }
    if (model.retrain && model.retrain.train === undefined && model.train === undefined) {
      ctx.addIssue({ code: 'custom', path: ['retrain', 'train'], message: 'names no train target: set train on the model or retrain.train' });
    }
  })
  .transform((model) => ({ ...model, alias: model.environments ? model.alias : (model.alias ?? (model.stage ? undefined : 'champion')) }));

const targetName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'must be a name of letters, digits, ".", "_" or "-"');

export const configFileSchema = z.strictObject({
  slack: z.strictObject({
    defaultChannel: channelId,
    oncall: principalId.optional(),
  }),
  routes: z.array(routeSchema).default([]),
  roles: z
    .strictObject({
      trainers: z.array(principalId).default([]),
      approvers: z.array(principalId).default([]),
      deployers: z.array(principalId).default([]),
      /** May lift a failed quality gate, giving a reason. */
      gateOverriders: z.array(principalId).default([]),
    })
    .prefault({}),
  approvals: z
    .strictObject({
      required: z.number().int().min(1).max(10).default(1),
      allowSelfApproval: z.boolean().default(false),
      ttl: duration('30m, 24h or 7d').prefault('24h'),
    })
    .prefault({}),
  alerts: z
    .strictObject({
      /** Failed runs: the last log lines (OCI Logging) in the alert's thread. */
      logTail: z.boolean().default(true),
      /** Alarms: the metric over the last hour as a picture in the alert's thread. */
      charts: z.boolean().default(true),
      /** Extra secret patterns (JavaScript regular expressions) redacted from log lines. */
      redact: z
        .array(
          z.string().min(1).max(500).refine((source) => {
            try {
              new RegExp(source, 'g');
              return true;
            } catch {
              return false;
            }
          }, 'must be a valid regular expression'),
        )
        .default([]),
    })
    .prefault({}),
  train: z.record(targetName, trainTargetSchema).default({}),
  models: z.record(targetName, modelSchema).default({}),
})
  .superRefine((file, ctx) => {
    // Names that must point at a train target.
    for (const [name, model] of Object.entries(file.models)) {
      if (model.train !== undefined && !Object.hasOwn(file.train, model.train)) {
        ctx.addIssue({ code: 'custom', path: ['models', name, 'train'], message: `names no train target ("${model.train}" is not under train)` });
      }
      const retrainTarget = model.retrain?.train;
      if (retrainTarget !== undefined && !Object.hasOwn(file.train, retrainTarget)) {
        ctx.addIssue({ code: 'custom', path: ['models', name, 'retrain', 'train'], message: `names no train target ("${retrainTarget}" is not under train)` });
      }
    }
  });

export type ConfigFile = z.output<typeof configFileSchema>;
export type TrainTarget = ConfigFile['train'][string];
export type ModelConfig = ConfigFile['models'][string];
export type EnvironmentConfig = NonNullable<ModelConfig['environments']>[number];
export type DeploymentConfig = NonNullable<ModelConfig['deployment']>;
export type Gate = ModelConfig['gates'][number];
export type RetrainConfig = NonNullable<ModelConfig['retrain']>;
export type AlertsConfig = ConfigFile['alerts'];
export type Route = ConfigFile['routes'][number];
export type RoleName = keyof ConfigFile['roles'];
export { userId as slackUserIdSchema };
