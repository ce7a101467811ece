import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RunningBot } from '../../src/app.js';
import { FakeKubeApi } from '../fakes/fake-kube-api.js';
import { FakeMlflow } from '../fakes/fake-mlflow.js';
import { FakeSlackApi, type FakeMessage } from '../fakes/fake-slack-api.js';
import { baseConfigFile, SIGNING_SECRET, startTestBot, waitReady } from '../helpers/bot-harness.js';
import { startTestOci, type TestOci } from '../helpers/oci.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startResponseUrlServer, type ResponseUrlServer } from '../helpers/response-url-server.js';
import { blockActionsBody, postSigned, slashCommandBody } from '../helpers/slack-request.js';

const NS = 'inference';
const PIPELINE = 'ocid1.devopsdeploypipeline.oc1.iad.fraud';

/** One bot, two clusters: each environment's Deployment in the cluster its kubeconfig context names. */
describe('Environments in several clusters', () => {
  let redis: TestRedis;
  let slack: FakeSlackApi;
  let oci: TestOci;
  let mlflow: FakeMlflow;
  let devCluster: FakeKubeApi;
  let prodCluster: FakeKubeApi;
  let hooks: ResponseUrlServer;
  let bot: RunningBot;

  const command = async (text: string, userId = 'U0SRE1') => {
    const responseUrl = hooks.url();
    const response = await postSigned(`${bot.url}/slack/events`, SIGNING_SECRET, slashCommandBody({ text, userId, channelId: 'C0DEPLOY', responseUrl }));
    expect(response.status).toBe(200);
    return hooks.waitFor(responseUrl);
  };
  const confirmValue = (reply: Record<string, unknown>): string | undefined => {
    const blocks = (Array.isArray(reply.blocks) ? reply.blocks : []) as { elements?: { action_id?: string; value?: string }[] }[];
    return blocks.flatMap((block) => block.elements ?? []).find((element) => element.action_id === 'rollback.confirm')?.value;
  };
  const patches = (cluster: FakeKubeApi) => cluster.requests().filter((request) => request.method === 'PATCH');
  const deployWithHistory = (cluster: FakeKubeApi, tag: string) => {
    const template = (image: string) => ({ metadata: { labels: { app: 'fraud-model' } }, spec: { containers: [{ name: 'model', image }] } });
    cluster.createDeployment({ namespace: NS, name: 'fraud-model', selector: { matchLabels: { app: 'fraud-model' } }, template: template(`registry/fraud-model:${tag}-v1`), replicas: 2, changeCause: 'v1' });
    cluster.updateTemplate(NS, 'fraud-model', () => template(`registry/fraud-model:${tag}-v2`), { changeCause: 'v2' });
  };

  beforeAll(async () => {
    redis = await startRedis();
    slack = await FakeSlackApi.start({ usergroups: { S0SRE: ['U0SRE1'], S0ONCALL: ['U0ONCALL'] } });
    oci = await startTestOci();
    mlflow = await FakeMlflow.start();
    devCluster = await FakeKubeApi.start({ token: 'dev-token' });
    prodCluster = await FakeKubeApi.start({ token: 'prod-token' });
    hooks = await startResponseUrlServer();
    deployWithHistory(devCluster, 'dev');
    deployWithHistory(prodCluster, 'prod');
    const v1 = mlflow.addVersion('fraud-model');
    mlflow.setAliasDirectly('fraud-model', 'dev', v1);
    mlflow.setAliasDirectly('fraud-model', 'champion', v1);

    // Two contexts, one per cluster, each with its own credentials.
    const kubeconfig = join(mkdtempSync(join(tmpdir(), 'kubeconfig-')), 'config');
    writeFileSync(kubeconfig, FakeKubeApi.kubeconfigTextFor({ 'oke-dev': devCluster, 'oke-prod': prodCluster }, 'oke-dev'));
    const deployment = (context: string) => ({ context, namespace: NS, name: 'fraud-model', timeout: '5s' });
    const file = baseConfigFile({
      routes: [{ match: { kind: 'deploy' }, channel: 'C0DEPLOY' }],
      models: {
        'fraud-model': {
          environments: [
            { name: 'dev', alias: 'dev', approvals: { required: 0 }, deployPipelineId: PIPELINE, deployment: deployment('oke-dev') },
            { name: 'qa', alias: 'qa', soak: '1h' },
            { name: 'prod', alias: 'champion', deployPipelineId: PIPELINE, deployment: deployment('oke-prod') },
          ],
        },
        'ghost-model': { environments: [{ name: 'prod', alias: 'champion', deployment: deployment('oke-gone') }] },
      },
    });
    bot = await startTestBot({ redisUrl: redis.url, slackApiUrl: slack.url, oci: oci.gateway, env: { ...oci.env, KUBECONFIG: kubeconfig, MLFLOW_TRACKING_URI: mlflow.url }, file });
    await waitReady(bot);
  });

  afterAll(async () => {
    await bot.stop();
    await hooks.stop();
    await devCluster.stop();
    await prodCluster.stop();
    await mlflow.stop();
    await oci.stop();
    await slack.stop();
    await redis.stop();
  });

  beforeEach(() => {
    slack.reset();
  });

  it('without --env on a model with several deployments answers with the choices; a bad --env is refused', async () => {
    expect((await command('rollback fraud-model')).text).toContain('has a deployment in several environments: name one with `--env`. Environments with a deployment: `dev`, `prod`.');
    expect((await command('rollback fraud-model --env qa')).text).toContain('`qa` of `fraud-model` has no `deployment` in the config');
    expect((await command('rollback fraud-model --env staging')).text).toContain('Unknown environment `staging`');
    expect(patches(devCluster)).toHaveLength(0);
    expect(patches(prodCluster)).toHaveLength(0);
  });

  it('rollback --env prod acts on the prod cluster only', async () => {
    const devReads = devCluster.requests().length;
    const reply = await command('rollback fraud-model --env prod');
    expect(reply.text).toContain('Roll back `inference/fraud-model (prod, context oke-prod)`?');
    expect(reply.text).toContain('registry/fraud-model:prod-v1');
    const value = confirmValue(reply);
    expect(value).toBeDefined();
    await postSigned(`${bot.url}/slack/events`, SIGNING_SECRET, blockActionsBody({ actionId: 'rollback.confirm', value: value ?? '', userId: 'U0SRE1', channelId: 'C0DEPLOY', messageTs: '1.000001', responseUrl: hooks.url() }));
    await slack.waitFor(
      () => slack.messages('C0DEPLOY').find((message) => message.text.includes('Rollback of') && message.text.includes('succeeded')),
      20_000,
      'prod rollback succeeded',
    );
    expect(patches(prodCluster)).toHaveLength(1);
    expect(prodCluster.revisions(NS, 'fraud-model').at(-1)?.image).toBe('registry/fraud-model:prod-v1');
    expect(patches(devCluster)).toHaveLength(0);
    expect(devCluster.requests().length).toBe(devReads);
  });

  it('Roll back on a failed deployment acts on the environment its ENVIRONMENT argument names', async () => {
    const failed = oci.fake.seedDeployment({
      lifecycleState: 'FAILED',
      displayName: 'fraud-model-v1-dev',
      deployPipelineId: PIPELINE,
      deploymentArguments: { items: [{ name: 'MODEL_NAME', value: 'fraud-model' }, { name: 'MODEL_VERSION', value: '1' }, { name: 'ENVIRONMENT', value: 'dev' }] },
    });
    const event = {
      eventType: 'com.oraclecloud.devopsdeploy.updatedeployment',
      cloudEventsVersion: '0.1',
      eventTime: new Date().toISOString(),
      eventID: `deploy-${failed.id}`,
      data: { resourceId: failed.id, resourceName: 'fraud-model-v1-dev', compartmentId: 'ocid1.compartment.oc1..ml' },
    };
    expect((await fetch(`${bot.url}/oci/notifications`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(event) })).status).toBe(200);
    const alert: FakeMessage = await slack.waitFor(
      () => slack.messages().flatMap((message) => [message, ...slack.thread(message.channel, message.ts)]).find((message) => message.text.includes('fraud-model-v1-dev') && JSON.stringify(message.blocks).includes('run.rollback')),
      15_000,
      'deployment failure alert',
    );
    await postSigned(`${bot.url}/slack/events`, SIGNING_SECRET, blockActionsBody({ actionId: 'run.rollback', userId: 'U0SRE1', channelId: alert.channel, message: alert }));
    const shown = await slack.waitFor(() => slack.ephemerals().find((message) => message.user === 'U0SRE1' && message.text.includes('Roll back `inference/fraud-model (dev, context oke-dev)`?')), 10_000, 'confirm step for dev');
    expect(shown.text).toContain('registry/fraud-model:dev-v1');
  });

  it('a context missing from the kubeconfig is a clear error naming the key', async () => {
    const reply = await command('rollback ghost-model --dry-run');
    expect(reply.text).toContain('models.ghost-model.environments[0].deployment.context: "oke-gone" is not a context of KUBECONFIG');
    expect(reply.text).toContain('"oke-dev", "oke-prod"');
  });

  it('status shows each environment in order with its version, since when, and its Deployment; a cluster down is shown as such', async () => {
    const healthy = String((await command('status fraud-model')).text);
    expect(healthy).toMatch(/\*dev\* \(`@dev`\): .*v1.* since /);
    expect(healthy).toContain('*qa* (`@qa`): _nothing yet_');
    expect(healthy.indexOf('*dev*')).toBeLessThan(healthy.indexOf('*qa*'));
    expect(healthy.indexOf('*qa*')).toBeLessThan(healthy.indexOf('*prod*'));
    expect(healthy).toMatch(/Deployment `inference\/fraud-model \(context oke-dev\)`: revision 2 · `registry\/fraud-model:dev-v2` · 2\/2 ready/);
    expect(healthy).toMatch(/Deployment `inference\/fraud-model \(context oke-prod\)`: revision 3 · `registry\/fraud-model:prod-v1`/);

    await devCluster.stop();
    const degraded = String((await command('status fraud-model')).text);
    expect(degraded).toMatch(/Deployment `inference\/fraud-model \(context oke-dev\)`: _Kubernetes could not be reached/);
    expect(degraded).toMatch(/Deployment `inference\/fraud-model \(context oke-prod\)`: revision 3/);
    expect(degraded).toMatch(/\*prod\* \(`@champion`\): .*v1.* since /);
  });
});
