import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBot } from '../../src/app.js';
import { FakeKubeApi } from '../fakes/fake-kube-api.js';
import { FakeMlflow } from '../fakes/fake-mlflow.js';
import { FakeSlackApi } from '../fakes/fake-slack-api.js';
import { baseConfigFile, eventually, SIGNING_SECRET, startTestBot, waitReady } from '../helpers/bot-harness.js';
import { startTestOci, type TestOci } from '../helpers/oci.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startResponseUrlServer, type ResponseUrlServer } from '../helpers/response-url-server.js';
import { blockActionsBody, postSigned, slashCommandBody, viewSubmissionBody } from '../helpers/slack-request.js';

const KUBE_TOKEN = 'kube-test-token';
const MLFLOW_TOKEN = 'mlflow-token';
const NS = 'inference';

type Element = { action_id?: string; value?: string; text?: { text?: string } };
const elements = (reply: Record<string, unknown>): Element[] =>
  ((Array.isArray(reply.blocks) ? reply.blocks : []) as { elements?: Element[] }[]).flatMap((block) => block.elements ?? []);

describe('Rollback, whole: the workload and the model version go back together; GitOps-managed workloads warn', () => {
  let redis: TestRedis;
  let slack: FakeSlackApi;
  let oci: TestOci;
  let kube: FakeKubeApi;
  let mlflow: FakeMlflow;
  let hooks: ResponseUrlServer;
  let bot: RunningBot;

  const command = async (text: string, userId = 'U0SRE1') => {
    const responseUrl = hooks.url();
    const response = await postSigned(`${bot.url}/slack/events`, SIGNING_SECRET, slashCommandBody({ text, userId, channelId: 'C0DEPLOY', responseUrl }));
    expect(response.status).toBe(200);
    return hooks.waitFor(responseUrl);
  };
  const press = async (actionId: string, value: string, userId = 'U0SRE1') => {
    const responseUrl = hooks.url();
    const response = await postSigned(`${bot.url}/slack/events`, SIGNING_SECRET, blockActionsBody({ actionId, value, userId, channelId: 'C0DEPLOY', messageTs: '1.000001', responseUrl, triggerId: slack.issueTrigger() }));
    expect(response.status).toBe(200);
    return hooks.waitFor(responseUrl);
  };
  /** A Deployment whose revisions each run a model version, marked on the pod template as deploy pipelines do. */
  const deployVersions = (name: string, versions: string[], metadata: { labels?: Record<string, string>; annotations?: Record<string, string> } = {}) => {
    const template = (version: string) => ({ metadata: { labels: { app: name, 'mlops.model-version': version } }, spec: { containers: [{ name: 'model', image: `registry/${name}:${version}` }] } });
    kube.createDeployment({ namespace: NS, name, selector: { matchLabels: { app: name } }, template: template(versions[0] ?? '1'), replicas: 2, ...metadata });
    for (const version of versions.slice(1)) kube.updateTemplate(NS, name, () => template(version), { changeCause: `deploy model v${version}` });
  };

  beforeAll(async () => {
    redis = await startRedis();
    slack = await FakeSlackApi.start({ usergroups: { S0SRE: ['U0SRE1'], S0ONCALL: ['U0ONCALL'] } });
    oci = await startTestOci();
    kube = await FakeKubeApi.start({ token: KUBE_TOKEN });
    mlflow = await FakeMlflow.start({ token: MLFLOW_TOKEN });
    hooks = await startResponseUrlServer();
    for (let version = 1; version <= 3; version++) mlflow.addVersion('fraud-model', { runId: mlflow.addRun({ auc: 0.9 }) });
    mlflow.setAliasDirectly('fraud-model', 'champion', '3');
    const kubeconfig = join(mkdtempSync(join(tmpdir(), 'kubeconfig-')), 'config');
    writeFileSync(kubeconfig, kube.kubeconfigText(NS));
    const file = baseConfigFile({
      models: {
        'fraud-model': { alias: 'champion', deployment: { namespace: NS, name: 'fraud-model', timeout: '5s' } },
        'argo-model': { alias: 'champion', deployment: { namespace: NS, name: 'argo-model', timeout: '5s' } },
        'env-model': { environments: [{ name: 'prod', alias: 'champion', confirm: 'typed', deployment: { namespace: NS, name: 'env-model', timeout: '5s' } }] },
      },
    });
    bot = await startTestBot({
      redisUrl: redis.url,
      slackApiUrl: slack.url,
      oci: oci.gateway,
      env: { ...oci.env, KUBECONFIG: kubeconfig, MLFLOW_TRACKING_URI: mlflow.url, MLFLOW_TRACKING_TOKEN: MLFLOW_TOKEN },
      file,
    });
    await waitReady(bot);
  });

  afterAll(async () => {
    await bot.stop();
    await hooks.stop();
    await mlflow.stop();
    await kube.stop();
    await oci.stop();
    await slack.stop();
    await redis.stop();
  });

  it('offers to move @champion back to the version the previous revision runs, and reports both outcomes in the thread', async () => {
    deployVersions('fraud-model', ['1', '2', '3']);
    const reply = await command('rollback fraud-model');
    const text = String(reply.text);
    expect(text).toContain('*Model version:* v3 now, v2 after');
    expect(text).toContain('`@champion` of `fraud-model` is on v3');
    const withAlias = elements(reply).find((element) => element.action_id === 'rollback.confirm_alias');
    expect(withAlias?.text?.text).toBe('Roll back + move @champion to v2');
    const answer = await press('rollback.confirm_alias', withAlias?.value ?? '');
    expect(String(answer.text)).toContain('and then moving `@champion` to v2');
    const message = await slack.waitFor(() => slack.messages('C0DEPLOY').find((candidate) => candidate.text.includes('Rollback of') && candidate.text.includes('succeeded')), 20_000, 'rollback succeeded');
    await slack.waitFor(() => slack.thread('C0DEPLOY', message.ts).find((reply) => reply.text.includes('moved back: v3 → v2')), 10_000, 'the alias outcome in the thread');
    expect(mlflow.alias('fraud-model', 'champion')).toBe('2');
    expect(kube.revisions(NS, 'fraud-model').at(-1)).toMatchObject({ image: 'registry/fraud-model:2' });
  });

  it('a plain Roll back leaves the alias alone; an alias already on the target version is not offered', async () => {
    // fraud-model serves v2 now (previous test) and @champion is on v2: going back to v3 offers @champion → v3.
    const reply = await command('rollback fraud-model');
    expect(String(reply.text)).toContain('v2 now, v3 after');
    const plain = elements(reply).find((element) => element.action_id === 'rollback.confirm');
    await press('rollback.confirm', plain?.value ?? '');
    await eventually(() => kube.revisions(NS, 'fraud-model').at(-1)?.image === 'registry/fraud-model:3', 20_000, 'rolled back to v3');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(mlflow.alias('fraud-model', 'champion')).toBe('2');
    mlflow.setAliasDirectly('fraud-model', 'champion', '2');
    const again = await command('rollback fraud-model');
    expect(elements(again).some((element) => element.action_id === 'rollback.confirm_alias')).toBe(false);
  });

  it('a Deployment that Argo CD manages: the confirm step says the next sync reverts it and asks to roll back anyway', async () => {
    deployVersions('argo-model', ['1', '2'], { annotations: { 'argocd.argoproj.io/tracking-id': 'fraud-serving:apps/Deployment:inference/argo-model' } });
    const reply = await command('rollback argo-model --dry-run');
    expect(String(reply.text)).toContain('Argo CD (application fraud-serving) manages this Deployment');
    expect(String(reply.text)).toContain('Revert the change in Git instead');
    const live = await command('rollback argo-model');
    const buttons = elements(live);
    expect(buttons.find((element) => element.action_id === 'rollback.confirm')?.text?.text).toBe('Roll back anyway');
    expect(buttons.some((element) => element.text?.text === 'Roll back')).toBe(false);
  });

  it('a Deployment that Flux applies: the same warning, naming the Kustomization', async () => {
    deployVersions('flux-model', ['1', '2'], { labels: { 'kustomize.toolkit.fluxcd.io/name': 'apps', 'kustomize.toolkit.fluxcd.io/namespace': 'flux-system' } });
    const live = await command(`rollback ${NS}/flux-model`);
    expect(String(live.text)).toContain('Flux (Kustomization flux-system/apps) manages this Deployment');
    expect(elements(live).find((element) => element.action_id === 'rollback.confirm')?.text?.text).toBe('Roll back anyway');
  });

  it('an environment with confirm: typed asks for its name in a modal before the rollback goes ahead', async () => {
    deployVersions('env-model', ['1', '2']);
    const reply = await command('rollback env-model --env prod');
    expect(String(reply.text)).toContain('prod asks you to type its name to confirm');
    const value = elements(reply).find((element) => element.action_id === 'rollback.confirm')?.value ?? '';
    const before = kube.requests().filter((request) => request.method === 'PATCH').length;
    await postSigned(`${bot.url}/slack/events`, SIGNING_SECRET, blockActionsBody({ actionId: 'rollback.confirm', value, userId: 'U0SRE1', channelId: 'C0DEPLOY', messageTs: '1.000001', responseUrl: hooks.url(), triggerId: slack.issueTrigger() }));
    const modal = await slack.waitFor(() => slack.views().find((view) => view.view.callback_id === 'rollback.confirm_modal'), 10_000, 'the typed confirmation modal');
    expect(JSON.stringify(modal.view.blocks)).toContain('Type prod to confirm');
    const submit = (typed: string) =>
      postSigned(`${bot.url}/slack/events`, SIGNING_SECRET, viewSubmissionBody({ callbackId: 'rollback.confirm_modal', userId: 'U0SRE1', privateMetadata: String(modal.view.private_metadata), values: { confirm: { confirm: { type: 'plain_text_input', value: typed } } } }));
    const wrong = await submit('production');
    expect(wrong.json).toMatchObject({ response_action: 'errors', errors: { confirm: 'Type prod exactly to confirm.' } });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(kube.requests().filter((request) => request.method === 'PATCH').length).toBe(before);
    await submit('prod');
    await slack.waitFor(() => slack.ephemerals().find((message) => message.user === 'U0SRE1' && message.text.includes('Rolling back')), 10_000, 'the rollback queued');
    await eventually(() => kube.revisions(NS, 'env-model').at(-1)?.image === 'registry/env-model:1', 20_000, 'rolled back');
  });
});
