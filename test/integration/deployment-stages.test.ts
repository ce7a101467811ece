import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RunningBot } from '../../src/app.js';
import { deploymentActionId } from '../../jobs/deployment-action.js';
import { FakeMlflow } from '../fakes/fake-mlflow.js';
import { FakeSlackApi, type FakeMessage } from '../fakes/fake-slack-api.js';
import type { FakeResource } from '../fakes/fake-oci-api.js';
import { baseConfigFile, SIGNING_SECRET, startTestBot, waitReady } from '../helpers/bot-harness.js';
import { ociFixtureJson } from '../helpers/oci-fixtures.js';
import { startTestOci, type TestOci } from '../helpers/oci.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { blockActionsBody, postSigned, viewSubmissionBody } from '../helpers/slack-request.js';

const CANARY_PIPELINE = 'ocid1.devopsdeploypipeline.oc1.iad.fraudprod';
const BLUE_GREEN_PIPELINE = 'ocid1.devopsdeploypipeline.oc1.iad.fraudstaging';
const stage = (name: string) => `ocid1.devopsdeploystage.oc1.iad.${name}`;
const POLL = { fastMs: 150, slowMs: 400 };

describe('Deployments from Slack: live stages, approvals, cancel', () => {
  let redis: TestRedis;
  let slack: FakeSlackApi;
  let oci: TestOci;
  let mlflow: FakeMlflow;
  const bots: RunningBot[] = [];
  const bot = () => bots[0] as RunningBot;

  const file = baseConfigFile({
    routes: [{ match: { kind: 'deploy' }, channel: 'C0DEPLOY' }],
    roles: { trainers: ['S0DS'], approvers: ['U0LEAD1'], deployers: ['S0SRE'] },
    approvals: { required: 1, allowSelfApproval: false, ttl: '1h' },
    models: {
      'fraud-model': {
        metrics: { auc: 'higher' },
        gates: [{ metric: 'auc', min: 0.9 }],
        environments: [
          { name: 'staging', alias: 'staging', approvals: { required: 1, approvers: ['S0QA'] }, deployPipelineId: BLUE_GREEN_PIPELINE },
          { name: 'prod', alias: 'champion', approvals: { required: 2, approvers: ['U0LEAD1', 'S0LEADS'] }, confirm: 'typed', gates: [{ metric: 'auc', min: 0.97 }], deployPipelineId: CANARY_PIPELINE },
        ],
      },
    },
  });

  const startBot = async () => {
    const started = await startTestBot({ redisUrl: redis.url, slackApiUrl: slack.url, oci: oci.gateway, env: { ...oci.env, MLFLOW_TRACKING_URI: mlflow.url }, file, deploymentPoll: POLL });
    await waitReady(started);
    bots.push(started);
    return started;
  };

  /** OCI tells the bot a deployment was created, as the Events service would. */
  const announce = async (deployment: FakeResource) => {
    const event = ociFixtureJson('devops-createdeployment.json');
    event.eventID = `create-${deployment.id}`;
    event.eventTime = new Date().toISOString();
    const data = event.data as Record<string, unknown>;
    Object.assign(data, { resourceId: deployment.id, resourceName: deployment.displayName, additionalDetails: { deployPipelineId: deployment.deployPipelineId, projectId: deployment.projectId } });
    const response = await fetch(`${bot().url}/oci/notifications`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(event) });
    expect(response.status).toBe(200);
  };
  const deploy = (pipeline: string, name: string, environment: string) =>
    oci.fake.seedDeployment({
      lifecycleState: 'ACCEPTED',
      displayName: name,
      deployPipelineId: pipeline,
      deploymentArguments: { items: [{ name: 'MODEL_NAME', value: 'fraud-model' }, { name: 'MODEL_VERSION', value: '7' }, { name: 'ENVIRONMENT', value: environment }] },
    });
  const messageOf = (deployment: FakeResource, shows: (text: string) => boolean, what: string) =>
    slack.waitFor(
      () => slack.messages('C0DEPLOY').find((message) => message.text.includes(String(deployment.displayName)) && shows(JSON.stringify(message.blocks))),
      15_000,
      what,
    );
  const click = (message: FakeMessage, actionId: string, userId: string, target = bot()) =>
    postSigned(`${target.url}/slack/events`, SIGNING_SECRET, blockActionsBody({ actionId, userId, channelId: message.channel, message, triggerId: slack.issueTrigger() }));
  const ephemeralFor = (user: string, text: string) => slack.waitFor(() => slack.ephemerals().find((message) => message.user === user && message.text.includes(text)), 10_000, `ephemeral "${text}" for ${user}`);
  const modalFor = (callbackId: string, count: number) => slack.waitFor(() => (slack.views().filter((view) => view.view.callback_id === callbackId).length >= count ? slack.views().filter((view) => view.view.callback_id === callbackId).at(-1) : undefined), 10_000, `modal ${callbackId}`);
  const submit = (callbackId: string, privateMetadata: string, userId: string, values: Record<string, Record<string, unknown>>) =>
    postSigned(`${bot().url}/slack/events`, SIGNING_SECRET, viewSubmissionBody({ callbackId, userId, privateMetadata, values }));
  const approveRequests = (deployment: FakeResource) => oci.fake.requests().filter((request) => request.method === 'POST' && request.path === `/20210630/deployments/${deployment.id}/actions/approve`);

  beforeAll(async () => {
    redis = await startRedis();
    slack = await FakeSlackApi.start({ usergroups: { S0LEADS: ['U0LEAD3'], S0QA: ['U0QA1'], S0SRE: ['U0SRE1'], S0DS: ['U0DS1'], S0ONCALL: ['U0ONCALL'] } });
    oci = await startTestOci();
    // fraud-model v7 (the version the deployments below roll out) measured auc 0.95: the model's gate passes, prod's fails.
    mlflow = await FakeMlflow.start();
    for (let version = 1; version <= 7; version++) mlflow.addVersion('fraud-model', { runId: mlflow.addRun({ auc: version === 7 ? 0.95 : 0.9 }) });
    oci.fake.defineDeployPipeline(CANARY_PIPELINE, [
      { id: stage('canary'), name: 'Deploy canary', type: 'OKE_CANARY_DEPLOYMENT', namespace: 'fraud-canary' },
      { id: stage('shift'), name: 'Shift traffic', type: 'OKE_CANARY_TRAFFIC_SHIFT', after: [stage('canary')], rampLimitPercent: 10 },
      { id: stage('canaryapproval'), name: 'Canary approval', type: 'OKE_CANARY_APPROVAL', after: [stage('shift')] },
      { id: stage('production'), name: 'Production', type: 'OKE_DEPLOYMENT', after: [stage('canaryapproval')] },
    ]);
    oci.fake.defineDeployPipeline(BLUE_GREEN_PIPELINE, [
      { id: stage('green'), name: 'Deploy green', type: 'OKE_BLUE_GREEN_DEPLOYMENT', namespace: 'fraud-b' },
      { id: stage('bgapproval'), name: 'Approve switch', type: 'MANUAL_APPROVAL', after: [stage('green')] },
      { id: stage('switch'), name: 'Switch traffic', type: 'OKE_BLUE_GREEN_TRAFFIC_SHIFT', after: [stage('bgapproval')] },
    ]);
    await startBot();
    await startBot();
  });

  afterAll(async () => {
    for (const running of bots) await running.stop();
    await oci.stop();
    await mlflow.stop();
    await slack.stop();
    await redis.stop();
  });

  beforeEach(() => {
    slack.reset();
  });

  it('shows a canary live, stage by stage, and approves it with two distinct approvers, typing the environment', async () => {
    const deployment = deploy(CANARY_PIPELINE, 'fraud-model-v7-prod', 'prod');
    await announce(deployment);
    await messageOf(deployment, (blocks) => blocks.includes('Deploy canary') && blocks.includes('Production') && blocks.includes('not reached yet'), 'every stage listed');
    oci.fake.startDeployment(deployment.id);
    await messageOf(deployment, (blocks) => /in progress \*Deploy canary\*/.test(blocks) && blocks.includes('fraud-canary'), 'the canary stage running');
    oci.fake.advanceDeployment(deployment.id);
    await messageOf(deployment, (blocks) => blocks.includes('canary traffic 10%'), 'the traffic shift with its percentage');
    oci.fake.advanceDeployment(deployment.id);
    const waiting = await messageOf(deployment, (blocks) => blocks.includes('deploy.approve'), 'Approve on the canary approval');
    const blocks = JSON.stringify(waiting.blocks);
    expect(blocks).toContain('waiting for approval');
    expect(blocks).toContain('(0/2)');
    expect(blocks).toContain('The canary takes *10%* of the traffic');
    // The quality gates again, on the version being deployed: the model's passes, prod's own fails.
    expect(blocks).toContain(':white_check_mark: auc ≥ 0.9: v7 has 0.95');
    expect(blocks).toMatch(/:x: [^"]*auc[^"]*0\.97/);
    expect(blocks).toContain('deploy.reject');
    expect(blocks).toContain('deploy.cancel');

    // Not an approver of prod.
    await click(waiting, 'deploy.approve', 'U0QA1');
    await ephemeralFor('U0QA1', '*approvers* role');

    // prod has confirm: typed: the click opens a modal asking for the environment's name.
    await click(waiting, 'deploy.approve', 'U0LEAD1');
    const first = await modalFor('deploy.approve_modal', 1);
    expect(JSON.stringify(first.view.blocks)).toContain('Type prod to confirm');
    const meta = String(first.view.private_metadata);
    const wrong = await submit('deploy.approve_modal', meta, 'U0LEAD1', { confirm: { confirm: { type: 'plain_text_input', value: 'prd' } } });
    expect(wrong.status).toBe(200);
    expect(wrong.json).toMatchObject({ response_action: 'errors', errors: { confirm: expect.stringContaining('prod') as unknown } });
    await submit('deploy.approve_modal', meta, 'U0LEAD1', { confirm: { confirm: { type: 'plain_text_input', value: 'prod' } } });
    await ephemeralFor('U0LEAD1', 'Approval recorded (1/2)');
    await submit('deploy.approve_modal', meta, 'U0LEAD1', { confirm: { confirm: { type: 'plain_text_input', value: 'prod' } } });
    await ephemeralFor('U0LEAD1', 'already counted');
    expect(approveRequests(deployment)).toHaveLength(0);

    // The deciding approval arrives on both replicas at once: one call to OCI.
    await Promise.all(bots.map((target) => submitOn(target, meta, 'U0LEAD3')));
    const approved = await messageOf(deployment, (text) => text.includes('approved in Slack by') && /in progress \*Production\*/.test(text), 'approved, production running');
    expect(JSON.stringify(approved.blocks)).toContain('<@U0LEAD1>, <@U0LEAD3>');
    expect(JSON.stringify(approved.blocks)).not.toContain('deploy.approve');
    const calls = approveRequests(deployment);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.signatureVerified).toBe(true);
    expect(calls[0]?.body).toMatchObject({ deployStageId: stage('canaryapproval'), action: 'APPROVE' });
    expect(String((calls[0]?.body as { reason?: string }).reason)).toMatch(/Approved in Slack by U0LEAD1, U0LEAD3 \(stage "Canary approval" of fraud-model-v7-prod/);
    expect(calls[0]?.headers['opc-retry-token']).toBe(deploymentActionId('approve', deployment.id, stage('canaryapproval')));

    oci.fake.advanceDeployment(deployment.id);
    await messageOf(deployment, (text) => text.includes('succeeded') && !text.includes('deploy.cancel') && !/in progress/.test(text), 'the deployment succeeded');
    // The poller ends with the deployment: no more reads.
    await new Promise((resolve) => setTimeout(resolve, 600));
    const reads = () => oci.fake.requests().filter((request) => request.method === 'GET' && request.path === `/20210630/deployments/${deployment.id}`).length;
    const settled = reads();
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(reads()).toBe(settled);
  });

  const submitOn = (target: RunningBot, meta: string, userId: string) =>
    postSigned(`${target.url}/slack/events`, SIGNING_SECRET, viewSubmissionBody({ callbackId: 'deploy.approve_modal', userId, privateMetadata: meta, values: { confirm: { confirm: { type: 'plain_text_input', value: 'prod' } } } }));

  it('rejects a blue-green switch with a reason, asked for in a modal', async () => {
    const deployment = deploy(BLUE_GREEN_PIPELINE, 'fraud-model-v7-staging-a', 'staging');
    await announce(deployment);
    oci.fake.startDeployment(deployment.id);
    oci.fake.advanceDeployment(deployment.id);
    const waiting = await messageOf(deployment, (blocks) => blocks.includes('deploy.reject'), 'Reject on the manual approval');
    expect(JSON.stringify(waiting.blocks)).toContain('fraud-b');
    // staging's approvers are S0QA only; roles.approvers does not apply there.
    await click(waiting, 'deploy.reject', 'U0LEAD1');
    await ephemeralFor('U0LEAD1', '*approvers* role');
    await click(waiting, 'deploy.reject', 'U0QA1');
    const view = await modalFor('deploy.reject_modal', 1);
    const meta = String(view.view.private_metadata);
    const empty = await submit('deploy.reject_modal', meta, 'U0QA1', { reason: { reason: { type: 'plain_text_input', value: '  ' } } });
    expect(empty.json).toMatchObject({ response_action: 'errors' });
    await submit('deploy.reject_modal', meta, 'U0QA1', { reason: { reason: { type: 'plain_text_input', value: 'latency doubled on green <!here>' } } });
    const rejected = await messageOf(deployment, (text) => text.includes('rejected in Slack by'), 'rejected');
    const blocks = JSON.stringify(rejected.blocks);
    expect(blocks).toContain('<@U0QA1>');
    expect(blocks).toContain('latency doubled on green &lt;!here&gt;');
    const calls = approveRequests(deployment);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.body).toMatchObject({ deployStageId: stage('bgapproval'), action: 'REJECT' });
    expect(String((calls[0]?.body as { reason?: string }).reason)).toContain('Rejected in Slack by U0QA1');
    await messageOf(deployment, (text) => text.includes(':x: failed') || text.includes('Stage Approve switch was rejected'), 'the deployment failed');
  });

  it('a stage approved in the console meanwhile is shown as such; a late click is told and changes nothing', async () => {
    const deployment = deploy(BLUE_GREEN_PIPELINE, 'fraud-model-v7-staging-b', 'staging');
    await announce(deployment);
    oci.fake.startDeployment(deployment.id);
    oci.fake.advanceDeployment(deployment.id);
    const waiting = await messageOf(deployment, (blocks) => blocks.includes('deploy.approve'), 'Approve on the manual approval');
    oci.fake.decideInConsole(deployment.id, stage('bgapproval'), 'APPROVE');
    await messageOf(deployment, (text) => text.includes('approved outside Slack') && !text.includes('deploy.approve'), 'approved in the console, buttons gone');
    await click(waiting, 'deploy.approve', 'U0QA1');
    await ephemeralFor('U0QA1', 'no longer waits: it was approved');
    // The console's approval is not the bot's: the bot never called approveDeployment.
    expect(approveRequests(deployment)).toHaveLength(0);
  });

  it('approveDeployment answering 409: a clear answer, one call, the message brought up to date', async () => {
    const deployment = deploy(BLUE_GREEN_PIPELINE, 'fraud-model-v7-staging-c', 'staging');
    await announce(deployment);
    oci.fake.startDeployment(deployment.id);
    oci.fake.advanceDeployment(deployment.id);
    const waiting = await messageOf(deployment, (blocks) => blocks.includes('deploy.approve'), 'Approve on the manual approval');
    oci.fake.failNext({ method: 'POST', pathPrefix: `/20210630/deployments/${deployment.id}/actions/approve` }, { status: 409, code: 'Conflict', message: 'The stage is not waiting for approval.' });
    await click(waiting, 'deploy.approve', 'U0QA1');
    await ephemeralFor('U0QA1', 'OCI did not approve the stage');
    await messageOf(deployment, (text) => text.includes('OCI refused the last decision') && text.includes('Conflict'), 'the refusal on the message');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(approveRequests(deployment)).toHaveLength(1);
    // The stage still waits, so a new decision is possible and goes through.
    await click(waiting, 'deploy.approve', 'U0QA1');
    await messageOf(deployment, (text) => text.includes('approved in Slack by'), 'approved on the second try');
  });

  it('a deployment OCI no longer knows: the approval is answered so, once, and the message says it', async () => {
    const deployment = deploy(BLUE_GREEN_PIPELINE, 'fraud-model-v7-staging-d', 'staging');
    await announce(deployment);
    oci.fake.startDeployment(deployment.id);
    oci.fake.advanceDeployment(deployment.id);
    const waiting = await messageOf(deployment, (blocks) => blocks.includes('deploy.approve'), 'Approve on the manual approval');
    const gone = { status: 404, code: 'NotAuthorizedOrNotFound', message: 'Authorization failed or requested resource not found.', count: 50 };
    oci.fake.failNext({ method: 'POST', pathPrefix: `/20210630/deployments/${deployment.id}/actions/approve` }, gone);
    oci.fake.failNext({ method: 'GET', pathPrefix: `/20210630/deployments/${deployment.id}` }, gone);
    await click(waiting, 'deploy.approve', 'U0QA1');
    await ephemeralFor('U0QA1', 'OCI no longer knows this deployment');
    await messageOf(deployment, (text) => text.includes('OCI refused the last decision: OCI no longer knows this deployment'), 'the stage says so');
    await messageOf(deployment, (text) => text.includes('the bot stopped following it'), 'the message says the poller stopped');
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect(approveRequests(deployment)).toHaveLength(1);
  });

  it('Cancel: deployers only, then cancelDeployment with the reason naming the user', async () => {
    const deployment = deploy(CANARY_PIPELINE, 'fraud-model-v8-prod', 'prod');
    await announce(deployment);
    oci.fake.startDeployment(deployment.id);
    const running = await messageOf(deployment, (blocks) => blocks.includes('deploy.cancel') && blocks.includes('in progress'), 'Cancel on the running deployment');
    await click(running, 'deploy.cancel', 'U0LEAD1');
    await ephemeralFor('U0LEAD1', '*deployers* role');
    await click(running, 'deploy.cancel', 'U0SRE1');
    await ephemeralFor('U0SRE1', 'Canceling');
    await messageOf(deployment, (text) => text.includes('canceled') && !text.includes('deploy.cancel'), 'canceled');
    const cancels = oci.fake.requests().filter((request) => request.path === `/20210630/deployments/${deployment.id}/actions/cancel`);
    expect(cancels).toHaveLength(1);
    expect(cancels[0]?.signatureVerified).toBe(true);
    expect(String((cancels[0]?.body as { reason?: string }).reason)).toContain('Canceled in Slack by U0SRE1');
  });

  it('the poller lives in Redis: with every worker gone and a new one started, the message keeps following OCI', async () => {
    const deployment = deploy(BLUE_GREEN_PIPELINE, 'fraud-model-v9-staging', 'staging');
    await announce(deployment);
    oci.fake.startDeployment(deployment.id);
    await messageOf(deployment, (blocks) => /in progress \*Deploy green\*/.test(blocks), 'green deploying');
    // Every replica stops; the deployment moves on meanwhile.
    for (const running of bots.splice(0)) await running.stop();
    oci.fake.advanceDeployment(deployment.id);
    await startBot();
    await messageOf(deployment, (blocks) => blocks.includes('deploy.approve') && blocks.includes('waiting for approval'), 'the new worker took the polling over');
    await startBot();
  });
});
