import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { RunningBot } from '../../src/app.js';
import { FakeKubeApi } from '../fakes/fake-kube-api.js';
import { FakeSlackApi, type FakeMessage } from '../fakes/fake-slack-api.js';
import { baseConfigFile, eventually, SIGNING_SECRET, startTestBot, waitReady } from '../helpers/bot-harness.js';
import { startTestOci, type TestOci } from '../helpers/oci.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startResponseUrlServer, type ResponseUrlServer } from '../helpers/response-url-server.js';
import { blockActionsBody, postSigned, slashCommandBody } from '../helpers/slack-request.js';

const TOKEN = 'kube-test-token';
const NS = 'inference';

function podTemplate(image: string) {
  return { metadata: { labels: { app: 'fraud-model' } }, spec: { containers: [{ name: 'model', image, ports: [{ containerPort: 8080 }] }] } };
}

describe('Rollback of OKE deployments, exactly like kubectl', () => {
  let redis: TestRedis;
  let slack: FakeSlackApi;
  let oci: TestOci;
  let kube: FakeKubeApi;
  let hooks: ResponseUrlServer;
  let bot: RunningBot;
  let second: RunningBot;

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
  const confirm = async (value: string, userId = 'U0SRE1', target = bot) => {
    const responseUrl = hooks.url();
    const response = await postSigned(`${target.url}/slack/events`, SIGNING_SECRET, blockActionsBody({ actionId: 'rollback.confirm', value, userId, channelId: 'C0DEPLOY', messageTs: '1.000001', responseUrl }));
    expect(response.status).toBe(200);
    return responseUrl;
  };
  /** Waits until the rollback's message shows `state` and its outcome is in the thread: the job is done. */
  const rollbackMessage = (state: string) =>
    slack.waitFor(
      () =>
        slack
          .messages('C0DEPLOY')
          .find((message) => message.text.includes('Rollback of') && message.text.includes(state) && slack.thread('C0DEPLOY', message.ts).some((reply) => reply.text.includes(` ${state} `))),
      25_000,
      `rollback finished "${state}"`,
    );
  const patches = () => kube.requests().filter((request) => request.method === 'PATCH');

  beforeAll(async () => {
    redis = await startRedis();
    slack = await FakeSlackApi.start({ usergroups: { S0SRE: ['U0SRE1', 'U0SRE2'], S0ONCALL: ['U0ONCALL'] } });
    oci = await startTestOci();
    kube = await FakeKubeApi.start({ token: TOKEN });
    hooks = await startResponseUrlServer();
    const dir = mkdtempSync(join(tmpdir(), 'kubeconfig-'));
    const kubeconfig = join(dir, 'config');
    writeFileSync(
      kubeconfig,
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'fake', cluster: { server: kube.url, 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'bot', user: { token: TOKEN } }],
        contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'bot', namespace: NS } }],
        'current-context': 'fake',
      }),
    );
    const file = baseConfigFile({
      routes: [{ match: { kind: 'alarm' }, channel: 'C0DEPLOY' }],
      models: {
        'fraud-model': { alias: 'champion', deployPipelineId: 'ocid1.devopsdeploypipeline.oc1.iad.fraud', deployment: { namespace: NS, name: 'fraud-model', timeout: '4s' } },
        'churn-model': { alias: 'champion', deployment: { namespace: NS, name: 'churn-model', timeout: '4s' } },
      },
    });
    const env = { ...oci.env, KUBECONFIG: kubeconfig, MLFLOW_TRACKING_URI: 'http://127.0.0.1:9' };
    bot = await startTestBot({ redisUrl: redis.url, slackApiUrl: slack.url, oci: oci.gateway, env, file });
    second = await startTestBot({ redisUrl: redis.url, slackApiUrl: slack.url, oci: oci.gateway, env, file });
    await waitReady(bot);
    await waitReady(second);
  });

  afterAll(async () => {
    await bot.stop();
    await second.stop();
    await hooks.stop();
    await kube.stop();
    await oci.stop();
    await slack.stop();
    await redis.stop();
  });

  beforeEach(() => {
    slack.reset();
  });

  const deployWithHistory = (name: string) => {
    kube.createDeployment({ namespace: NS, name, selector: { matchLabels: { app: name } }, template: { ...podTemplate(`registry/${name}:v1`), metadata: { labels: { app: name } } }, replicas: 2, changeCause: 'deploy v1' });
    kube.updateTemplate(NS, name, (template) => ({ ...template, spec: { containers: [{ name: 'model', image: `registry/${name}:v2` }] } }), { changeCause: 'set image v2' });
    kube.updateTemplate(NS, name, (template) => ({ ...template, spec: { containers: [{ name: 'model', image: `registry/${name}:v3` }] } }), { changeCause: 'set image v3' });
  };

  it('refuses someone outside the deployers role', async () => {
    deployWithHistory('fraud-model');
    const reply = await command('rollback fraud-model', 'U0OUTSIDER');
    expect(reply.text).toContain('*deployers* role');
  });

  it('--dry-run shows the current and the target revision and changes nothing', async () => {
    const before = patches().length;
    const reply = await command('rollback fraud-model --dry-run');
    const text = String(reply.text);
    expect(text).toContain('revision 3');
    expect(text).toContain('registry/fraud-model:v3');
    expect(text).toContain('revision 2');
    expect(text).toContain('registry/fraud-model:v2');
    expect(text).toContain('set image v2');
    expect(text).toContain('Dry run');
    expect(confirmValue(reply)).toBeUndefined();
    expect(patches().length).toBe(before);
  });

  it('undoes to the previous revision with kubectl\'s JSON Patch after the confirm step, and reports the rollout', async () => {
    const reply = await command('rollback fraud-model');
    const value = confirmValue(reply);
    expect(value).toBeDefined();
    // Two clicks at once, on two replicas: one rollback.
    const before = patches().length;
    await Promise.all([confirm(value ?? '', 'U0SRE1', bot), confirm(value ?? '', 'U0SRE2', second)]);
    const done = await rollbackMessage('succeeded');
    const sent = patches().slice(before);
    expect(sent).toHaveLength(1);
    expect(sent[0]?.contentType).toBe('application/json-patch+json');
    const ops = sent[0]?.body as { op: string; path: string; value: Record<string, unknown> }[];
    expect(ops.map((op) => `${op.op} ${op.path}`)).toEqual(['replace /spec/template', 'replace /metadata/annotations']);
    expect(JSON.stringify(ops[0]?.value)).not.toContain('pod-template-hash');
    expect(ops[1]?.value).toMatchObject({ 'kubernetes.io/change-cause': 'set image v2' });
    const revisions = kube.revisions(NS, 'fraud-model');
    expect(revisions.at(-1)).toMatchObject({ revision: 4, image: 'registry/fraud-model:v2' });
    expect(revisions.map((revision) => revision.revision)).not.toContain(2);
    await slack.waitFor(() => slack.thread('C0DEPLOY', done.ts).some((reply) => reply.text.includes('successfully rolled out')), 10_000, 'outcome in the thread');
  });

  it('--to-revision goes to exactly that revision, and again to it is a skip with no patch', async () => {
    const reply = await command('rollback fraud-model --to-revision 1');
    await confirm(confirmValue(reply) ?? '');
    await rollbackMessage('succeeded');
    expect(kube.revisions(NS, 'fraud-model').at(-1)).toMatchObject({ image: 'registry/fraud-model:v1' });
    const current = kube.revisions(NS, 'fraud-model').at(-1)?.revision ?? 0;
    const before = patches().length;
    const again = await command(`rollback fraud-model --to-revision ${current}`);
    expect(String(again.text)).toContain('skipped rollback (current template already matches revision');
    expect(patches().length).toBe(before);
  });

  it('reports a revision that is not in the history, a paused Deployment and a missing one, without patching', async () => {
    expect(String((await command('rollback fraud-model --to-revision 99')).text)).toContain('unable to find specified revision 99 in history');
    deployWithHistory('churn-model');
    kube.setPaused(NS, 'churn-model', true);
    expect(String((await command('rollback churn-model')).text)).toContain('you cannot rollback a paused deployment');
    kube.setPaused(NS, 'churn-model', false);
    expect(String((await command('rollback inference/does-not-exist')).text)).toMatch(/not found/i);
  });

  it('reports Kubernetes forbidding the patch in the thread and does not retry', async () => {
    const reply = await command('rollback churn-model');
    kube.forbid('patch', 'deployments', NS);
    try {
      await confirm(confirmValue(reply) ?? '');
      const failed = await rollbackMessage('failed');
      expect(failed.text).toMatch(/forbidden/i);
    } finally {
      kube.allowAll();
    }
    expect(patches().filter((request) => request.status === 403)).toHaveLength(1);
  });

  it('a rollout that never becomes ready times out; one past its progress deadline fails', async () => {
    kube.setRolloutMode(NS, 'churn-model', 'stuck');
    await confirm(confirmValue(await command('rollback churn-model')) ?? '');
    const timedOut = await rollbackMessage('timed out');
    expect(timedOut.text).toContain('timed out after 4s');
    slack.reset();
    kube.setRolloutMode(NS, 'churn-model', 'deadline');
    await confirm(confirmValue(await command('rollback churn-model')) ?? '');
    const failed = await rollbackMessage('failed');
    expect(failed.text).toContain('exceeded its progress deadline');
  });

  it('Roll back on an alarm tied to a model shows the same confirm step to a deployer', async () => {
    kube.setRolloutMode(NS, 'fraud-model', 'instant');
    const at = Date.now();
    const alarm = {
      dedupeKey: 'fraud-latency',
      title: 'fraud-model latency',
      type: 'OK_TO_FIRING',
      severity: 'CRITICAL',
      timestampEpochMillis: at,
      alarmMetaData: [{ id: 'ocid1.alarm.oc1.iad.fraudlatency', status: 'FIRING', dimensions: [{ resourceDisplayName: 'fraud-model' }] }],
    };
    const response = await fetch(`${bot.url}/oci/notifications`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(alarm) });
    expect(response.status).toBe(200);
    const alert: FakeMessage = await slack.waitFor(() => slack.messages('C0DEPLOY').flatMap((message) => slack.thread('C0DEPLOY', message.ts)).find((message) => JSON.stringify(message.blocks).includes('run.rollback')), 15_000, 'alert with Roll back');
    const click = await postSigned(`${bot.url}/slack/events`, SIGNING_SECRET, blockActionsBody({ actionId: 'run.rollback', userId: 'U0SRE1', channelId: 'C0DEPLOY', message: alert }));
    expect(click.status).toBe(200);
    const shown = await slack.waitFor(() => slack.ephemerals().find((message) => message.user === 'U0SRE1' && JSON.stringify(message.blocks ?? []).includes('rollback.confirm')), 10_000, 'confirm step');
    expect(shown.text).toContain('Roll back `inference/fraud-model`?');
    const refused = await postSigned(`${bot.url}/slack/events`, SIGNING_SECRET, blockActionsBody({ actionId: 'run.rollback', userId: 'U0OUTSIDER', channelId: 'C0DEPLOY', message: alert }));
    expect(refused.status).toBe(200);
    await slack.waitFor(() => slack.ephemerals().find((message) => message.user === 'U0OUTSIDER' && message.text.includes('*deployers* role')), 10_000, 'refusal');
  });

  it('Roll back on a failed DevOps deployment finds the model by its deploy pipeline', async () => {
    const failed = oci.fake.seedDeployment({ lifecycleState: 'FAILED', displayName: 'fraud-model-v9', deployPipelineId: 'ocid1.devopsdeploypipeline.oc1.iad.fraud', lifecycleDetails: 'Stage "apply" failed' });
    const event = {
      eventType: 'com.oraclecloud.devopsdeploy.updatedeployment',
      cloudEventsVersion: '0.1',
      eventTime: new Date().toISOString(),
      eventID: `deploy-${failed.id}`,
      data: { resourceId: failed.id, resourceName: 'fraud-model-v9', compartmentId: 'ocid1.compartment.oc1..ml' },
    };
    const response = await fetch(`${bot.url}/oci/notifications`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(event) });
    expect(response.status).toBe(200);
    const alert: FakeMessage = await slack.waitFor(
      () => slack.messages().flatMap((message) => slack.thread(message.channel, message.ts)).find((message) => message.text.includes('fraud-model-v9') && JSON.stringify(message.blocks).includes('run.rollback')),
      15_000,
      'deployment failure alert',
    );
    await postSigned(`${bot.url}/slack/events`, SIGNING_SECRET, blockActionsBody({ actionId: 'run.rollback', userId: 'U0SRE2', channelId: alert.channel, message: alert }));
    const shown = await slack.waitFor(() => slack.ephemerals().find((message) => message.user === 'U0SRE2' && message.text.includes('Roll back `inference/fraud-model`?')), 10_000, 'confirm step');
    expect(JSON.stringify(shown.blocks)).toContain('rollback.confirm');
  });

  it('status <model> shows the Deployment revision, image and readiness', async () => {
    await eventually(async () => {
      const reply = await command('status fraud-model');
      return String(reply.text).includes('Deployment `inference/fraud-model`: revision') ? reply : undefined;
    }, 10_000, 'status with deployment');
  });
});
