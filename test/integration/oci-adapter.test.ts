import { createHash, sign } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { Writable } from 'node:stream';
import * as common from 'oci-common';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createAuthProvider, OciGateway } from '../../src/adapters/oci/index.js';
import { envSchema, type Env } from '../../src/config/env.js';
import { MlopsError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { FakeOciApi, generateTestKey, type RecordedOciRequest, type TestKey } from '../fakes/fake-oci-api.js';

const JOB = 'ocid1.datasciencejob.oc1.iad.fraudjob';
const DS_PROJECT = 'ocid1.datascienceproject.oc1.iad.fraud';
const COMPARTMENT = 'ocid1.compartment.oc1..mlops';
const BUILD_PIPELINE = 'ocid1.devopsbuildpipeline.oc1.iad.churn';
const DEPLOY_PIPELINE = 'ocid1.devopsdeploypipeline.oc1.iad.churn';
const DEVOPS_PROJECT = 'ocid1.devopsproject.oc1.iad.churn';

function parseEnv(values: Record<string, string>): Env {
  return envSchema.parse({ SLACK_BOT_TOKEN: 'xoxb-test', SLACK_SIGNING_SECRET: 'secret', ...values });
}

function providerFor(key: TestKey, region?: common.Region): common.SimpleAuthenticationDetailsProvider {
  return new common.SimpleAuthenticationDetailsProvider(key.tenancy, key.user, key.fingerprint, key.privateKeyPem, null, region);
}

/** Log records of one gateway, parsed, so tests can see where the SDK's console output went. */
function capturedLogger(): { logger: ReturnType<typeof createLogger>; records: Record<string, unknown>[] } {
  const records: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      records.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger({ level: 'debug', destination }), records };
}

async function failureOf(call: Promise<unknown>): Promise<MlopsError> {
  const error = await call.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(MlopsError);
  return error as MlopsError;
}

function signedHeaderNames(request: RecordedOciRequest | undefined): string[] {
  return /headers="([^"]*)"/.exec(request?.headers.authorization ?? '')?.[1]?.split(' ') ?? [];
}

describe('OCI adapter: the real oci-sdk clients against the signature-verifying fake OCI API', () => {
  const key = generateTestKey();
  // Spied before the first call, so the adapter's redirect wraps these: any SDK output that escaped it would show here.
  const consoleSpies = { warn: vi.spyOn(console, 'warn'), log: vi.spyOn(console, 'log'), info: vi.spyOn(console, 'info') };
  const logs = capturedLogger();
  let fake: FakeOciApi;
  let gateway: OciGateway;

  /** The requests a call made: every call must make exactly one (the SDK's retries are off). */
  async function requestsOf<T>(call: () => Promise<T>): Promise<{ result: T | undefined; error: unknown; requests: RecordedOciRequest[] }> {
    const before = fake.requests().length;
    let result: T | undefined;
    let error: unknown;
    try {
      result = await call();
    } catch (caught) {
      error = caught;
    }
    return { result, error, requests: fake.requests().slice(before) };
  }

  beforeAll(async () => {
    fake = await FakeOciApi.start({
      publicKeyPem: key.publicKeyPem,
      keyId: key.keyId,
      pipelines: {
        [BUILD_PIPELINE]: { projectId: DEVOPS_PROJECT, compartmentId: COMPARTMENT },
        [DEPLOY_PIPELINE]: { projectId: DEVOPS_PROJECT, compartmentId: COMPARTMENT },
      },
    });
    // OCI_REGION is set as well: the endpoint overrides must still win (they are applied after the region).
    const env = parseEnv({ OCI_REGION: 'us-ashburn-1', OCI_DATASCIENCE_ENDPOINT: fake.url, OCI_DEVOPS_ENDPOINT: `${fake.url}/` });
    gateway = new OciGateway(env, logs.logger, { provider: providerFor(key, common.Region.US_PHOENIX_1) });
  });

  afterAll(async () => {
    await gateway.close();
    await fake.stop();
  });

  describe('Data Science job runs', () => {
    it('starts a job run with one signed POST carrying the DEFAULT override, and reads it back', async () => {
      const { result: run, requests } = await requestsOf(() =>
        gateway.createJobRun({
          jobId: JOB,
          projectId: DS_PROJECT,
          compartmentId: COMPARTMENT,
          displayName: 'fraud-model-20261122',
          environmentVariables: { EPOCHS: '5', LR: '0.1' },
          commandLineArguments: '--epochs 5',
          retryToken: 'train-fraud-1',
        }),
      );
      expect(requests).toHaveLength(1);
      const [post] = requests;
      expect(post).toMatchObject({ method: 'POST', path: '/20190101/jobRuns', status: 200, signatureVerified: true });
      expect(post?.headers.authorization).toMatch(new RegExp(`^Signature version="1",keyId="${key.keyId}",algorithm="rsa-sha256",headers="[^"]+",signature="[A-Za-z0-9+/=]+"$`));
      expect(signedHeaderNames(post).map((name) => name.toLowerCase())).toEqual(['x-date', '(request-target)', 'host', 'content-type', 'content-length', 'x-content-sha256']);
      expect(post?.headers['opc-retry-token']).toBe('train-fraud-1');
      expect(post?.body).toEqual({
        projectId: DS_PROJECT,
        compartmentId: COMPARTMENT,
        jobId: JOB,
        displayName: 'fraud-model-20261122',
        jobConfigurationOverrideDetails: { jobType: 'DEFAULT', environmentVariables: { EPOCHS: '5', LR: '0.1' }, commandLineArguments: '--epochs 5' },
      });
      expect(run).toMatchObject({
        id: expect.stringMatching(/^ocid1\.datasciencejobrun\.oc1\.iad\.[0-9a-f]+$/) as unknown,
        displayName: 'fraud-model-20261122',
        lifecycleState: 'ACCEPTED',
        compartmentId: COMPARTMENT,
        projectId: DS_PROJECT,
        pipelineId: JOB,
        arguments: { EPOCHS: '5', LR: '0.1' },
      });
      expect(run?.timeCreated).toMatch(/^\d{4}-\d\d-\d\dT/);

      const id = run?.id ?? '';
      fake.setState(id, 'IN_PROGRESS');
      fake.setState(id, 'SUCCEEDED', { lifecycleDetails: 'Job run succeeded' });
      const read = await requestsOf(() => gateway.getJobRun(id));
      expect(read.requests).toHaveLength(1);
      expect(read.requests[0]).toMatchObject({ method: 'GET', path: `/20190101/jobRuns/${id}`, status: 200, signatureVerified: true });
      expect(signedHeaderNames(read.requests[0])).toEqual(['x-date', '(request-target)', 'host']);
      expect(read.result).toMatchObject({ id, lifecycleState: 'SUCCEEDED', lifecycleDetails: 'Job run succeeded', pipelineId: JOB });
      expect(read.result?.timeStarted).toBeDefined();
      expect(read.result?.timeFinished).toBeDefined();
    });

    it('sends no override when there are no variables or arguments', async () => {
      const { requests } = await requestsOf(() => gateway.createJobRun({ jobId: JOB, projectId: DS_PROJECT, compartmentId: COMPARTMENT, displayName: 'plain', retryToken: 'plain-1' }));
      expect(requests[0]?.body).toEqual({ projectId: DS_PROJECT, compartmentId: COMPARTMENT, jobId: JOB, displayName: 'plain' });
    });

    it('a create repeated with the same opc-retry-token returns the run already created', async () => {
      const input = { jobId: JOB, projectId: DS_PROJECT, compartmentId: COMPARTMENT, displayName: 'again', retryToken: 'same-token' };
      const first = await gateway.createJobRun(input);
      const second = await gateway.createJobRun(input);
      expect(second.id).toBe(first.id);
      const other = await gateway.createJobRun({ ...input, retryToken: 'other-token' });
      expect(other.id).not.toBe(first.id);
    });

    it('tells onCreated listeners of each run created, once, and not of a replayed create or a refused one', async () => {
      const created: string[] = [];
      const unsubscribe = fake.onCreated((resource) => created.push(`${resource.id} ${resource.lifecycleState}`));
      try {
        const input = { jobId: JOB, projectId: DS_PROJECT, compartmentId: COMPARTMENT, displayName: 'watched', retryToken: 'watched-token' };
        const first = await gateway.createJobRun(input);
        await gateway.createJobRun(input);
        await gateway.createBuildRun({ buildPipelineId: BUILD_PIPELINE, displayName: 'refused', arguments: { 'not-a-name': 'x' }, retryToken: 'watched-bad' }).catch(() => undefined);
        expect(created).toEqual([`${first.id} ACCEPTED`]);
      } finally {
        unsubscribe();
      }
      await gateway.createJobRun({ jobId: JOB, projectId: DS_PROJECT, compartmentId: COMPARTMENT, displayName: 'unwatched', retryToken: 'unwatched-token' });
      expect(created).toHaveLength(1);
    });

    it('reads a pipeline run', async () => {
      const seeded = fake.seedPipelineRun({ lifecycleState: 'FAILED', lifecycleDetails: 'step train failed' });
      expect(await gateway.getPipelineRun(seeded.id)).toMatchObject({ id: seeded.id, lifecycleState: 'FAILED', lifecycleDetails: 'step train failed', pipelineId: 'ocid1.datasciencepipeline.oc1.iad.seeded' });
    });
  });

  describe('Data Science pipeline runs', () => {
    const PIPELINE = 'ocid1.datasciencepipeline.oc1.iad.fraudpipeline';

    it('starts a pipeline run with one signed POST carrying the DEFAULT configuration override and the run tag, and reads it back', async () => {
      const { result: run, requests } = await requestsOf(() =>
        gateway.createPipelineRun({
          pipelineId: PIPELINE,
          projectId: DS_PROJECT,
          compartmentId: COMPARTMENT,
          displayName: 'fraud-pipeline-1',
          environmentVariables: { EPOCHS: '5', MLOPS_RUN_KEY: 'train-abc123' },
          retryToken: 'pipeline-1',
          runKey: 'train-abc123',
        }),
      );
      expect(requests).toHaveLength(1);
      const [post] = requests;
      expect(post).toMatchObject({ method: 'POST', path: '/20190101/pipelineRuns', status: 200, signatureVerified: true });
      expect(signedHeaderNames(post).map((name) => name.toLowerCase())).toEqual(['x-date', '(request-target)', 'host', 'content-type', 'content-length', 'x-content-sha256']);
      expect(post?.headers['opc-retry-token']).toBe('pipeline-1');
      expect(post?.body).toEqual({
        pipelineId: PIPELINE,
        projectId: DS_PROJECT,
        compartmentId: COMPARTMENT,
        displayName: 'fraud-pipeline-1',
        configurationOverrideDetails: { type: 'DEFAULT', environmentVariables: { EPOCHS: '5', MLOPS_RUN_KEY: 'train-abc123' } },
        freeformTags: { 'mlops-chatops-run': 'train-abc123' },
      });
      expect(run).toMatchObject({ lifecycleState: 'ACCEPTED', projectId: DS_PROJECT, compartmentId: COMPARTMENT, pipelineId: PIPELINE, arguments: { EPOCHS: '5', MLOPS_RUN_KEY: 'train-abc123' } });
      expect(run?.id).toMatch(/^ocid1\.datasciencepipelinerun\.oc1\.iad\.[0-9a-f]+$/);

      const id = run?.id ?? '';
      fake.setState(id, 'IN_PROGRESS');
      fake.setState(id, 'SUCCEEDED');
      const read = await requestsOf(() => gateway.getPipelineRun(id));
      expect(read.requests[0]).toMatchObject({ method: 'GET', path: `/20190101/pipelineRuns/${id}`, status: 200, signatureVerified: true });
      expect(read.result).toMatchObject({ id, lifecycleState: 'SUCCEEDED', pipelineId: PIPELINE, timeStarted: expect.any(String) as unknown, timeFinished: expect.any(String) as unknown });
      const again = await gateway.createPipelineRun({ pipelineId: PIPELINE, projectId: DS_PROJECT, compartmentId: COMPARTMENT, displayName: 'fraud-pipeline-1', retryToken: 'pipeline-1' });
      expect(again.id).toBe(id);
    });

    it('maps a refused pipeline run (no compartment) to a non-retryable error naming createPipelineRun', async () => {
      const { error, requests } = await requestsOf(() => gateway.createPipelineRun({ pipelineId: PIPELINE, projectId: DS_PROJECT, compartmentId: '', displayName: 'bad', retryToken: 'pipeline-bad' }));
      expect(requests[0]).toMatchObject({ status: 400, signatureVerified: true });
      expect(error).toBeInstanceOf(MlopsError);
      expect((error as MlopsError).retryable).toBe(false);
      expect((error as MlopsError).userMessage).toContain('createPipelineRun');
    });
  });

  describe('DevOps build runs and deployments', () => {
    it('starts a build run with buildRunArguments.items and reads back its project, state and times', async () => {
      const { result: run, requests } = await requestsOf(() =>
        gateway.createBuildRun({ buildPipelineId: BUILD_PIPELINE, displayName: 'churn-model-7', arguments: { IMAGE_TAG: 'v7', MODEL: 'churn' }, retryToken: 'build-7' }),
      );
      expect(requests).toHaveLength(1);
      expect(requests[0]).toMatchObject({ method: 'POST', path: '/20210630/buildRuns', status: 200, signatureVerified: true });
      expect(requests[0]?.headers['opc-retry-token']).toBe('build-7');
      expect(requests[0]?.body).toEqual({
        buildPipelineId: BUILD_PIPELINE,
        displayName: 'churn-model-7',
        buildRunArguments: { items: [{ name: 'IMAGE_TAG', value: 'v7' }, { name: 'MODEL', value: 'churn' }] },
      });
      expect(run).toMatchObject({ lifecycleState: 'ACCEPTED', projectId: DEVOPS_PROJECT, compartmentId: COMPARTMENT, pipelineId: BUILD_PIPELINE, arguments: { IMAGE_TAG: 'v7', MODEL: 'churn' } });

      const id = run?.id ?? '';
      fake.setState(id, 'IN_PROGRESS');
      expect(await gateway.getBuildRun(id)).toMatchObject({ lifecycleState: 'IN_PROGRESS', timeStarted: expect.any(String) as unknown, timeFinished: undefined });
      fake.setState(id, 'FAILED', { lifecycleDetails: 'Stage "train" failed' });
      const failed = await gateway.getBuildRun(id);
      expect(failed).toMatchObject({ lifecycleState: 'FAILED', lifecycleDetails: 'Stage "train" failed', timeFinished: expect.any(String) as unknown });
    });

    it('starts a pipeline deployment with deploymentType PIPELINE_DEPLOYMENT and reads it back', async () => {
      const { result: deployment, requests } = await requestsOf(() =>
        gateway.createDeployment({ deployPipelineId: DEPLOY_PIPELINE, displayName: 'churn-deploy-7', arguments: { IMAGE_TAG: 'v7' }, retryToken: 'deploy-7' }),
      );
      expect(requests).toHaveLength(1);
      expect(requests[0]).toMatchObject({ method: 'POST', path: '/20210630/deployments', status: 200, signatureVerified: true });
      expect(requests[0]?.body).toEqual({
        deploymentType: 'PIPELINE_DEPLOYMENT',
        deployPipelineId: DEPLOY_PIPELINE,
        displayName: 'churn-deploy-7',
        deploymentArguments: { items: [{ name: 'IMAGE_TAG', value: 'v7' }] },
      });
      expect(deployment).toMatchObject({ lifecycleState: 'ACCEPTED', pipelineId: DEPLOY_PIPELINE, projectId: DEVOPS_PROJECT, arguments: { IMAGE_TAG: 'v7' } });
      fake.setState(deployment?.id ?? '', 'SUCCEEDED');
      expect(await gateway.getDeployment(deployment?.id ?? '')).toMatchObject({ lifecycleState: 'SUCCEEDED', timeStarted: expect.any(String) as unknown, timeFinished: expect.any(String) as unknown });
    });
  });

  describe('errors: one HTTP request per call, mapped into the catalogue', () => {
    it.each([
      { status: 429, code: 'TooManyRequests', expected: 'RATE_LIMITED', retryable: true },
      { status: 500, code: 'InternalServerError', expected: 'UPSTREAM_UNAVAILABLE', retryable: true },
      { status: 503, code: 'ServiceUnavailable', expected: 'UPSTREAM_UNAVAILABLE', retryable: true },
      { status: 409, code: 'IncorrectState', expected: 'UPSTREAM_UNAVAILABLE', retryable: true },
      { status: 404, code: 'NotAuthorizedOrNotFound', expected: 'NOT_FOUND', retryable: false },
      { status: 400, code: 'InvalidParameter', expected: 'UPSTREAM_REJECTED', retryable: false },
      { status: 401, code: 'NotAuthenticated', expected: 'UPSTREAM_REJECTED', retryable: false },
      { status: 403, code: 'NotAllowed', expected: 'UPSTREAM_REJECTED', retryable: false },
      { status: 409, code: 'Conflict', expected: 'UPSTREAM_REJECTED', retryable: false },
    ])('createJobRun answered $status $code is $expected (retryable: $retryable)', async ({ status, code, expected, retryable }) => {
      fake.failNext({ method: 'POST', pathPrefix: '/20190101/jobRuns' }, { status, code, message: `injected ${code}` });
      const { error, requests } = await requestsOf(() => gateway.createJobRun({ jobId: JOB, projectId: DS_PROJECT, compartmentId: COMPARTMENT, displayName: 'x', retryToken: `fail-${status}-${code}` }));
      expect(requests).toHaveLength(1);
      expect(requests[0]?.status).toBe(status);
      expect(error).toBeInstanceOf(MlopsError);
      const mlops = error as MlopsError;
      expect(mlops).toMatchObject({ code: expected, retryable });
      const opcRequestId = String(mlops.details.opcRequestId);
      expect(opcRequestId).toMatch(/^[A-F0-9]+\/[A-F0-9]+$/);
      expect(mlops.details).toEqual({ operationName: 'createJobRun', statusCode: status, serviceCode: code, opcRequestId });
      expect(mlops.userMessage).toContain(`createJobRun: ${code} (opc-request-id ${opcRequestId}): injected ${code}`);
    });

    it('a 429 with Retry-After tells the caller how long to wait', async () => {
      fake.failNext({ pathPrefix: '/20210630/buildRuns' }, { status: 429, code: 'TooManyRequests', retryAfterSeconds: 7 });
      const error = await failureOf(gateway.getBuildRun('ocid1.devopsbuildrun.oc1.iad.any'));
      expect(error).toMatchObject({ code: 'RATE_LIMITED', retryable: true, retryAfterMs: 7_000 });
      fake.failNext({ pathPrefix: '/20210630/buildRuns' }, { status: 429, code: 'TooManyRequests' });
      expect((await failureOf(gateway.getBuildRun('ocid1.devopsbuildrun.oc1.iad.any'))).retryAfterMs).toBeUndefined();
    });

    it('an unknown run is NOT_FOUND from the API itself, after one request', async () => {
      const { error, requests } = await requestsOf(() => gateway.getJobRun('ocid1.datasciencejobrun.oc1.iad.unknown'));
      expect(requests).toHaveLength(1);
      expect(error).toMatchObject({ code: 'NOT_FOUND', retryable: false });
      expect((error as MlopsError).userMessage).toMatch(/^OCI refused getJobRun: NotAuthorizedOrNotFound \(opc-request-id [A-F0-9]+\/[A-F0-9]+\)/);
    });

    it('OCI refusing the arguments is final', async () => {
      const error = await failureOf(gateway.createBuildRun({ buildPipelineId: BUILD_PIPELINE, displayName: 'bad', arguments: { 'not-a-name': 'x' }, retryToken: 'bad-args' }));
      expect(error).toMatchObject({ code: 'UPSTREAM_REJECTED', retryable: false });
      expect(error.userMessage).toContain('InvalidParameter');
    });

    it('an answer without the fields the bot relies on is refused at the edge, not passed on', async () => {
      const seeded = fake.seedBuildRun({ lifecycleState: 'SUCCEEDED', compartmentId: undefined });
      const error = await failureOf(gateway.getBuildRun(seeded.id));
      expect(error).toMatchObject({ code: 'UPSTREAM_REJECTED', retryable: false });
      expect(error.message).toContain('compartmentId');
    });
  });

  describe('authentication', () => {
    it('a request signed with a key OCI does not know is refused with 401, once, and is final', async () => {
      const stranger = new OciGateway(parseEnv({ OCI_DATASCIENCE_ENDPOINT: fake.url, OCI_DEVOPS_ENDPOINT: fake.url }), logs.logger, { provider: providerFor(generateTestKey()) });
      try {
        const { error, requests } = await requestsOf(() => stranger.getJobRun('ocid1.datasciencejobrun.oc1.iad.x'));
        expect(requests).toHaveLength(1);
        expect(requests[0]).toMatchObject({ status: 401, signatureVerified: false, signatureProblem: expect.stringContaining('Unknown keyId') as unknown });
        expect(error).toMatchObject({ code: 'UPSTREAM_REJECTED', retryable: false });
        expect((error as MlopsError).userMessage).toMatch(/^OCI refused getJobRun: NotAuthenticated \(opc-request-id [A-F0-9]+\/[A-F0-9]+\)/);
      } finally {
        await stranger.close();
      }
    });

    it('the right keyId with the wrong private key fails the RSA check', async () => {
      const impostor = { ...generateTestKey(), fingerprint: key.fingerprint };
      const forged = new OciGateway(parseEnv({ OCI_DATASCIENCE_ENDPOINT: fake.url, OCI_DEVOPS_ENDPOINT: fake.url }), logs.logger, { provider: providerFor(impostor) });
      try {
        const { error, requests } = await requestsOf(() => forged.createBuildRun({ buildPipelineId: BUILD_PIPELINE, displayName: 'forged', arguments: {}, retryToken: 'forged' }));
        expect(requests).toHaveLength(1);
        expect(requests[0]).toMatchObject({ status: 401, signatureVerified: false, signatureProblem: 'The signature does not verify' });
        expect(error).toMatchObject({ code: 'UPSTREAM_REJECTED', retryable: false });
      } finally {
        await forged.close();
      }
    });

    it('OCI that cannot be reached is UPSTREAM_UNAVAILABLE and retryable', async () => {
      const closed = await FakeOciApi.start({ publicKeyPem: key.publicKeyPem, keyId: key.keyId });
      await closed.stop();
      const offline = new OciGateway(parseEnv({ OCI_DATASCIENCE_ENDPOINT: closed.url, OCI_DEVOPS_ENDPOINT: closed.url }), logs.logger, { provider: providerFor(key) });
      try {
        const error = await failureOf(offline.getDeployment('ocid1.devopsdeployment.oc1.iad.x'));
        expect(error).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', retryable: true });
        expect(error.userMessage).toContain('OCI could not be reached for getDeployment');
      } finally {
        await offline.close();
      }
    });

    it('OCI that takes the request but does not answer in time is UPSTREAM_UNAVAILABLE and retryable', async () => {
      const slow = new OciGateway(parseEnv({ OCI_DATASCIENCE_ENDPOINT: fake.url, OCI_DEVOPS_ENDPOINT: fake.url }), logs.logger, { provider: providerFor(key), callTimeoutMs: 300 });
      fake.delayNext({ method: 'POST', pathPrefix: '/20190101/jobRuns', bodyIncludes: 'timed-out-create' }, 1_500);
      try {
        const { error, requests } = await requestsOf(() => slow.createJobRun({ jobId: JOB, projectId: DS_PROJECT, compartmentId: COMPARTMENT, displayName: 'timed-out-create', retryToken: 'timed-out-create' }));
        expect(error).toBeInstanceOf(MlopsError);
        expect(error).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', retryable: true });
        // The SDK hands on the abort as a plain object whose code is a number; the reason must still read well.
        expect((error as MlopsError).userMessage).toBe('OCI could not be reached for createJobRun: The operation was aborted due to timeout');
        expect(requests).toHaveLength(0);
        // OCI performed the create after all (its late answer is logged); the same retry token gets that run back.
        const first = await vi.waitFor(() => {
          const found = fake.requests().find((request) => request.headers['opc-retry-token'] === 'timed-out-create');
          if (!found) throw new Error('the delayed create was not answered yet');
          return found;
        }, { timeout: 5_000 });
        expect(first.status).toBe(200);
        const again = await gateway.createJobRun({ jobId: JOB, projectId: DS_PROJECT, compartmentId: COMPARTMENT, displayName: 'timed-out-create', retryToken: 'timed-out-create' });
        expect(again.displayName).toBe('timed-out-create');
        expect(fake.requests().filter((request) => request.headers['opc-retry-token'] === 'timed-out-create')).toHaveLength(2);
      } finally {
        await slow.close();
      }
    });

    it('without OCI_REGION a provider that has no region is a configuration error', async () => {
      const nowhere = new OciGateway(parseEnv({}), logs.logger, { provider: providerFor(key) });
      const error = await failureOf(nowhere.getJobRun('ocid1.datasciencejobrun.oc1.iad.x'));
      expect(error).toMatchObject({ code: 'CONFIG_INVALID', retryable: false });
      expect(error.message).toContain('set OCI_REGION');
      await nowhere.close();
    });

    it('an OCI config file that does not exist is CONFIG_INVALID with the reason', async () => {
      const error = await failureOf(createAuthProvider(parseEnv({ OCI_AUTH: 'config_file', OCI_CONFIG_FILE: '/nonexistent/oci/config' })));
      expect(error.code).toBe('CONFIG_INVALID');
      expect(error.userMessage).toContain('OCI_AUTH=config_file');
      expect(error.userMessage).toContain('/nonexistent/oci/config');
    });

    it('workload identity outside an OKE pod is CONFIG_INVALID naming what is missing', async () => {
      vi.stubEnv('KUBERNETES_SERVICE_HOST', undefined);
      vi.stubEnv('KUBERNETES_SERVICE_PORT_PROXYMUX', undefined);
      try {
        const error = await failureOf(createAuthProvider(parseEnv({ OCI_AUTH: 'workload_identity', OCI_REGION: 'us-ashburn-1' })));
        expect(error.code).toBe('CONFIG_INVALID');
        expect(error.message).toContain('KUBERNETES_SERVICE_HOST');
      } finally {
        vi.unstubAllEnvs();
      }
    });
  });

  // Last, so that it covers every failure above (HTTP errors, refused signatures, a closed port).
  it('the SDK writes nothing to the console: its failure notes go to the debug log', () => {
    expect(consoleSpies.warn).not.toHaveBeenCalled();
    expect(consoleSpies.log).not.toHaveBeenCalled();
    expect(consoleSpies.info).not.toHaveBeenCalled();
    const notes = logs.records.filter((record) => record.msg === 'oci sdk console output').map((record) => String(record.sdkOutput));
    expect(notes.some((note) => /All retry attempts have exhausted. Total Attempts : 1\b/.test(note))).toBe(true);
    expect(notes.some((note) => note.includes('Request cannot be retried'))).toBe(true);
    expect(notes.some((note) => note.includes('Retrying request'))).toBe(false);
  });

});

describe('the fake OCI API really verifies signatures', () => {
  const key = generateTestKey();
  let fake: FakeOciApi;
  let runId = '';

  beforeAll(async () => {
    fake = await FakeOciApi.start({ publicKeyPem: key.publicKeyPem, keyId: key.keyId });
    runId = fake.seedJobRun({ lifecycleState: 'IN_PROGRESS' }).id;
  });
  afterAll(async () => {
    await fake.stop();
  });

  /** Signs like the SDK (reference/oci.md §4f), then lets a test change the request before it is sent. */
  function signed(method: 'GET' | 'POST', path: string, body = '', date = new Date()): { path: string; headers: Record<string, string>; body: string } {
    const headers: Record<string, string> = { 'x-date': date.toUTCString(), host: new URL(fake.url).host, 'content-type': 'application/json' };
    const names = ['x-date', '(request-target)', 'host'];
    if (method === 'POST') {
      headers['content-length'] = String(Buffer.byteLength(body));
      headers['x-content-sha256'] = createHash('sha256').update(body).digest('base64');
      names.push('Content-Type', 'Content-Length', 'x-content-sha256');
    }
    const signingString = names
      .map((name) => name.toLowerCase())
      .map((name) => (name === '(request-target)' ? `${name}: ${method.toLowerCase()} ${path}` : `${name}: ${headers[name] ?? ''}`))
      .join('\n');
    const signature = sign('sha256', Buffer.from(signingString), key.privateKeyPem).toString('base64');
    headers.authorization = `Signature version="1",keyId="${key.keyId}",algorithm="rsa-sha256",headers="${names.join(' ')}",signature="${signature}"`;
    return { path, headers, body };
  }

  function send(method: string, request: { path: string; headers: Record<string, string>; body: string }): Promise<{ status: number; body: { code?: string; message?: string } }> {
    return new Promise((resolve, reject) => {
      const req = httpRequest(`${fake.url}${request.path}`, { method, headers: request.headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as { code?: string; message?: string } }));
      });
      req.on('error', reject);
      req.end(request.body);
    });
  }

  const jobRunBody = JSON.stringify({ projectId: 'ocid1.datascienceproject.oc1.iad.p', compartmentId: 'ocid1.compartment.oc1..c', jobId: 'ocid1.datasciencejob.oc1.iad.j' });

  it('accepts a request signed the way the SDK signs it (mixed-case header names included)', async () => {
    expect((await send('GET', signed('GET', `/20190101/jobRuns/${runId}`))).status).toBe(200);
    expect((await send('POST', signed('POST', '/20190101/jobRuns', jobRunBody))).status).toBe(200);
  });

  it('refuses a body changed after signing', async () => {
    const request = signed('POST', '/20190101/jobRuns', jobRunBody);
    const tampered = jobRunBody.replace('ocid1.datasciencejob.oc1.iad.j', 'ocid1.datasciencejob.oc1.iad.k');
    expect(await send('POST', { ...request, body: tampered })).toEqual({ status: 401, body: { code: 'NotAuthenticated', message: 'x-content-sha256 does not match the body' } });
    // Even with the digest recomputed for the new body, the signature no longer covers it.
    const rehashed = { ...request.headers, 'x-content-sha256': createHash('sha256').update(tampered).digest('base64') };
    expect(await send('POST', { ...request, headers: rehashed, body: tampered })).toEqual({ status: 401, body: { code: 'NotAuthenticated', message: 'The signature does not verify' } });
  });

  it('refuses a request sent to another path than the one signed', async () => {
    const request = signed('GET', `/20190101/jobRuns/${runId}`);
    expect((await send('GET', { ...request, path: '/20190101/jobRuns/ocid1.datasciencejobrun.oc1.iad.other' })).body.message).toBe('The signature does not verify');
  });

  it('refuses a POST that does not sign its body digest', async () => {
    const request = signed('POST', '/20190101/jobRuns', jobRunBody);
    const authorization = (request.headers.authorization ?? '').replace(' x-content-sha256"', '"');
    expect((await send('POST', { ...request, headers: { ...request.headers, authorization } })).body.message).toBe('Headers not signed: x-content-sha256');
  });

  it('refuses a signature dated more than 5 minutes away', async () => {
    const stale = signed('GET', `/20190101/jobRuns/${runId}`, '', new Date(Date.now() - 6 * 60_000));
    expect(await send('GET', stale)).toEqual({ status: 401, body: { code: 'NotAuthenticated', message: "The x-date header is more than 5 minutes from the server's clock" } });
  });

  it('records refused requests too', () => {
    const refused = fake.requests().filter((request) => !request.signatureVerified);
    expect(refused.length).toBeGreaterThanOrEqual(5);
    expect(refused.every((request) => request.status === 401)).toBe(true);
  });
});
