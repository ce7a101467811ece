import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBot } from '../../src/app.js';
import { FakeMlflow, type RecordedMlflowRequest } from '../fakes/fake-mlflow.js';
import { FakeSlackApi, type FakeMessage } from '../fakes/fake-slack-api.js';
import { baseConfigFile, eventually, SIGNING_SECRET, startTestBot, waitReady } from '../helpers/bot-harness.js';
import { startTestOci, type TestOci } from '../helpers/oci.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startResponseUrlServer, type ResponseUrlServer } from '../helpers/response-url-server.js';
import { blockActionsBody, postSigned, slashCommandBody } from '../helpers/slack-request.js';

const WEBHOOK_SECRET = 'mlflow-webhook-secret';
const HOUR = 3600_000;
const DEV_PIPELINE = 'ocid1.devopsdeploypipeline.oc1.iad.dev';
const PROD_PIPELINE = 'ocid1.devopsdeploypipeline.oc1.iad.prod';

/** The promotion path dev → qa → prod of one model: a policy per environment, soaks, a deploy pipeline per environment. */
describe('Promotion through environments', () => {
  let redis: TestRedis;
  let slack: FakeSlackApi;
  let oci: TestOci;
  let mlflow: FakeMlflow;
  let hooks: ResponseUrlServer;
  let bot: RunningBot;
  let clock = Date.parse('2026-03-02T09:00:00Z');

  const command = async (text: string, userId = 'U0DS1') => {
    const responseUrl = hooks.url();
    const response = await postSigned(`${bot.url}/slack/events`, SIGNING_SECRET, slashCommandBody({ text, userId, channelId: 'C0MODELS', responseUrl }), { timestampSeconds: Math.floor(clock / 1000) });
    expect(response.status).toBe(200);
    return (await hooks.waitFor(responseUrl)).text as string;
  };
  const click = (message: FakeMessage, actionId: string, userId: string) =>
    postSigned(`${bot.url}/slack/events`, SIGNING_SECRET, blockActionsBody({ actionId, userId, channelId: message.channel, message }), { timestampSeconds: Math.floor(clock / 1000) });
  const ephemeralFor = (user: string, text: string) => slack.waitFor(() => slack.ephemerals().find((message) => message.user === user && message.text.includes(text)), 10_000, `ephemeral "${text}" for ${user}`);
  const requestMessage = (version: string, environment: string) =>
    slack.waitFor(() => slack.messages('C0MODELS').filter((message) => message.text.includes(`fraud-model v${version} → ${environment} (`)).at(-1), 10_000, `request for v${version} → ${environment}`);
  const promoted = (message: FakeMessage) =>
    slack.waitFor(() => {
      const current = slack.message(message.channel, message.ts);
      return current?.text.includes('Promoted') ? current : undefined;
    }, 15_000, 'promoted message');
  const deploymentsOf = (pipeline: string) =>
    oci.fake.requests().filter((request) => request.method === 'POST' && request.path === '/20210630/deployments' && (request.body as { deployPipelineId?: string }).deployPipelineId === pipeline);
  const aliasPosts = () => mlflow.requests().filter((request: RecordedMlflowRequest) => request.method === 'POST' && request.path.endsWith('/registered-models/alias')).length;

  beforeAll(async () => {
    redis = await startRedis();
    slack = await FakeSlackApi.start({ usergroups: { S0QA: ['U0QA1', 'U0QA2'], S0LEADS: ['U0LEAD2', 'U0LEAD3', 'U0DS1'], S0DS: ['U0DS1'] } });
    oci = await startTestOci();
    mlflow = await FakeMlflow.start();
    hooks = await startResponseUrlServer();
    mlflow.addVersion('fraud-model', { runId: mlflow.addRun({ auc: 0.91 }) });
    const file = baseConfigFile({
      routes: [{ match: { kind: 'model' }, channel: 'C0MODELS' }],
      // U0LEAD1 is a global approver but in none of the environments' lists.
      roles: { trainers: ['S0DS'], approvers: ['U0LEAD1'], deployers: ['S0SRE'] },
      approvals: { required: 1, allowSelfApproval: false, ttl: '48h' },
      models: {
        'fraud-model': {
          channel: 'C0MODELS',
          environments: [
            { name: 'dev', alias: 'dev', approvals: { required: 0 }, deployPipelineId: DEV_PIPELINE },
            { name: 'qa', alias: 'qa', approvals: { required: 1, approvers: ['S0QA'] }, soak: '2h' },
            { name: 'prod', alias: 'champion', approvals: { required: 2, approvers: ['S0LEADS'] }, soak: '24h', deployPipelineId: PROD_PIPELINE },
          ],
        },
      },
    });
    bot = await startTestBot({
      redisUrl: redis.url,
      slackApiUrl: slack.url,
      oci: oci.gateway,
      env: { ...oci.env, MLFLOW_TRACKING_URI: mlflow.url, MLFLOW_WEBHOOK_SECRET: WEBHOOK_SECRET },
      file,
      now: () => new Date(clock),
    });
    await waitReady(bot);
  });

  afterAll(async () => {
    await bot.stop();
    await hooks.stop();
    await mlflow.stop();
    await oci.stop();
    await slack.stop();
    await redis.stop();
  });

  it('walks a version dev → qa → prod: no approval in dev, soaks, per-environment approvers, N distinct in prod, a deployment per environment', async () => {
    // dev needs no approval: promoted at once, still posted in the model's channel and audited.
    expect(await command('promote fraud-model 1')).toContain('no approval needed');
    const dev = await requestMessage('1', 'dev');
    expect(JSON.stringify(dev.blocks)).toContain('Not needed in dev');
    await promoted(dev);
    expect(mlflow.alias('fraud-model', 'dev')).toBe('1');
    const [devDeployment] = deploymentsOf(DEV_PIPELINE);
    expect(devDeployment?.body).toMatchObject({
      deploymentArguments: {
        items: [
          { name: 'MODEL_NAME', value: 'fraud-model' },
          { name: 'MODEL_VERSION', value: '1' },
          { name: 'ENVIRONMENT', value: 'dev' },
        ],
      },
    });
    await slack.waitFor(() => slack.thread(dev.channel, dev.ts).find((reply) => reply.text.includes('Deployment')), 10_000, 'dev deployment in the request thread');
    const audit = await command('status audit');
    expect(audit).toContain('promoting: no approval needed');
    expect(audit).toContain('job.promote');

    // Skipping qa is refused with the reason; so is an unknown environment.
    expect(await command('promote fraud-model 1 --to prod')).toContain('v1 has not served qa');
    expect(await command('promote fraud-model 1 --to staging')).toContain('Unknown environment `staging`');
    expect(await command('promote fraud-model 1 --to dev')).toContain('v1 already serves dev');

    // qa needs 2h in dev: refused with the time left, then accepted once the clock has moved.
    clock += 30 * 60_000;
    expect(await command('promote fraud-model 1')).toContain('so 1h 30m left');
    clock += 2 * HOUR;
    expect(await command('promote fraud-model 1')).toContain('Approval request');
    const qa = await requestMessage('1', 'qa');
    const qaBlocks = JSON.stringify(qa.blocks);
    expect(qaBlocks).toContain('dev → *▶ qa* → prod');
    expect(qaBlocks).toContain('served dev for 2h 30m (needs 2h 0m)');
    expect(qaBlocks).toContain('<!subteam^S0QA>');

    // A global approver outside qa's list is refused; a QA member approves.
    await click(qa, 'approval.approve', 'U0LEAD1');
    await ephemeralFor('U0LEAD1', 'Approving a promotion to qa needs the *approvers* role');
    expect(mlflow.alias('fraud-model', 'qa')).toBeUndefined();
    await click(qa, 'approval.approve', 'U0QA1');
    await promoted(qa);
    expect(mlflow.alias('fraud-model', 'qa')).toBe('1');
    // qa has no deploy pipeline of its own: nothing started there.
    expect(oci.fake.requests().filter((request) => request.method === 'POST' && request.path === '/20210630/deployments')).toHaveLength(1);

    // prod: 24h in qa, then two distinct leads; the requester (a lead too) cannot approve their own.
    clock += HOUR;
    expect(await command('promote fraud-model 1 --to prod')).toContain('23h 0m left');
    clock += 23 * HOUR;
    await command('promote fraud-model 1 --to prod');
    const prod = await requestMessage('1', 'prod');
    await click(prod, 'approval.approve', 'U0DS1');
    await ephemeralFor('U0DS1', 'someone else has to approve');
    await click(prod, 'approval.approve', 'U0QA1');
    await ephemeralFor('U0QA1', 'Approving a promotion to prod needs the *approvers* role');
    await click(prod, 'approval.approve', 'U0LEAD2');
    await ephemeralFor('U0LEAD2', 'Approval recorded (1/2)');
    await click(prod, 'approval.approve', 'U0LEAD2');
    await ephemeralFor('U0LEAD2', 'already counted');
    expect(mlflow.alias('fraud-model', 'champion')).toBeUndefined();
    const before = aliasPosts();
    await click(prod, 'approval.approve', 'U0LEAD3');
    const done = await promoted(prod);
    expect(JSON.stringify(done.blocks)).toContain('prod (@champion): unset → v1.');
    expect(mlflow.alias('fraud-model', 'champion')).toBe('1');
    expect(aliasPosts() - before).toBe(1);
    await eventually(() => deploymentsOf(PROD_PIPELINE).length === 1, 10_000, 'prod deployment started');
    expect(deploymentsOf(PROD_PIPELINE)[0]?.body).toMatchObject({ deploymentArguments: { items: [{ name: 'MODEL_NAME', value: 'fraud-model' }, { name: 'MODEL_VERSION', value: '1' }, { name: 'ENVIRONMENT', value: 'prod' }] } });
    expect(await command('promote fraud-model 1')).toContain('v1 already serves prod, the end of the path');
  });

  it('an alias moved outside the bot soaks from its webhook, and one the bot never heard of from the first time it sees it', async () => {
    const v2 = mlflow.addVersion('fraud-model', { runId: mlflow.addRun({ auc: 0.93 }) });
    const v3 = mlflow.addVersion('fraud-model', { runId: mlflow.addRun({ auc: 0.94 }) });
    // v2 moved into dev in MLflow's UI; its webhook tells the bot when.
    mlflow.setAliasDirectly('fraud-model', 'dev', v2);
    const delivered = await FakeMlflow.deliver(`${bot.url}/mlflow/webhooks`, WEBHOOK_SECRET, 'model_version_alias', 'created', { name: 'fraud-model', alias: 'dev', version: v2 }, { timestamp: Math.floor(clock / 1000) });
    expect(delivered.status).toBe(200);
    clock += 3 * HOUR;
    expect(await command(`promote fraud-model ${v2}`)).toContain('Approval request');
    expect(JSON.stringify((await requestMessage(v2, 'qa')).blocks)).toContain('served dev for 3h 0m');

    // v3 moved into dev with no webhook: the bot sees it now, so the whole soak is still ahead.
    mlflow.setAliasDirectly('fraud-model', 'dev', v3);
    clock += 5 * HOUR;
    expect(await command(`promote fraud-model ${v3}`)).toContain(`v${v3} has served dev for 0s; dev needs a soak of 2h 0m, so 2h 0m left.`);
    clock += 2 * HOUR;
    expect(await command(`promote fraud-model ${v3}`)).toContain('Approval request');
  });

  it('refuses options that do not fit the model', async () => {
    expect(await command('promote fraud-model 1 --alias champion')).toContain('is promoted through its environments');
  });
});
