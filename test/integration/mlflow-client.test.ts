import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MlflowClient } from '../../src/adapters/mlflow/mlflow-client.js';
import { MlopsError } from '../../src/errors.js';
import { FakeMlflow } from '../fakes/fake-mlflow.js';

describe('MLflow client against the fake MLflow server (basic auth)', () => {
  let mlflow: FakeMlflow;
  let client: MlflowClient;
  let v1: string;

  beforeAll(async () => {
    mlflow = await FakeMlflow.start({ basic: { username: 'bot', password: 's3cret' }, readOnly: ['viewer'], users: { viewer: 'view-only' } });
    v1 = mlflow.addVersion('churn', { runId: mlflow.addRun({ auc: 0.9, rmse: Number.NaN }) });
    client = new MlflowClient({ MLFLOW_TRACKING_URI: `${mlflow.url}/`, MLFLOW_TRACKING_USERNAME: 'bot', MLFLOW_TRACKING_PASSWORD: 's3cret', MLFLOW_TRACKING_TOKEN: undefined });
  });

  afterAll(async () => {
    await mlflow.stop();
  });

  it('reads versions, runs (NaN metrics included) and aliases with Basic auth', async () => {
    const version = await client.getModelVersion('churn', v1);
    expect(version).toMatchObject({ name: 'churn', version: v1, status: 'READY' });
    const run = await client.getRun(version.runId ?? '');
    expect(run.metrics.auc).toBe(0.9);
    expect(Number.isNaN(run.metrics.rmse)).toBe(true);
    expect(await client.getVersionByAlias('churn', 'champion')).toBeUndefined();
    await client.setAlias('churn', 'champion', v1);
    expect((await client.getRegisteredModel('churn')).aliases).toEqual({ champion: v1 });
    const request = mlflow.requests().find((candidate) => candidate.method === 'POST');
    expect(request?.body).toEqual({ name: 'churn', alias: 'champion', version: v1 });
  });

  it('maps MLflow errors into the catalogue with MLflow\'s error code', async () => {
    const missing = (await client.getModelVersion('churn', '42').catch((error: unknown) => error)) as MlopsError;
    expect(missing).toBeInstanceOf(MlopsError);
    expect(missing.code).toBe('NOT_FOUND');
    expect(missing.retryable).toBe(false);
    expect(missing.userMessage).toContain('RESOURCE_DOES_NOT_EXIST');

    const wrong = new MlflowClient({ MLFLOW_TRACKING_URI: mlflow.url, MLFLOW_TRACKING_USERNAME: 'bot', MLFLOW_TRACKING_PASSWORD: 'nope', MLFLOW_TRACKING_TOKEN: undefined });
    const unauthenticated = (await wrong.getModelVersion('churn', v1).catch((error: unknown) => error)) as MlopsError;
    expect(unauthenticated.code).toBe('UNAUTHORIZED');
    expect(unauthenticated.retryable).toBe(false);

    const viewer = new MlflowClient({ MLFLOW_TRACKING_URI: mlflow.url, MLFLOW_TRACKING_USERNAME: 'viewer', MLFLOW_TRACKING_PASSWORD: 'view-only', MLFLOW_TRACKING_TOKEN: undefined });
    const denied = (await viewer.setAlias('churn', 'champion', v1).catch((error: unknown) => error)) as MlopsError;
    expect(denied.code).toBe('FORBIDDEN');
    expect(denied.userMessage).toContain('Permission denied');

    mlflow.failNext('/model-versions/get', 503, 'TEMPORARILY_UNAVAILABLE');
    const down = (await client.getModelVersion('churn', v1).catch((error: unknown) => error)) as MlopsError;
    expect(down.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(down.retryable).toBe(true);

    mlflow.failNext('/model-versions/get', 429, 'REQUEST_LIMIT_EXCEEDED');
    const throttled = (await client.getModelVersion('churn', v1).catch((error: unknown) => error)) as MlopsError;
    expect(throttled.code).toBe('RATE_LIMITED');
    expect(throttled.retryAfterMs).toBeUndefined();

    mlflow.failNext('/model-versions/get', 429, 'REQUEST_LIMIT_EXCEEDED', 1, { retryAfterSeconds: 12 });
    const told = (await client.getModelVersion('churn', v1).catch((error: unknown) => error)) as MlopsError;
    expect(told).toMatchObject({ code: 'RATE_LIMITED', retryAfterMs: 12_000 });
  });

  it('builds UI deep links the way the MLflow UI routes them', () => {
    expect(client.modelVersionUrl('prod.ml/churn', '7')).toBe(`${mlflow.url}/#/models/prod.ml%2Fchurn/versions/7`);
    expect(client.runUrl('3', 'abc')).toBe(`${mlflow.url}/#/experiments/3/runs/abc`);
  });
});
