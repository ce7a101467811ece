import { z } from 'zod';
import { parseDuration } from './duration.js';

/** Slack IDs: users (U/W), user groups (S), channels (C/G/D). Names are never accepted: they can change. */
const userId = z.string().regex(/^[UW][A-Z0-9]{2,}$/, 'must be a Slack user ID (U...)');
const principalId = z.string().regex(/^[UWS][A-Z0-9]{2,}$/, 'must be a Slack user ID (U...) or user group ID (S...)');
const channelId = z.string().regex(/^[CGD][A-Z0-9]{2,}$/, 'must be a Slack channel ID (C...)');
const ocid = (kind: string) =>
  z.string().regex(new RegExp(`^ocid1\\.${kind}\\.[a-z0-9-]+\\.[a-z0-9-]*\\.[A-Za-z0-9._-]+$`), `must be an OCID of a ${kind}`);
const anyOcid = z.string().regex(/^ocid1\.[a-z0-9]+\.[a-z0-9-]+\.[a-z0-9-]*\.[A-Za-z0-9._-]+$/, 'must be an OCID');

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
]);

const modelSchema = z
  .strictObject({
    alias: z.string().regex(/^[A-Za-z0-9_-]{1,255}$/, 'must be an MLflow alias').optional(),
    stage: z.enum(['Staging', 'Production', 'Archived']).optional(),
    /** With a stage: move the stage's other versions to Archived (MLflow archive_existing_versions). */
    archiveExisting: z.boolean().default(true),
    deployPipelineId: ocid('devopsdeploypipeline').optional(),
    deployment: z
      .strictObject({
        namespace: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a Kubernetes namespace name'),
        name: z.string().regex(/^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/, 'must be a Kubernetes Deployment name'),
        /** How long a rollback waits for the rollout, like `kubectl rollout status --timeout`. */
        timeout: z
          .string()
          .default('10m')
          .transform((text, ctx) => {
            const ms = parseDuration(text);
            if (ms === undefined) {
              ctx.addIssue({ code: 'custom', message: 'must be a duration such as 90s or 10m' });
              return z.NEVER;
            }
            return ms;
          }),
      })
      .optional(),
    channel: channelId.optional(),
  })
  .transform((model) => ({ ...model, alias: model.alias ?? (model.stage ? undefined : 'champion') }));

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
    })
    .prefault({}),
  approvals: z
    .strictObject({
      required: z.number().int().min(1).max(10).default(1),
      allowSelfApproval: z.boolean().default(false),
      ttl: z
        .string()
        .default('24h')
        .transform((text, ctx) => {
          const ms = parseDuration(text);
          if (ms === undefined) {
            ctx.addIssue({ code: 'custom', message: 'must be a duration such as 30m, 24h or 7d' });
            return z.NEVER;
          }
          return ms;
        }),
    })
    .prefault({}),
  train: z.record(targetName, trainTargetSchema).default({}),
  models: z.record(targetName, modelSchema).default({}),
});

export type ConfigFile = z.output<typeof configFileSchema>;
export type TrainTarget = ConfigFile['train'][string];
export type ModelConfig = ConfigFile['models'][string];
export type Route = ConfigFile['routes'][number];
export type RoleName = keyof ConfigFile['roles'];
export { userId as slackUserIdSchema };
