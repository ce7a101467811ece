import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sweepModelVersions } from '../../jobs/model-version.js';
import type { RunningBot } from '../../src/app.js';
import { FakeMlflow } from '../fakes/fake-mlflow.js';
import { FakeSlackApi, type FakeMessage } from '../fakes/fake-slack-api.js';
import { baseConfigFile, eventually, SIGNING_SECRET, startTestBot, waitReady } from '../helpers/bot-harness.js';
import { startTestOci, type TestOci } from '../helpers/oci.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { blockActionsBody, postSigned, viewSubmissionBody } from '../helpers/slack-request.js';

const WEBHOOK_SECRET = 'mlflow-webhook-secret';
const MLFLOW_TOKEN = 'mlflow-token';

describe('New model versions: gates, the automatic first step and missed webhooks', () => {
  let redis: TestRedis;
  let slack: FakeSlackApi;
  let oci: TestOci;
  let mlflow: FakeMlflow;
  const bots: RunningBot[] = [];
  const bot = () => bots[0] as RunningBot;

  const newVersion = (auc: number) => mlflow.addVersion('fraud-model', { runId: mlflow.addRun({ auc }) });
  const created = (version: string, options: { secret?: string; deliveryId?: string } = {}) =>
    FakeMlflow.deliver(`${bot().url}/mlflow/webhooks`, 'secret' in options ? options.secret : WEBHOOK_SECRET, 'model_version', 'created', { name: 'fraud-model', version, source: 'models:/m-1', run_id: null, tags: {}, description: null }, options.deliveryId ? { deliveryId: options.deliveryId } : {});
  const mentioning = (version: string) => (message: FakeMessage) => message.text.includes(`\`${version}\` of \`fraud-model\``) || message.text.includes(`fraud-model v${version} `);
  const messagesFor = (version: string) => slack.messages('C0MODELS').filter(mentioning(version));
  const click = (message: FakeMessage, actionId: string, userId: string) => postSigned(`${bot().url}/slack/events`, SIGNING_SECRET, blockActionsBody({ actionId, userId, channelId: message.channel, message, triggerId: slack.issueTrigger() }));
  const ephemeralFor = (user: string, text: string) => slack.waitFor(() => slack.ephemerals().find((message) => message.user === user && message.text.includes(text)), 10_000, `ephemeral "${text}" for ${user}`);
  const settle = () => new Promise((resolve) => setTimeout(resolve, 400));

  beforeAll(async () => {
    redis = await startRedis();
    slack = await FakeSlackApi.start({ usergroups: { S0LEADS: ['U0LEAD3'], S0DS: ['U0DS1'], S0SRE: ['U0SRE1'], S0ONCALL: ['U0ONCALL'] } });
    oci = await startTestOci();
    mlflow = await FakeMlflow.start({ token: MLFLOW_TOKEN });
    // Registered before the bot ever looked: not news for the sweep.
    mlflow.setAliasDirectly('fraud-model', 'dev', newVersion(0.85));
    const file = baseConfigFile({
      roles: { trainers: ['S0DS'], approvers: ['U0LEAD1', 'U0LEAD2'], deployers: ['S0SRE'], gateOverriders: ['S0LEADS'] },
      models: {
        'fraud-model': {
          channel: 'C0MODELS',
          metrics: { auc: 'higher' },
          gates: [{ metric: 'auc', maxRegression: 0.05 }],
          environments: [
            { name: 'dev', alias: 'dev', approvals: { required: 0 }, autoPromote: true, gates: [{ metric: 'auc', min: 0.8 }] },
            { name: 'prod', alias: 'champion', approvals: { required: 1 }, gates: [{ metric: 'auc', min: 0.92 }] },
          ],
        },
      },
    });
    for (let replica = 0; replica < 2; replica++) {
      const started = await startTestBot({
        redisUrl: redis.url,
        slackApiUrl: slack.url,
        oci: oci.gateway,
        env: { ...oci.env, MLFLOW_TRACKING_URI: mlflow.url, MLFLOW_TRACKING_TOKEN: MLFLOW_TOKEN, MLFLOW_WEBHOOK_SECRET: WEBHOOK_SECRET },
        file,
      });
      await waitReady(started);
      bots.push(started);
    }
    // The sweep at start has set the baseline: version 1 predates the bot.
    await eventually(() => bot().context.redis.get('mlops:model-version:baseline:fraud-model'), 10_000, 'sweep baseline');
    // Every sweep the two starts queued has run (replicas starting in different sweep windows add one each,
    // and the scheduler its first): one still to come would find the versions the tests create.
    await eventually(async () => {
      const counts = await bot().context.queues.modelVersions.getJobCounts('waiting', 'active', 'prioritized');
      return (counts.waiting ?? 0) + (counts.active ?? 0) + (counts.prioritized ?? 0) === 0;
    }, 10_000, 'start sweeps done');
  });

  afterAll(async () => {
    for (const running of bots) await running.stop();
    await mlflow.stop();
    await oci.stop();
    await slack.stop();
    await redis.stop();
  });

  it('unsigned and forged webhooks are refused and change nothing', async () => {
    const version = newVersion(0.9);
    expect((await created(version, { secret: undefined })).status).toBe(401);
    expect((await created(version, { secret: 'not-the-secret' })).status).toBe(401);
    await settle();
    expect(messagesFor(version)).toHaveLength(0);
    expect(mlflow.alias('fraud-model', 'dev')).toBe('1');
    // Found later by the sweep instead, like any missed webhook; marked handled here so the next tests stay apart.
    await sweepModelVersions(bot().context);
    await eventually(() => mlflow.alias('fraud-model', 'dev') === version, 15_000, 'swept version promoted to dev');
  });

  it('a version whose gates pass is promoted to dev without a click, posted and audited as the bot acting on the webhook', async () => {
    const version = newVersion(0.9);
    expect((await created(version)).status).toBe(200);
    await eventually(() => mlflow.alias('fraud-model', 'dev') === version, 15_000, 'dev alias moved');
    const message = await slack.waitFor(() => messagesFor(version).find((candidate) => candidate.text.includes('Promoted')), 15_000, 'promoted request');
    const blocks = JSON.stringify(message.blocks);
    expect(blocks).toContain("_the bot, on MLflow's webhook_");
    expect(blocks).toContain(':white_check_mark: pass `auc ≥ 0.8` _(dev)_');
    expect(mlflow.alias('fraud-model', 'champion')).toBeUndefined();
    const audit = await bot().context.audit.latest(30);
    expect(audit.find((entry) => entry.action === 'mlflow.webhook.auto_promote' && entry.subject.includes(`v${version}`))?.actor).toBe('mlflow-webhook');
    await settle();
    expect(messagesFor(version)).toHaveLength(1);
  });

  it('a version failing a gate is not promoted: the message names the gate, and only an overrider may ask, then override', async () => {
    const holder = mlflow.alias('fraud-model', 'dev') ?? '';
    const version = newVersion(0.75);
    expect((await created(version)).status).toBe(200);
    const offer = await slack.waitFor(() => messagesFor(version).find((candidate) => candidate.text.includes('registered')), 15_000, 'version registered');
    const blocks = JSON.stringify(offer.blocks);
    expect(offer.text).toContain('A quality gate failed');
    expect(blocks).toContain(':x: *fail* `auc ≥ 0.8` _(dev)_: v' + version + ' has `0.75`, below the minimum');
    expect(blocks).toContain('Request promotion to dev (gate overriders)');
    expect(mlflow.alias('fraud-model', 'dev')).toBe(holder);

    await click(offer, 'model.request_promotion', 'U0DS1');
    await ephemeralFor('U0DS1', '*gateOverriders* role');
    await click(offer, 'model.request_promotion', 'U0LEAD3');
    await ephemeralFor('U0LEAD3', 'Approval request posted');
    const request = await slack.waitFor(() => messagesFor(version).find((candidate) => candidate.text.includes('Blocked by a failed quality gate')), 10_000, 'blocked request');
    expect(JSON.stringify(request.blocks)).toContain('approval.override_gate');

    await click(request, 'approval.override_gate', 'U0LEAD3');
    const view = await slack.waitFor(() => slack.views().find((candidate) => JSON.stringify(candidate.view).includes(`v${version}`)), 10_000, 'override modal');
    const metadata = String(view.view.private_metadata);
    const submitted = await postSigned(
      `${bot().url}/slack/events`,
      SIGNING_SECRET,
      viewSubmissionBody({ callbackId: 'approval.override_modal', userId: 'U0LEAD3', privateMetadata: metadata, values: { reason: { reason: { type: 'plain_text_input', value: 'dev is for trying it' } } } }),
    );
    expect(submitted.status).toBe(200);
    // dev needs no approval: the override was all it waited for.
    await ephemeralFor('U0LEAD3', 'the promotion starts now');
    await eventually(() => mlflow.alias('fraud-model', 'dev') === version, 15_000, 'dev alias moved after override');
    const done = await slack.waitFor(() => (slack.message(request.channel, request.ts)?.text.includes('Promoted') ? slack.message(request.channel, request.ts) : undefined), 15_000, 'promoted');
    expect(JSON.stringify(done.blocks)).toContain('Gate overridden by <@U0LEAD3>: _dev is for trying it_');
  });

  it('a missed webhook is handled once by the sweep, across two replicas, and a late delivery adds nothing', async () => {
    const version = newVersion(0.9);
    // Both replicas sweep at the same moment (and one twice): all find the version, one job handles it.
    const found = await Promise.all([bots[0], bots[1], bots[0]].map((replica) => sweepModelVersions((replica as RunningBot).context)));
    expect(found.every((count) => count === 1)).toBe(true);
    await eventually(() => mlflow.alias('fraud-model', 'dev') === version, 15_000, 'swept version promoted to dev');
    await slack.waitFor(() => messagesFor(version).find((candidate) => candidate.text.includes('Promoted')), 15_000, 'promoted by the sweep');
    expect((await created(version)).status).toBe(200);
    await sweepModelVersions(bot().context);
    await settle();
    expect(messagesFor(version)).toHaveLength(1);
    const aliasSets = mlflow.requests().filter((request) => request.method === 'POST' && request.path.endsWith('/registered-models/alias') && JSON.stringify(request.body).includes(`"version":"${version}"`));
    expect(aliasSets).toHaveLength(1);
    const audit = await bot().context.audit.latest(50);
    expect(audit.filter((entry) => entry.action.endsWith('.auto_promote') && entry.subject.includes(`v${version} `))).toHaveLength(1);
    // Nothing registered before the bot first looked was offered.
    expect(messagesFor('1')).toHaveLength(0);
  });
});
