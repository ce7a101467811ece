import { createHash, createPublicKey, generateKeyPairSync, randomBytes, verify, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FakeOciTelemetry } from './fake-oci-telemetry.js';
import { HeldAnswers, matchesRequest, type HeldAnswer, type RequestMatcher } from './request-faults.js';

/**
 * A local OCI API for Data Science (jobs, job runs, pipeline runs), DevOps (build runs, deployments),
 * Logging Search and Monitoring (fake-oci-telemetry.ts)
 * that checks every request's signature the way OCI does (draft-cavage HTTP signatures, "Signature
 * Version 1", reference/oci.md §4f): the keyId, the signed headers (x-date, (request-target), host, and
 * for bodies content-type, content-length and x-content-sha256, which must match the body), RSA-SHA256
 * against the test key's public half, and at most 5 minutes of clock skew. Anything else is 401
 * NotAuthenticated. Resources live in memory; tests seed them, move them through states and inject
 * failures. Creates honour opc-retry-token like OCI: the same token returns the same resource.
 */

export interface TestKey {
  privateKeyPem: string;
  publicKeyPem: string;
  fingerprint: string;
  tenancy: string;
  user: string;
  /** `tenancy/user/fingerprint`, what the SDK puts in the Signature's keyId. */
  keyId: string;
}

/** A fresh RSA key pair (PKCS#8 PEM, which SimpleAuthenticationDetailsProvider accepts) and its keyId. */
export function generateTestKey(identity: { tenancy?: string; user?: string } = {}): TestKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const der = publicKey.export({ type: 'spki', format: 'der' });
  // OCI's fingerprint: MD5 of the DER public key, as colon-separated hex pairs.
  const fingerprint = (createHash('md5').update(der).digest('hex').match(/../g) ?? []).join(':');
  const tenancy = identity.tenancy ?? 'ocid1.tenancy.oc1..aaaaaaaafaketenancy';
  const user = identity.user ?? 'ocid1.user.oc1..aaaaaaaafakeuser';
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    fingerprint,
    tenancy,
    user,
    keyId: `${tenancy}/${user}/${fingerprint}`,
  };
}

export interface RecordedOciRequest {
  method: string;
  /** Path and query as sent, e.g. `/20190101/jobRuns/ocid1...`. */
  path: string;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  /** The JSON body, parsed; undefined without a body. */
  body: unknown;
  status: number;
  /** When the request arrived (epoch ms), for measuring the gaps between a client's retries. */
  at: number;
  signatureVerified: boolean;
  /** Why the signature was refused, when it was. */
  signatureProblem?: string | undefined;
}

export interface OciFailure {
  status: number;
  /** OCI's error code: TooManyRequests, InternalServerError, NotAuthorizedOrNotFound, InvalidParameter, NotAuthenticated, … */
  code: string;
  message?: string;
  /** How many matching requests fail; 1 by default. */
  count?: number;
  /** Sent as a Retry-After header (seconds). */
  retryAfterSeconds?: number;
}

/** `pathPrefix` is compared with the path without its query, e.g. `/20190101/jobRuns`. */
export type FailureMatcher = RequestMatcher;

export type FakeResource = Record<string, unknown> & { id: string; lifecycleState: string };

export interface PipelineHome {
  projectId: string;
  compartmentId: string;
}

/**
 * A stage of a deploy pipeline (reference/oci.md §8): its type (MANUAL_APPROVAL, OKE_CANARY_DEPLOYMENT,
 * OKE_CANARY_TRAFFIC_SHIFT, OKE_CANARY_APPROVAL, OKE_BLUE_GREEN_DEPLOYMENT, OKE_BLUE_GREEN_TRAFFIC_SHIFT,
 * OKE_DEPLOYMENT, WAIT, ...), the stages it runs after (by id; none: the first, after the pipeline), and
 * for a canary traffic shift its rampLimitPercent, for an approval its numberOfApprovalsRequired.
 */
export interface FakeStageDefinition {
  id: string;
  name: string;
  type: string;
  after?: string[];
  rampLimitPercent?: number;
  approvalsRequired?: number;
  /** The namespace OKE canary / blue-green stages report in their progress. */
  namespace?: string;
}

const APPROVAL_TYPES = new Set(['MANUAL_APPROVAL', 'OKE_CANARY_APPROVAL', 'COMPUTE_INSTANCE_GROUP_CANARY_APPROVAL']);

export interface FakeOciApiOptions {
  publicKeyPem: string;
  keyId: string;
  /** Build and deploy pipelines by id, with the project and compartment their runs report. */
  pipelines?: Record<string, PipelineHome>;
}

type Kind = 'job' | 'jobRun' | 'pipelineRun' | 'buildRun' | 'deployment';

const STATES: Record<Kind, readonly string[]> = {
  job: ['CREATING', 'ACTIVE', 'DELETING', 'FAILED', 'DELETED'],
  jobRun: ['ACCEPTED', 'IN_PROGRESS', 'FAILED', 'SUCCEEDED', 'CANCELING', 'CANCELED', 'DELETED', 'NEEDS_ATTENTION'],
  pipelineRun: ['ACCEPTED', 'IN_PROGRESS', 'FAILED', 'SUCCEEDED', 'CANCELING', 'CANCELED', 'DELETING', 'DELETED'],
  buildRun: ['ACCEPTED', 'IN_PROGRESS', 'FAILED', 'SUCCEEDED', 'CANCELING', 'CANCELED', 'DELETING'],
  deployment: ['ACCEPTED', 'IN_PROGRESS', 'FAILED', 'SUCCEEDED', 'CANCELING', 'CANCELED'],
};
const FINISHED = new Set(['FAILED', 'SUCCEEDED', 'CANCELED', 'DELETED']);

/** Where each kind lives in the API, and what its OCIDs look like. */
const COLLECTIONS: Record<string, { kind: Kind; ocidType: string }> = {
  '/20190101/jobs': { kind: 'job', ocidType: 'datasciencejob' },
  '/20190101/jobRuns': { kind: 'jobRun', ocidType: 'datasciencejobrun' },
  '/20190101/pipelineRuns': { kind: 'pipelineRun', ocidType: 'datasciencepipelinerun' },
  '/20210630/buildRuns': { kind: 'buildRun', ocidType: 'devopsbuildrun' },
  '/20210630/deployments': { kind: 'deployment', ocidType: 'devopsdeployment' },
};

const DEFAULT_HOME: PipelineHome = { projectId: 'ocid1.devopsproject.oc1.iad.proj', compartmentId: 'ocid1.compartment.oc1..ml' };
const DEFAULT_DS_PROJECT = 'ocid1.datascienceproject.oc1.iad.fakeproject';
const CREATED_BY = 'ocid1.user.oc1..aaaaaaaafakeuser';
const MAX_SKEW_MS = 5 * 60_000;
const ARGUMENT_NAME = /^[a-zA-Z][a-zA-Z_0-9]*$/;
const NOT_FOUND = { code: 'NotAuthorizedOrNotFound', message: 'Authorization failed or requested resource not found.' };

type Answer = [status: number, body: unknown, headers?: Record<string, string>];

function ocid(ocidType: string): string {
  return `ocid1.${ocidType}.oc1.iad.${randomBytes(12).toString('hex')}`;
}

function requestId(): string {
  return `${randomBytes(16).toString('hex').toUpperCase()}/${randomBytes(16).toString('hex').toUpperCase()}`;
}

function invalid(message: string): Answer {
  return [400, { code: 'InvalidParameter', message }];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function missing(input: Record<string, unknown>, fields: string[]): Answer | undefined {
  const absent = fields.filter((field) => typeof input[field] !== 'string' || input[field] === '');
  return absent.length > 0 ? invalid(`Missing required parameter(s): ${absent.join(', ')}`) : undefined;
}

/** buildRunArguments / deploymentArguments: `{ items: [{ name, value }] }`, names as OCI allows them. */
function badArguments(field: string, value: unknown): Answer | undefined {
  if (value === undefined) return undefined;
  if (!isRecord(value) || !Array.isArray(value.items)) return invalid(`${field}.items must be a list`);
  for (const item of value.items as unknown[]) {
    if (!isRecord(item) || typeof item.name !== 'string' || typeof item.value !== 'string') return invalid(`${field}.items need a name and a value`);
    if (!ARGUMENT_NAME.test(item.name)) return invalid(`${field} name ${item.name} must match ${ARGUMENT_NAME.source}`);
  }
  return undefined;
}

/** createPipelineRun's overrides: configurationOverrideDetails is PipelineDefaultConfigurationDetails (type DEFAULT), parameters map to strings. */
function badPipelineOverrides(input: Record<string, unknown>): Answer | undefined {
  const overrides = input.configurationOverrideDetails;
  if (overrides !== undefined) {
    if (!isRecord(overrides) || overrides.type !== 'DEFAULT') return invalid('configurationOverrideDetails.type must be DEFAULT');
    const variables = overrides.environmentVariables;
    if (variables !== undefined && (!isRecord(variables) || Object.values(variables).some((value) => typeof value !== 'string'))) {
      return invalid('configurationOverrideDetails.environmentVariables must map names to strings');
    }
  }
  const parameters = input.parametersOverride;
  if (parameters !== undefined && (!isRecord(parameters) || Object.values(parameters).some((value) => typeof value !== 'string'))) {
    return invalid('parametersOverride must map names to strings');
  }
  return undefined;
}

export class FakeOciApi {
  url = '';
  private readonly server: Server;
  private readonly publicKey: KeyObject;
  private readonly keyId: string;
  private readonly resources = new Map<string, { kind: Kind; resource: FakeResource }>();
  private readonly retryTokens = new Map<string, string>();
  private readonly failures: { matcher: FailureMatcher; failure: OciFailure }[] = [];
  private readonly pipelines = new Map<string, PipelineHome>();
  private readonly log: RecordedOciRequest[] = [];
  private readonly held = new HeldAnswers<FailureMatcher, RecordedOciRequest & { text: string }>();
  private readonly createdListeners = new Set<(resource: FakeResource) => void>();
  private readonly stageDefinitions = new Map<string, FakeStageDefinition & { pipelineId: string }>();
  private readonly pipelineStages = new Map<string, FakeStageDefinition[]>();
  /** Logging Search and Monitoring: seed log entries, alarms and metric streams here. */
  readonly telemetry = new FakeOciTelemetry();

  private constructor(options: FakeOciApiOptions) {
    this.publicKey = createPublicKey(options.publicKeyPem);
    this.keyId = options.keyId;
    for (const [id, home] of Object.entries(options.pipelines ?? {})) this.pipelines.set(id, home);
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        this.send(req, res, { body: undefined, verified: false, problem: undefined }, [500, { code: 'InternalServerError', message: String(error) }], {});
      });
    });
  }

  static async start(options: FakeOciApiOptions): Promise<FakeOciApi> {
    const fake = new FakeOciApi(options);
    await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
    fake.url = `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}`;
    return fake;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Every request received, refused ones included, oldest first. */
  requests(): RecordedOciRequest[] {
    return [...this.log];
  }

  resource(id: string): FakeResource | undefined {
    return this.resources.get(id)?.resource;
  }

  /** Calls `listener` with every run or deployment created through the API (not seeded), after the answer is decided. */
  onCreated(listener: (resource: FakeResource) => void): () => void {
    this.createdListeners.add(listener);
    return () => this.createdListeners.delete(listener);
  }

  /** The next run or deployment created through the API that `match` accepts. */
  nextCreated(match: (resource: FakeResource) => boolean): Promise<FakeResource> {
    return new Promise((resolve) => {
      const off = this.onCreated((resource) => {
        if (!match(resource)) return;
        off();
        resolve(resource);
      });
    });
  }

  /** Runs of this build or deploy pipeline report this project and compartment. */
  registerPipeline(pipelineId: string, home: PipelineHome): void {
    this.pipelines.set(pipelineId, home);
  }

  /**
   * Gives a deploy pipeline its stages: its deployments then carry deploymentExecutionProgress with one
   * entry per stage (keyed by stage OCID, every stage listed from the start, status ACCEPTED until reached),
   * and GET /deployStages/{id} answers the definitions.
   */
  defineDeployPipeline(pipelineId: string, stages: FakeStageDefinition[]): void {
    this.pipelineStages.set(pipelineId, stages);
    for (const stage of stages) this.stageDefinitions.set(stage.id, { ...stage, pipelineId });
  }

  /** A deployment of a defined pipeline starts: IN_PROGRESS, its first stage running. */
  startDeployment(id: string): FakeResource {
    const deployment = this.setState(id, 'IN_PROGRESS');
    this.beginReady(deployment);
    return deployment;
  }

  /**
   * The running stages that are not approvals finish (SUCCEEDED) and the ones after them start; an approval
   * stage that starts waits (IN_PROGRESS, its step WAITING) until approveDeployment decides it. When the last
   * stage is done the deployment SUCCEEDS.
   */
  advanceDeployment(id: string): FakeResource {
    const deployment = this.deploymentOf(id);
    for (const entry of this.stageEntries(deployment)) {
      if (entry.status === 'IN_PROGRESS' && !APPROVAL_TYPES.has(String(entry.deployStageType))) this.finishStage(entry, 'SUCCEEDED');
    }
    this.beginReady(deployment);
    return deployment;
  }

  /** The running stage fails at `step`; the deployment fails with `details`. */
  failStage(id: string, step: string, details: string): FakeResource {
    const deployment = this.deploymentOf(id);
    for (const entry of this.stageEntries(deployment)) {
      if (entry.status !== 'IN_PROGRESS') continue;
      this.finishStage(entry, 'FAILED');
      const progress = (entry.deployStageExecutionProgressDetails as Record<string, unknown>[] | undefined)?.[0];
      if (progress) progress.steps = [...((progress.steps as Record<string, unknown>[] | undefined) ?? []).slice(0, -1), { name: step, state: 'FAILED', timeStarted: entry.timeStarted, timeFinished: entry.timeFinished }];
    }
    return this.setState(id, 'FAILED', { lifecycleDetails: details });
  }

  /** Someone approves (or rejects) the waiting stage in the OCI console: another principal than the bot. */
  decideInConsole(id: string, stageId: string, action: 'APPROVE' | 'REJECT', subjectId = 'ocid1.user.oc1..consoleuser'): FakeResource {
    const answer = this.approve(id, { deployStageId: stageId, action, reason: 'decided in the console' }, subjectId);
    if (answer[0] !== 200) throw new Error(`console decision refused: ${JSON.stringify(answer[1])}`);
    return this.deploymentOf(id);
  }

  private deploymentOf(id: string): FakeResource {
    const entry = this.resources.get(id);
    if (entry?.kind !== 'deployment') throw new Error(`fake OCI has no deployment ${id}`);
    return entry.resource;
  }

  private stageEntries(deployment: FakeResource): Record<string, unknown>[] {
    const progress = deployment.deploymentExecutionProgress;
    const map = isRecord(progress) && isRecord(progress.deployStageExecutionProgress) ? progress.deployStageExecutionProgress : {};
    return Object.values(map).filter(isRecord);
  }

  /** Every stage of the pipeline listed, not reached yet (ACCEPTED), in a map keyed by stage OCID. */
  private initialProgress(pipelineId: string): Record<string, unknown> | undefined {
    const stages = this.pipelineStages.get(pipelineId);
    if (!stages) return undefined;
    const map: Record<string, unknown> = {};
    for (const stage of stages) {
      map[stage.id] = {
        deployStageDisplayName: stage.name,
        deployStageId: stage.id,
        deployStageType: stage.type,
        status: 'ACCEPTED',
        deployStagePredecessors: { items: (stage.after && stage.after.length > 0 ? stage.after : [pipelineId]).map((predecessor) => ({ id: predecessor })) },
        deployStageExecutionProgressDetails: [],
        ...(APPROVAL_TYPES.has(stage.type) ? { approvalActions: [] } : {}),
      };
    }
    return { deployStageExecutionProgress: map };
  }

  /** Starts every stage whose predecessors all succeeded; with none left to run or running, the deployment succeeds. */
  private beginReady(deployment: FakeResource): void {
    const entries = this.stageEntries(deployment);
    const byId = new Map(entries.map((entry) => [String(entry.deployStageId), entry]));
    const now = new Date().toISOString();
    for (const entry of entries) {
      if (entry.status !== 'ACCEPTED') continue;
      const predecessors = ((entry.deployStagePredecessors as { items?: { id: string }[] } | undefined)?.items ?? []).map((item) => item.id);
      if (!predecessors.every((predecessor) => !byId.has(predecessor) || byId.get(predecessor)?.status === 'SUCCEEDED')) continue;
      const definition = this.stageDefinitions.get(String(entry.deployStageId));
      const approval = APPROVAL_TYPES.has(String(entry.deployStageType));
      entry.status = 'IN_PROGRESS';
      entry.timeStarted = now;
      if (definition?.namespace) entry.namespace = definition.namespace;
      entry.deployStageExecutionProgressDetails = [
        { targetId: approval ? entry.deployStageId : 'ocid1.cluster.oc1.iad.fakecluster', steps: [{ name: approval ? 'Approval' : 'Deploy', state: approval ? 'WAITING' : 'IN_PROGRESS', timeStarted: now }] },
      ];
    }
    if (entries.length > 0 && entries.every((entry) => entry.status === 'SUCCEEDED')) this.setState(String(deployment.id), 'SUCCEEDED');
    deployment.timeUpdated = now;
  }

  private finishStage(entry: Record<string, unknown>, status: 'SUCCEEDED' | 'FAILED' | 'CANCELED'): void {
    const now = new Date().toISOString();
    entry.status = status;
    entry.timeFinished = now;
    const steps = ((entry.deployStageExecutionProgressDetails as Record<string, unknown>[] | undefined)?.[0]?.steps as Record<string, unknown>[] | undefined) ?? [];
    for (const step of steps) {
      step.state = status;
      step.timeFinished = now;
    }
  }

  /**
   * POST /deployments/{id}/actions/approve (ApproveDeploymentDetails { deployStageId, action, reason? }).
   * A stage that does not wait for approval answers 409 Conflict (what OCI answers there is not documented,
   * reference/oci.md §8.2; Conflict is its general "conflicts with the current state" code).
   */
  private approve(id: string, body: unknown, subjectId: string): Answer {
    const entry = this.resources.get(id);
    if (entry?.kind !== 'deployment') return [404, NOT_FOUND];
    if (!isRecord(body)) return invalid('The request body must be a JSON object');
    const problem = missing(body, ['deployStageId', 'action']);
    if (problem) return problem;
    if (body.action !== 'APPROVE' && body.action !== 'REJECT') return invalid('action must be APPROVE or REJECT');
    if (body.reason !== undefined && typeof body.reason !== 'string') return invalid('reason must be a string');
    const deployment = entry.resource;
    const stage = this.stageEntries(deployment).find((candidate) => candidate.deployStageId === body.deployStageId);
    if (!stage) return invalid(`Stage ${String(body.deployStageId)} is not a stage of this deployment`);
    if (!APPROVAL_TYPES.has(String(stage.deployStageType)) || stage.status !== 'IN_PROGRESS' || deployment.lifecycleState !== 'IN_PROGRESS') {
      return [409, { code: 'Conflict', message: `Stage ${String(stage.deployStageDisplayName)} is not waiting for approval.` }];
    }
    const actions = Array.isArray(stage.approvalActions) ? (stage.approvalActions as Record<string, unknown>[]) : [];
    stage.approvalActions = [...actions, { subjectId, action: body.action, ...(typeof body.reason === 'string' ? { reason: body.reason } : {}) }];
    if (body.action === 'REJECT') {
      this.finishStage(stage, 'FAILED');
      this.setState(id, 'FAILED', { lifecycleDetails: `Stage ${String(stage.deployStageDisplayName)} was rejected.` });
      return [200, deployment];
    }
    const required = this.stageDefinitions.get(String(stage.deployStageId))?.approvalsRequired ?? 1;
    const approvals = (stage.approvalActions as Record<string, unknown>[]).filter((action) => action.action === 'APPROVE').length;
    if (approvals >= required) {
      this.finishStage(stage, 'SUCCEEDED');
      this.beginReady(deployment);
    }
    return [200, deployment];
  }

  /** POST /deployments/{id}/actions/cancel (CancelDeploymentDetails { reason }, required): CANCELING, then CANCELED. */
  private cancel(id: string, body: unknown): Answer {
    const entry = this.resources.get(id);
    if (entry?.kind !== 'deployment') return [404, NOT_FOUND];
    if (!isRecord(body)) return invalid('The request body must be a JSON object');
    const problem = missing(body, ['reason']);
    if (problem) return problem;
    const deployment = entry.resource;
    if (FINISHED.has(deployment.lifecycleState) || deployment.lifecycleState === 'CANCELING') {
      return [409, { code: 'Conflict', message: `The deployment is ${deployment.lifecycleState} and cannot be canceled.` }];
    }
    this.setState(id, 'CANCELING');
    setTimeout(() => {
      for (const stage of this.stageEntries(deployment)) if (stage.status === 'IN_PROGRESS') this.finishStage(stage, 'CANCELED');
      this.setState(id, 'CANCELED', { lifecycleDetails: `Canceled: ${String(body.reason)}` });
    }, 100).unref();
    return [200, deployment];
  }

  /** The next `count` requests matching `matcher` (after their signature checks out) get this error instead. */
  failNext(matcher: FailureMatcher, failure: OciFailure): void {
    for (let i = 0; i < (failure.count ?? 1); i++) this.failures.push({ matcher, failure });
  }

  /**
   * The next request matching `matcher` is handled (a create creates) but its answer is held back until
   * `release()`: the moment to kill the caller, which then never learns what OCI did.
   */
  holdNext(matcher: FailureMatcher): HeldAnswer<RecordedOciRequest> {
    return this.held.hold(matcher);
  }

  /** The next `count` matching requests are performed but answered only after `delayMs`, past a client's timeout. */
  delayNext(matcher: FailureMatcher, delayMs: number, count = 1): void {
    this.held.delay(matcher, delayMs, count);
  }

  seedJob(fields: Partial<FakeResource> = {}): FakeResource {
    return this.put('job', {
      displayName: 'job',
      projectId: DEFAULT_DS_PROJECT,
      compartmentId: DEFAULT_HOME.compartmentId,
      createdBy: CREATED_BY,
      timeCreated: new Date().toISOString(),
      lifecycleState: 'ACTIVE',
      ...fields,
      id: fields.id ?? ocid('datasciencejob'),
    });
  }

  seedJobRun(fields: Partial<FakeResource> & { lifecycleState: string }): FakeResource {
    const run = this.put('jobRun', {
      displayName: 'job-run',
      jobId: 'ocid1.datasciencejob.oc1.iad.seeded',
      projectId: DEFAULT_DS_PROJECT,
      compartmentId: DEFAULT_HOME.compartmentId,
      createdBy: CREATED_BY,
      timeAccepted: new Date().toISOString(),
      ...fields,
      id: fields.id ?? ocid('datasciencejobrun'),
    });
    return this.stamp('jobRun', run);
  }

  seedPipelineRun(fields: Partial<FakeResource> & { lifecycleState: string }): FakeResource {
    const run = this.put('pipelineRun', {
      displayName: 'pipeline-run',
      pipelineId: 'ocid1.datasciencepipeline.oc1.iad.seeded',
      projectId: DEFAULT_DS_PROJECT,
      compartmentId: DEFAULT_HOME.compartmentId,
      createdBy: CREATED_BY,
      timeAccepted: new Date().toISOString(),
      stepRuns: [],
      ...fields,
      id: fields.id ?? ocid('datasciencepipelinerun'),
    });
    return this.stamp('pipelineRun', run);
  }

  seedBuildRun(fields: Partial<FakeResource> & { lifecycleState: string }): FakeResource {
    const buildPipelineId = typeof fields.buildPipelineId === 'string' ? fields.buildPipelineId : 'ocid1.devopsbuildpipeline.oc1.iad.seeded';
    const now = new Date().toISOString();
    const run = this.put('buildRun', {
      displayName: 'build-run',
      buildPipelineId,
      ...this.home(buildPipelineId),
      buildRunSource: { sourceType: 'MANUAL' },
      timeCreated: now,
      timeUpdated: now,
      buildRunProgress: {},
      ...fields,
      id: fields.id ?? ocid('devopsbuildrun'),
    });
    return this.stamp('buildRun', run);
  }

  seedDeployment(fields: Partial<FakeResource> & { lifecycleState: string }): FakeResource {
    const deployPipelineId = typeof fields.deployPipelineId === 'string' ? fields.deployPipelineId : 'ocid1.devopsdeploypipeline.oc1.iad.seeded';
    const now = new Date().toISOString();
    const deployment = this.put('deployment', {
      displayName: 'deployment',
      deploymentType: 'PIPELINE_DEPLOYMENT',
      deployPipelineId,
      ...this.home(deployPipelineId),
      timeCreated: now,
      timeUpdated: now,
      deploymentExecutionProgress: this.initialProgress(deployPipelineId) ?? {},
      ...fields,
      id: fields.id ?? ocid('devopsdeployment'),
    });
    return this.stamp('deployment', deployment);
  }

  /**
   * Moves a run to a state, stamping times where OCI keeps them: job and pipeline runs at the top level
   * (timeStarted, timeFinished), build runs in buildRunProgress, deployments in
   * deploymentExecutionProgress. `extra` (lifecycleDetails, …) is merged last.
   */
  setState(id: string, lifecycleState: string, extra: Record<string, unknown> = {}): FakeResource {
    const entry = this.resources.get(id);
    if (!entry) throw new Error(`fake OCI has no resource ${id}`);
    if (!STATES[entry.kind].includes(lifecycleState)) throw new Error(`${lifecycleState} is not a ${entry.kind} state (${STATES[entry.kind].join(', ')})`);
    entry.resource.lifecycleState = lifecycleState;
    if (entry.kind !== 'jobRun') entry.resource.timeUpdated = new Date().toISOString();
    this.stamp(entry.kind, entry.resource);
    Object.assign(entry.resource, extra);
    return entry.resource;
  }

  private put(kind: Kind, resource: FakeResource): FakeResource {
    this.resources.set(resource.id, { kind, resource });
    return resource;
  }

  private home(pipelineId: string): PipelineHome {
    return this.pipelines.get(pipelineId) ?? DEFAULT_HOME;
  }

  private stamp(kind: Kind, resource: FakeResource): FakeResource {
    if (kind === 'job') return resource;
    const progressKey = kind === 'buildRun' ? 'buildRunProgress' : kind === 'deployment' ? 'deploymentExecutionProgress' : undefined;
    let times: Record<string, unknown> = resource;
    if (progressKey) {
      const progress = resource[progressKey];
      times = isRecord(progress) ? progress : {};
      resource[progressKey] = times;
    }
    const now = new Date().toISOString();
    const state = resource.lifecycleState;
    if (state === 'IN_PROGRESS' || state === 'CANCELING' || FINISHED.has(state)) times.timeStarted ??= now;
    if (FINISHED.has(state)) times.timeFinished ??= now;
    return resource;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
    const raw = Buffer.concat(chunks);
    let body: unknown;
    let unreadable = false;
    try {
      body = raw.length > 0 ? JSON.parse(raw.toString('utf8')) : undefined;
    } catch {
      unreadable = true;
    }
    const problem = this.verifySignature(req, raw);
    const seen = { body, verified: problem === undefined, problem, at: Date.now() };
    if (problem) return this.send(req, res, seen, [401, { code: 'NotAuthenticated', message: problem }], {});
    if (unreadable) return this.send(req, res, seen, invalid('The request body is not valid JSON'), {});

    const method = req.method ?? 'GET';
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const request = { method, path, text: raw.toString('utf8') };
    const index = this.failures.findIndex(({ matcher }) => matchesRequest(matcher, request));
    const injected = index >= 0 ? this.failures.splice(index, 1)[0]?.failure : undefined;
    if (injected) {
      const headers: Record<string, string> = injected.retryAfterSeconds !== undefined ? { 'retry-after': String(injected.retryAfterSeconds) } : {};
      return this.send(req, res, seen, [injected.status, { code: injected.code, message: injected.message ?? injected.code }], headers);
    }
    const retryToken = req.headers['opc-retry-token'];
    const query = new URL(req.url ?? '/', 'http://fake.oci').searchParams;
    const answer = this.telemetry.route(method, path, query, body) ?? this.route(method, path, body, typeof retryToken === 'string' ? retryToken : undefined);
    await this.held.before({ ...request, path: req.url ?? path, headers: {}, body, status: answer[0], at: seen.at, signatureVerified: true });
    // A caller that gave up (timeout) or was killed meanwhile still had its request performed and logged.
    this.send(req, res, seen, answer, answer[2] ?? {});
  }

  private route(method: string, path: string, body: unknown, retryToken: string | undefined): Answer {
    const collection = COLLECTIONS[path];
    if (method === 'POST' && collection && collection.kind !== 'job') {
      if (!isRecord(body)) return invalid('The request body must be a JSON object');
      const tokenKey = retryToken ? `${path} ${retryToken}` : undefined;
      const replayed = tokenKey ? this.retryTokens.get(tokenKey) : undefined;
      if (replayed) return [200, this.resource(replayed)];
      const answer = this.create(collection.kind, collection.ocidType, body);
      const created = answer[0] === 200 && isRecord(answer[1]) && typeof answer[1].id === 'string' ? this.resource(answer[1].id) : undefined;
      if (tokenKey && created) this.retryTokens.set(tokenKey, created.id);
      if (created) for (const listener of this.createdListeners) listener(created);
      return answer;
    }
    const action = /^\/20210630\/deployments\/([^/]+)\/actions\/(approve|cancel)$/.exec(path);
    if (method === 'POST' && action?.[1]) {
      const id = decodeURIComponent(action[1]);
      // A retry token seen before for this path replays the answer without acting again.
      const tokenKey = retryToken ? `${path} ${retryToken}` : undefined;
      if (tokenKey && this.retryTokens.has(tokenKey)) return [200, this.resource(id)];
      const answer = action[2] === 'approve' ? this.approve(id, body, this.keyId.split('/')[1] ?? this.keyId) : this.cancel(id, body);
      if (tokenKey && answer[0] === 200) this.retryTokens.set(tokenKey, id);
      return answer;
    }
    const stage = /^\/20210630\/deployStages\/([^/]+)$/.exec(path);
    if (method === 'GET' && stage?.[1]) {
      const definition = this.stageDefinitions.get(decodeURIComponent(stage[1]));
      if (!definition) return [404, NOT_FOUND];
      return [
        200,
        {
          id: definition.id,
          displayName: definition.name,
          deployStageType: definition.type,
          deployPipelineId: definition.pipelineId,
          ...this.home(definition.pipelineId),
          lifecycleState: 'ACTIVE',
          deployStagePredecessorCollection: { items: (definition.after && definition.after.length > 0 ? definition.after : [definition.pipelineId]).map((id) => ({ id })) },
          ...(definition.rampLimitPercent !== undefined ? { rolloutPolicy: { policyType: 'LOAD_BALANCER_TRAFFIC_SHIFT', batchCount: 1, batchDelayInSeconds: 5, rampLimitPercent: definition.rampLimitPercent } } : {}),
          ...(APPROVAL_TYPES.has(definition.type) ? { approvalPolicy: { approvalPolicyType: 'COUNT_BASED_APPROVAL', numberOfApprovalsRequired: definition.approvalsRequired ?? 1 } } : {}),
        },
      ];
    }
    const item = /^(\/\d{8}\/[A-Za-z]+)\/([^/]+)$/.exec(path);
    const itemCollection = item?.[1] ? COLLECTIONS[item[1]] : undefined;
    if (method === 'GET' && item?.[2] && itemCollection) {
      const id = decodeURIComponent(item[2]);
      const entry = this.resources.get(id);
      if (entry?.kind === itemCollection.kind) return [200, entry.resource];
      // Jobs are rarely seeded: any job OCID reads as a minimal ACTIVE job.
      if (!entry && itemCollection.kind === 'job' && id.startsWith('ocid1.datasciencejob.')) return [200, this.seedJob({ id })];
      return [404, NOT_FOUND];
    }
    return [404, { code: 'NotAuthorizedOrNotFound', message: `No route for ${method} ${path}` }];
  }

  private create(kind: Kind, ocidType: string, input: Record<string, unknown>): Answer {
    const id = ocid(ocidType);
    const now = new Date().toISOString();
    switch (kind) {
      case 'jobRun': {
        const problem = missing(input, ['projectId', 'compartmentId', 'jobId']);
        if (problem) return problem;
        const overrides = input.jobConfigurationOverrideDetails;
        if (overrides !== undefined) {
          if (!isRecord(overrides) || (overrides.jobType !== 'DEFAULT' && overrides.jobType !== 'EMPTY')) {
            return invalid('jobConfigurationOverrideDetails.jobType must be DEFAULT or EMPTY');
          }
          const variables = overrides.environmentVariables;
          if (variables !== undefined && (!isRecord(variables) || Object.values(variables).some((value) => typeof value !== 'string'))) {
            return invalid('jobConfigurationOverrideDetails.environmentVariables must map names to strings');
          }
        }
        return [200, this.put('jobRun', { displayName: `jobrun${now.replace(/\D/g, '').slice(0, 14)}`, ...input, id, lifecycleState: 'ACCEPTED', timeAccepted: now, createdBy: CREATED_BY })];
      }
      case 'pipelineRun': {
        const problem = missing(input, ['compartmentId', 'pipelineId']) ?? badPipelineOverrides(input);
        if (problem) return problem;
        return [
          200,
          this.put('pipelineRun', { projectId: DEFAULT_DS_PROJECT, displayName: 'pipeline-run', ...input, id, lifecycleState: 'ACCEPTED', timeAccepted: now, createdBy: CREATED_BY, stepRuns: [] }),
        ];
      }
      case 'buildRun': {
        const problem = missing(input, ['buildPipelineId']) ?? badArguments('buildRunArguments', input.buildRunArguments);
        if (problem) return problem;
        const home = this.home(String(input.buildPipelineId));
        return [
          200,
          this.put('buildRun', {
            ...input,
            ...home,
            id,
            buildRunSource: { sourceType: 'MANUAL' },
            lifecycleState: 'ACCEPTED',
            timeCreated: now,
            timeUpdated: now,
            buildRunProgress: {},
          }),
        ];
      }
      case 'deployment': {
        if (input.deploymentType !== 'PIPELINE_DEPLOYMENT') return invalid('deploymentType must be PIPELINE_DEPLOYMENT (the only type this fake knows)');
        const problem = missing(input, ['deployPipelineId']) ?? badArguments('deploymentArguments', input.deploymentArguments);
        if (problem) return problem;
        const home = this.home(String(input.deployPipelineId));
        const progress = this.initialProgress(String(input.deployPipelineId)) ?? {};
        return [200, this.put('deployment', { ...input, ...home, id, lifecycleState: 'ACCEPTED', timeCreated: now, timeUpdated: now, deploymentExecutionProgress: progress })];
      }
      case 'job':
        return [404, NOT_FOUND];
    }
  }

  private send(
    req: IncomingMessage,
    res: ServerResponse,
    seen: { body: unknown; verified: boolean; problem: string | undefined; at?: number },
    [status, answer]: Answer,
    headers: Record<string, string>,
  ): void {
    this.log.push({
      method: req.method ?? '',
      path: req.url ?? '',
      headers: Object.fromEntries(Object.entries(req.headers).map(([name, value]) => [name, Array.isArray(value) ? value.join(', ') : (value ?? '')])),
      body: seen.body,
      status,
      at: seen.at ?? Date.now(),
      signatureVerified: seen.verified,
      signatureProblem: seen.problem,
    });
    // Real OCI starts its opc-request-id with the caller's (the SDK sends one); this fake answers with its
    // own two hex parts only, which the other suites' assertions expect.
    res.writeHead(status, {
      'content-type': 'application/json',
      'opc-request-id': requestId(),
      ...(status === 200 ? { etag: randomBytes(16).toString('hex') } : {}),
      ...headers,
    });
    res.end(JSON.stringify(answer ?? {}));
  }

  /** Returns why the signature is refused, or undefined when it verifies. */
  private verifySignature(req: IncomingMessage, body: Buffer): string | undefined {
    const authorization = req.headers.authorization ?? '';
    if (!authorization.startsWith('Signature ')) return 'The required information to complete authentication was not provided.';
    const params = new Map<string, string>();
    for (const match of authorization.slice('Signature '.length).matchAll(/([A-Za-z]+)="([^"]*)"/g)) params.set(match[1] ?? '', match[2] ?? '');
    if (params.get('version') !== '1') return 'Signature version must be "1"';
    if (params.get('algorithm') !== 'rsa-sha256') return 'Signature algorithm must be "rsa-sha256"';
    const keyId = params.get('keyId');
    if (keyId !== this.keyId) return `Unknown keyId ${keyId ?? '(none)'}`;
    const signature = params.get('signature');
    if (!signature) return 'Signature is missing';
    // The SDK lists some names in mixed case (Content-Type, Content-Length); header names are case-insensitive.
    const names = (params.get('headers') ?? '').split(' ').filter(Boolean).map((name) => name.toLowerCase());
    const method = (req.method ?? 'GET').toLowerCase();
    const dateName = names.includes('x-date') ? 'x-date' : 'date';
    const required = ['(request-target)', 'host', dateName];
    if (['post', 'put', 'patch'].includes(method)) required.push('content-type', 'content-length', 'x-content-sha256');
    const unsigned = required.filter((name) => !names.includes(name));
    if (unsigned.length > 0) return `Headers not signed: ${unsigned.join(', ')}`;
    const date = Date.parse(String(req.headers[dateName] ?? ''));
    if (!Number.isFinite(date)) return `The ${dateName} header is not a date`;
    if (Math.abs(Date.now() - date) > MAX_SKEW_MS) return `The ${dateName} header is more than 5 minutes from the server's clock`;
    if (names.includes('x-content-sha256') && req.headers['x-content-sha256'] !== createHash('sha256').update(body).digest('base64')) {
      return 'x-content-sha256 does not match the body';
    }
    if (names.includes('content-length') && Number(req.headers['content-length']) !== body.length) return 'content-length does not match the body';
    const lines: string[] = [];
    for (const name of names) {
      if (name === '(request-target)') {
        lines.push(`(request-target): ${method} ${req.url ?? '/'}`);
        continue;
      }
      const value = req.headers[name];
      if (value === undefined) return `Signed header ${name} is missing`;
      lines.push(`${name}: ${Array.isArray(value) ? value.join(', ') : value}`);
    }
    const verified = verify('sha256', Buffer.from(lines.join('\n')), this.publicKey, Buffer.from(signature, 'base64'));
    return verified ? undefined : 'The signature does not verify';
  }
}
