import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBot } from '../../src/app.js';
import { FakeMlflow } from '../fakes/fake-mlflow.js';
import { FakeSlackApi, type FakeMessage } from '../fakes/fake-slack-api.js';
import { baseConfigFile, eventually, SIGNING_SECRET, startTestBot, waitReady } from '../helpers/bot-harness.js';
import { startTestOci, type TestOci } from '../helpers/oci.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startResponseUrlServer, type ResponseUrlServer } from '../helpers/response-url-server.js';
import { blockActionsBody, postSigned, slashCommandBody, viewSubmissionBody } from '../helpers/slack-request.js';

const MLFLOW_TOKEN = 'mlflow-token';

describe('Quality gates on promotion requests', () => {
  let redis: TestRedis;
  let slack: FakeSlackApi;
  let oci: TestOci;
  let mlflow: FakeMlflow;
  let hooks: ResponseUrlServer;
  let bot: RunningBot;
  let champion: string;

  const command = async (text: string, userId: string) => {
    const responseUrl = hooks.url();
    const response = await postSigned(`${bot.url}/slack/events`, SIGNING_SECRET, slashCommandBody({ text, userId, channelId: 'C0MODELS', responseUrl }));
    expect(response.status).toBe(200);
    return (await hooks.waitFor(responseUrl)).text as string;
  };
  const click = (message: FakeMessage, actionId: string, userId: string, extra: { value?: string; triggerId?: string } = {}) =>
    postSigned(`${bot.url}/slack/events`, SIGNING_SECRET, blockActionsBody({ actionId, userId, channelId: message.channel, message, ...extra }));
  const ephemeralFor = (user: string, text: string) => slack.waitFor(() => slack.ephemerals().find((message) => message.user === user && message.text.includes(text)), 10_000, `ephemeral "${text}" for ${user}`);
  const current = (message: FakeMessage) => slack.message(message.channel, message.ts);
  const requestFor = async (version: string) => {
    expect(await command(`promote fraud-model ${version}`, 'U0DS1')).toMatch(/Approval request|blocked by a failed quality gate/);
    return slack.waitFor(() => slack.messages('C0MODELS').filter((message) => message.text.includes(`fraud-model v${version} `)).at(-1), 10_000, `request for v${version}`);
  };
  const newVersion = (metrics: Record<string, number>) => mlflow.addVersion('fraud-model', { runId: mlflow.addRun(metrics) });
  const approvalId = (message: FakeMessage) => /"value":"([0-9a-f]{12})"/.exec(JSON.stringify(message.blocks))?.[1] ?? '';
  const submitOverride = (message: FakeMessage, userId: string, reason: string) =>
    postSigned(
      `${bot.url}/slack/events`,
      SIGNING_SECRET,
      viewSubmissionBody({
        callbackId: 'approval.override_modal',
        userId,
        privateMetadata: JSON.stringify({ approval: approvalId(message), channel: message.channel }),
        values: { reason: { reason: { type: 'plain_text_input', value: reason } } },
      }),
    );

  beforeAll(async () => {
    redis = await startRedis();
    slack = await FakeSlackApi.start({ usergroups: { S0LEADS: ['U0LEAD3'], S0DS: ['U0DS1'], S0SRE: ['U0SRE1'], S0ONCALL: ['U0ONCALL'] } });
    oci = await startTestOci();
    mlflow = await FakeMlflow.start({ token: MLFLOW_TOKEN });
    hooks = await startResponseUrlServer();
    champion = newVersion({ auc: 0.93, loss: 0.3 });
    mlflow.setAliasDirectly('fraud-model', 'champion', champion);
    bot = await startTestBot({
      redisUrl: redis.url,
      slackApiUrl: slack.url,
      oci: oci.gateway,
      env: { ...oci.env, MLFLOW_TRACKING_URI: mlflow.url, MLFLOW_TRACKING_TOKEN: MLFLOW_TOKEN },
      file: baseConfigFile({
        routes: [{ match: { kind: 'model' }, channel: 'C0MODELS' }],
        roles: { trainers: ['S0DS'], approvers: ['U0LEAD1', 'U0LEAD2'], deployers: ['S0SRE'], gateOverriders: ['S0LEADS'] },
        approvals: { required: 1, allowSelfApproval: false, ttl: '1h' },
        models: {
          'fraud-model': {
            alias: 'champion',
            metrics: { auc: 'higher', loss: 'lower' },
            gates: [
              { metric: 'auc', min: 0.9 },
              { metric: 'auc', maxRegression: 0.005 },
            ],
          },
        },
      }),
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

  it('passing gates: one line per gate, marks by direction, only the configured metrics of a run with hundreds, and approval moves the alias', async () => {
    const noise = Object.fromEntries(Array.from({ length: 300 }, (_, index) => [`noise_${index}`, index]));
    const version = newVersion({ ...noise, auc: 0.95, loss: 0.2 });
    const message = await requestFor(version);
    const blocks = JSON.stringify(message.blocks);
    expect(blocks).toContain(':white_check_mark: pass `auc ≥ 0.9`: v' + version + ' has `0.95`');
    expect(blocks).toContain('`auc at most 0.005 worse than the serving version`: v' + version + ' has `0.95`, 0.02 better than v' + champion);
    expect(blocks).toMatch(/loss\s+0\.2\s+0\.3 \(▼ -0\.1 better\)/);
    expect(blocks).toMatch(/auc\s+0\.95\s+0\.93 \(▲ \+0\.02 better\)/);
    expect(blocks).toContain('300 more metrics not shown');
    expect(blocks).not.toContain('noise_1');
    expect(blocks).toContain('approval.approve');
    expect(blocks).not.toContain('approval.override_gate');
    await click(message, 'approval.approve', 'U0LEAD1');
    await eventually(() => mlflow.alias('fraud-model', 'champion') === version, 15_000, 'alias moved');
    champion = version;
  });

  it('a failed gate: no Approve, a forged approval is refused, a non-overrider cannot override', async () => {
    const version = newVersion({ auc: 0.85, loss: 0.2 });
    expect(await command(`promote fraud-model ${version}`, 'U0DS1')).toContain(`blocked by a failed quality gate: auc ≥ 0.9 (v${version} has 0.85: below the minimum); auc at most 0.005 worse than the serving version (v${version} has 0.85: 0.1 worse than v${champion}). Only a gate overrider can lift it`);
    const message = await slack.waitFor(() => slack.messages('C0MODELS').filter((candidate) => candidate.text.includes(`fraud-model v${version} `)).at(-1), 10_000, `request for v${version}`);
    const blocks = JSON.stringify(message.blocks);
    expect(message.text).toContain('Blocked by a failed quality gate');
    expect(blocks).toContain(':x: *fail* `auc ≥ 0.9`: v' + version + ' has `0.85`, below the minimum');
    expect(blocks).toContain('approval.override_gate');
    expect(blocks).not.toContain('approval.approve');
    // An Approve click built by hand (an old client, a replayed payload) is refused all the same.
    await click(message, 'approval.approve', 'U0LEAD1', { value: approvalId(message) });
    await ephemeralFor('U0LEAD1', 'A quality gate failed on this request');
    await click(message, 'approval.override_gate', 'U0LEAD1');
    await ephemeralFor('U0LEAD1', '*gateOverriders* role');
    const forged = await submitOverride(message, 'U0LEAD2', 'I say so');
    expect(forged.status).toBe(200);
    await ephemeralFor('U0LEAD2', '*gateOverriders* role');
    expect(mlflow.alias('fraud-model', 'champion')).toBe(champion);
    expect(slack.views()).toHaveLength(0);
    expect(await command('approvals', 'U0DS1')).toMatch(new RegExp(`version \`${version}\` → \`@champion\` · asked by <@U0DS1> · :no_entry: blocked by a failed quality gate`));
    const audit = await bot.context.audit.latest(20);
    expect(audit.some((entry) => entry.action === 'button.approve' && entry.outcome === 'gated')).toBe(true);
  });

  it('override: an expired trigger says to click again; a reason is required; then it is shown, audited, and approval moves the alias', async () => {
    const version = newVersion({ auc: 0.8, loss: 0.5 });
    const message = await requestFor(version);
    await click(message, 'approval.override_gate', 'U0LEAD3', { triggerId: slack.issueTrigger(4_000) });
    await ephemeralFor('U0LEAD3', 'click *Override gate* again');
    expect(slack.views()).toHaveLength(0);

    await click(message, 'approval.override_gate', 'U0LEAD3', { triggerId: slack.issueTrigger() });
    const view = await slack.waitFor(() => slack.views().find((candidate) => JSON.stringify(candidate.view).includes(`v${version}`)), 10_000, 'override modal');
    expect(view.view.callback_id).toBe('approval.override_modal');
    expect(JSON.stringify(view.view)).toContain('auc ≥ 0.9 (v' + version + ' has 0.8: below the minimum)');
    expect(JSON.stringify(view.view)).toContain('"optional":false');

    const blank = await submitOverride(message, 'U0LEAD3', '   ');
    expect(blank.json).toEqual({ response_action: 'errors', errors: { reason: 'Say why the gate may be lifted.' } });
    expect(current(message)?.text).toContain('Blocked');

    const submitted = await submitOverride(message, 'U0LEAD3', 'AUC measured on the old holdout <!channel>');
    expect(submitted.status).toBe(200);
    await ephemeralFor('U0LEAD3', 'Gate overridden');
    const lifted = await slack.waitFor(() => (JSON.stringify(current(message)?.blocks).includes('Gate overridden by') ? current(message) : undefined), 10_000, 'override shown');
    const blocks = JSON.stringify(lifted.blocks);
    expect(blocks).toContain('<@U0LEAD3>');
    expect(blocks).toContain('AUC measured on the old holdout &lt;!channel&gt;');
    expect(blocks).toContain('approval.approve');
    expect(blocks).not.toContain('approval.override_gate');
    const audit = await bot.context.audit.latest(20);
    const entry = audit.find((candidate) => candidate.action === 'modal.override_gate' && candidate.outcome === 'overridden');
    expect(entry?.actor).toBe('U0LEAD3');
    expect(entry?.detail).toContain('reason: AUC measured on the old holdout');
    expect(entry?.detail).toContain('auc ≥ 0.9');

    // A second submission (double click, another replica) changes nothing.
    await submitOverride(message, 'U0LEAD3', 'again');
    await ephemeralFor('U0LEAD3', 'already overridden');

    await click(lifted, 'approval.approve', 'U0LEAD1');
    await eventually(() => mlflow.alias('fraud-model', 'champion') === version, 15_000, 'alias moved after override');
    await slack.waitFor(() => current(message)?.text.includes('Promoted'), 15_000, 'promoted');
    champion = version;
  });

  it('the holder changes between request and approval: gates are evaluated again and the promotion stops, saying why', async () => {
    const better = newVersion({ auc: 0.97, loss: 0.1 });
    const candidate = newVersion({ auc: 0.94, loss: 0.2 });
    const message = await requestFor(candidate);
    expect(JSON.stringify(message.blocks)).toContain('approval.approve');
    // Someone moves the alias in MLflow to a much better version while the request waits.
    mlflow.setAliasDirectly('fraud-model', 'champion', better);
    await click(message, 'approval.approve', 'U0LEAD2');
    const stopped = await slack.waitFor(() => (current(message)?.text.includes('promotion failed') ? current(message) : undefined), 15_000, 'stopped promotion');
    const blocks = JSON.stringify(stopped.blocks);
    expect(blocks).toContain('Stopped before moving @champion: a quality gate failed when checked again.');
    expect(blocks).toContain(`@champion now serves v${better} (the request was made against v${champion})`);
    expect(blocks).toContain(`0.03 worse than v${better}`);
    expect(mlflow.alias('fraud-model', 'champion')).toBe(better);
    const audit = await bot.context.audit.latest(20);
    expect(audit.some((entry) => entry.action === 'job.promote' && entry.outcome === 'stopped: quality gate failed')).toBe(true);
    champion = better;
  });

  it('NaN and missing metrics fail their gates and are stored and shown, never crash', async () => {
    const nan = newVersion({ auc: Number.NaN, loss: Number.POSITIVE_INFINITY });
    const message = await requestFor(nan);
    const blocks = JSON.stringify(message.blocks);
    expect(blocks).toContain('has `NaN`, NaN is not a score');
    expect(blocks).toMatch(/loss\s+Infinity/);
    // The stored request reads back (NaN survives Redis) so its buttons still work.
    await click(message, 'approval.approve', 'U0LEAD1', { value: approvalId(message) });
    await ephemeralFor('U0LEAD1', 'A quality gate failed on this request');

    const missing = newVersion({ loss: 0.1 });
    const other = await requestFor(missing);
    expect(JSON.stringify(other.blocks)).toContain('has `—`, missing from the run');
  });
});
