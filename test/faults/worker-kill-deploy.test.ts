import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { FakeKubeApi } from '../fakes/fake-kube-api.js';
import { FakeMlflow } from '../fakes/fake-mlflow.js';
import { FakeSlackApi } from '../fakes/fake-slack-api.js';
import { baseConfigFile, eventually } from '../helpers/bot-harness.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startResponseUrlServer, type ResponseUrlServer } from '../helpers/response-url-server.js';
import { recordReliability } from './reliability.js';
import { botLauncher, type BotProcess } from './support/bot-process.js';
import { slackUser, type SlackUser } from './support/slack-user.js';

const NS = 'inference';
const DEPLOYMENT = 'fraud-svc';
const DEPLOYMENT_PATH = `/apis/apps/v1/namespaces/${NS}/deployments/${DEPLOYMENT}`;

/**
 * A worker SIGKILLed after MLflow set the alias of an approved promotion, and after Kubernetes applied a
 * rollback's PATCH, with neither answer seen. The next worker takes the jobs over once their locks lapse;
 * the alias is set once, the Deployment patched once, and Slack shows one outcome of each.
 */
describe('a worker killed in the middle of a promote and a rollback', () => {
  let redis: TestRedis;
  let slack: FakeSlackApi;
  let mlflow: FakeMlflow;
  let kube: FakeKubeApi;
  let hooks: ResponseUrlServer;
  let web: BotProcess;
  let launcher: ReturnType<typeof botLauncher>;
  let user: SlackUser;
  const workers: BotProcess[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    slack = await FakeSlackApi.start({ usergroups: { S0DS: ['U0DS1'], S0SRE: ['U0SRE1'], S0ONCALL: ['U0ONCALL'] } });
    mlflow = await FakeMlflow.start();
    kube = await FakeKubeApi.start();
    hooks = await startResponseUrlServer();
    mlflow.setAliasDirectly('fraud-model', 'champion', mlflow.addVersion('fraud-model'));
    mlflow.addVersion('fraud-model');
    kube.createDeployment({ namespace: NS, name: DEPLOYMENT, image: 'registry.example.com/fraud-svc:1', replicas: 2 });
    kube.setImage(NS, DEPLOYMENT, 'registry.example.com/fraud-svc:2');
    const file = baseConfigFile({
      roles: { trainers: ['S0DS'], approvers: ['U0LEAD1'], deployers: ['S0SRE'] },
      approvals: { required: 1, allowSelfApproval: false, ttl: '1h' },
      models: { 'fraud-model': { alias: 'champion', channel: 'C0MODELS' } },
    });
    launcher = botLauncher({ redisUrl: redis.url, slackApiUrl: slack.url, file, mlflowUrl: mlflow.url, kubeconfig: kube.kubeconfigText(NS) });
    web = await launcher.start('web');
    workers.push(await launcher.start('worker'));
    user = slackUser(() => web.url, hooks);
  }, 90_000);

  afterAll(async () => {
    await Promise.all([web.stop(), ...workers.map((worker) => worker.stop())]);
    await hooks.stop();
    await kube.stop();
    await mlflow.stop();
    await slack.stop();
    await redis.stop();
  });

  test('the alias set and the PATCH applied before the kill happen once, with one outcome each in Slack', async (ctx) => {
    // 1. An approved promotion: MLflow sets the alias, the answer is held.
    const requested = await user.command('promote fraud-model 2', 'U0DS1', 'C0MODELS');
    expect(JSON.stringify(requested)).toContain('Approval request');
    const approval = await eventually(() => slack.messages('C0MODELS').find((message) => message.text.includes('fraud-model v2')), 30_000, 'the approval request');
    const aliasHeld = mlflow.holdNext({ method: 'POST', pathPrefix: '/registered-models/alias' });
    await user.click(approval, 'approval.approve', 'U0LEAD1');
    // 2. A confirmed rollback: Kubernetes applies the PATCH, the answer is held.
    const confirmStep = await user.command(`rollback ${NS}/${DEPLOYMENT}`, 'U0SRE1', 'C0DEPLOY');
    const patchHeld = kube.holdNext({ method: 'PATCH', pathPrefix: DEPLOYMENT_PATH });
    await user.confirmRollback(confirmStep, 'U0SRE1', 'C0DEPLOY');

    await Promise.all([aliasHeld.arrived, patchHeld.arrived]);
    expect(mlflow.alias('fraud-model', 'champion')).toBe('2');
    const first = workers[0];
    if (!first) throw new Error('no worker');
    await first.kill();
    aliasHeld.release();
    patchHeld.release();
    workers.push(await launcher.start('worker'));

    // The jobs come back once the dead worker's locks lapse (BullMQ's stalled-job check).
    const promoted = await eventually(() => {
      const current = slack.message(approval.channel, approval.ts);
      return current && JSON.stringify(current.blocks).includes('Promoted') ? current : undefined;
    }, 120_000, 'the approval showing the promotion');
    const rolledBack = await eventually(
      () => slack.messages('C0DEPLOY').find((message) => message.text.includes(`${NS}/${DEPLOYMENT}`) && /· (succeeded|skipped|failed|timed out) ·/.test(message.text)),
      120_000,
      'the rollback showing its outcome',
    );
    await eventually(async () => {
      const text = await fetch(`${workers[1]?.metricsUrl ?? ''}/metrics`).then((response) => response.text());
      return /mlops_jobs_total\{queue="promote",outcome="completed"\} 1\b/.test(text) && /mlops_jobs_total\{queue="rollback",outcome="completed"\} 1\b/.test(text);
    }, 60_000, 'both jobs completed on the new worker');

    const aliasPosts = mlflow.requests().filter((request) => request.method === 'POST' && request.path.endsWith('/registered-models/alias'));
    const patches = kube.requests().filter((request) => request.method === 'PATCH' && request.path === DEPLOYMENT_PATH);
    const revisions = kube.revisions(NS, DEPLOYMENT);
    const image = JSON.stringify(kube.deployment(NS, DEPLOYMENT)?.spec ?? {});
    const rollbackMessages = slack.messages('C0DEPLOY').filter((message) => message.text.includes(`${NS}/${DEPLOYMENT}`));
    const outcomeReplies = slack.thread('C0DEPLOY', rolledBack.ts).filter((reply) => /· (succeeded|skipped|failed|timed out) ·/.test(reply.text));
    const outcomeLine = (JSON.stringify(promoted.blocks).match(/@champion: v\d+ → v\d+/) ?? [''])[0];
    recordReliability(ctx, {
      area: 'worker process',
      fault: 'SIGKILL after MLflow set the alias of an approved promotion but before its answer',
      cases: 1,
      outcome: `alias POSTs ${aliasPosts.length}, alias now v${mlflow.alias('fraud-model', 'champion') ?? '?'}; approval messages ${slack.messages('C0MODELS').filter((message) => message.text.includes('fraud-model v2')).length}, showing "${outcomeLine}"`,
    });
    recordReliability(ctx, {
      area: 'worker process',
      fault: 'SIGKILL after Kubernetes applied a rollback PATCH but before its answer',
      cases: 1,
      outcome: `PATCHes ${patches.length}, revisions ${revisions.length}; rollback messages ${rollbackMessages.length}, outcome replies ${outcomeReplies.length}: "${rolledBack.text.split('\n')[0]?.slice(0, 110) ?? ''}"`,
    });

    expect(aliasPosts).toHaveLength(1);
    expect(mlflow.alias('fraud-model', 'champion')).toBe('2');
    // The outcome names the holder before the promotion, not the alias the killed attempt had already set.
    expect(outcomeLine).toBe('@champion: v1 → v2');
    expect(patches).toHaveLength(1);
    expect(image).toContain('registry.example.com/fraud-svc:1');
    expect(revisions).toHaveLength(2);
    expect(rollbackMessages).toHaveLength(1);
    expect(rolledBack.text).toContain('· succeeded ·');
    expect(outcomeReplies).toHaveLength(1);
  }, 240_000);
});
