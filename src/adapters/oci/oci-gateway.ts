import * as common from 'oci-common';
import { DataScienceClient, type models as dataScienceModels } from 'oci-datascience';
import { DevopsClient, models as devopsModels } from 'oci-devops';
import type { z } from 'zod';
import type { Env } from '../../config/env.js';
import type { ApproveDeploymentRequest, CancelDeploymentRequest, CreateBuildRunRequest, CreateDeploymentRequest, CreateJobRunRequest, CreatePipelineRunRequest, OciDeploymentActions, OciReader, OciStarter } from '../../context.js';
import { RUN_TAG } from '../../domain/oci-notification.js';
import type { Logger } from '../../log.js';
import { createAuthProvider, type OciAuthProvider } from './auth-provider.js';
import { buildRunSchema, deploymentSchema, deployStageSchema, jobRunSchema, pipelineRunSchema, type OciDeployStageDefinition, type OciRun } from './oci-runs.js';
import { addressClient, callOci, CLIENT_CONFIGURATION, clientsNotBuilt } from './oci-service.js';
import { RetryAfterHttpClient } from './retry-after-http-client.js';

export type CreateJobRunInput = CreateJobRunRequest;
export type CreatePipelineRunInput = CreatePipelineRunRequest;
export type CreateBuildRunInput = CreateBuildRunRequest;
export type CreateDeploymentInput = CreateDeploymentRequest;

export interface OciGatewayOptions {
  /** Tests inject a SimpleAuthenticationDetailsProvider; production builds one from OCI_AUTH. */
  provider?: OciAuthProvider | undefined;
  /** How long one call may take before it fails as retryable; OCI_CALL_TIMEOUT_MS by default. */
  callTimeoutMs?: number | undefined;
}

interface Clients {
  provider: OciAuthProvider;
  dataScience: DataScienceClient;
  devops: DevopsClient;
}

function toArgumentItems(values: Record<string, string>): { name: string; value: string }[] {
  return Object.entries(values).map(([name, value]) => ({ name, value }));
}

/**
 * The OCI calls the bot makes, on oci-sdk clients built on first use (start-up never waits for OCI
 * auth). Every answer is parsed into a plain OciRun; every failure becomes an MlopsError.
 */
export class OciGateway implements OciReader, OciStarter, OciDeploymentActions {
  private clients: Promise<Clients> | undefined;

  constructor(
    private readonly env: Env,
    private readonly logger: Logger,
    private readonly options: OciGatewayOptions = {},
  ) {}

  getJobRun(id: string): Promise<OciRun> {
    return this.call('getJobRun', jobRunSchema, async ({ dataScience }) => (await dataScience.getJobRun({ jobRunId: id })).jobRun);
  }

  getPipelineRun(id: string): Promise<OciRun> {
    return this.call('getPipelineRun', pipelineRunSchema, async ({ dataScience }) => (await dataScience.getPipelineRun({ pipelineRunId: id })).pipelineRun);
  }

  getBuildRun(id: string): Promise<OciRun> {
    return this.call('getBuildRun', buildRunSchema, async ({ devops }) => (await devops.getBuildRun({ buildRunId: id })).buildRun);
  }

  getDeployment(id: string): Promise<OciRun> {
    return this.call('getDeployment', deploymentSchema, async ({ devops }) => (await devops.getDeployment({ deploymentId: id })).deployment);
  }

  createJobRun(input: CreateJobRunInput): Promise<OciRun> {
    const overrides: dataScienceModels.DefaultJobConfigurationDetails | undefined =
      input.environmentVariables !== undefined || input.commandLineArguments !== undefined
        ? {
            jobType: 'DEFAULT',
            ...(input.environmentVariables !== undefined ? { environmentVariables: input.environmentVariables } : {}),
            ...(input.commandLineArguments !== undefined ? { commandLineArguments: input.commandLineArguments } : {}),
          }
        : undefined;
    const details: dataScienceModels.CreateJobRunDetails = {
      jobId: input.jobId,
      projectId: input.projectId,
      compartmentId: input.compartmentId,
      displayName: input.displayName,
      ...(overrides ? { jobConfigurationOverrideDetails: overrides } : {}),
      ...runTags(input.runKey),
    };
    return this.call(
      'createJobRun',
      jobRunSchema,
      async ({ dataScience }) => (await dataScience.createJobRun({ createJobRunDetails: details, opcRetryToken: input.retryToken })).jobRun,
    );
  }

  createPipelineRun(input: CreatePipelineRunInput): Promise<OciRun> {
    // The SDK does not fill in the discriminator of the configuration details either.
    const overrides: dataScienceModels.PipelineDefaultConfigurationDetails | undefined =
      input.environmentVariables !== undefined ? { type: 'DEFAULT', environmentVariables: input.environmentVariables } : undefined;
    const details: dataScienceModels.CreatePipelineRunDetails = {
      pipelineId: input.pipelineId,
      projectId: input.projectId,
      compartmentId: input.compartmentId,
      displayName: input.displayName,
      ...(overrides ? { configurationOverrideDetails: overrides } : {}),
      ...runTags(input.runKey),
    };
    return this.call(
      'createPipelineRun',
      pipelineRunSchema,
      async ({ dataScience }) => (await dataScience.createPipelineRun({ createPipelineRunDetails: details, opcRetryToken: input.retryToken })).pipelineRun,
    );
  }

  createBuildRun(input: CreateBuildRunInput): Promise<OciRun> {
    const items = toArgumentItems(input.arguments);
    const details: devopsModels.CreateBuildRunDetails = {
      buildPipelineId: input.buildPipelineId,
      displayName: input.displayName,
      ...(items.length > 0 ? { buildRunArguments: { items } } : {}),
      ...runTags(input.runKey),
    };
    return this.call(
      'createBuildRun',
      buildRunSchema,
      async ({ devops }) => (await devops.createBuildRun({ createBuildRunDetails: details, opcRetryToken: input.retryToken })).buildRun,
    );
  }

  createDeployment(input: CreateDeploymentInput): Promise<OciRun> {
    const items = toArgumentItems(input.arguments);
    // The SDK does not fill in the discriminator of the createDeploymentDetails union.
    const details: devopsModels.CreateDeployPipelineDeploymentDetails = {
      deploymentType: 'PIPELINE_DEPLOYMENT',
      deployPipelineId: input.deployPipelineId,
      displayName: input.displayName,
      ...(items.length > 0 ? { deploymentArguments: { items } } : {}),
      ...runTags(input.runKey),
    };
    return this.call(
      'createDeployment',
      deploymentSchema,
      async ({ devops }) => (await devops.createDeployment({ createDeploymentDetails: details, opcRetryToken: input.retryToken })).deployment,
    );
  }

  /** Approve and Reject are one operation (POST …/deployments/{id}/actions/approve), told apart by `action`. */
  approveDeployment(input: ApproveDeploymentRequest): Promise<OciRun> {
    return this.call(
      'approveDeployment',
      deploymentSchema,
      async ({ devops }) =>
        (
          await devops.approveDeployment({
            deploymentId: input.deploymentId,
            approveDeploymentDetails: { deployStageId: input.stageId, action: input.action === 'APPROVE' ? devopsModels.ApproveDeploymentDetails.Action.Approve : devopsModels.ApproveDeploymentDetails.Action.Reject, reason: input.reason },
            opcRetryToken: input.retryToken,
          })
        ).deployment,
    );
  }

  /** `reason` is required by OCI (CancelDeploymentDetails). */
  cancelDeployment(input: CancelDeploymentRequest): Promise<OciRun> {
    return this.call(
      'cancelDeployment',
      deploymentSchema,
      async ({ devops }) => (await devops.cancelDeployment({ deploymentId: input.deploymentId, cancelDeploymentDetails: { reason: input.reason }, opcRetryToken: input.retryToken })).deployment,
    );
  }

  getDeployStage(id: string): Promise<OciDeployStageDefinition> {
    return this.call('getDeployStage', deployStageSchema, async ({ devops }) => (await devops.getDeployStage({ deployStageId: id })).deployStage);
  }

  async close(): Promise<void> {
    const pending = this.clients;
    this.clients = undefined;
    const clients = await pending?.catch(() => undefined);
    if (!clients) return;
    clients.dataScience.close();
    clients.devops.close();
    // The clients were given an HTTP client, not the provider, so they cannot close a provider we built.
    if (!this.options.provider && clients.provider instanceof common.AbstractRequestingAuthenticationDetailsProvider) {
      clients.provider.closeProvider();
    }
  }

  private call<T extends { id: string }>(operationName: string, schema: z.ZodType<T>, send: (clients: Clients) => Promise<unknown>): Promise<T> {
    return callOci(this.logger, operationName, schema, () => this.connect(), send);
  }

  private connect(): Promise<Clients> {
    this.clients ??= this.build().catch((error: unknown) => {
      // Not cached: the next call tries again (the config file or token may have appeared meanwhile).
      this.clients = undefined;
      throw error;
    });
    return this.clients;
  }

  private async build(): Promise<Clients> {
    const provider = await createAuthProvider(this.env, { provider: this.options.provider });
    try {
      const dataScience = new DataScienceClient({ httpClient: new RetryAfterHttpClient(provider, this.options.callTimeoutMs) }, CLIENT_CONFIGURATION);
      const devops = new DevopsClient({ httpClient: new RetryAfterHttpClient(provider, this.options.callTimeoutMs) }, CLIENT_CONFIGURATION);
      addressClient(this.env, 'Data Science', dataScience, provider, this.env.OCI_DATASCIENCE_ENDPOINT);
      addressClient(this.env, 'DevOps', devops, provider, this.env.OCI_DEVOPS_ENDPOINT);
      this.logger.info(
        { auth: this.options.provider ? 'injected' : this.env.OCI_AUTH, region: this.env.OCI_REGION, dataScience: dataScience.endpoint, devops: devops.endpoint },
        'oci clients ready',
      );
      return { provider, dataScience, devops };
    } catch (error) {
      throw clientsNotBuilt(error);
    }
  }
}

function runTags(runKey: string | undefined): { freeformTags?: Record<string, string> } {
  return runKey === undefined ? {} : { freeformTags: { [RUN_TAG]: runKey } };
}
