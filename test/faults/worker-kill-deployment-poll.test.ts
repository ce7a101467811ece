import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { FakeSlackApi } from '../fakes/fake-slack-api.js';
import { FakeOciApi, generateTestKey } from '../fakes/fake-oci-api.js';
import { baseConfigFile, eventually } from '../helpers/bot-harness.js';
import { ociFixtureJson } from '../helpers/oci-fixtures.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { recordReliability } from './reliability.js';
import { botLauncher, type BotProcess } from './support/bot-process.js';

const PIPELINE = 'ocid1.devopsdeploypipeline.oc1.iad.fraudbluegreen';
const stage = (name: string) => `ocid1.devopsdeploystage.oc1.iad.${name}`;

/**
 * A worker SIGKILLed while its deployment poller waits for OCI's getDeployment answer. The poller is a
 * BullMQ job, so once the dead worker's lock lapses another worker takes it over; the deployment's message
 * keeps following OCI, with one poller (no second job) and one message.
 */
describe('a worker killed in the middle of polling a deployment', () => {
  let redis: TestRedis;
  let slack: FakeSlackApi;
  let oci: FakeOciApi;
  let web: BotProcess;
  let launcher: ReturnType<typeof botLauncher>;
  const workers: BotProcess[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    slack = await FakeSlackApi.start({ usergroups: { S0SRE: ['U0SRE1'], S0ONCALL: ['U0ONCALL'] } });
    const key = generateTestKey();
    oci = await FakeOciApi.start({ publicKeyPem: key.publicKeyPem, keyId: key.keyId });
    oci.defineDeployPipeline(PIPELINE, [
      { id: stage('green'), name: 'Deploy green', type: 'OKE_BLUE_GREEN_DEPLOYMENT', namespace: 'fraud-b' },
      { id: stage('check'), name: 'Smoke test', type: 'WAIT', after: [stage('green')] },
      { id: stage('switch'), name: 'Switch traffic', type: 'OKE_BLUE_GREEN_TRAFFIC_SHIFT', after: [stage('check')] },
    ]);
    const file = baseConfigFile({ routes: [{ match: { kind: 'deploy' }, channel: 'C0DEPLOY' }] });
    launcher = botLauncher({ redisUrl: redis.url, slackApiUrl: slack.url, file, oci: { url: oci.url, key } });
    web = await launcher.start('web');
    workers.push(await launcher.start('worker'));
  }, 90_000);

  afterAll(async () => {
    await Promise.all([web.stop(), ...workers.map((worker) => worker.stop())]);
    await oci.stop();
    await slack.stop();
    await redis.stop();
  });

  test('the poller is taken over and the message follows the deployment to its end', async (ctx) => {
    const deployment = oci.seedDeployment({ lifecycleState: 'ACCEPTED', displayName: 'fraud-model-v4-bg', deployPipelineId: PIPELINE });
    oci.startDeployment(deployment.id);
    const event = ociFixtureJson('devops-createdeployment.json');
    event.eventID = `create-${deployment.id}`;
    event.eventTime = new Date().toISOString();
    Object.assign(event.data as Record<string, unknown>, { resourceId: deployment.id, resourceName: deployment.displayName });
    expect((await fetch(`${web.url}/oci/notifications`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(event) })).status).toBe(200);
    const shows = (pattern: RegExp) => () => slack.messages('C0DEPLOY').find((message) => message.text.includes('fraud-model-v4-bg') && pattern.test(JSON.stringify(message.blocks)));
    await eventually(shows(/in progress \*Deploy green\*/), 30_000, 'green deploying');

    // The next poll's answer is held and the worker that asked is killed: its job is active, locked by a dead worker.
    const path = `/20210630/deployments/${deployment.id}`;
    const held = oci.holdNext({ method: 'GET', pathPrefix: path });
    await held.arrived;
    await workers[0]?.kill();
    held.release();
    oci.advanceDeployment(deployment.id);
    workers.push(await launcher.start('worker'));
    await eventually(shows(/in progress \*Smoke test\*/), 120_000, 'the poll taken over after the kill');
    oci.advanceDeployment(deployment.id);
    oci.advanceDeployment(deployment.id);
    const done = await eventually(shows(/succeeded \*Switch traffic\*/), 60_000, 'the deployment followed to its end');

    const messages = slack.messages('C0DEPLOY').filter((message) => message.text.includes('fraud-model-v4-bg'));
    recordReliability(ctx, {
      area: 'worker process',
      fault: 'SIGKILL while a deployment poller waits for getDeployment',
      cases: 1,
      outcome: `deployment messages ${messages.length}; final state shown: "${done.text.slice(0, 90)}"`,
    });
    expect(messages).toHaveLength(1);
    expect(done.text).toContain('succeeded');
  }, 240_000);
});
