import * as common from 'oci-common';
import { DataScienceClient, type models as dsModels } from 'oci-datascience';
import { DevopsClient, type models as devopsModels } from 'oci-devops';
import { z } from 'zod';
import type { Env } from '../../config/env.js';
import type { OciReader, OciRunInfo, OciStarter } from '../../context.js';
import type { Logger } from '../../log.js';
import { createAuthProvider, type OciAuthProvider } from './auth-provider.js';
import { toOciError } from './oci-errors.js';

const time = z
  .union([z.date(), z.string()])
  .optional()
  .transform((value) => (value === undefined ? undefined : new Date(value).toISOString()));
const args = z
  .object({ items: z.array(z.object({ name: z.string(), value: z.string() })).default([]) })
  .optional()
  .transform((collection) => (collection ? Object.fromEntries(collection.items.map((item) => [item.name, item.value])) : undefined));

/** What we keep of an SDK response: parsed at the edge, nothing else leaks past the adapter. */
const jobRun = z.object({
  id: z.string(),
  displayName: z.string().optional(),
  lifecycleState: z.string(),
  lifecycleDetails: z.string().optional(),
  compartmentId: z.string().optional(),
  projectId: z.string().optional(),
  jobId: z.string().optional(),
  pipelineId: z.string().optional(),
  timeAccepted: time,
  timeStarted: time,
  timeFinished: time,
  timeUpdated: time,
});
const buildRun = z.object({
  id: z.string(),
  displayName: z.string().optional(),
  lifecycleState: z.string(),
  lifecycleDetails: z.string().optional(),
  compartmentId: z.string().optional(),
  projectId: z.string().optional(),
  buildPipelineId: z.string().optional(),
  deployPipelineId: z.string().optional(),
  timeCreated: time,
  timeUpdated: time,
  buildRunArguments: args,
  deploymentArguments: args,
  buildRunProgress: z.object({ timeStarted: time, timeFinished: time }).partial().optional(),
  deploymentExecutionProgress: z.object({ timeStarted: time, timeFinished: time }).partial().optional(),
});

function fromJobRun(value: unknown): OciRunInfo {
  const run = jobRun.parse(value);
  return {
    id: run.id,
    displayName: run.displayName,
    lifecycleState: run.lifecycleState,
    lifecycleDetails: run.lifecycleDetails,
    compartmentId: run.compartmentId,
    projectId: run.projectId,
    pipelineId: run.jobId ?? run.pipelineId,
    timeCreated: run.timeAccepted,
    timeStarted: run.timeStarted,
    timeFinished: run.timeFinished,
    timeUpdated: run.timeUpdated,
  };
}

function fromDevopsRun(value: unknown): OciRunInfo {
  const run = buildRun.parse(value);
  const progress = run.buildRunProgress ?? run.deploymentExecutionProgress;
  return {
    id: run.id,
    displayName: run.displayName,
    lifecycleState: run.lifecycleState,
    lifecycleDetails: run.lifecycleDetails,
    compartmentId: run.compartmentId,
    projectId: run.projectId,
    pipelineId: run.buildPipelineId ?? run.deployPipelineId,
    timeCreated: run.timeCreated,
    timeStarted: progress?.timeStarted,
    timeFinished: progress?.timeFinished,
    timeUpdated: run.timeUpdated,
    arguments: run.buildRunArguments ?? run.deploymentArguments,
  };
}

export interface OciGatewayOptions {
  /** Tests inject a SimpleAuthenticationDetailsProvider; production builds it from OCI_AUTH. */
  provider?: OciAuthProvider;
}

/**
 * The OCI calls the bot makes, on oci-sdk clients built lazily (start-up never waits for OCI auth).
 * Exactly one retry layer: the SDK's retries and circuit breaker are off, and the BullMQ job that made
 * the call retries retryable errors with backoff.
 */
export class OciGateway implements OciReader, OciStarter {
  private clients: Promise<{ dataScience: DataScienceClient; devops: DevopsClient }> | undefined;

  constructor(
    private readonly env: Env,
    private readonly logger: Logger,
    private readonly options: OciGatewayOptions = {},
  ) {}

  private connect(): Promise<{ dataScience: DataScienceClient; devops: DevopsClient }> {
    this.clients ??= (async () => {
      const provider = this.options.provider ?? (await createAuthProvider(this.env));
      const configuration: common.ClientConfiguration = {
        retryConfiguration: { terminationStrategy: new common.MaxAttemptsTerminationStrategy(1) },
        circuitBreaker: new common.CircuitBreaker({ disableClientCircuitBreaker: true }),
      };
      const dataScience = new DataScienceClient({ authenticationDetailsProvider: provider }, configuration);
      const devops = new DevopsClient({ authenticationDetailsProvider: provider }, configuration);
      // Region first: setting it overwrites the endpoint, so the overrides come last.
      if (this.env.OCI_REGION) {
        dataScience.regionId = this.env.OCI_REGION;
        devops.regionId = this.env.OCI_REGION;
      }
      if (this.env.OCI_DATASCIENCE_ENDPOINT) dataScience.endpoint = this.env.OCI_DATASCIENCE_ENDPOINT;
      if (this.env.OCI_DEVOPS_ENDPOINT) devops.endpoint = this.env.OCI_DEVOPS_ENDPOINT;
      this.logger.info({ auth: this.options.provider ? 'injected' : this.env.OCI_AUTH, region: this.env.OCI_REGION }, 'oci clients ready');
      return { dataScience, devops };
    })().catch((error: unknown) => {
      this.clients = undefined;
      throw error;
    });
    return this.clients;
  }

  private async call<T>(operation: string, send: (clients: { dataScience: DataScienceClient; devops: DevopsClient }) => Promise<T>): Promise<T> {
    const clients = await this.connect();
    try {
      return await send(clients);
    } catch (error) {
      throw toOciError(operation, error);
    }
  }

  getJobRun(id: string): Promise<OciRunInfo> {
    return this.call('getJobRun', async ({ dataScience }) => fromJobRun((await dataScience.getJobRun({ jobRunId: id })).jobRun));
  }

  getPipelineRun(id: string): Promise<OciRunInfo> {
    return this.call('getPipelineRun', async ({ dataScience }) => fromJobRun((await dataScience.getPipelineRun({ pipelineRunId: id })).pipelineRun));
  }

  getBuildRun(id: string): Promise<OciRunInfo> {
    return this.call('getBuildRun', async ({ devops }) => fromDevopsRun((await devops.getBuildRun({ buildRunId: id })).buildRun));
  }

  getDeployment(id: string): Promise<OciRunInfo> {
    return this.call('getDeployment', async ({ devops }) => fromDevopsRun((await devops.getDeployment({ deploymentId: id })).deployment));
  }

  createJobRun(request: Parameters<OciStarter['createJobRun']>[0]): Promise<OciRunInfo> {
    const override: dsModels.DefaultJobConfigurationDetails | undefined =
      request.environmentVariables || request.commandLineArguments
        ? {
            jobType: 'DEFAULT',
            ...(request.environmentVariables ? { environmentVariables: request.environmentVariables } : {}),
            ...(request.commandLineArguments ? { commandLineArguments: request.commandLineArguments } : {}),
          }
        : undefined;
    return this.call('createJobRun', async ({ dataScience }) => {
      const response = await dataScience.createJobRun({
        createJobRunDetails: {
          jobId: request.jobId,
          projectId: request.projectId,
          compartmentId: request.compartmentId,
          displayName: request.displayName,
          ...(override ? { jobConfigurationOverrideDetails: override } : {}),
        },
        opcRetryToken: request.retryToken,
      });
      return fromJobRun(response.jobRun);
    });
  }

  createBuildRun(request: Parameters<OciStarter['createBuildRun']>[0]): Promise<OciRunInfo> {
    const items: devopsModels.BuildRunArgument[] = Object.entries(request.arguments).map(([name, value]) => ({ name, value }));
    return this.call('createBuildRun', async ({ devops }) => {
      const response = await devops.createBuildRun({
        createBuildRunDetails: {
          buildPipelineId: request.buildPipelineId,
          displayName: request.displayName,
          ...(items.length > 0 ? { buildRunArguments: { items } } : {}),
        },
        opcRetryToken: request.retryToken,
      });
      return fromDevopsRun(response.buildRun);
    });
  }

  async close(): Promise<void> {
    const clients = this.clients;
    this.clients = undefined;
    if (!clients) return;
    const { dataScience, devops } = await clients.catch(() => ({ dataScience: undefined, devops: undefined }));
    dataScience?.close();
    devops?.close();
  }
}
