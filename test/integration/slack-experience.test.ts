import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBot } from '../../src/app.js';
import { FakeKubeApi } from '../fakes/fake-kube-api.js';
import { FakeMlflow } from '../fakes/fake-mlflow.js';
import { FakeSlackApi, type FakeView } from '../fakes/fake-slack-api.js';
import { baseConfigFile, eventually, SIGNING_SECRET, startTestBot, waitReady } from '../helpers/bot-harness.js';
import { startTestOci, type TestOci } from '../helpers/oci.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startResponseUrlServer, type ResponseUrlServer } from '../helpers/response-url-server.js';
import { postSigned, slashCommandBody } from '../helpers/slack-request.js';

const MLFLOW_TOKEN = 'mlflow-token';
const KUBE_TOKEN = 'kube-token';
const NS = 'inference';

/** Everything a view shows, as one string to search. */
const shown = (view: FakeView | undefined) => JSON.stringify(view?.view.blocks ?? []);

describe('Slack-native experience: modals, the Home tab and direct messages', () => {
  let redis: TestRedis;
  let slack: FakeSlackApi;
  let oci: TestOci;
  let mlflow: FakeMlflow;
  let kube: FakeKubeApi;
  let hooks: ResponseUrlServer;
  let bot: RunningBot;
  /** Moves the fake Slack's clock (trigger expiry) without sleeping. */
  let skew = 0;

  const command = async (text: string, userId: string, channelId = 'C0MODELS', triggerId = slack.triggerId(userId)) => {
    const responseUrl = hooks.url();
    const response = await postSigned(`${bot.url}/slack/events`, SIGNING_SECRET, slashCommandBody({ text, userId, channelId, responseUrl, triggerId }));
    expect(response.status).toBe(200);
    return responseUrl;
  };
  const modal = (user: string, callbackId: string) =>
    slack.waitFor(() => slack.views().filter((view) => view.user === user && view.view.callback_id === callbackId).at(-1), 10_000, `${callbackId} open for ${user}`);
  const notify = (body: unknown) => fetch(`${bot.url}/oci/notifications`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const succeed = (ocid: string) =>
    notify({ eventType: 'com.oraclecloud.datascience.succeededjobrun', cloudEventsVersion: '0.1', eventTime: new Date(Date.now() + 1000).toISOString(), eventID: `succeeded-${ocid}`, data: { resourceId: ocid, compartmentId: 'ocid1.compartment.oc1..ml' } });
  const home = (user: string, includes: string) => slack.waitFor(() => (shown(slack.home(user)).includes(includes) ? slack.home(user) : undefined), 10_000, `${user}'s Home showing ${includes}`);

  beforeAll(async () => {
    redis = await startRedis();
    slack = await FakeSlackApi.start({ usergroups: { S0DS: ['U0DS1', 'U0DS2'], S0SRE: ['U0SRE1'], S0ONCALL: ['U0ONCALL'] }, now: () => Date.now() + skew });
    oci = await startTestOci();
    mlflow = await FakeMlflow.start({ token: MLFLOW_TOKEN });
    kube = await FakeKubeApi.start({ token: KUBE_TOKEN });
    hooks = await startResponseUrlServer();
    const v1 = mlflow.addVersion('fraud-model', { runId: mlflow.addRun({ auc: 0.9 }) });
    mlflow.addVersion('fraud-model', { runId: mlflow.addRun({ auc: 0.93 }) });
    mlflow.addVersion('fraud-model', { runId: mlflow.addRun({ auc: 0.95 }) });
    mlflow.setAliasDirectly('fraud-model', 'champion', v1);
    mlflow.addVersion('churn-model', { runId: mlflow.addRun({ auc: 0.8 }) });
    kube.createDeployment({ namespace: NS, name: 'fraud-model', selector: { matchLabels: { app: 'fraud-model' } }, template: { metadata: { labels: { app: 'fraud-model' } }, spec: { containers: [{ name: 'model', image: 'registry/fraud:v1' }] } }, replicas: 1, changeCause: 'deploy v1' });
    kube.updateTemplate(NS, 'fraud-model', (template) => ({ ...template, spec: { containers: [{ name: 'model', image: 'registry/fraud:v2' }] } }), { changeCause: 'set image v2' });
    const dir = mkdtempSync(join(tmpdir(), 'kubeconfig-'));
    const kubeconfig = join(dir, 'config');
    writeFileSync(kubeconfig, kube.kubeconfigText(NS));
    const file = baseConfigFile({
      routes: [
        { match: { kind: 'training' }, channel: 'C0TRAIN' },
        { match: { kind: 'model' }, channel: 'C0MODELS' },
      ],
      approvals: { required: 1, allowSelfApproval: false, ttl: '1h' },
      models: {
        'fraud-model': { alias: 'champion', deployment: { namespace: NS, name: 'fraud-model', timeout: '10s' } },
        'churn-model': {
          environments: [
            { name: 'dev', alias: 'dev', approvals: { required: 0 } },
            { name: 'qa', alias: 'qa', approvals: { required: 1, approvers: ['U0QA1'] } },
          ],
        },
      },
    });
    bot = await startTestBot({ redisUrl: redis.url, slackApiUrl: slack.url, oci: oci.gateway, file, env: { ...oci.env, MLFLOW_TRACKING_URI: mlflow.url, MLFLOW_TRACKING_TOKEN: MLFLOW_TOKEN, KUBECONFIG: kubeconfig } });
    await waitReady(bot);
    slack.connectApp({ transport: 'http', requestUrl: `${bot.url}/slack/events`, signingSecret: SIGNING_SECRET });
  });

  afterAll(async () => {
    await bot.stop();
    await hooks.stop();
    await kube.stop();
    await mlflow.stop();
    await oci.stop();
    await slack.stop();
    await redis.stop();
  });

  it('/mlops train with no arguments opens the train modal; bad parameters and outsiders get errors next to the field; a trainer queues the run', async () => {
    await command('train', 'U0DS1', 'C0TRAIN');
    const view = await modal('U0DS1', 'modal.train');
    expect(shown(view)).toContain('fraud-model');
    expect(shown(view)).toContain('churn-model');

    const bad = await slack.app.submit(view.id, 'U0DS1', { target: 'fraud-model', params: 'epochs' });
    expect(bad.body).toMatchObject({ response_action: 'errors', errors: { params: expect.stringContaining('key=value') as unknown } });
    expect(slack.views().find((candidate) => candidate.id === view.id)?.errors.params).toBeDefined();

    await command('train', 'U0OUTSIDER', 'C0TRAIN');
    const outsider = await modal('U0OUTSIDER', 'modal.train');
    const refused = await slack.app.submit(outsider.id, 'U0OUTSIDER', { target: 'fraud-model', params: 'epochs=1' });
    expect(refused.body).toMatchObject({ response_action: 'errors', errors: { target: 'Training fraud-model needs the trainers role.' } });

    const created = oci.fake.nextCreated((resource) => JSON.stringify(resource).includes('"via":"modal"'));
    const queued = await slack.app.submit(view.id, 'U0DS1', { target: 'fraud-model', params: 'epochs=3 via=modal' });
    expect(queued.body).toMatchObject({ response_action: 'update' });
    expect(shown(slack.views().find((candidate) => candidate.id === view.id))).toContain('queued training');
    expect((await created).id).toMatch(/^ocid1\.datasciencejobrun\./);
  });

  it('tells the requester of a training run how it ended, in a direct message, once; not someone who switched DMs off', async () => {
    const created = oci.fake.nextCreated((resource) => JSON.stringify(resource).includes('"dm":"yes"'));
    await command('train fraud-model dm=yes', 'U0DS1', 'C0TRAIN');
    const ocid = (await created).id;
    await slack.waitFor(() => slack.messages('C0TRAIN').find((message) => JSON.stringify(message.blocks).includes(ocid)), 10_000, 'run message');
    await succeed(ocid);
    const dm = await slack.waitFor(() => slack.directMessages('U0DS1').find((message) => message.text.includes('dm=yes') || message.text.includes(ocid) || message.text.includes('succeeded')), 10_000, 'run DM');
    expect(dm.text).toContain('Your training run `fraud-model`');
    expect(dm.text).toContain('succeeded');
    expect(dm.text).toContain('https://slack.com/archives/C0TRAIN/');
    expect(slack.effective('conversations.open').map((call) => call.args.users)).toContain('U0DS1');

    const off = await command('dm off', 'U0DS2', 'C0TRAIN');
    expect(String((await hooks.waitFor(off)).text)).toContain('Direct messages are off');
    const quiet = oci.fake.nextCreated((resource) => JSON.stringify(resource).includes('"dm":"off"'));
    await command('train fraud-model dm=off', 'U0DS2', 'C0TRAIN');
    const quietOcid = (await quiet).id;
    const root = await slack.waitFor(() => slack.messages('C0TRAIN').find((message) => JSON.stringify(message.blocks).includes(quietOcid)), 10_000, 'run message');
    await succeed(quietOcid);
    await slack.waitFor(() => slack.message('C0TRAIN', root.ts)?.text.includes('succeeded'), 10_000, 'run succeeded');
    // The run-end job runs right after the message is updated: by the time U0DS1's next DM arrives it would have sent U0DS2's.
    await eventually(async () => (await fetch(`${bot.url}/readyz`)).ok, 5_000, 'bot still ready');
    expect(slack.directMessages('U0DS2')).toEqual([]);
    expect(slack.directMessages('U0DS1').filter((message) => message.text.includes('succeeded'))).toHaveLength(1);
  });

  it('a modal that could not open in time (expired trigger) says so through response_url', async () => {
    const trigger = slack.triggerId('U0DS1');
    skew += 3_500;
    try {
      const url = await command('train', 'U0DS1', 'C0TRAIN', trigger);
      expect(String((await hooks.waitFor(url)).text)).toContain('expired_trigger_id');
      expect(slack.calls('views.open').at(-1)?.response).toMatchObject({ ok: false, error: 'expired_trigger_id' });
    } finally {
      skew = 0;
    }
  });

  it('the "Train a model" shortcut opens the same modal', async () => {
    const ack = await slack.app.shortcut('U0DS2', 'shortcut.train');
    expect(ack.status).toBe(200);
    const view = await modal('U0DS2', 'modal.train');
    expect(shown(view)).toContain('fraud-model');
  });

  it('/mlops promote with no arguments: versions from MLflow newest first, MLflow\'s refusal next to the version, then the request', async () => {
    await command('promote', 'U0DS1');
    const view = await modal('U0DS1', 'modal.promote');
    const none = await slack.app.suggest(view.id, 'U0DS1', 'promote.version');
    expect(none.options).toEqual([]);
    const listed = await slack.app.suggest(view.id, 'U0DS1', 'promote.version', '', { model: 'fraud-model' });
    expect(listed.options.map((candidate) => candidate.value)).toEqual(['3', '2', '1']);
    const narrowed = await slack.app.suggest(view.id, 'U0DS1', 'promote.version', 'v2', { model: 'fraud-model' });
    expect(narrowed.options.map((candidate) => candidate.value)).toEqual(['2']);
    expect(mlflow.requests().some((request) => request.path.endsWith('/model-versions/search') && request.query.filter === "name='fraud-model'")).toBe(true);

    const holds = await slack.app.submit(view.id, 'U0DS1', { model: 'fraud-model', version: { value: '1', label: 'v1' } });
    expect(holds.body).toMatchObject({ response_action: 'errors', errors: { version: 'Version 1 already holds @champion.' } });
    const noEnvironment = await slack.app.submit(view.id, 'U0DS1', { model: 'fraud-model', version: { value: '2', label: 'v2' }, environment: { value: 'qa', label: 'qa' } });
    expect(noEnvironment.body).toMatchObject({ response_action: 'errors', errors: { environment: expect.stringContaining('has no environments') as unknown } });

    const requested = await slack.app.submit(view.id, 'U0DS1', { model: 'fraud-model', version: { value: '2', label: 'v2' }, environment: undefined });
    expect(requested.body, JSON.stringify(requested.body)).toMatchObject({ response_action: 'update' });
    expect(shown(slack.views().find((candidate) => candidate.id === view.id))).toContain('Approval request for `fraud-model` v2');
    await slack.waitFor(() => slack.messages('C0MODELS').find((message) => message.text.includes('Promote fraud-model v2')), 10_000, 'approval message');
  });

  it('the Home tab shows each viewer what they may act on, every model, recent runs and their roles; Approve there is the channel\'s Approve', async () => {
    await slack.app.openHome('U0LEAD1');
    const lead = await home('U0LEAD1', 'approval.approve');
    expect(shown(lead)).toContain('approval.approve');
    expect(shown(lead)).toContain('*approvers*');
    expect(shown(lead)).toContain('`@champion`: v1');
    expect(shown(lead)).toContain('Recent runs');
    expect(shown(lead)).toContain('fraud-model');

    await slack.app.openHome('U0DS1');
    const requester = await home('U0DS1', 'Your pending requests');
    expect(shown(requester)).not.toContain('approval.approve');
    expect(shown(requester)).toContain('*trainers*');
    expect(shown(requester)).toContain(':white_check_mark: _None._');

    const message = slack.messages('C0MODELS').find((candidate) => candidate.text.includes('Promote fraud-model v2'));
    const approval = JSON.stringify(message?.blocks).match(/"value":"([0-9a-f]{12})"/)?.[1] ?? '';
    const current = slack.home('U0LEAD1');
    const clicked = await slack.app.click(current?.id ?? '', 'U0LEAD1', 'approval.approve', approval);
    expect(clicked.status).toBe(200);
    await eventually(() => mlflow.alias('fraud-model', 'champion') === '2', 15_000, 'alias moved by the Home click');
    await slack.waitFor(() => (slack.message('C0MODELS', message?.ts ?? '')?.text.includes('Promoted') ? true : undefined), 15_000, 'channel message promoted');
    const after = await home('U0LEAD1', 'Approved: promoting');
    expect(shown(after)).not.toContain('approval.approve');
    await home('U0LEAD1', '`@champion`: v2 since');

    const dm = await slack.waitFor(() => slack.directMessages('U0DS1').find((candidate) => candidate.text.includes('Your promotion request')), 10_000, 'decision DM');
    expect(dm.text).toContain('was *approved* by <@U0LEAD1>');
  });

  it('the requester of a superseded request hears it', async () => {
    // U0DS2 switched direct messages off in an earlier test.
    await hooks.waitFor(await command('dm on', 'U0DS2'));
    await hooks.waitFor(await command('promote fraud-model 3', 'U0DS2'));
    await hooks.waitFor(await command('promote fraud-model 3', 'U0DS1'));
    const dm = await slack.waitFor(() => slack.directMessages('U0DS2').find((candidate) => candidate.text.includes('superseded')), 10_000, 'superseded DM');
    expect(dm.text).toContain('`fraud-model` v3');
  });

  it('a model with environments: the environment select lists its path, refusals of the path sit next to it, and each environment\'s approvers see its requests on their Home', async () => {
    await command('promote', 'U0DS1');
    const view = await modal('U0DS1', 'modal.promote');
    const environments = await slack.app.suggest(view.id, 'U0DS1', 'promote.environment', '', { model: 'churn-model' });
    expect(environments.options.map((candidate) => candidate.value)).toEqual(['dev', 'qa']);
    const skipped = await slack.app.submit(view.id, 'U0DS1', { model: 'churn-model', version: { value: '1', label: 'v1' }, environment: { value: 'qa', label: 'qa' } });
    expect(skipped.body).toMatchObject({ response_action: 'errors', errors: { environment: expect.stringContaining('promote it to dev first') as unknown } });
    const dev = await slack.app.submit(view.id, 'U0DS1', { model: 'churn-model', version: { value: '1', label: 'v1' }, environment: { value: 'dev', label: 'dev' } });
    expect(dev.body).toMatchObject({ response_action: 'update' });
    expect(shown(slack.views().find((candidate) => candidate.id === view.id))).toContain('no approval needed');
    await eventually(() => mlflow.alias('churn-model', 'dev') === '1', 15_000, 'dev alias set');

    await hooks.waitFor(await command('promote churn-model 1 --to qa', 'U0DS1'));
    await slack.app.openHome('U0QA1');
    const qa = await home('U0QA1', '`qa (@qa)`');
    expect(shown(qa)).toContain('approval.approve');
    expect(shown(qa)).toMatch(/\*dev\* \(`@dev`\): v1 since/);
    await slack.app.openHome('U0LEAD2');
    const lead = await home('U0LEAD2', '*dev* (`@dev`): v1');
    // roles.approvers do not approve in qa, which has its own approvers.
    expect(shown(lead)).not.toContain('`churn-model` v1 → `qa (@qa)`*');
  });

  it('/mlops rollback with no arguments: revisions with images and change-causes, deployers only, then the same confirm step', async () => {
    await command('rollback', 'U0SRE1', 'C0DEPLOY');
    const view = await modal('U0SRE1', 'modal.rollback');
    expect(shown(view)).toContain('fraud-model (inference/fraud-model)');
    const revisions = await slack.app.suggest(view.id, 'U0SRE1', 'rollback.revision', '', { deployment: 'fraud-model' });
    expect(revisions.options.map((candidate) => (candidate.text as { text: string }).text)).toEqual(['now: rev 2 · registry/fraud:v2 · set image v2', 'rev 1 · registry/fraud:v1 · deploy v1']);

    await command('rollback', 'U0DS1', 'C0DEPLOY');
    const outsider = await modal('U0DS1', 'modal.rollback');
    const refused = await slack.app.submit(outsider.id, 'U0DS1', { deployment: 'fraud-model' });
    expect(refused.body).toMatchObject({ response_action: 'errors', errors: { deployment: 'Rolling back needs the deployers role.' } });
    const same = await slack.app.submit(view.id, 'U0SRE1', { deployment: 'fraud-model', revision: { value: '2', label: 'rev 2' } });
    expect(same.body).toMatchObject({ response_action: 'errors', errors: { revision: expect.stringContaining('skipped rollback') as unknown } });

    const review = await slack.app.submit(view.id, 'U0SRE1', { deployment: 'fraud-model', revision: { value: '1', label: 'rev 1' } });
    expect(review.body).toMatchObject({ response_action: 'update', view: { callback_id: 'modal.rollback_confirm' } });
    const confirm = slack.views().find((candidate) => candidate.id === view.id);
    expect(shown(confirm)).toMatch(/Now:\*.*revision 2.*registry\/fraud:v2.*After:\*.*revision 1.*registry\/fraud:v1.*deploy v1/);
    const done = await slack.app.submit(view.id, 'U0SRE1');
    expect(done.body).toMatchObject({ response_action: 'update' });
    expect(shown(slack.views().find((candidate) => candidate.id === view.id))).toContain('Rolling back `inference/fraud-model` to revision 1');
    await slack.waitFor(() => slack.messages('C0DEPLOY').find((message) => message.text.includes('Rollback of') && message.text.includes('succeeded')), 20_000, 'rollback succeeded');
  });
});
