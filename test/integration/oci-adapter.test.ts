import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MlopsError } from '../../src/errors.js';
import { generateTestKey } from '../fakes/fake-oci-api.js';
import { startTestOci, type TestOci } from '../helpers/oci.js';

describe('OCI adapter against the signature-verifying fake OCI API', () => {
  let oci: TestOci;
  beforeAll(async () => {
    oci = await startTestOci();
  });
  afterAll(async () => {
    await oci.stop();
  });

  it('starts a Data Science job run with a correctly signed request and the override body', async () => {
    const run = await oci.gateway.createJobRun({
      jobId: 'ocid1.datasciencejob.oc1.iad.job',
      projectId: 'ocid1.datascienceproject.oc1.iad.proj',
      compartmentId: 'ocid1.compartment.oc1..ml',
      displayName: 'fraud-model-1',
      environmentVariables: { EPOCHS: '5' },
      retryToken: 'token-1',
    });
    expect(run.id).toMatch(/^ocid1\.datasciencejobrun\./);
    expect(run.lifecycleState).toBe('ACCEPTED');
    const request = oci.fake.requests().at(-1);
    expect(request?.status).toBe(200);
    expect(request?.path).toBe('/20190101/jobRuns');
    expect(request?.headers.authorization).toContain(`keyId="${oci.key.keyId}"`);
    expect(request?.headers['opc-retry-token']).toBe('token-1');
    expect(request?.body).toMatchObject({
      jobId: 'ocid1.datasciencejob.oc1.iad.job',
      displayName: 'fraud-model-1',
      jobConfigurationOverrideDetails: { jobType: 'DEFAULT', environmentVariables: { EPOCHS: '5' } },
    });
    const fetched = await oci.gateway.getJobRun(run.id);
    expect(fetched).toMatchObject({ id: run.id, lifecycleState: 'ACCEPTED', pipelineId: 'ocid1.datasciencejob.oc1.iad.job' });
  });

  it('passes command line arguments when asked to', async () => {
    await oci.gateway.createJobRun({
      jobId: 'ocid1.datasciencejob.oc1.iad.job',
      projectId: 'ocid1.datascienceproject.oc1.iad.proj',
      compartmentId: 'ocid1.compartment.oc1..ml',
      displayName: 'cli',
      commandLineArguments: '--epochs 5',
      retryToken: 'token-cli',
    });
    expect(oci.fake.requests().at(-1)?.body).toMatchObject({ jobConfigurationOverrideDetails: { jobType: 'DEFAULT', commandLineArguments: '--epochs 5' } });
  });

  it('a retried create with the same retry token returns the same run', async () => {
    const details = { jobId: 'ocid1.datasciencejob.oc1.iad.job', projectId: 'ocid1.datascienceproject.oc1.iad.p', compartmentId: 'ocid1.compartment.oc1..ml', displayName: 'x', retryToken: 'same' };
    const first = await oci.gateway.createJobRun(details);
    const second = await oci.gateway.createJobRun(details);
    expect(second.id).toBe(first.id);
  });

  it('starts a DevOps build run with buildRunArguments and reads it back', async () => {
    const run = await oci.gateway.createBuildRun({ buildPipelineId: 'ocid1.devopsbuildpipeline.oc1.iad.bp', displayName: 'churn-1', arguments: { IMAGE_TAG: 'v1' }, retryToken: 'b1' });
    expect(oci.fake.requests().at(-1)?.body).toEqual({ buildPipelineId: 'ocid1.devopsbuildpipeline.oc1.iad.bp', displayName: 'churn-1', buildRunArguments: { items: [{ name: 'IMAGE_TAG', value: 'v1' }] } });
    oci.fake.setState(run.id, 'FAILED', { lifecycleDetails: 'step 2 failed' });
    const fetched = await oci.gateway.getBuildRun(run.id);
    expect(fetched).toMatchObject({ lifecycleState: 'FAILED', lifecycleDetails: 'step 2 failed', pipelineId: 'ocid1.devopsbuildpipeline.oc1.iad.bp', arguments: { IMAGE_TAG: 'v1' } });
    expect(fetched.timeFinished).toBeDefined();
  });

  it('reads a deployment', async () => {
    const deployment = oci.fake.seedDeployment({ lifecycleState: 'SUCCEEDED' });
    expect(await oci.gateway.getDeployment(deployment.id)).toMatchObject({ id: deployment.id, lifecycleState: 'SUCCEEDED', pipelineId: 'ocid1.devopsdeploypipeline.oc1.iad.seeded' });
  });

  it.each([
    [429, 'TooManyRequests', 'RATE_LIMITED', true],
    [500, 'InternalServerError', 'UPSTREAM_UNAVAILABLE', true],
    [503, 'ServiceUnavailable', 'UPSTREAM_UNAVAILABLE', true],
    [404, 'NotAuthorizedOrNotFound', 'NOT_FOUND', false],
    [400, 'InvalidParameter', 'UPSTREAM_REJECTED', false],
    [403, 'NotAllowed', 'FORBIDDEN', false],
  ])('maps HTTP %i %s to %s (retryable %s) after exactly one request', async (status, code, expected, retryable) => {
    oci.fake.failNext({ pathPrefix: '/20210630/buildRuns' }, { status, code });
    const before = oci.fake.requests().length;
    const error = await oci.gateway.getBuildRun('ocid1.devopsbuildrun.oc1.iad.x').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(MlopsError);
    const mlops = error as MlopsError;
    expect(mlops.code).toBe(expected);
    expect(mlops.retryable).toBe(retryable);
    expect(mlops.userMessage).toContain(code);
    expect(mlops.userMessage).toMatch(/opc-request-id [A-F0-9]+\/[A-F0-9]+/);
    // The SDK's own retries are off: BullMQ is the only retry layer.
    expect(oci.fake.requests().length - before).toBe(1);
  });

  it('a request signed with another key is refused by the fake and is not retried', async () => {
    const wrong = await startTestOci(generateTestKey());
    try {
      const error = (await wrong.gateway.getJobRun('ocid1.datasciencejobrun.oc1.iad.x').catch((caught: unknown) => caught)) as MlopsError;
      expect(error.code).toBe('UNAUTHORIZED');
      expect(error.retryable).toBe(false);
      expect(error.userMessage).toContain('NotAuthenticated');
      expect(wrong.fake.requests()).toHaveLength(1);
    } finally {
      await wrong.stop();
    }
  });

  it('the fake really verifies: a body altered after signing is refused', async () => {
    const response = await fetch(`${oci.fake.url}/20190101/jobRuns`, {
      method: 'POST',
      headers: {
        authorization: `Signature version="1",keyId="${oci.key.keyId}",algorithm="rsa-sha256",headers="x-date (request-target) host content-type content-length x-content-sha256",signature="AAAA"`,
        'x-date': new Date().toUTCString(),
        'content-type': 'application/json',
        'x-content-sha256': 'wrong',
      },
      body: '{"jobId":"x"}',
    });
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ code: 'NotAuthenticated', message: 'x-content-sha256 does not match the body' });
  });
});
