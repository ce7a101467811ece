import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBot } from '../../src/app.js';
import { QUEUE_NAMES, QUEUE_PREFIX } from '../../src/queues.js';
import type { RecordedOciRequest } from '../fakes/fake-oci-api.js';
import { FakeMlflow } from '../fakes/fake-mlflow.js';
import { FakeSlackApi, type FakeMessage } from '../fakes/fake-slack-api.js';
import { baseConfigFile, eventually, SIGNING_SECRET, startTestBot, waitReady } from '../helpers/bot-harness.js';
import { startTestOci, type TestOci } from '../helpers/oci.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startResponseUrlServer, type ResponseUrlServer } from '../helpers/response-url-server.js';
import { blockActionsBody, postSigned, slashCommandBody } from '../helpers/slack-request.js';

const WEBHOOK_SECRET = 'mlflow-webhook-secret';
const MLFLOW_TOKEN = 'mlflow-token';
const FRAUD_PIPELINE = 'ocid1.datasciencepipeline.oc1.iad.fraudpipeline';
const FRAUD_ALARM = 'ocid1.alarm.oc1.iad.fraudaccuracy';
const CHURN_BUILD = 'ocid1.devopsbuildpipeline.oc1.iad.churn';

/** An OCI Monitoring alarm message as Notifications delivers it (reference/oci.md §3). */
function alarmMessage(options: { id: string; title: string; type: 'OK_TO_FIRING' | 'REPEAT' | 'FIRING_TO_OK'; at: number; dedupeKey?: string }) {
  return {
    dedupeKey: options.dedupeKey ?? `dedupe-${options.id}`,
    title: options.title,
    body: 'Model quality dropped',
    type: options.type,
    severity: 'WARNING',
    timestampEpochMillis: options.at,
    timestamp: new Date(options.at).toISOString(),
    alarmMetaData: [
      {
        id: options.id,
        status: options.type === 'FIRING_TO_OK' ? 'OK' : 'FIRING',
        severity: 'WARNING',
        namespace: 'custom_model_metrics',
        query: 'Accuracy[5m].mean() < 0.9',
        totalMetricsFiring: 1,
        dimensions: [{ model: 'fraud', region: 'us-ashburn-1' }],
        metricValues: [{ 'Accuracy[5m].mean()': '0.84' }],
        alarmUrl: `https://cloud.oracle.com/monitoring/alarms/${options.id}?region=us-ashburn-1`,
      },
    ],
    notificationType: 'Split messages per metric stream',
    version: 1.5,
  };
}

const actionIds = (message: FakeMessage | undefined): string[] => [...(JSON.stringify(message?.blocks ?? []).match(/"action_id":"[^"]+"/g) ?? [])];
const runKeyOf = (request: RecordedOciRequest | undefined): string | undefined => {
  const body = request?.body as Record<string, unknown> | undefined;
  const variables = (body?.jobConfigurationOverrideDetails ?? body?.configurationOverrideDetails) as { environmentVariables?: Record<string, string> } | undefined;
  const items = (body?.buildRunArguments as { items?: { name: string; value: string }[] } | undefined)?.items;
  return variables?.environmentVariables?.MLOPS_RUN_KEY ?? items?.find((item) => item.name === 'MLOPS_RUN_KEY')?.value;
};

describe('The retraining loop: alarm → Retrain → run → registered version in the run thread', () => {
  let redis: TestRedis;
  let slack: FakeSlackApi;
  let oci: TestOci;
  let mlflow: FakeMlflow;
  let hooks: ResponseUrlServer;
  const bots: RunningBot[] = [];
  const nowMs = () => Date.now();

  const notify = (bot: RunningBot, body: unknown) =>
    fetch(`${bot.url}/oci/notifications`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const click = (message: FakeMessage, actionId: string, userId: string, bot: RunningBot) =>
    postSigned(`${bot.url}/slack/events`, SIGNING_SECRET, blockActionsBody({ actionId, userId, channelId: message.channel, message }), { timestampSeconds: Math.floor(nowMs() / 1000) });
  const ephemeralFor = (user: string, text: string) => slack.waitFor(() => slack.ephemerals().find((message) => message.user === user && message.text.includes(text)), 10_000, `ephemeral "${text}" for ${user}`);
  const posts = (path: string) => oci.fake.requests().filter((request) => request.method === 'POST' && request.path === path);
  const command = async (text: string, userId: string, bot: RunningBot) => {
    const responseUrl = hooks.url();
    const response = await postSigned(`${bot.url}/slack/events`, SIGNING_SECRET, slashCommandBody({ text, userId, channelId: 'C0TRAIN', responseUrl }), { timestampSeconds: Math.floor(nowMs() / 1000) });
    expect(response.status).toBe(200);
    return (await hooks.waitFor(responseUrl)).text as string;
  };
  const bot = (index: number) => bots[index] as RunningBot;

  beforeAll(async () => {
    redis = await startRedis();
    slack = await FakeSlackApi.start({ usergroups: { S0DS: ['U0DS1', 'U0DS2'], S0SRE: ['U0SRE1'], S0ONCALL: ['U0ONCALL'] } });
    oci = await startTestOci();
    mlflow = await FakeMlflow.start({ token: MLFLOW_TOKEN });
    hooks = await startResponseUrlServer();
    mlflow.setAliasDirectly('fraud-model', 'champion', mlflow.addVersion('fraud-model', { runId: mlflow.addRun({ auc: 0.9 }, 'champion') }));
    const base = baseConfigFile();
    const file = baseConfigFile({
      routes: [
        { match: { kind: 'training' }, channel: 'C0TRAIN' },
        { match: { kind: 'build' }, channel: 'C0TRAIN' },
        { match: { kind: 'alarm' }, channel: 'C0ALARMS' },
        { match: { kind: 'model' }, channel: 'C0MODELS' },
      ],
      train: {
        ...(base.train as Record<string, unknown>),
        'fraud-pipeline': { dataSciencePipeline: { pipelineId: FRAUD_PIPELINE, projectId: 'ocid1.datascienceproject.oc1.iad.proj', compartmentId: 'ocid1.compartment.oc1..ml' } },
      },
      models: {
        'fraud-model': { alias: 'champion', train: 'fraud-model', retrain: { onAlarms: ['fraud-model-*'] } },
        // Named by OCID: the same alarm offers both models.
        'fraud-shadow': { alias: 'champion', train: 'fraud-pipeline', retrain: { onAlarms: [FRAUD_ALARM] } },
        'churn-model': { alias: 'champion', train: 'churn-model', retrain: { onAlarms: ['churn-*'], auto: true, cooldown: '1h' } },
      },
    });
    // Two replicas on one Redis, as a Deployment with two pods.
    for (let replica = 0; replica < 2; replica++) {
      const started = await startTestBot({
        redisUrl: redis.url,
        slackApiUrl: slack.url,
        oci: oci.gateway,
        env: { ...oci.env, MLFLOW_TRACKING_URI: mlflow.url, MLFLOW_TRACKING_TOKEN: MLFLOW_TOKEN, MLFLOW_WEBHOOK_SECRET: WEBHOOK_SECRET },
        file,
        now: () => new Date(nowMs()),
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

  let fraudRunKey = '';
  let alarmRoot: FakeMessage;

  it('a firing alarm matching two models gets one Retrain button each; trainers only; the run carries MLOPS_RUN_KEY and is announced in the alarm thread, linking back', async () => {
    const t0 = nowMs();
    expect((await notify(bot(0), alarmMessage({ id: FRAUD_ALARM, title: 'fraud-model-accuracy-drop', type: 'OK_TO_FIRING', at: t0 }))).status).toBe(200);
    alarmRoot = await slack.waitFor(() => slack.messages('C0ALARMS').find((message) => message.text.includes('fraud-model-accuracy-drop') && actionIds(message).length >= 2), 10_000, 'alarm message with Retrain buttons');
    expect(actionIds(alarmRoot)).toEqual(expect.arrayContaining(['"action_id":"run.retrain.fraud-model"', '"action_id":"run.retrain.fraud-shadow"']));

    const before = oci.fake.requests().filter((request) => request.method === 'POST').length;
    await click(alarmRoot, 'run.retrain.fraud-model', 'U0OUTSIDER', bot(1));
    expect((await ephemeralFor('U0OUTSIDER', 'trainers')).text).toContain('<!subteam^S0DS>');

    await click(alarmRoot, 'run.retrain.fraud-model', 'U0DS1', bot(1));
    expect((await ephemeralFor('U0DS1', 'Retraining `fraud-model`')).text).toContain('<#C0TRAIN>');
    const create = await eventually(() => posts('/20190101/jobRuns').at(-1), 10_000, 'createJobRun');
    expect(oci.fake.requests().filter((request) => request.method === 'POST').length).toBe(before + 1);
    expect(create.signatureVerified).toBe(true);
    fraudRunKey = runKeyOf(create) ?? '';
    expect(fraudRunKey).toMatch(/^train-[0-9a-f]+$/);
    expect(create.body).toMatchObject({ jobId: 'ocid1.datasciencejob.oc1.iad.fraudjob', freeformTags: { 'mlops-chatops-run': fraudRunKey } });

    // The run's own message links back to the alarm; the alarm's thread links to the run.
    const runMessage = await slack.waitFor(() => slack.messages('C0TRAIN').find((message) => JSON.stringify(message.blocks).includes('Retrain of') && JSON.stringify(message.blocks).includes(`/archives/C0ALARMS/p${alarmRoot.ts.replace('.', '')}`)), 10_000, 'run message linking the alarm');
    expect(JSON.stringify(runMessage.blocks)).toContain('<@U0DS1>');
    const note = await slack.waitFor(() => slack.thread('C0ALARMS', alarmRoot.ts).find((reply) => reply.text.includes('started a retrain of `fraud-model`')), 10_000, 'announcement in the alarm thread');
    expect(note.text).toContain(`/archives/C0TRAIN/p${runMessage.ts.replace('.', '')}`);

    // The other model's button starts its Data Science pipeline, signed, with the run key in its environment.
    await click(alarmRoot, 'run.retrain.fraud-shadow', 'U0DS2', bot(0));
    const pipelineRun = await eventually(() => posts('/20190101/pipelineRuns').at(-1), 10_000, 'createPipelineRun');
    expect(pipelineRun).toMatchObject({ status: 200, signatureVerified: true });
    expect(pipelineRun.body).toMatchObject({ pipelineId: FRAUD_PIPELINE, configurationOverrideDetails: { type: 'DEFAULT', environmentVariables: { MLOPS_RUN_KEY: expect.stringMatching(/^train-/) as unknown } } });
    await slack.waitFor(() => slack.messages('C0TRAIN').find((message) => message.text.includes('Training pipeline run')), 10_000, 'pipeline run message');
  });

  it('another trainer may retrain while a retrain runs: it starts, with a note, and their double click is one run', async () => {
    const before = posts('/20190101/jobRuns').length;
    await click(alarmRoot, 'run.retrain.fraud-model', 'U0DS2', bot(0));
    await click(alarmRoot, 'run.retrain.fraud-model', 'U0DS2', bot(1));
    const answer = await ephemeralFor('U0DS2', 'still running');
    expect(answer.text).toContain('Retraining `fraud-model`');
    await ephemeralFor('U0DS2', 'queued less than a minute ago');
    await eventually(() => posts('/20190101/jobRuns').length === before + 1, 10_000, 'second job run');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(posts('/20190101/jobRuns')).toHaveLength(before + 1);
  });

  it('auto: an alarm repeating every minute starts one retrain per cooldown across two replicas, and the thread says once why the rest were skipped', async () => {
    const t0 = nowMs();
    const before = posts('/20210630/buildRuns').length;
    const id = 'ocid1.alarm.oc1.iad.churndrift';
    // Deliveries of one firing episode reach both replicas, some at the same moment.
    await Promise.all([
      notify(bot(0), alarmMessage({ id, title: 'churn-model-drift', type: 'OK_TO_FIRING', at: t0 })),
      notify(bot(1), alarmMessage({ id, title: 'churn-model-drift', type: 'REPEAT', at: t0 + 60_000 })),
    ]);
    await notify(bot(0), alarmMessage({ id, title: 'churn-model-drift', type: 'REPEAT', at: t0 + 120_000 }));
    await notify(bot(1), alarmMessage({ id, title: 'churn-model-drift', type: 'REPEAT', at: t0 + 180_000 }));
    const root = await slack.waitFor(() => slack.messages('C0ALARMS').find((message) => message.text.includes('churn-model-drift')), 10_000, 'churn alarm message');
    await slack.waitFor(() => slack.thread('C0ALARMS', root.ts).find((reply) => reply.text.includes('Automatic retrain started of `churn-model`')), 10_000, 'auto retrain note');
    await slack.waitFor(() => slack.thread('C0ALARMS', root.ts).find((reply) => reply.text.includes('Automatic retrain of `churn-model` skipped') && reply.text.includes('cooldown of 1h')), 10_000, 'skip note');
    const build = await eventually(() => posts('/20210630/buildRuns').at(before), 10_000, 'createBuildRun');
    expect(build.body).toMatchObject({ buildPipelineId: CHURN_BUILD });
    expect(runKeyOf(build)).toMatch(/^train-[0-9a-f]+$/);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(posts('/20210630/buildRuns')).toHaveLength(before + 1);
    expect(slack.thread('C0ALARMS', root.ts).filter((reply) => reply.text.includes('skipped'))).toHaveLength(1);
    // One episode, one message, although its first deliveries reached both replicas at once.
    expect(slack.messages('C0ALARMS').filter((message) => message.text.includes('churn-model-drift'))).toHaveLength(1);

    // A trainer's click is always allowed, cooldown or not; it says a retrain is still running.
    await click(root, 'run.retrain.churn-model', 'U0DS1', bot(1));
    expect((await ephemeralFor('U0DS1', 'Retraining `churn-model`')).text).toContain('still running');
    await eventually(() => posts('/20210630/buildRuns').length === before + 2, 10_000, 'clicked build run');
  });

  it('a version whose MLflow run carries mlops.run_key is announced in that run’s thread with its metrics and Request promotion, and noted in the alarm’s thread', async () => {
    const runId = mlflow.addRun({ auc: 0.953, loss: 0.21 }, 'retrain', { 'mlops.run_key': fraudRunKey });
    const version = mlflow.addVersion('fraud-model', { runId });
    const response = await FakeMlflow.deliver(`${bot(0).url}/mlflow/webhooks`, WEBHOOK_SECRET, 'model_version', 'created', mlflow.versionCreatedData('fraud-model', version), { timestamp: Math.floor(nowMs() / 1000) });
    expect(response.status).toBe(200);
    const runMessage = await slack.waitFor(() => slack.messages('C0TRAIN').find((message) => slack.thread('C0TRAIN', message.ts).some((reply) => reply.text.includes(`Version \`${version}\``))), 10_000, 'version in the run thread');
    expect(JSON.stringify(runMessage.blocks)).toContain('Retrain of');
    expect(await bot(0).context.runs.getMessage(fraudRunKey)).toMatchObject({ channel: 'C0TRAIN', ts: runMessage.ts });
    const reply = slack.thread('C0TRAIN', runMessage.ts).find((message) => message.text.includes(`Version \`${version}\``));
    const blocks = JSON.stringify(reply?.blocks);
    expect(blocks).toContain('`auc` 0.953');
    expect(blocks).toContain('model.request_promotion');
    expect(mlflow.requests().some((request) => request.path.endsWith('/runs/get') && request.query.run_id === runId)).toBe(true);
    await slack.waitFor(() => slack.thread('C0ALARMS', alarmRoot.ts).find((message) => message.text.includes(`registered version \`${version}\``) && message.text.includes(`/archives/C0TRAIN/p${runMessage.ts.replace('.', '')}`)), 10_000, 'lineage note in the alarm thread');
    expect(slack.messages('C0MODELS').filter((message) => message.text.includes(`Version \`${version}\``))).toHaveLength(0);

    // Request promotion from that reply: the approval request joins the same thread.
    await click(reply as FakeMessage, 'model.request_promotion', 'U0DS1', bot(1));
    await ephemeralFor('U0DS1', 'in this thread');
    const request = await slack.waitFor(() => slack.thread('C0TRAIN', runMessage.ts).find((message) => message.text.includes(`fraud-model v${version}`) && actionIds(message).includes('"action_id":"approval.approve"')), 10_000, 'approval request in the run thread');
    expect(JSON.stringify(request.blocks)).toContain('0.953');

    // Without the tag: the model's channel, as before.
    const untagged = mlflow.addVersion('fraud-model', { runId: mlflow.addRun({ auc: 0.9 }, 'manual') });
    await FakeMlflow.deliver(`${bot(1).url}/mlflow/webhooks`, WEBHOOK_SECRET, 'model_version', 'created', mlflow.versionCreatedData('fraud-model', untagged), { timestamp: Math.floor(nowMs() / 1000) });
    await slack.waitFor(() => slack.messages('C0MODELS').find((message) => message.text.includes(`Version \`${untagged}\``)), 10_000, 'untagged version in the model channel');
  });

  it('/mlops train starts a Data Science pipeline; Retry on its failure starts another, both signed', async () => {
    const before = posts('/20190101/pipelineRuns').length;
    expect(await command('train fraud-pipeline epochs=3', 'U0DS1', bot(0))).toContain('queued training `fraud-pipeline`');
    const create = await eventually(() => posts('/20190101/pipelineRuns').at(before), 10_000, 'createPipelineRun');
    expect(create.signatureVerified).toBe(true);
    expect(create.body).toMatchObject({ configurationOverrideDetails: { type: 'DEFAULT', environmentVariables: { epochs: '3', MLOPS_RUN_KEY: runKeyOf(create) } } });
    const runId = await eventually(() => {
      const message = slack.messages('C0TRAIN').find((candidate) => JSON.stringify(candidate.blocks).includes('epochs=3') && /datasciencepipelinerun/.test(JSON.stringify(candidate.blocks)));
      return JSON.stringify(message?.blocks).match(/ocid1\.datasciencepipelinerun\.oc1\.iad\.[0-9a-f]+/)?.[0];
    }, 10_000, 'pipeline run bound to its OCID');
    oci.fake.setState(runId, 'FAILED', { lifecycleDetails: 'step train failed' });
    await notify(bot(1), {
      eventType: 'com.oraclecloud.datascience.failedpipelinerun',
      cloudEventsVersion: '0.1',
      eventTime: new Date(nowMs() + 1000).toISOString(),
      eventID: `failed-${runId}`,
      data: { resourceId: runId, resourceName: 'fraud-pipeline-run', compartmentId: 'ocid1.compartment.oc1..ml', additionalDetails: { pipelineId: FRAUD_PIPELINE } },
    });
    const failed = await slack.waitFor(() => slack.messages('C0TRAIN').find((message) => JSON.stringify(message.blocks).includes(runId) && actionIds(message).includes('"action_id":"run.retry"')), 10_000, 'failed pipeline run with Retry');
    await click(failed, 'run.retry', 'U0DS1', bot(0));
    await eventually(() => posts('/20190101/pipelineRuns').length === before + 2, 10_000, 'retried pipeline run');
    expect(posts('/20190101/pipelineRuns').at(-1)?.body).toMatchObject({ pipelineId: FRAUD_PIPELINE, configurationOverrideDetails: { environmentVariables: { epochs: '3' } } });
  });
});

describe('Scheduled retraining', () => {
  let redis: TestRedis;
  let slack: FakeSlackApi;
  let oci: TestOci;
  let hooks: ResponseUrlServer;

  const scheduledFile = (schedules: Record<string, string>) =>
    baseConfigFile({
      models: Object.fromEntries(Object.entries(schedules).map(([model, schedule]) => [model, { alias: 'champion', train: 'fraud-model', retrain: { schedule } }])),
    });
  const start = async (file: Record<string, unknown>) => {
    // MLflow is configured but never called: scheduled runs only start OCI runs.
    const started = await startTestBot({ redisUrl: redis.url, slackApiUrl: slack.url, oci: oci.gateway, env: { ...oci.env, MLFLOW_TRACKING_URI: 'http://127.0.0.1:9' }, file });
    await waitReady(started);
    return started;
  };
  const schedulers = async () => {
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const queue = new Queue(QUEUE_NAMES.retrain, { connection, prefix: QUEUE_PREFIX });
    try {
      return (await queue.getJobSchedulers(0, -1)).map((scheduler) => ({ id: scheduler.id ?? scheduler.key, pattern: scheduler.pattern }));
    } finally {
      await queue.close();
      connection.disconnect();
    }
  };

  beforeAll(async () => {
    redis = await startRedis();
    slack = await FakeSlackApi.start({ usergroups: { S0DS: ['U0DS1'] } });
    oci = await startTestOci();
    hooks = await startResponseUrlServer();
  });

  afterAll(async () => {
    await hooks.stop();
    await oci.stop();
    await slack.stop();
    await redis.stop();
  });

  it('a short cron starts the train target once per tick however many workers run, and status shows the next run', async () => {
    const file = scheduledFile({ 'fraud-model': '* * * * * *' }); // every second (six-field cron)
    const workers = [await start(file), await start(file)];
    try {
      await eventually(async () => (await (workers[0] as RunningBot).context.runs.recent(50, 'fraud-model')).filter((run) => run.details.scheduledFor).length >= 3, 15_000, 'three scheduled runs');
      const responseUrl = hooks.url();
      await postSigned(`${(workers[1] as RunningBot).url}/slack/events`, SIGNING_SECRET, slashCommandBody({ text: 'status fraud-model', userId: 'U0DS1', channelId: 'C0TRAIN', responseUrl }));
      expect((await hooks.waitFor(responseUrl)).text).toMatch(/Next scheduled retrain: <!date\^\d+\^.*\(`\* \* \* \* \* \*`, UTC\)/);
    } finally {
      for (const worker of workers) await worker.stop();
    }
    const reader = await start(scheduledFile({}));
    try {
      const runs = (await reader.context.runs.recent(200, 'fraud-model')).filter((run) => run.details.scheduledFor);
      const ticks = runs.map((run) => run.details.scheduledFor);
      expect(new Set(ticks).size).toBe(ticks.length);
      const started = oci.fake.requests().filter((request) => request.method === 'POST' && request.path === '/20190101/jobRuns' && request.status === 200);
      const runKeys = new Set(started.map((request) => runKeyOf(request)));
      // Every OCI run belongs to one tick's run, and no tick started two.
      expect(runKeys.size).toBe(started.length);
      for (const run of runs.filter((candidate) => candidate.resourceId.startsWith('ocid1.'))) expect(runKeys.has(run.key)).toBe(true);
      expect(runs.every((run) => run.details.trigger === 'schedule' && run.details.retrainOf === 'fraud-model')).toBe(true);
    } finally {
      await reader.stop();
    }
  });

  it('a changed schedule replaces the old one at the next start and a removed one leaves no scheduler behind', async () => {
    const first = await start(scheduledFile({ 'fraud-model': '0 3 * * 1', 'churn-model': '0 4 * * *' }));
    await first.stop();
    expect(await schedulers()).toEqual(expect.arrayContaining([{ id: 'retrain-fraud-model', pattern: '0 3 * * 1' }, { id: 'retrain-churn-model', pattern: '0 4 * * *' }]));
    const second = await start(scheduledFile({ 'fraud-model': '30 2 * * *' }));
    await second.stop();
    expect(await schedulers()).toEqual([{ id: 'retrain-fraud-model', pattern: '30 2 * * *' }]);
  });
});
