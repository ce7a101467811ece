import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient } from '../../src/adapters/kube/kube-client.js';
import type { MlopsError } from '../../src/errors.js';
import { FakeKubeApi } from '../fakes/fake-kube-api.js';

describe('KubeClient errors from the API server', () => {
  const ns = 'inference';
  let fake: FakeKubeApi;
  let dir: string;
  let client: KubeClient;

  beforeAll(async () => {
    fake = await FakeKubeApi.start();
    fake.createDeployment({ namespace: ns, name: 'web', image: 'registry.example.com/web:1' });
    dir = mkdtempSync(join(tmpdir(), 'kube-client-'));
    const kubeconfig = join(dir, 'config');
    writeFileSync(kubeconfig, fake.kubeconfigText(ns));
    client = await KubeClient.create({ KUBECONFIG: kubeconfig });
  });

  afterAll(async () => {
    await fake.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const failure = (promise: Promise<unknown>) => promise.then(() => expect.fail('expected the call to fail'), (error: unknown) => error as MlopsError);
  const path = `/apis/apps/v1/namespaces/${ns}/deployments/web`;

  it('turns a 429 into RATE_LIMITED carrying the Retry-After it was sent', async () => {
    fake.failNext({ method: 'GET', pathPrefix: path }, { code: 429, retryAfterSeconds: 9 });
    expect(await failure(client.getDeployment(ns, 'web'))).toMatchObject({ code: 'RATE_LIMITED', retryable: true, retryAfterMs: 9_000 });
  });

  it('keeps a 503 retryable, with its Retry-After when there is one', async () => {
    fake.failNext({ method: 'GET', pathPrefix: path }, { code: 503 });
    const plain = await failure(client.getDeployment(ns, 'web'));
    expect(plain).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', retryable: true });
    expect(plain.retryAfterMs).toBeUndefined();
    fake.failNext({ method: 'GET', pathPrefix: path }, { code: 503, retryAfterSeconds: 4 });
    expect(await failure(client.getDeployment(ns, 'web'))).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', retryAfterMs: 4_000 });
  });

  it('reports 401, 403 and 404 as final', async () => {
    for (const [status, code] of [
      [401, 'UNAUTHORIZED'],
      [403, 'FORBIDDEN'],
      [404, 'NOT_FOUND'],
    ] as const) {
      fake.failNext({ method: 'GET', pathPrefix: path }, { code: status });
      expect(await failure(client.getDeployment(ns, 'web'))).toMatchObject({ code, retryable: false });
    }
    await expect(client.getDeployment(ns, 'web')).resolves.toMatchObject({ metadata: { name: 'web' } });
  });
});
