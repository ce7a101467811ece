import { z } from 'zod';
import type { DeployStage } from '../../domain/deploy-stages.js';

/**
 * A job run, pipeline run, build run or deployment as the rest of the bot sees it: plain data, parsed
 * from the SDK's answer at the edge, only the fields something uses. `pipelineId` is what the run was
 * started from (jobId, Data Science pipelineId, buildPipelineId or deployPipelineId); times are ISO 8601.
 */
export interface OciRun {
  id: string;
  displayName?: string | undefined;
  lifecycleState: string;
  lifecycleDetails?: string | undefined;
  compartmentId: string;
  projectId?: string | undefined;
  pipelineId: string;
  timeCreated?: string | undefined;
  timeStarted?: string | undefined;
  timeFinished?: string | undefined;
  timeUpdated?: string | undefined;
  /** Build-run or deployment arguments, or a job or pipeline run's environment variables (else a pipeline run's parameters). */
  arguments?: Record<string, string> | undefined;
  /** A deployment's stages, in OCI's (unordered) map order; see domain/deploy-stages.ts. */
  stages?: DeployStage[] | undefined;
  /** Job and pipeline runs: their logDetails, when logging is configured. */
  log?: { logGroupId: string; logId: string } | undefined;
}

/** Absent and null both become undefined: OCI omits unset fields, but a null must not fail a read. */
function optional<T extends z.ZodType>(schema: T) {
  return schema.nullish().transform((value) => value ?? undefined);
}

const text = optional(z.string());

const timestamp = optional(
  z.union([z.date(), z.string()]).transform((value, ctx) => {
    const date = new Date(value);
    if (Number.isNaN(date.getTime())) {
      ctx.addIssue({ code: 'custom', message: 'is not a timestamp' });
      return z.NEVER;
    }
    return date.toISOString();
  }),
);

const argumentCollection = optional(
  z
    .object({ items: optional(z.array(z.object({ name: z.string(), value: z.string() }))) })
    .transform(({ items }) => Object.fromEntries((items ?? []).map((item) => [item.name, item.value]))),
);

const logDetails = optional(z.object({ logGroupId: z.string().min(1), logId: z.string().min(1) }));

const progress = optional(z.object({ timeStarted: timestamp, timeFinished: timestamp }));

const runFields = {
  id: z.string().min(1),
  displayName: text,
  lifecycleState: z.string().min(1),
  lifecycleDetails: text,
  compartmentId: z.string().min(1),
  projectId: text,
};

/** The fields every run type shares, copied from the parsed answer. */
function commonFields(run: { id: string; displayName: string | undefined; lifecycleState: string; lifecycleDetails: string | undefined; compartmentId: string; projectId: string | undefined }) {
  return {
    id: run.id,
    displayName: run.displayName,
    lifecycleState: run.lifecycleState,
    lifecycleDetails: run.lifecycleDetails,
    compartmentId: run.compartmentId,
    projectId: run.projectId,
  };
}

export const jobRunSchema = z
  .object({
    ...runFields,
    jobId: z.string().min(1),
    timeAccepted: timestamp,
    timeStarted: timestamp,
    timeFinished: timestamp,
    jobConfigurationOverrideDetails: optional(z.object({ environmentVariables: optional(z.record(z.string(), z.string())) })),
    logDetails,
  })
  .transform(
    (run): OciRun => ({
      ...commonFields(run),
      pipelineId: run.jobId,
      timeCreated: run.timeAccepted,
      timeStarted: run.timeStarted,
      timeFinished: run.timeFinished,
      arguments: run.jobConfigurationOverrideDetails?.environmentVariables,
      log: run.logDetails,
    }),
  );

export const pipelineRunSchema = z
  .object({
    ...runFields,
    pipelineId: z.string().min(1),
    timeAccepted: timestamp,
    timeStarted: timestamp,
    timeFinished: timestamp,
    timeUpdated: timestamp,
    parametersOverride: optional(z.record(z.string(), z.string())),
    logDetails,
    configurationOverrideDetails: optional(z.object({ environmentVariables: optional(z.record(z.string(), z.string())) })),
  })
  .transform(
    (run): OciRun => ({
      ...commonFields(run),
      pipelineId: run.pipelineId,
      timeCreated: run.timeAccepted,
      timeStarted: run.timeStarted,
      timeFinished: run.timeFinished,
      timeUpdated: run.timeUpdated,
      arguments: run.configurationOverrideDetails?.environmentVariables ?? run.parametersOverride,
      log: run.logDetails,
    }),
  );

export const buildRunSchema = z
  .object({
    ...runFields,
    buildPipelineId: z.string().min(1),
    timeCreated: timestamp,
    timeUpdated: timestamp,
    buildRunArguments: argumentCollection,
    buildRunProgress: progress,
  })
  .transform(
    (run): OciRun => ({
      ...commonFields(run),
      pipelineId: run.buildPipelineId,
      timeCreated: run.timeCreated,
      timeStarted: run.buildRunProgress?.timeStarted,
      timeFinished: run.buildRunProgress?.timeFinished,
      timeUpdated: run.timeUpdated,
      arguments: run.buildRunArguments,
    }),
  );

/**
 * One entry of deploymentExecutionProgress.deployStageExecutionProgress (oci-devops
 * `deploy-stage-execution-progress.d.ts` and its subtypes): a map keyed by stage OCID. Only the fields the
 * message shows; an entry without a type or with unknown fields still parses.
 */
const stageProgress = z.object({
  deployStageDisplayName: text,
  deployStageId: text,
  deployStageType: z.string().min(1),
  status: text,
  timeStarted: timestamp,
  timeFinished: timestamp,
  deployStagePredecessors: optional(z.object({ items: optional(z.array(z.object({ id: z.string() }))) })),
  deployStageExecutionProgressDetails: optional(
    z.array(z.object({ steps: optional(z.array(z.object({ name: text, state: text }))) })),
  ),
  approvalActions: optional(z.array(z.object({ subjectId: z.string(), action: z.string(), reason: text }))),
  namespace: text,
});

function toStage(id: string, entry: z.output<typeof stageProgress>): DeployStage {
  const steps = (entry.deployStageExecutionProgressDetails ?? []).flatMap((detail) => detail.steps ?? []);
  const failedStep = entry.status === 'FAILED' ? steps.find((step) => step.state === 'FAILED')?.name : undefined;
  return {
    id: entry.deployStageId ?? id,
    name: entry.deployStageDisplayName ?? entry.deployStageId ?? id,
    type: entry.deployStageType,
    ...(entry.status ? { status: entry.status } : {}),
    ...(entry.timeStarted ? { startedAt: entry.timeStarted } : {}),
    ...(entry.timeFinished ? { finishedAt: entry.timeFinished } : {}),
    after: (entry.deployStagePredecessors?.items ?? []).map((item) => item.id),
    ...(entry.approvalActions ? { approvalActions: entry.approvalActions.map((action) => ({ subjectId: action.subjectId, action: action.action, ...(action.reason ? { reason: action.reason } : {}) })) } : {}),
    ...(entry.namespace ? { namespace: entry.namespace } : {}),
    ...(failedStep ? { failedStep } : {}),
  };
}

const deploymentProgress = optional(
  z.object({
    timeStarted: timestamp,
    timeFinished: timestamp,
    deployStageExecutionProgress: optional(z.record(z.string(), stageProgress)),
  }),
);

export const deploymentSchema = z
  .object({
    ...runFields,
    deployPipelineId: z.string().min(1),
    timeCreated: timestamp,
    timeUpdated: timestamp,
    deploymentArguments: argumentCollection,
    deploymentExecutionProgress: deploymentProgress,
  })
  .transform(
    (run): OciRun => ({
      ...commonFields(run),
      pipelineId: run.deployPipelineId,
      timeCreated: run.timeCreated,
      timeStarted: run.deploymentExecutionProgress?.timeStarted,
      timeFinished: run.deploymentExecutionProgress?.timeFinished,
      timeUpdated: run.timeUpdated,
      arguments: run.deploymentArguments,
      stages: Object.entries(run.deploymentExecutionProgress?.deployStageExecutionProgress ?? {}).map(([id, entry]) => toStage(id, entry)),
    }),
  );

/** A stage definition (getDeployStage): only the canary traffic-shift's rampLimitPercent is used. */
export interface OciDeployStageDefinition {
  id: string;
  type: string;
  rampLimitPercent?: number | undefined;
}

export const deployStageSchema = z
  .object({
    id: z.string().min(1),
    deployStageType: z.string().min(1),
    rolloutPolicy: optional(z.object({ rampLimitPercent: optional(z.number()) }).loose()),
  })
  .transform((stage): OciDeployStageDefinition => ({ id: stage.id, type: stage.deployStageType, rampLimitPercent: stage.rolloutPolicy?.rampLimitPercent }));
