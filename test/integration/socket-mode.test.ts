import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBot } from '../../src/app.js';
import { FakeSlackApi } from '../fakes/fake-slack-api.js';
import { baseConfigFile, eventually, startTestBot, waitReady } from '../helpers/bot-harness.js';
import { startTestOci, type TestOci } from '../helpers/oci.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startResponseUrlServer, type ResponseUrlServer } from '../helpers/response-url-server.js';
import { blockActionsPayload, slashCommandBody, subteamMembersChangedEvent, type SlashCommandOptions } from '../helpers/slack-request.js';

const APP_TOKEN = 'xapp-1-A0MLOPS-test';

/** The payload of a slash_commands envelope: the fields of the HTTP form, as a JSON object. */
const commandPayload = (options: SlashCommandOptions) => Object.fromEntries(new URLSearchParams(slashCommandBody(options)));

describe('Slack over Socket Mode (SLACK_APP_TOKEN set)', () => {
  let redis: TestRedis;
  let slack: FakeSlackApi;
  let oci: TestOci;
  let hooks: ResponseUrlServer;
  let bot: RunningBot | undefined;

  beforeAll(async () => {
    redis = await startRedis();
    slack = await FakeSlackApi.start({ usergroups: { S0DS: ['U0DS1'], S0SRE: ['U0SRE1'], S0ONCALL: ['U0ONCALL'] } });
    oci = await startTestOci();
    hooks = await startResponseUrlServer();
    bot = await startTestBot({ redisUrl: redis.url, slackApiUrl: slack.url, oci: oci.gateway, env: { ...oci.env, SLACK_APP_TOKEN: APP_TOKEN, MLFLOW_TRACKING_URI: 'http://127.0.0.1:9' }, file: baseConfigFile({ models: { 'fraud-model': { alias: 'champion' } } }) });
    await waitReady(bot);
    await slack.socketMode.waitForConnections(1);
  });

  afterAll(async () => {
    await bot?.stop();
    await hooks.stop();
    await oci.stop();
    await slack.stop();
    await redis.stop();
  });

  it('opens its connection with the app-level token at SLACK_API_URL and answers /mlops help in the acknowledgement', async () => {
    const opens = slack.calls('apps.connections.open');
    expect(opens.length).toBeGreaterThanOrEqual(1);
    expect(opens.every((call) => call.token === APP_TOKEN && call.response.ok === true)).toBe(true);
    // No HTTP route is served for Slack in Socket Mode.
    expect((await fetch(`${bot?.url ?? ''}/slack/events`, { method: 'POST', body: 'command=%2Fmlops' })).status).toBeGreaterThanOrEqual(400);

    const ack = await slack.socketMode.deliver('slash_commands', commandPayload({ text: 'help' }));
    expect(ack.payload).toMatchObject({ response_type: 'ephemeral' });
    expect(String(ack.payload?.text)).toContain('train &lt;target&gt; [key=value ...]');
  });

  it('/mlops train is acknowledged at once, answered through response_url, and starts the run', async () => {
    const responseUrl = hooks.url();
    const ack = await slack.socketMode.deliver('slash_commands', commandPayload({ text: 'train fraud-model via=socket', userId: 'U0DS1', channelId: 'C0TRAIN', responseUrl }));
    expect(ack.payload).toBeUndefined();
    expect(String((await hooks.waitFor(responseUrl)).text)).toContain('fraud-model');
    const post = await eventually(
      () => oci.fake.requests().find((request) => request.method === 'POST' && JSON.stringify(request.body).includes('"via":"socket"')),
      10_000,
      'the job run created in OCI',
    );
    expect(post.signatureVerified).toBe(true);
    await slack.waitFor(() => slack.messages('C0TRAIN').find((message) => JSON.stringify(message.blocks).includes('via=socket')), 10_000, 'the run message');
  });

  it('refuses a non-trainer over the socket just as over HTTP', async () => {
    const responseUrl = hooks.url();
    await slack.socketMode.deliver('slash_commands', commandPayload({ text: 'train fraud-model via=outsider', userId: 'U0OUTSIDER', channelId: 'C0TRAIN', responseUrl }));
    expect(String((await hooks.waitFor(responseUrl)).text)).toContain('*trainers* role');
    expect(oci.fake.requests().some((request) => JSON.stringify(request.body).includes('"via":"outsider"'))).toBe(false);
  });

  it('takes button clicks as interactive envelopes (Cancel on a rollback confirm step)', async () => {
    const responseUrl = hooks.url();
    const payload = blockActionsPayload({ actionId: 'rollback.cancel', userId: 'U0SRE1', channelId: 'C0TRAIN', messageTs: '1700000000.000100', value: '0123456789abcdef', responseUrl, isEphemeral: true });
    const ack = await slack.socketMode.deliver('interactive', payload);
    expect(ack.payload).toBeUndefined();
    expect(await hooks.waitFor(responseUrl)).toMatchObject({ replace_original: true, text: 'Rollback cancelled; nothing was changed.' });
  });

  it('takes Events API envelopes: a user group change drops the cached membership', async () => {
    const train = async (tag: string) => {
      const responseUrl = hooks.url();
      await slack.socketMode.deliver('slash_commands', commandPayload({ text: `train fraud-model via=${tag}`, userId: 'U0NEWBIE', channelId: 'C0TRAIN', responseUrl }));
      return String((await hooks.waitFor(responseUrl)).text);
    };
    expect(await train('before')).toContain('*trainers* role');
    slack.setUsergroup('S0DS', ['U0DS1', 'U0NEWBIE']);
    expect(await train('cached')).toContain('*trainers* role');
    const ack = await slack.socketMode.deliver('events_api', subteamMembersChangedEvent({ subteamId: 'S0DS', addedUsers: ['U0NEWBIE'], eventId: 'Ev0SOCKET1' }));
    expect(ack.payload).toBeUndefined();
    await eventually(async () => !(await train(`after-${Date.now()}`)).includes('*trainers* role'), 10_000, 'the new member allowed to train');
  });

  it('carries the Slack-native payloads: app_home_opened, the shortcut, block_suggestion and view_submission answered in the acknowledgement', async () => {
    slack.connectApp({ transport: 'socket' });
    const opened = await slack.app.openHome('U0DS1');
    expect(opened.body).toBeUndefined();
    const home = await slack.waitFor(() => slack.home('U0DS1'), 10_000, 'Home published');
    expect(JSON.stringify(home.view.blocks)).toContain('*trainers*');

    await slack.app.shortcut('U0DS1', 'shortcut.train');
    const view = await slack.waitFor(() => slack.views().find((candidate) => candidate.user === 'U0DS1' && candidate.view.callback_id === 'modal.train'), 10_000, 'train modal');
    const errors = await slack.app.submit(view.id, 'U0DS1', { target: 'fraud-model', params: 'no-equals-sign' });
    expect(errors.body).toMatchObject({ response_action: 'errors', errors: { params: expect.any(String) as unknown } });
    const queued = await slack.app.submit(view.id, 'U0DS1', { target: 'fraud-model', params: 'via=socket-modal' });
    expect(queued.body).toMatchObject({ response_action: 'update', view: { type: 'modal' } });
    await eventually(() => oci.fake.requests().find((request) => request.method === 'POST' && JSON.stringify(request.body).includes('"via":"socket-modal"')), 10_000, 'the job run created in OCI');

    // An external select's options come back in the envelope's acknowledgement.
    const responseUrl = hooks.url();
    await slack.socketMode.deliver('slash_commands', commandPayload({ text: 'promote', userId: 'U0SRE1', channelId: 'C0TRAIN', responseUrl, triggerId: slack.triggerId('U0SRE1') }));
    const promote = await slack.waitFor(() => slack.views().find((candidate) => candidate.user === 'U0SRE1' && candidate.view.callback_id === 'modal.promote'), 10_000, 'promote modal');
    // This bot's MLflow is unreachable: no versions to offer, said with an empty list rather than an error.
    const suggestion = await slack.app.suggest(promote.id, 'U0SRE1', 'promote.version', '', { model: 'fraud-model' });
    expect(suggestion.body).toEqual({ options: [] });
    // With nothing to choose from, the form says so instead of failing to open (Slack refuses an empty select).
    await slack.socketMode.deliver('slash_commands', commandPayload({ text: 'rollback', userId: 'U0SRE1', channelId: 'C0TRAIN', responseUrl: hooks.url(), triggerId: slack.triggerId('U0SRE1') }));
    const rollback = await slack.waitFor(() => slack.views().find((candidate) => candidate.user === 'U0SRE1' && JSON.stringify(candidate.view.blocks).includes('No Deployment')), 10_000, 'rollback notice');
    expect(rollback.view.submit).toBeUndefined();
  });

  it('refuses a replayed envelope: the same trigger_id again is acknowledged without running anything', async () => {
    const responseUrl = hooks.url();
    const payload = commandPayload({ text: 'status', responseUrl });
    const first = await slack.socketMode.deliver('slash_commands', payload);
    expect(first.payload).toBeUndefined();
    await hooks.waitFor(responseUrl, 10_000);
    const replay = await slack.socketMode.deliver('slash_commands', payload);
    expect(replay.payload).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(hooks.replies(responseUrl)).toHaveLength(1);
    // A command-line mistake, answered in the ack: its replay is acknowledged with nothing.
    const mistake = commandPayload({ text: 'train fraud-model note="never closed' });
    expect(String((await slack.socketMode.deliver('slash_commands', mistake)).payload?.text)).toContain('quoted value is not closed');
    expect((await slack.socketMode.deliver('slash_commands', mistake)).payload).toBeUndefined();
    // A new command (new trigger_id) is answered as usual.
    expect((await slack.socketMode.deliver('slash_commands', commandPayload({ text: 'help' }))).payload).toMatchObject({ response_type: 'ephemeral' });
  });

  it('runs an event once when Slack delivers it again (same event_id, retry_attempt 1)', async () => {
    const lookups = () => slack.calls('usergroups.users.list').length;
    const train = async () => {
      const responseUrl = hooks.url();
      await slack.socketMode.deliver('slash_commands', commandPayload({ text: `train fraud-model via=dedupe-${Date.now()}`, userId: 'U0DS1', channelId: 'C0TRAIN', responseUrl }));
      await hooks.waitFor(responseUrl);
    };
    const event = subteamMembersChangedEvent({ subteamId: 'S0DS', addedUsers: ['U0DS1'], eventId: 'Ev0SOCKETRETRY' });
    await train(); // the membership is cached now
    expect((await slack.socketMode.deliver('events_api', event)).payload).toBeUndefined();
    const afterFirst = lookups();
    await train(); // the event dropped the cache: looked up again
    expect(lookups()).toBe(afterFirst + 1);
    await slack.socketMode.deliver('events_api', event, { retryAttempt: 1, retryReason: 'timeout' });
    const afterRetry = lookups();
    await train(); // the retry ran nothing: still cached
    expect(lookups()).toBe(afterRetry);
  });

  it('stays ready while the socket to Slack is down, saying Slack is degraded, and recovers', async () => {
    const readyz = async () => {
      const response = await fetch(`${bot?.url ?? ''}/readyz`);
      return { status: response.status, body: (await response.json()) as { degraded?: string[]; checks: Record<string, boolean> } };
    };
    expect((await readyz()).body.degraded).toBeUndefined();
    slack.socketMode.outage(true);
    try {
      const down = await eventually(async () => {
        const state = await readyz();
        return state.body.checks.slack === false ? state : undefined;
      }, 10_000, 'slack reported down');
      expect(down).toMatchObject({ status: 200, body: { degraded: ['slack'], checks: { redis: true, slack: false } } });
    } finally {
      slack.socketMode.outage(false);
    }
    await slack.socketMode.waitForConnections(1, 20_000);
    await eventually(async () => (await readyz()).body.checks.slack, 10_000, 'slack connected again');
    expect((await slack.socketMode.deliver('slash_commands', commandPayload({ text: 'help' }))).payload).toMatchObject({ response_type: 'ephemeral' });
  });

  it('a pod started while Slack\'s socket is down is ready on Redis alone, and stops without waiting for Slack', async () => {
    slack.socketMode.outage(true);
    let second: RunningBot | undefined;
    try {
      second = await startTestBot({ redisUrl: redis.url, slackApiUrl: slack.url, oci: oci.gateway, env: { ...oci.env, SLACK_APP_TOKEN: APP_TOKEN } });
      const state = await eventually(async () => {
        const current = await second?.ready();
        return current?.ready ? current : undefined;
      }, 10_000, 'ready without a socket');
      expect(state).toMatchObject({ degraded: ['slack'], checks: { redis: true, slack: false, workers: true } });
    } finally {
      await second?.stop();
      slack.socketMode.outage(false);
    }
  });

  it('reconnects when Slack asks it to refresh, and keeps answering', async () => {
    const opened = slack.socketMode.connectionsOpened;
    slack.socketMode.requestRefresh();
    await eventually(() => slack.socketMode.connectionsOpened > opened && slack.socketMode.connected >= 1, 15_000, 'a new connection after refresh_requested');
    const ack = await slack.socketMode.deliver('slash_commands', commandPayload({ text: 'help' }));
    expect(ack.payload).toMatchObject({ response_type: 'ephemeral' });
  });

  it('closes its connection on stop', async () => {
    await bot?.stop();
    bot = undefined;
    await slack.socketMode.waitForClosed();
    expect(slack.socketMode.connected).toBe(0);
  });
});
