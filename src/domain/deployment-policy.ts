import type { ConfigFile, EnvironmentConfig } from '../config/config-file.js';
import { approvalPolicy, environmentOfDeployPipeline, findEnvironment } from './environments.js';

/** Which model and environment a deployment serves, and who may decide its approval stages. */
export interface DeploymentPolicy {
  model?: string | undefined;
  environment?: EnvironmentConfig | undefined;
  /** Slack user or user group IDs: the environment's `approvals.approvers`, else `roles.approvers`. */
  approvers: readonly string[];
  required: number;
  allowSelfApproval: boolean;
  /** `typed`: approvals and rollbacks ask to type the environment's name. */
  confirm: 'click' | 'typed';
  /** The MLflow alias that marks the version serving there. */
  alias?: string | undefined;
}

/** What a deployment run tells about itself: its arguments (MODEL_NAME, ENVIRONMENT), its pipeline, the model and environment a promotion named. */
export interface DeploymentFacts {
  model?: string | undefined;
  environment?: string | undefined;
  pipelineId?: string | undefined;
  arguments?: Readonly<Record<string, string>> | undefined;
}

/**
 * The model and environment of a deployment: the environment the promotion named or the ENVIRONMENT
 * argument the bot passes to deploy pipelines, else the environment whose deployPipelineId started it; the
 * model from the promotion, MODEL_NAME, or the pipeline. The approval policy is the environment's
 * (domain/environments.ts approvalPolicy: each key falls back to the top-level one).
 */
export function deploymentPolicy(file: ConfigFile, facts: DeploymentFacts): DeploymentPolicy {
  const pipelineOf = (name: string) => {
    const model = file.models[name];
    return model?.deployPipelineId === facts.pipelineId || model?.environments?.some((environment) => environment.deployPipelineId === facts.pipelineId);
  };
  const named = facts.model ?? facts.arguments?.MODEL_NAME;
  const model =
    named !== undefined && Object.hasOwn(file.models, named) ? named : facts.pipelineId ? Object.keys(file.models).find((name) => pipelineOf(name)) : undefined;
  const config = model ? file.models[model] : undefined;
  const environment = environmentOfDeployPipeline(config, facts.pipelineId, facts.environment ?? facts.arguments?.ENVIRONMENT);
  const policy = approvalPolicy(file, environment);
  return {
    model,
    environment,
    approvers: policy.approvers,
    required: policy.required,
    allowSelfApproval: policy.allowSelfApproval,
    confirm: environment?.confirm ?? 'click',
    alias: environment?.alias ?? config?.alias,
  };
}

/** The environment (by name) of a model; without one, the model's own alias (a model without environments). */
export function environmentOf(file: ConfigFile, model: string, name: string | undefined): { environment?: EnvironmentConfig | undefined; alias?: string | undefined; confirm: 'click' | 'typed' } {
  const config = file.models[model];
  const environment = name === undefined ? undefined : findEnvironment(config, name);
  return { environment, alias: environment?.alias ?? config?.alias, confirm: environment?.confirm ?? 'click' };
}
