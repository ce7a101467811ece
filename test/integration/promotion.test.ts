import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { RateLimiter } from '../../src/adapters/redis/rate-limiter.js';
import type { RunningBot } from '../../src/app.js';
import { FakeMlflow } from '../fakes/fake-mlflow.js';
import { FakeSlackApi, type FakeMessage } from '../fakes/fake-slack-api.js';
import { baseConfigFile, eventually, SIGNING_SECRET, startTestBot, waitReady } from '../helpers/bot-harness.js';
import { ociFixtureJson } from '../helpers/oci-fixtures.js';
import { startTestOci, type TestOci } from '../helpers/oci.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startResponseUrlServer, type ResponseUrlServer } from '../helpers/response-url-server.js';
import { blockActionsBody, postSigned, slashCommandBody, viewSubmissionBody } from '../helpers/slack-request.js';

const WEBHOOK_SECRET = 'mlflow-webhook-secret';
const MLFLOW_TOKEN = 'mlflow-token';

describe('Promotion with approval buttons against MLflow', () => {
  let redis: TestRedis;
  let slack: FakeSlackApi;
  let oci: TestOci;
  let mlflow: FakeMlflow;
  let hooks: ResponseUrlServer;
  const bots: RunningBot[] = [];
  let clock = Date.now();
  let v1: string;
  let v2: string;

  const bot = () => bots[0] as RunningBot;
  const command = async (text: string, userId: string) => {
    const responseUrl = hooks.url();
    const response = await postSigned(`${bot().url}/slack/events`, SIGNING_SECRET, slashCommandBody({ text, userId, channelId: 'C0MODELS', responseUrl }), { timestampSeconds: Math.floor(clock / 1000) });
    expect(response.status).toBe(200);
    return (await hooks.waitFor(responseUrl)).text as string;
  };
  const click = (message: FakeMessage, actionId: string, userId: string, target = bot()) =>
    // Signed at the bot's clock, which the expiry test moves forward.
    postSigned(`${target.url}/slack/events`, SIGNING_SECRET, blockActionsBody({ actionId, userId, channelId: message.channel, message }), { timestampSeconds: Math.floor(clock / 1000) });
  const ephemeralFor = (user: string, text: string) => slack.waitFor(() => slack.ephemerals().find((message) => message.user === user && message.text.includes(text)), 10_000, `ephemeral "${text}" for ${user}`);
  const approvalMessage = (version: string) => slack.waitFor(() => slack.messages('C0MODELS').filter((message) => message.text.includes(`fraud-model v${version}`)).at(-1), 10_000, `approval message for v${version}`);
  const requestFor = async (version: string, requester = 'U0DS1') => {
    const reply = await command(`promote fraud-model ${version}`, requester);
    expect(reply).toContain('Approval request');
    return approvalMessage(version);
  };

  /** Takes a channel's posting slot for `ms`, as a burst of run updates would. */
  const holdChannel = async (channel: string, ms: number) => {
    const client = new Redis(redis.url);
    try {
      await new RateLimiter(client).pause(`chat.postMessage:${channel}`, ms);
    } finally {
      client.disconnect();
    }
  };

  beforeAll(async () => {
    redis = await startRedis();
    slack = await FakeSlackApi.start({ usergroups: { S0LEADS: ['U0LEAD3'], S0DS: ['U0DS1'], S0SRE: ['U0SRE1'], S0ONCALL: ['U0ONCALL'] } });
    oci = await startTestOci();
    mlflow = await FakeMlflow.start({ token: MLFLOW_TOKEN });
    hooks = await startResponseUrlServer();
    const champion = mlflow.addRun({ auc: 0.91, loss: 0.31 }, 'champion-run');
    const candidate = mlflow.addRun({ auc: 0.94, loss: 0.27, f1: 0.8 }, 'candidate-run');
    v1 = mlflow.addVersion('fraud-model', { runId: champion });
    v2 = mlflow.addVersion('fraud-model', { runId: candidate });
    mlflow.setAliasDirectly('fraud-model', 'champion', v1);
    mlflow.addVersion('churn-model', { stage: 'Production' });
    mlflow.addVersion('churn-model');
    const file = baseConfigFile({
      routes: [{ match: { kind: 'model' }, channel: 'C0MODELS' }],
      roles: { trainers: ['S0DS'], approvers: ['U0LEAD1', 'U0LEAD2', 'S0LEADS'], deployers: ['S0SRE'] },
      approvals: { required: 2, allowSelfApproval: false, ttl: '1h' },
      models: {
        'fraud-model': { alias: 'champion', deployPipelineId: 'ocid1.devopsdeploypipeline.oc1.iad.fraud' },
        'churn-model': { stage: 'Production' },
      },
    });
    for (let replica = 0; replica < 2; replica++) {
      const started = await startTestBot({
        redisUrl: redis.url,
        slackApiUrl: slack.url,
        oci: oci.gateway,
        env: { ...oci.env, MLFLOW_TRACKING_URI: mlflow.url, MLFLOW_TRACKING_TOKEN: MLFLOW_TOKEN, MLFLOW_WEBHOOK_SECRET: WEBHOOK_SECRET },
        file,
        now: () => new Date(clock),
      });
      await waitReady(started);
      bots.push(started);
    }
  });

  afterAll(async () => {
    for (const running of bots) await running.stop();
    await hooks.stop();
    await mlflow.stop();
    await oci.stop();
    await slack.stop();
    await redis.stop();
  });

  beforeEach(() => {
    clock = Date.now();
    mlflow.down = false;
  });

  it('refuses bad promote arguments with usage, and unknown versions with MLflow\'s answer', async () => {
    expect(await command('promote no-model 2', 'U0DS1')).toContain('Unknown model');
    expect(await command('promote fraud-model two', 'U0DS1')).toContain('is not a model version number');
    expect(await command('promote fraud-model 2 --alias latest', 'U0DS1')).toContain('not a usable MLflow alias');
    expect(await command('promote fraud-model 99', 'U0DS1')).toContain('does not exist in MLflow');
    expect(await command(`promote fraud-model ${v1}`, 'U0DS1')).toContain('already holds');
  });

  it('posts the request with both runs\' metrics side by side, and refuses self-approval and non-approvers', async () => {
    const message = await requestFor(v2, 'U0LEAD1');
    const body = JSON.stringify(message.blocks);
    expect(body).toContain('auc');
    expect(body).toMatch(/0\.94\d*\s+0\.91\d*\s+\(▲ \+0\.03/);
    expect(body).toMatch(/loss.*▼/);
    expect(body).toContain('approval.approve');
    expect(body).toContain('approval.reject');
    expect(body).toContain('<@U0LEAD1>');
    expect(mlflow.requests().every((request) => request.status !== 401)).toBe(true);

    await click(message, 'approval.approve', 'U0LEAD1');
    await ephemeralFor('U0LEAD1', 'someone else has to approve');
    await click(message, 'approval.approve', 'U0OUTSIDER');
    await ephemeralFor('U0OUTSIDER', '*approvers* role');
    expect(mlflow.alias('fraud-model', 'champion')).toBe(v1);
  });

  it('needs N distinct approvers; a double click counts once; then sets the alias and starts the deployment', async () => {
    const message = await requestFor(v2);
    await click(message, 'approval.approve', 'U0LEAD2');
    await ephemeralFor('U0LEAD2', 'Approval recorded (1/2)');
    await click(message, 'approval.approve', 'U0LEAD2');
    await ephemeralFor('U0LEAD2', 'already counted');
    expect(mlflow.alias('fraud-model', 'champion')).toBe(v1);

    // Two replicas receive the deciding click at the same moment: one promotion, one deployment.
    const aliasPostsBefore = mlflow.requests().filter((request) => request.method === 'POST' && request.path.endsWith('/registered-models/alias')).length;
    await Promise.all([click(message, 'approval.approve', 'U0LEAD3', bots[0]), click(message, 'approval.approve', 'U0LEAD3', bots[1])]);
    await eventually(() => mlflow.alias('fraud-model', 'champion') === v2, 15_000, 'alias moved');
    const final = await slack.waitFor(() => {
      const current = slack.message(message.channel, message.ts);
      return current?.text.includes('Promoted') ? current : undefined;
    }, 15_000, 'promoted message');
    const blocks = JSON.stringify(final.blocks);
    expect(blocks).toContain(`@champion: v${v1} → v${v2}`);
    expect(blocks).not.toContain('approval.approve');
    expect(mlflow.requests().filter((request) => request.method === 'POST' && request.path.endsWith('/registered-models/alias')).length - aliasPostsBefore).toBe(1);
    // One decision, timed once from the request, on whichever replica took the deciding click.
    const decided = await Promise.all(bots.map(async (replica) => (await (await fetch(`${replica.metricsUrl}/metrics`)).text()).match(/^mlops_approval_decision_seconds_count\{outcome="approved"\} (\d+)$/m)?.[1] ?? '0'));
    expect(decided.map(Number).reduce((sum, count) => sum + count, 0)).toBe(1);
    const deployments = oci.fake.requests().filter((request) => request.method === 'POST' && request.path === '/20210630/deployments');
    expect(deployments).toHaveLength(1);
    expect(deployments[0]?.body).toMatchObject({
      deploymentType: 'PIPELINE_DEPLOYMENT',
      deployPipelineId: 'ocid1.devopsdeploypipeline.oc1.iad.fraud',
      deploymentArguments: { items: [{ name: 'MODEL_NAME', value: 'fraud-model' }, { name: 'MODEL_VERSION', value: v2 }] },
    });
    // The deployment's status lives in the approval's thread.
    await slack.waitFor(() => slack.thread(message.channel, message.ts).find((reply) => reply.text.includes('Deployment')), 10_000, 'deployment in thread');
    // The bot's own alias change comes back as a webhook and is not reported as an outside change.
    const echo = await FakeMlflow.deliver(`${bot().url}/mlflow/webhooks`, WEBHOOK_SECRET, 'model_version_alias', 'created', { name: 'fraud-model', alias: 'champion', version: v2 });
    expect(echo.status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(slack.messages('C0MODELS').some((candidate) => candidate.text.includes('outside the bot'))).toBe(false);
  });

  it('a newer request supersedes the older one, which can no longer be approved', async () => {
    const v3 = mlflow.addVersion('fraud-model', { runId: mlflow.addRun({ auc: 0.95 }) });
    const v4 = mlflow.addVersion('fraud-model', { runId: mlflow.addRun({ auc: 0.96 }) });
    const older = await requestFor(v3);
    await requestFor(v4);
    await slack.waitFor(() => slack.message(older.channel, older.ts)?.text.includes('Superseded'), 10_000, 'older marked superseded');
    await click(older, 'approval.approve', 'U0LEAD2');
    await ephemeralFor('U0LEAD2', 'A newer request for this model and alias replaced this one');
  });

  it('an expired request cannot be approved', async () => {
    const v5 = mlflow.addVersion('fraud-model', { runId: mlflow.addRun({ auc: 0.97 }) });
    const message = await requestFor(v5);
    clock += 2 * 3600_000;
    await click(message, 'approval.approve', 'U0LEAD3');
    await ephemeralFor('U0LEAD3', 'expired');
    await slack.waitFor(() => slack.message(message.channel, message.ts)?.text.includes('Expired'), 10_000, 'expired shown');
  });

  it('Reject opens a modal and records who rejected and why', async () => {
    const v6 = mlflow.addVersion('fraud-model', { runId: mlflow.addRun({ auc: 0.5 }) });
    const message = await requestFor(v6);
    await click(message, 'approval.reject', 'U0LEAD2');
    const view = await slack.waitFor(() => slack.views().find((candidate) => JSON.stringify(candidate.view).includes(`v${v6}`)), 10_000, 'reject modal');
    const submitted = await postSigned(
      `${bot().url}/slack/events`,
      SIGNING_SECRET,
      viewSubmissionBody({
        callbackId: 'approval.reject_modal',
        userId: 'U0LEAD2',
        privateMetadata: String(view.view.private_metadata),
        values: { reason: { reason: { type: 'plain_text_input', value: 'AUC regressed <!channel>' } } },
      }),
    );
    expect(submitted.status).toBe(200);
    const rejected = await slack.waitFor(() => {
      const current = slack.message(message.channel, message.ts);
      return current?.text.includes('Rejected') ? current : undefined;
    }, 10_000, 'rejected');
    const blocks = JSON.stringify(rejected.blocks);
    expect(blocks).toContain('<@U0LEAD2>');
    expect(blocks).toContain('AUC regressed &lt;!channel&gt;');
    expect(blocks).not.toContain('approval.approve');
  });

  it('retries while MLflow is down and promotes once it is back', async () => {
    const v7 = mlflow.addVersion('fraud-model', { runId: mlflow.addRun({ auc: 0.99 }) });
    const message = await requestFor(v7);
    await click(message, 'approval.approve', 'U0LEAD2');
    await ephemeralFor('U0LEAD2', 'Approval recorded');
    mlflow.down = true;
    await click(message, 'approval.approve', 'U0LEAD3');
    await eventually(() => mlflow.requests().some((request) => request.status === 503), 10_000, 'a refused call');
    expect(mlflow.alias('fraud-model', 'champion')).not.toBe(v7);
    mlflow.down = false;
    await eventually(() => mlflow.alias('fraud-model', 'champion') === v7, 20_000, 'alias set after recovery');
    await slack.waitFor(() => slack.message(message.channel, message.ts)?.text.includes('Promoted'), 15_000, 'promoted after recovery');
  });

  it('promotes to a stage with archive of the existing holder', async () => {
    const reply = await command('promote churn-model 2', 'U0DS1');
    expect(reply).toContain('stage Production');
    const message = await slack.waitFor(() => slack.messages('C0MODELS').find((candidate) => candidate.text.includes('churn-model v2')), 10_000, 'stage request');
    await click(message, 'approval.approve', 'U0LEAD2');
    await click(message, 'approval.approve', 'U0LEAD3');
    await eventually(() => mlflow.stage('churn-model', '2') === 'Production', 15_000, 'stage moved');
    expect(mlflow.stage('churn-model', '1')).toBe('Archived');
  });

  it('MLflow webhooks: a new version offers promotion, an outside alias change is noted, bad signatures and replays change nothing', async () => {
    const url = `${bot().url}/mlflow/webhooks`;
    // MLflow sends model_version.created once the version is registered.
    const v8 = mlflow.addVersion('fraud-model', { runId: mlflow.addRun({ auc: 0.9 }) });
    const forged = await FakeMlflow.deliver(url, 'wrong-secret', 'model_version', 'created', { name: 'fraud-model', version: v8, source: 'models:/m', run_id: null, tags: {}, description: null });
    expect(forged.status).toBe(401);
    const stale = await FakeMlflow.deliver(url, WEBHOOK_SECRET, 'model_version', 'created', { name: 'fraud-model', version: v8 }, { timestamp: Math.floor(Date.now() / 1000) - 3600 });
    expect(stale.status).toBe(401);
    const deliveryId = 'delivery-1';
    for (let attempt = 0; attempt < 2; attempt++) {
      const response = await FakeMlflow.deliver(url, WEBHOOK_SECRET, 'model_version', 'created', { name: 'fraud-model', version: v8, source: 'models:/m', run_id: null, tags: {}, description: null }, { deliveryId });
      expect(response.status).toBe(200);
    }
    const offer = await slack.waitFor(() => slack.messages('C0MODELS').find((message) => message.text.includes(`Version \`${v8}\` of \`fraud-model\` registered`)), 10_000, 'registered message');
    expect(JSON.stringify(offer.blocks)).toContain('model.request_promotion');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(slack.messages('C0MODELS').filter((message) => message.text.includes(`Version \`${v8}\``))).toHaveLength(1);

    await FakeMlflow.deliver(url, WEBHOOK_SECRET, 'model_version_alias', 'created', { name: 'fraud-model', alias: 'champion', version: '1' });
    await slack.waitFor(() => slack.messages('C0MODELS').find((message) => message.text.includes('outside the bot')), 10_000, 'outside change noted');
  });

  it('lists pending approvals and shows a model\'s status', async () => {
    const v9 = mlflow.addVersion('fraud-model', { runId: mlflow.addRun({ auc: 0.9 }) });
    await requestFor(v9);
    const list = await command('approvals', 'U0DS1');
    expect(list).toContain(`\`fraud-model\` version \`${v9}\``);
    expect(list).toContain('0/2 approvals');
    const status = await command('status fraud-model', 'U0DS1');
    expect(status).toContain('`@champion`');
    expect(status).toContain(`v${v9}`);
  });

  it('waits for its turn in a channel busy with other posts rather than failing the request', async () => {
    const v10 = mlflow.addVersion('fraud-model', { runId: mlflow.addRun({ auc: 0.92 }) });
    // The channel's posting slot is taken for the next 5 s, as during a burst of run updates.
    await holdChannel('C0MODELS', 5_000);
    const responseUrl = hooks.url();
    const response = await postSigned(`${bot().url}/slack/events`, SIGNING_SECRET, slashCommandBody({ text: `promote fraud-model ${v10}`, userId: 'U0DS1', channelId: 'C0MODELS', responseUrl }));
    expect(response.status).toBe(200);
    expect((await hooks.waitFor(responseUrl, 30_000)).text).toContain('Approval request');
    const message = await approvalMessage(v10);
    expect(JSON.stringify(message.blocks)).toContain('approval.approve');
    expect(slack.calls('chat.postMessage').filter((call) => call.status === 429)).toHaveLength(0);
  });

  it('an event of the deployment that OCI delivers before createDeployment has answered goes to the approval thread, once', async () => {
    const v11 = mlflow.addVersion('fraud-model', { runId: mlflow.addRun({ auc: 0.93 }) });
    const message = await requestFor(v11);
    const held = oci.fake.holdNext({ method: 'POST', pathPrefix: '/20210630/deployments' });
    const created = oci.fake.nextCreated((resource) => resource.displayName === `fraud-model-v${v11}`);
    await click(message, 'approval.approve', 'U0LEAD1');
    await ephemeralFor('U0LEAD1', 'Approval recorded (1/2)');
    await click(message, 'approval.approve', 'U0LEAD2');
    const resource = await created;
    await held.arrived;
    const tags = resource.freeformTags as Record<string, string> | undefined;
    expect(tags?.['mlops-chatops-run']).toMatch(/^promotion-[0-9a-f]+$/);

    const event = ociFixtureJson('devops-createdeployment.json');
    event.eventID = `race-${resource.id}`;
    event.eventTime = new Date().toISOString();
    Object.assign(event.data as Record<string, unknown>, { resourceId: resource.id, resourceName: resource.displayName, freeFormTags: tags });
    const delivered = await fetch(`${bot().url}/oci/notifications`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(event) });
    expect(delivered.status).toBe(200);
    const mentions = (candidate: FakeMessage) => JSON.stringify(candidate.blocks).includes(resource.id);
    await slack.waitFor(() => slack.thread(message.channel, message.ts).find(mentions), 10_000, 'the deployment in the approval thread before the create answered');

    held.release();
    await slack.waitFor(() => (slack.message(message.channel, message.ts)?.text.includes('Promoted') ? true : undefined), 15_000, 'promoted message');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(slack.thread(message.channel, message.ts).filter(mentions)).toHaveLength(1);
    // No second message of its own: only the approval names it, in its outcome.
    expect(slack.messages().filter(mentions).map((candidate) => candidate.ts)).toEqual([message.ts]);
  });

  it('a deployment OCI refuses leaves no half-made deployment run behind in /mlops status', async () => {
    const v13 = mlflow.addVersion('fraud-model', { runId: mlflow.addRun({ auc: 0.91 }) });
    const message = await requestFor(v13);
    oci.fake.failNext({ method: 'POST', pathPrefix: '/20210630/deployments' }, { status: 404, code: 'NotAuthorizedOrNotFound' });
    await click(message, 'approval.approve', 'U0LEAD1');
    await ephemeralFor('U0LEAD1', 'Approval recorded (1/2)');
    await click(message, 'approval.approve', 'U0LEAD2');
    const outcome = await slack.waitFor(() => {
      const current = slack.message(message.channel, message.ts);
      return JSON.stringify(current?.blocks).includes('NotAuthorizedOrNotFound') ? current : undefined;
    }, 15_000, 'the approval showing the refused deployment');
    expect(JSON.stringify(outcome.blocks)).toContain('promotion failed');
    const status = await command('status', 'U0DS1');
    expect(status).not.toContain(`fraud-model-v${v13}`);
    expect(slack.thread(message.channel, message.ts).filter((reply) => reply.text.includes('Deployment'))).toHaveLength(0);
  });

  it('a request that could not be posted is not stored, and the pending one it would have replaced stays', async () => {
    const vOld = mlflow.addVersion('fraud-model', { runId: mlflow.addRun({ auc: 0.9 }) });
    const older = await requestFor(vOld);
    const v12 = mlflow.addVersion('fraud-model', { runId: mlflow.addRun({ auc: 0.9 }) });
    // The channel stays busy for longer than the request may wait.
    await holdChannel('C0MODELS', 60_000);
    const reply = await command(`promote fraud-model ${v12}`, 'U0DS1');
    expect(reply).toMatch(/^:x: Slack is busy with other messages here \(its rate limit\); try again in \d+ s\.$/);
    const list = await command('approvals', 'U0DS1');
    expect(list).not.toContain(`version \`${v12}\``);
    expect(list).toContain(`version \`${vOld}\``);
    expect(JSON.stringify(slack.message(older.channel, older.ts)?.blocks)).toContain('approval.approve');
  });
});
