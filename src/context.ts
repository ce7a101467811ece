import type { Redis } from 'ioredis';
import type { AliasMoveStore } from './adapters/redis/alias-moves.js';
import type { ApprovalStore } from './adapters/redis/approval-store.js';
import type { AuditLog } from './adapters/redis/audit-log.js';
import type { MlflowClient } from './adapters/mlflow/mlflow-client.js';
import type { KubeClient } from './adapters/kube/kube-client.js';
import type { RateLimiter } from './adapters/redis/rate-limiter.js';
import type { RunStore } from './adapters/redis/run-store.js';
import type { SlackGateway } from './adapters/slack-api/slack-gateway.js';
import type { Config } from './config/load-config.js';
import type { DeployStage } from './domain/deploy-stages.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';
import type { Queues } from './queues.js';

/** What the bot learns from OCI about a run when an event does not say enough. */
export interface OciRunInfo {
  id: string;
  displayName?: string | undefined;
  lifecycleState: string;
  lifecycleDetails?: string | undefined;
  compartmentId?: string | undefined;
  projectId?: string | undefined;
  pipelineId?: string | undefined;
  timeCreated?: string | undefined;
  timeStarted?: string | undefined;
  timeFinished?: string | undefined;
  timeUpdated?: string | undefined;
  arguments?: Record<string, string> | undefined;
  /** A deployment's stage progress (unordered). */
  stages?: DeployStage[] | undefined;
  /** Job and pipeline runs: the OCI Logging log their output goes to, when logging is configured. */
  log?: { logGroupId: string; logId: string } | undefined;
}

/** The OCI reads the notification worker needs; the OCI adapter implements them. */
export interface OciReader {
  getBuildRun(id: string): Promise<OciRunInfo>;
  getDeployment(id: string): Promise<OciRunInfo>;
  getJobRun(id: string): Promise<OciRunInfo>;
  getPipelineRun(id: string): Promise<OciRunInfo>;
}

/** What every call that starts work in OCI takes. */
export interface StartRequest {
  displayName: string;
  /** opc-retry-token: the same token within 24 h returns the run already created instead of a new one. */
  retryToken: string;
  /** The bot's run, tagged on the resource (RUN_TAG) so that its events find the run even before the call returns. */
  runKey?: string | undefined;
}

export interface CreateJobRunRequest extends StartRequest {
  jobId: string;
  projectId: string;
  compartmentId: string;
  environmentVariables?: Record<string, string> | undefined;
  commandLineArguments?: string | undefined;
}

export interface CreatePipelineRunRequest extends StartRequest {
  pipelineId: string;
  projectId: string;
  compartmentId: string;
  /** Reach every step of the pipeline (configurationOverrideDetails). */
  environmentVariables?: Record<string, string> | undefined;
}

export interface CreateBuildRunRequest extends StartRequest {
  buildPipelineId: string;
  arguments: Record<string, string>;
}

export interface CreateDeploymentRequest extends StartRequest {
  deployPipelineId: string;
  arguments: Record<string, string>;
}

/** The OCI calls that start work. */
export interface OciStarter {
  createJobRun(request: CreateJobRunRequest): Promise<OciRunInfo>;
  createPipelineRun(request: CreatePipelineRunRequest): Promise<OciRunInfo>;
  createBuildRun(request: CreateBuildRunRequest): Promise<OciRunInfo>;
  createDeployment(request: CreateDeploymentRequest): Promise<OciRunInfo>;
}

export interface ApproveDeploymentRequest {
  deploymentId: string;
  stageId: string;
  action: 'APPROVE' | 'REJECT';
  reason: string;
  /** Deterministic per deployment, stage and action: a retried job cannot act twice. */
  retryToken: string;
}

export interface CancelDeploymentRequest {
  deploymentId: string;
  reason: string;
  retryToken: string;
}

/** What a deployment's Slack message can do to it in OCI, and the stage definitions it reads. */
export interface OciDeploymentActions {
  approveDeployment(request: ApproveDeploymentRequest): Promise<OciRunInfo>;
  cancelDeployment(request: CancelDeploymentRequest): Promise<OciRunInfo>;
  /** The canary traffic-shift's rampLimitPercent lives in the stage definition, not in the progress. */
  getDeployStage(id: string): Promise<{ id: string; type: string; rampLimitPercent?: number | undefined }>;
}

/** Tunables of the deployment poller (tests shorten them). */
export interface DeploymentPollTimings {
  /** While a stage runs. */
  fastMs: number;
  /** While an approval waits, and the ceiling of the backoff when nothing changes. */
  slowMs: number;
}

/** Where a run's log lives: a Data Science log (job run logDetails), or a DevOps project's log found by run id. */
export interface LogSearchRequest {
  compartmentId: string;
  logGroupId?: string | undefined;
  logId?: string | undefined;
  /** A field the entries of this run carry, e.g. `source` = the job run OCID, `data.buildRunId`. */
  filter?: { field: string; value: string } | undefined;
  timeStart: string;
  timeEnd: string;
}

export interface LogLine {
  /** ISO 8601. */
  at: string;
  message: string;
}

/** Newest first, as searched; `nextPage` fetches older lines. */
export interface LogPage {
  lines: LogLine[];
  nextPage?: string | undefined;
}

/** OCI Logging Search. */
export interface OciLogSearch {
  searchLogs(request: LogSearchRequest, options: { limit: number; page?: string | undefined }): Promise<LogPage>;
}

/** The alarm as Monitoring defines it: where its metric lives and the query it evaluates. */
export interface AlarmDefinition {
  id: string;
  displayName: string;
  metricCompartmentId: string;
  metricCompartmentIdInSubtree: boolean;
  namespace: string;
  query: string;
  resolution?: string | undefined;
  resourceGroup?: string | undefined;
}

export interface MetricStream {
  name: string;
  dimensions: Record<string, string>;
  points: { at: number; value: number }[];
}

export interface MetricsRequest {
  compartmentId: string;
  compartmentIdInSubtree: boolean;
  namespace: string;
  query: string;
  resolution?: string | undefined;
  resourceGroup?: string | undefined;
  startTime: string;
  endTime: string;
}

/** OCI Monitoring reads. */
export interface OciMonitoring {
  getAlarm(alarmId: string): Promise<AlarmDefinition>;
  summarizeMetricsData(request: MetricsRequest): Promise<MetricStream[]>;
}

/** Everything handlers and job processors use, built once per process by the app. */
export interface Context {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  redis: Redis;
  runs: RunStore;
  limiter: RateLimiter;
  slack: SlackGateway;
  oci: OciReader & OciStarter & OciDeploymentActions;
  logSearch: OciLogSearch;
  monitoring: OciMonitoring;
  audit: AuditLog;
  approvals: ApprovalStore;
  /** When each MLflow alias moved to its version (soak, status). */
  aliasMoves: AliasMoveStore;
  /** Present when MLFLOW_TRACKING_URI is set. */
  mlflow: MlflowClient | undefined;
  /**
   * Kubernetes access for rollbacks and status, built on first use: the cluster of a kubeconfig context
   * (`deployment.context`), or without one in-cluster (or KUBECONFIG's current context). Throws
   * CONFIG_INVALID, naming the config key, when unusable.
   */
  kube: (context?: string) => Promise<KubeClient>;
  queues: Queues;
  now: () => Date;
  deploymentPoll: DeploymentPollTimings;
}
