import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RunningBot } from '../../src/app.js';
import { FakeSlackApi } from '../fakes/fake-slack-api.js';
import { eventually, SIGNING_SECRET, startTestBot, waitReady } from '../helpers/bot-harness.js';
import { startTestOci, type TestOci } from '../helpers/oci.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startResponseUrlServer, type ResponseUrlServer } from '../helpers/response-url-server.js';
import { ociFixtureJson } from '../helpers/oci-fixtures.js';
import { blockActionsBody, postSigned, slashCommandBody, subteamMembersChangedEvent } from '../helpers/slack-request.js';

describe('/mlops commands, roles and the train flow', () => {
  let redis: TestRedis;
  let slack: FakeSlackApi;
  let oci: TestOci;
  let bot: RunningBot;
  let hooks: ResponseUrlServer;

  const command = async (text: string, userId = 'U0DS1', channelId = 'C0TRAIN') => {
    const responseUrl = hooks.url();
    const response = await postSigned(`${bot.url}/slack/events`, SIGNING_SECRET, slashCommandBody({ text, userId, channelId, responseUrl }));
    return { ...response, responseUrl };
  };

  const notify = (body: unknown) =>
    fetch(`${bot.url}/oci/notifications`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  beforeAll(async () => {
    redis = await startRedis();
    slack = await FakeSlackApi.start({ usergroups: { S0DS: ['U0DS1', 'U0DS2'], S0SRE: ['U0SRE1'], S0ONCALL: ['U0ONCALL'] } });
    oci = await startTestOci();
    hooks = await startResponseUrlServer();
    bot = await startTestBot({ redisUrl: redis.url, slackApiUrl: slack.url, oci: oci.gateway, env: oci.env });
    await waitReady(bot);
  });

  afterAll(async () => {
    await bot.stop();
    await hooks.stop();
    await oci.stop();
    await slack.stop();
    await redis.stop();
  });

  beforeEach(() => {
    slack.reset();
  });

  it('answers help in the acknowledgement itself', async () => {
    const response = await command('help');
    expect(response.status).toBe(200);
    expect(response.json).toMatchObject({ response_type: 'ephemeral' });
    const text = (response.json as { text: string }).text;
    for (const usage of ['help', 'train &lt;target&gt; [key=value ...]', 'status']) expect(text).toContain(usage);
  });

  it('answers an unknown subcommand with usage, never a stack trace', async () => {
    const response = await command('deploy everything');
    expect(response.status).toBe(200);
    expect((response.json as { text: string }).text).toContain('Unknown subcommand');
    expect(response.text).not.toMatch(/at .*\.ts:\d+/);
  });

  it('refuses a stale or forged signature with 401', async () => {
    const body = slashCommandBody({ text: 'help' });
    expect((await postSigned(`${bot.url}/slack/events`, SIGNING_SECRET, body, { timestampSeconds: Math.floor(Date.now() / 1000) - 600 })).status).toBe(401);
    expect((await postSigned(`${bot.url}/slack/events`, SIGNING_SECRET, body, { timestampSeconds: Math.floor(Date.now() / 1000) + 600 })).status).toBe(401);
    expect((await postSigned(`${bot.url}/slack/events`, 'wrong-secret', body)).status).toBe(401);
  });

  it('rejects bad train arguments with the usage line and the valid targets', async () => {
    const unknown = await command('train no-such-model');
    expect(unknown.status).toBe(200);
    const reply = await hooks.waitFor(unknown.responseUrl);
    expect(reply.text).toContain('Unknown target');
    expect(reply.text).toContain('fraud-model');
    expect(reply.text).toContain('Usage: `/mlops train &lt;target&gt; [key=value ...]`');
    const badPair = await command('train fraud-model epochs');
    expect((await hooks.waitFor(badPair.responseUrl)).text).toContain('is not key=value');
    const unclosed = await command('train fraud-model note="never closed');
    expect((unclosed.json as { text: string }).text).toContain('quoted value is not closed');
  });

  it('refuses training to someone outside the trainers role and says who holds it', async () => {
    const response = await command('train fraud-model', 'U0OUTSIDER');
    const reply = await hooks.waitFor(response.responseUrl);
    expect(reply.text).toContain('*trainers* role');
    expect(reply.text).toContain('<!subteam^S0DS>');
    expect(oci.fake.requests().filter((request) => request.method === 'POST')).toHaveLength(0);
  });

  it('acks a train command fast, starts a signed OCI job run, and one Slack message goes from queued to succeeded', async () => {
    const before = oci.fake.requests().length;
    const response = await command('train fraud-model epochs=5 note="new features"');
    expect(response.status).toBe(200);
    expect(response.ms).toBeLessThan(3_000);
    const reply = await hooks.waitFor(response.responseUrl);
    expect(reply.response_type).toBe('in_channel');
    expect(reply.text).toContain('queued training `fraud-model`');

    const root = await slack.waitFor(() => slack.messages('C0TRAIN').find((message) => message.text.includes('fraud-model')), 10_000, 'run message');
    const create = await slack.waitFor(() => oci.fake.requests().slice(before).find((request) => request.method === 'POST' && request.path === '/20190101/jobRuns'), 10_000, 'createJobRun');
    expect(create.status).toBe(200);
    expect(create.headers.authorization).toContain(oci.key.keyId);
    expect(create.body).toMatchObject({
      jobId: 'ocid1.datasciencejob.oc1.iad.fraudjob',
      projectId: 'ocid1.datascienceproject.oc1.iad.proj',
      compartmentId: 'ocid1.compartment.oc1..ml',
      jobConfigurationOverrideDetails: { jobType: 'DEFAULT', environmentVariables: { epochs: '5', note: 'new features' } },
    });
    const jobRun = await slack.waitFor(() => {
      const text = slack.message('C0TRAIN', root.ts)?.text ?? '';
      return text.includes('accepted') ? text : undefined;
    }, 10_000, 'accepted');
    expect(jobRun).toContain('fraud-model-');
    expect(JSON.stringify(slack.message('C0TRAIN', root.ts)?.blocks)).toContain('<@U0DS1>');
    expect(JSON.stringify(slack.message('C0TRAIN', root.ts)?.blocks)).toContain('epochs=5');

    const ocid = JSON.stringify(slack.message('C0TRAIN', root.ts)?.blocks).match(/ocid1\.datasciencejobrun\.oc1\.iad\.[0-9a-f]+/)?.[0];
    expect(ocid).toBeDefined();
    const notified = await notify({
      eventType: 'com.oraclecloud.datascience.succeededjobrun',
      cloudEventsVersion: '0.1',
      eventTime: new Date(Date.now() + 1000).toISOString(),
      eventID: `succeeded-${ocid ?? ''}`,
      data: { resourceId: ocid, resourceName: 'fraud-model-run', compartmentId: 'ocid1.compartment.oc1..ml' },
    });
    expect(notified.status).toBe(200);
    await slack.waitFor(() => slack.message('C0TRAIN', root.ts)?.text.includes('succeeded'), 10_000, 'succeeded');
    expect(slack.messages('C0TRAIN').filter((message) => message.text.includes('fraud-model'))).toHaveLength(1);
  });

  it('does not start two runs for a double submit within the dedupe window', async () => {
    const before = oci.fake.requests().filter((request) => request.method === 'POST').length;
    const first = await command('train churn-model IMAGE_TAG=v7');
    const second = await command('train churn-model IMAGE_TAG=v7');
    expect((await hooks.waitFor(first.responseUrl)).text).toContain('queued training');
    expect((await hooks.waitFor(second.responseUrl)).text).toContain('not starting another');
    await slack.waitFor(() => oci.fake.requests().filter((request) => request.method === 'POST').length === before + 1, 10_000, 'one build run');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const posts = oci.fake.requests().filter((request) => request.method === 'POST').slice(before);
    expect(posts).toHaveLength(1);
    expect(posts[0]?.body).toEqual({ buildPipelineId: 'ocid1.devopsbuildpipeline.oc1.iad.churn', displayName: expect.stringMatching(/^churn-model-\d{14}$/) as unknown, buildRunArguments: { items: [{ name: 'IMAGE_TAG', value: 'v7' }, { name: 'MLOPS_RUN_KEY', value: expect.stringMatching(/^train-[0-9a-f]{40}$/) as unknown }] },
      freeformTags: { 'mlops-chatops-run': expect.stringMatching(/^train-[0-9a-f]{40}$/) as unknown },
    });
    // The lineage argument is the run's own key, the one its tag carries.
    const body = posts[0]?.body as { buildRunArguments: { items: { name: string; value: string }[] }; freeformTags: Record<string, string> };
    expect(body.buildRunArguments.items[1]?.value).toBe(body.freeformTags['mlops-chatops-run']);
  });

  it('reports an OCI refusal in the run message with the error code and opc-request-id, without retrying', async () => {
    oci.fake.failNext({ method: 'POST', pathPrefix: '/20190101/jobRuns' }, { status: 404, code: 'NotAuthorizedOrNotFound', message: 'job not found' });
    const before = oci.fake.requests().length;
    await command('train fraud-model attempt=refused');
    const root = await slack.waitFor(() => slack.messages('C0TRAIN').find((message) => message.text.includes('failed')), 10_000, 'failed run');
    const blocks = JSON.stringify(slack.message('C0TRAIN', root.ts)?.blocks);
    expect(blocks).toContain('NotAuthorizedOrNotFound');
    expect(blocks).toMatch(/opc-request-id [A-F0-9]+\/[A-F0-9]+/);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(oci.fake.requests().slice(before).filter((request) => request.method === 'POST')).toHaveLength(1);
  });

  it('retries OCI throttling with backoff and starts the run once', async () => {
    oci.fake.failNext({ method: 'POST', pathPrefix: '/20190101/jobRuns' }, { status: 429, code: 'TooManyRequests' });
    const before = oci.fake.requests().length;
    await command('train fraud-model attempt=throttled');
    await slack.waitFor(() => oci.fake.requests().slice(before).filter((request) => request.method === 'POST' && request.status === 200).length === 1, 15_000, 'retried create');
    const posts = oci.fake.requests().slice(before).filter((request) => request.method === 'POST');
    expect(posts.map((request) => request.status)).toEqual([429, 200]);
    expect(posts[0]?.headers['opc-retry-token']).toBe(posts[1]?.headers['opc-retry-token']);
  });

  it('Retry on a failed training alert re-runs the same target and arguments for a trainer, and refuses others', async () => {
    // A run started from Slack, so the bot knows its target and arguments. Found by its OCID: earlier
    // tests' runs post to the same channel, some of them late.
    const created = oci.fake.nextCreated((resource) => JSON.stringify(resource).includes('"lr":"0.1"'));
    const started = await command('train fraud-model lr=0.1');
    await hooks.waitFor(started.responseUrl);
    const ocid = (await created).id;
    expect(ocid).toMatch(/^ocid1\.datasciencejobrun\./);
    const root = await slack.waitFor(() => slack.messages('C0TRAIN').find((message) => message.text.includes('accepted') && JSON.stringify(message.blocks).includes(ocid)), 10_000, 'accepted run');
    await notify({ eventType: 'com.oraclecloud.datascience.failedjobrun', cloudEventsVersion: '0.1', eventTime: new Date(Date.now() + 1000).toISOString(), eventID: `failed-${ocid}`, data: { resourceId: ocid } });
    const alert = await slack.waitFor(() => slack.thread('C0TRAIN', root.ts).find((message) => message.replyBroadcast), 10_000, 'failure alert');
    const retry = (alert.blocks as { type: string; elements?: { action_id: string; value?: string }[] }[]).flatMap((block) => block.elements ?? []).find((element) => element.action_id === 'run.retry');
    expect(retry?.value).toBeDefined();

    const refused = await postSigned(`${bot.url}/slack/events`, SIGNING_SECRET, blockActionsBody({ userId: 'U0OUTSIDER', channelId: 'C0TRAIN', messageTs: alert.ts, actionId: 'run.retry', value: retry?.value ?? '' }));
    expect(refused.status).toBe(200);
    const refusal = await slack.waitFor(() => slack.effective('chat.postEphemeral').find((call) => call.args.user === 'U0OUTSIDER'), 10_000, 'refusal');
    expect(String(refusal.args.text)).toContain('*trainers* role');

    const posts = oci.fake.requests().filter((request) => request.method === 'POST').length;
    const accepted = await postSigned(`${bot.url}/slack/events`, SIGNING_SECRET, blockActionsBody({ userId: 'U0DS2', channelId: 'C0TRAIN', messageTs: alert.ts, actionId: 'run.retry', value: retry?.value ?? '' }));
    expect(accepted.status).toBe(200);
    expect(accepted.ms).toBeLessThan(3_000);
    const rerun = await slack.waitFor(() => oci.fake.requests().filter((request) => request.method === 'POST').slice(posts)[0], 10_000, 'retried job run');
    expect(rerun.body).toMatchObject({ jobConfigurationOverrideDetails: { environmentVariables: { lr: '0.1' } } });
    const answer = await slack.waitFor(() => slack.effective('chat.postEphemeral').find((call) => call.args.user === 'U0DS2'), 10_000, 'retry answer');
    expect(String(answer.args.text)).toContain('Retrying `fraud-model`');
  });

  it('an event OCI delivers before createJobRun has answered lands on the same run message, through the run tag', async () => {
    const runMessages = () => slack.messages('C0TRAIN').filter((message) => JSON.stringify(message.blocks).includes('race=tagged'));
    // The create is performed but its answer held: the event below arrives while the bot has no OCID yet.
    const held = oci.fake.holdNext({ method: 'POST', pathPrefix: '/20190101/jobRuns' });
    const created = oci.fake.nextCreated((resource) => JSON.stringify(resource).includes('"race":"tagged"'));
    const started = await command('train fraud-model race=tagged');
    await hooks.waitFor(started.responseUrl);
    const resource = await created;
    await held.arrived;
    const tags = resource.freeformTags as Record<string, string> | undefined;
    expect(tags?.['mlops-chatops-run']).toMatch(/^train-[0-9a-f]{40}$/);
    const queued = await slack.waitFor(() => runMessages()[0], 10_000, 'the queued run message');

    const event = ociFixtureJson('datascience-createjobrun-end.json');
    event.eventID = `race-${resource.id}`;
    event.eventTime = new Date().toISOString();
    Object.assign(event.data as Record<string, unknown>, { resourceId: resource.id, resourceName: resource.displayName, freeFormTags: tags });
    expect((await notify(event)).status).toBe(200);
    await slack.waitFor(() => (JSON.stringify(slack.message('C0TRAIN', queued.ts)?.blocks).includes(resource.id) ? true : undefined), 10_000, 'the queued message showing the OCID');

    held.release();
    // The train job folds createJobRun's answer into the same run (the alias the event set) and finishes.
    const trainJob = await bot.context.queues.train.getJob(String(tags?.['mlops-chatops-run']).replace(/^train-/, ''));
    expect(trainJob).toBeDefined();
    await eventually(async () => (await trainJob?.isCompleted()) === true, 15_000, 'the train job completed');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(runMessages().map((message) => message.ts)).toEqual([queued.ts]);
    expect(slack.messages('C0TRAIN').filter((message) => JSON.stringify(message.blocks).includes(resource.id))).toHaveLength(1);
  });

  it('caches user-group membership and drops the cache on subteam_members_changed', async () => {
    const first = await command('train fraud-model via=events', 'U0NEWBIE');
    expect((await hooks.waitFor(first.responseUrl)).text).toContain('*trainers* role');
    slack.setUsergroup('S0DS', ['U0DS1', 'U0DS2', 'U0NEWBIE']);
    const cached = await command('train fraud-model via=cache', 'U0NEWBIE');
    expect((await hooks.waitFor(cached.responseUrl)).text).toContain('*trainers* role');
    const event = JSON.stringify(subteamMembersChangedEvent({ subteamId: 'S0DS', addedUsers: ['U0NEWBIE'], eventId: 'Ev0MEMBERS1' }));
    const delivered = await postSigned(`${bot.url}/slack/events`, SIGNING_SECRET, event, { contentType: 'application/json' });
    expect(delivered.status).toBe(200);
    const after = await command('train fraud-model via=event', 'U0NEWBIE');
    expect((await hooks.waitFor(after.responseUrl)).text).toContain('queued training');
  });

  it('does not refuse a real trainer when Slack rate-limits the membership lookup', async () => {
    const event = JSON.stringify({ type: 'event_callback', event_id: 'Ev0MEMBERS2', team_id: 'T0FAKE', event: { type: 'subteam_members_changed', subteam_id: 'S0DS' } });
    expect((await postSigned(`${bot.url}/slack/events`, SIGNING_SECRET, event, { contentType: 'application/json' })).status).toBe(200);
    slack.failNext('usergroups.users.list', { status: 429, retryAfter: 1 });
    const throttled = await command('train fraud-model via=throttled', 'U0DS1');
    const reply = String((await hooks.waitFor(throttled.responseUrl)).text);
    expect(reply).toContain('try again in a minute');
    expect(reply).not.toContain('*trainers* role');
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const retried = await command('train fraud-model via=later', 'U0DS1');
    expect((await hooks.waitFor(retried.responseUrl)).text).toContain('queued training');
  });

  it('answers the Events API URL verification challenge', async () => {
    const response = await postSigned(`${bot.url}/slack/events`, SIGNING_SECRET, JSON.stringify({ token: 'x', challenge: 'challenge-123', type: 'url_verification' }), { contentType: 'application/json' });
    expect(response.status).toBe(200);
    expect(response.json).toEqual({ challenge: 'challenge-123' });
  });

  it('status lists runs per target, a target on its own, and the audit log', async () => {
    const all = await command('status');
    const allReply = await hooks.waitFor(all.responseUrl);
    expect(allReply.text).toContain('`fraud-model`');
    expect(allReply.text).toContain('`churn-model`');
    const one = await command('status churn-model');
    expect((await hooks.waitFor(one.responseUrl)).text).toContain('Latest runs of `churn-model`');
    const audit = await command('status audit');
    const auditText = String((await hooks.waitFor(audit.responseUrl)).text);
    expect(auditText).toContain('command.train');
    expect(auditText).toContain('refused');
    expect(auditText).toContain('queued');
  });
});

describe('/mlops commands across processes: a web process acknowledges, a worker runs and answers', () => {
  let redis: TestRedis;
  let slack: FakeSlackApi;
  let oci: TestOci;
  let hooks: ResponseUrlServer;
  let web: RunningBot;

  beforeAll(async () => {
    redis = await startRedis();
    slack = await FakeSlackApi.start({ usergroups: { S0DS: ['U0DS1'], S0SRE: ['U0SRE1'], S0ONCALL: ['U0ONCALL'] } });
    oci = await startTestOci();
    hooks = await startResponseUrlServer();
    web = await startTestBot({ redisUrl: redis.url, slackApiUrl: slack.url, oci: oci.gateway, env: { ...oci.env, ROLE: 'web' } });
    await waitReady(web);
  });

  afterAll(async () => {
    await web.stop();
    await hooks.stop();
    await oci.stop();
    await slack.stop();
    await redis.stop();
  });

  it('keeps a command acknowledged while no worker runs, and answers it once one starts; a second delivery runs nothing twice', async () => {
    const responseUrl = hooks.url();
    const body = slashCommandBody({ text: 'train fraud-model epochs=3', userId: 'U0DS1', channelId: 'C0TRAIN', responseUrl });
    const acked = await postSigned(`${web.url}/slack/events`, SIGNING_SECRET, body);
    expect(acked.status).toBe(200);
    // The web process only acknowledged and queued it: nothing ran, nobody answered yet.
    expect(acked.text).toBe('');
    expect(await web.context.queues.commands.getWaitingCount()).toBe(1);
    expect(await web.context.queues.train.getJobCounts('waiting', 'active', 'delayed', 'completed')).toEqual({ waiting: 0, active: 0, delayed: 0, completed: 0 });
    expect(hooks.replies(responseUrl)).toHaveLength(0);
    // The same command delivered again (same trigger_id): still one.
    expect((await postSigned(`${web.url}/slack/events`, SIGNING_SECRET, body)).status).toBe(200);
    expect(await web.context.queues.commands.getWaitingCount()).toBe(1);

    const worker = await startTestBot({ redisUrl: redis.url, slackApiUrl: slack.url, oci: oci.gateway, env: { ...oci.env, ROLE: 'worker' } });
    try {
      await waitReady(worker);
      const reply = await hooks.waitFor(responseUrl, 10_000);
      expect(reply).toMatchObject({ response_type: 'in_channel' });
      expect(String(reply.text)).toContain('queued training `fraud-model` with `epochs=3`');
      const createJobRun = (request: { method: string; path: string }) => request.method === 'POST' && request.path === '/20190101/jobRuns';
      await eventually(() => oci.fake.requests().some(createJobRun), 10_000, 'the job run started');
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(hooks.replies(responseUrl)).toHaveLength(1);
      expect(oci.fake.requests().filter(createJobRun)).toHaveLength(1);
      expect(await web.context.queues.commands.getJobCounts('waiting', 'active', 'failed')).toEqual({ waiting: 0, active: 0, failed: 0 });
    } finally {
      await worker.stop();
    }
  });

  it('tells the user at once that nothing was done when the command cannot be queued', async () => {
    await redis.stop();
    try {
      const responseUrl = hooks.url();
      const acked = await postSigned(`${web.url}/slack/events`, SIGNING_SECRET, slashCommandBody({ text: 'train fraud-model', userId: 'U0DS1', channelId: 'C0TRAIN', responseUrl }));
      expect(acked.status).toBe(200);
      expect(String((await hooks.waitFor(responseUrl, 10_000)).text)).toContain('Nothing was done');
    } finally {
      await redis.restart();
    }
  });

  it('acknowledges a replayed command without running it again, also once the first has run', async () => {
    const worker = await startTestBot({ redisUrl: redis.url, slackApiUrl: slack.url, oci: oci.gateway, env: { ...oci.env, ROLE: 'worker' } });
    try {
      await waitReady(worker);
      await waitReady(web);
      const responseUrl = hooks.url();
      const body = slashCommandBody({ text: 'status', userId: 'U0DS1', channelId: 'C0TRAIN', responseUrl });
      expect((await postSigned(`${web.url}/slack/events`, SIGNING_SECRET, body)).status).toBe(200);
      await hooks.waitFor(responseUrl, 10_000);
      await eventually(async () => (await web.context.queues.commands.getJobCountByTypes('waiting', 'active')) === 0, 10_000, 'the command done');
      const replay = await postSigned(`${web.url}/slack/events`, SIGNING_SECRET, body);
      expect(replay.status).toBe(200);
      expect(replay.text).toBe('');
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(hooks.replies(responseUrl)).toHaveLength(1);
      // A command-line mistake is answered by the web process: its replay is refused there, acknowledged with nothing.
      const mistake = slashCommandBody({ text: 'train fraud-model note="never closed', userId: 'U0DS1', channelId: 'C0TRAIN', responseUrl: hooks.url() });
      expect(String(((await postSigned(`${web.url}/slack/events`, SIGNING_SECRET, mistake)).json as { text?: string }).text)).toContain('quoted value is not closed');
      expect((await postSigned(`${web.url}/slack/events`, SIGNING_SECRET, mistake)).text).toBe('');
      // Help says the same to anyone: a replay is answered again, from memory, changing nothing.
      const help = slashCommandBody({ text: 'help', userId: 'U0DS1', channelId: 'C0TRAIN', responseUrl: hooks.url() });
      for (let delivery = 0; delivery < 2; delivery++) expect(String(((await postSigned(`${web.url}/slack/events`, SIGNING_SECRET, help)).json as { text?: string }).text)).toContain('/mlops');
    } finally {
      await worker.stop();
    }
  });
});
