import type { ConfigFile, DeploymentConfig, EnvironmentConfig, ModelConfig } from '../config/config-file.js';
import { formatDuration } from './run.js';

/**
 * The promotion path of a model: its environments in order (dev → qa → prod), each marked in MLflow by
 * an alias. Pure: callers bring the aliases MLflow reports and the times the bot recorded.
 */

/** A model's environments in order, or undefined for a model promoted to its single alias (or stage). */
export function environmentsOf(model: ModelConfig | undefined): readonly EnvironmentConfig[] | undefined {
  return model?.environments;
}

/** The names of the path, in order, for display: `dev → qa → prod`, or the single alias `@champion`. */
export function pathNames(model: ModelConfig | undefined): string[] {
  const environments = environmentsOf(model);
  if (environments) return environments.map((environment) => environment.name);
  if (model?.alias) return [`@${model.alias}`];
  if (model?.stage) return [`stage ${model.stage}`];
  return ['@champion'];
}

export function findEnvironment(model: ModelConfig | undefined, name: string): EnvironmentConfig | undefined {
  return environmentsOf(model)?.find((environment) => environment.name === name);
}

/** Where a promotion goes, or why it cannot. */
export type TargetResolution =
  | { ok: true; environment: EnvironmentConfig; index: number; previous: EnvironmentConfig | undefined }
  | { ok: false; reason: string };

/**
 * The environment `promote <model> <version> [--to ENV]` moves the version into.
 * `aliases` is MLflow's alias → version map of the registered model.
 * Without `to`: the environment after the furthest one the version serves, the first if it serves none.
 * Refused: an unknown `to` (naming the choices), an environment the version already serves, skipping an
 * environment (the version must serve the one before), and a version already at the end of the path.
 */
export function resolveTarget(environments: readonly EnvironmentConfig[], aliases: Readonly<Record<string, string>>, version: string, to?: string): TargetResolution {
  const serves = (environment: EnvironmentConfig | undefined) => environment !== undefined && aliases[environment.alias] === version;
  let index: number;
  if (to === undefined) {
    let furthest = -1;
    environments.forEach((environment, position) => {
      if (serves(environment)) furthest = position;
    });
    index = furthest + 1;
    if (index >= environments.length) {
      const last = environments[environments.length - 1];
      return { ok: false, reason: `v${version} already serves ${last?.name ?? 'the last environment'}, the end of the path.` };
    }
  } else {
    index = environments.findIndex((environment) => environment.name === to);
    if (index < 0) return { ok: false, reason: `Unknown environment "${to}". Environments: ${environments.map((environment) => environment.name).join(', ')}.` };
  }
  const environment = environments[index] as EnvironmentConfig;
  const previous = index > 0 ? environments[index - 1] : undefined;
  if (serves(environment)) return { ok: false, reason: `v${version} already serves ${environment.name}.` };
  if (previous && !serves(previous)) {
    const holder = aliases[previous.alias];
    return { ok: false, reason: `v${version} has not served ${previous.name}${holder ? ` (${previous.name} serves v${holder})` : ''}: promote it to ${previous.name} first.` };
  }
  return { ok: true, environment, index, previous };
}

/** Who decides a promotion, and how. */
export interface ApprovalPolicy {
  /** Distinct approvers needed; 0 promotes at once. */
  required: number;
  /** Slack users and user groups who may approve (the environment's list replaces roles.approvers). */
  approvers: readonly string[];
  allowSelfApproval: boolean;
  ttlMs: number;
}

/** The environment's approval policy, each key falling back to the global `approvals` and `roles.approvers`. */
export function approvalPolicy(file: Pick<ConfigFile, 'approvals' | 'roles'>, environment?: EnvironmentConfig): ApprovalPolicy {
  const own = environment?.approvals;
  return {
    required: own?.required ?? file.approvals.required,
    approvers: own?.approvers ?? file.roles.approvers,
    allowSelfApproval: own?.allowSelfApproval ?? file.approvals.allowSelfApproval,
    ttlMs: own?.ttl ?? file.approvals.ttl,
  };
}

/** Whether a version has served the previous environment long enough. */
export type SoakCheck =
  | { met: true; soakMs: number; servedMs: number }
  | { met: false; soakMs: number; servedMs: number; leftMs: number };

/**
 * `since` is when the previous environment's alias moved to the version (or when the bot first saw it
 * there); an environment without `soak` always passes.
 */
export function evaluateSoak(soakMs: number | undefined, since: Date, now: Date): SoakCheck {
  const servedMs = Math.max(0, now.getTime() - since.getTime());
  const required = soakMs ?? 0;
  if (servedMs >= required) return { met: true, soakMs: required, servedMs };
  return { met: false, soakMs: required, servedMs, leftMs: required - servedMs };
}

/** The refusal for an unmet soak: how long it must serve, and how long is left. */
export function soakRefusal(version: string, previous: string, check: Extract<SoakCheck, { met: false }>): string {
  return `v${version} has served ${previous} for ${formatDuration(check.servedMs)}; ${previous} needs a soak of ${formatDuration(check.soakMs)}, so ${formatDuration(check.leftMs)} left.`;
}

/** A model's Deployments by environment, in path order; a model without environments has one, named by its alias. */
export interface EnvironmentDeployment {
  /** The environment's name; undefined for a model without environments. */
  environment: string | undefined;
  deployment: DeploymentConfig;
  deployPipelineId: string | undefined;
}

export function deploymentsOf(model: ModelConfig | undefined): EnvironmentDeployment[] {
  if (!model) return [];
  const environments = environmentsOf(model);
  if (!environments) return model.deployment ? [{ environment: undefined, deployment: model.deployment, deployPipelineId: model.deployPipelineId }] : [];
  return environments.flatMap((environment) => (environment.deployment ? [{ environment: environment.name, deployment: environment.deployment, deployPipelineId: environment.deployPipelineId }] : []));
}

/** The environment a deploy pipeline belongs to: by its `ENVIRONMENT` argument first, else by its pipeline id. */
export function environmentOfDeployPipeline(model: ModelConfig | undefined, pipelineId: string | undefined, environmentArgument: string | undefined): EnvironmentConfig | undefined {
  const environments = environmentsOf(model);
  if (!environments) return undefined;
  if (environmentArgument) {
    const named = environments.find((environment) => environment.name === environmentArgument);
    if (named) return named;
  }
  return pipelineId ? environments.find((environment) => environment.deployPipelineId === pipelineId) : undefined;
}

/** The config key that names a kubeconfig context, for errors: `models.fraud-model.environments[2].deployment.context`. */
export function contextKey(models: Readonly<Record<string, ModelConfig>>, context: string): string {
  for (const [name, model] of Object.entries(models)) {
    if (model.deployment?.context === context) return `models.${name}.deployment.context`;
    const index = model.environments?.findIndex((environment) => environment.deployment?.context === context) ?? -1;
    if (index >= 0) return `models.${name}.environments[${index}].deployment.context`;
  }
  return 'deployment.context';
}
