import { createCanvas, loadImage } from '@napi-rs/canvas';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { foldAndShow } from '../../jobs/fold-run.js';
import type { RunningBot } from '../../src/app.js';
import { FakeMlflow } from '../fakes/fake-mlflow.js';
import { FakeSlackApi } from '../fakes/fake-slack-api.js';
import { BOT_TOKEN, SIGNING_SECRET, baseConfigFile, eventually, startTestBot, waitReady } from '../helpers/bot-harness.js';
import { ociFixtureJson } from '../helpers/oci-fixtures.js';
import { startTestOci, type TestOci } from '../helpers/oci.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { blockActionsBody, postSigned } from '../helpers/slack-request.js';

const COMPARTMENT = 'ocid1.compartment.oc1..ml';
const LOG = { compartmentId: COMPARTMENT, logGroupId: 'ocid1.loggroup.oc1.iad.train', logId: 'ocid1.log.oc1.iad.jobruns' };
const SLACK_TOKEN_IN_LOG = `xoxb-${'1'.repeat(12)}-${'2'.repeat(13)}-AbCdEfGhIjKlMnOpQrStUvWx`;
const CORP_SECRET = `corp-${'Zz9'.repeat(10)}ab`;

let seq = 0;
function event(eventType: string, resourceId: string, resourceName: string, fields: Record<string, unknown> = {}) {
  seq++;
  return {
    eventType,
    cloudEventsVersion: '0.1',
    eventTypeVersion: '2.0',
    source: 'datascience',
    eventTime: new Date(Date.now() - 1000 + seq).toISOString(),
    contentType: 'application/json',
    eventID: `evt-oncall-${seq}-${Math.random().toString(36).slice(2)}`,
    extensions: { compartmentId: COMPARTMENT },
    data: { compartmentId: COMPARTMENT, compartmentName: 'ml-prod', resourceName, resourceId, ...fields },
  };
}

function alarm(type: 'OK_TO_FIRING' | 'FIRING_TO_OK', alarmId: string, at: number) {
  const fixture = ociFixtureJson(type === 'OK_TO_FIRING' ? 'alarm-ok-to-firing.json' : 'alarm-firing-to-ok.json');
  const meta = (fixture.alarmMetaData as Record<string, unknown>[])[0] ?? {};
  return { ...fixture, dedupeKey: `dk-${alarmId}`, title: 'High CPU Utilization', timestampEpochMillis: at, timestamp: new Date(at).toISOString(), alarmMetaData: [{ ...meta, id: alarmId, status: type === 'OK_TO_FIRING' ? 'FIRING' : 'OK' }] };
}


describe('on-call alerts that explain themselves', () => {
  let redis: TestRedis;
  let slack: FakeSlackApi;
  let oci: TestOci;
  let mlflow: FakeMlflow;
  let bot: RunningBot;

  const deliver = async (body: unknown) => {
    const response = await fetch(`${bot.url}/oci/notifications`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-oci-ns-messagetype': 'Notification' }, body: JSON.stringify(body) });
    expect(response.status).toBe(200);
  };

  /** The run's root message in a channel, once its on-call alert (a broadcast reply) is there. */
  const alerted = (channel: string, name: string) =>
    slack.waitFor(() => slack.messages(channel).find((message) => message.text.includes(name) && message.replies.some((reply) => reply.replyBroadcast)), 10_000, `alert for ${name}`);

  beforeAll(async () => {
    redis = await startRedis();
    slack = await FakeSlackApi.start({ usergroups: { S0ONCALL: ['U0ONCALL'], S0DS: ['U0DS1'], S0SRE: ['U0SRE1'] }, limits: false });
    oci = await startTestOci();
    mlflow = await FakeMlflow.start();
    bot = await startTestBot({
      redisUrl: redis.url,
      slackApiUrl: slack.url,
      oci: oci.gateway,
      logSearch: oci.logSearch,
      monitoring: oci.monitoring,
      env: { ...oci.env, MLFLOW_TRACKING_URI: mlflow.url },
      file: baseConfigFile({ alerts: { redact: ['corp-[A-Za-z0-9]{32}'] } }),
    });
    await waitReady(bot);
  });

  afterAll(async () => {
    await bot.stop();
    await mlflow.stop();
    await oci.stop();
    await slack.stop();
    await redis.stop();
  });

  beforeEach(() => slack.reset());

  it('posts the last 30 log lines of a failed job run, newest last, redacted, with a console link and More', async () => {
    const started = Date.now() - 120_000;
    const run = oci.fake.seedJobRun({ lifecycleState: 'FAILED', displayName: 'fraud-train-7', compartmentId: COMPARTMENT, timeStarted: new Date(started).toISOString(), timeFinished: new Date(started + 60_000).toISOString(), logDetails: { logGroupId: LOG.logGroupId, logId: LOG.logId }, lifecycleDetails: 'Job run failed: exit code 1' });
    const lines = Array.from({ length: 40 }, (_, i) => ({ time: new Date(started + i * 1000).toISOString(), message: `epoch ${i + 1}: loss=0.${i}`, source: run.id }));
    lines[35] = { ...lines[35], time: lines[35]?.time ?? '', message: `export SLACK_BOT_TOKEN=${SLACK_TOKEN_IN_LOG}`, source: run.id };
    lines[36] = { ...lines[36], time: lines[36]?.time ?? '', message: `password=${CORP_SECRET}`, source: run.id };
    lines[37] = { ...lines[37], time: lines[37]?.time ?? '', message: `token ${CORP_SECRET}`, source: run.id };
    oci.fake.telemetry.addLogEntries(LOG, lines);
    // Another run's lines in the same log stay out.
    oci.fake.telemetry.addLogEntries(LOG, [{ time: new Date(started + 5000).toISOString(), message: 'someone else', source: 'ocid1.datasciencejobrun.oc1.iad.other' }]);

    await deliver(event('com.oraclecloud.datascience.failedjobrun', run.id, 'fraud-train-7', { additionalDetails: { lifecycleState: 'FAILED' } }));
    const root = await alerted('C0TRAIN', 'fraud-train-7');
    const tail = await slack.waitFor(() => slack.thread('C0TRAIN', root.ts).find((reply) => reply.text.includes('log line')), 10_000, 'log tail');
    const block = JSON.stringify(tail.blocks);
    const code = /```\\n([\s\S]*?)\\n```/.exec(block)?.[1]?.split('\\n') ?? [];
    expect(code).toHaveLength(30);
    expect(code.at(-1)).toContain('epoch 40');
    expect(code[0]).toContain('epoch 11');
    expect(block).not.toContain('someone else');
    expect(block).not.toContain(SLACK_TOKEN_IN_LOG);
    expect(block).not.toContain(CORP_SECRET);
    expect(block).toContain('[REDACTED]');
    expect(block).toContain('https://cloud.oracle.com/logging/log-groups/ocid1.loggroup.oc1.iad.train/logs/ocid1.log.oc1.iad.jobruns?region=us-ashburn-1');
    // The alert itself came first: the tail is a later reply.
    const replies = slack.thread('C0TRAIN', root.ts);
    expect(replies.findIndex((reply) => reply.replyBroadcast)).toBeLessThan(replies.indexOf(replies.find((reply) => reply.ts === tail.ts) ?? tail));
    const searches = oci.fake.requests().filter((request) => request.path.startsWith('/20190909/search'));
    expect(searches.length).toBeGreaterThan(0);
    expect(searches.every((request) => request.signatureVerified)).toBe(true);

    // More: the previous 10 lines, ephemeral, to the clicker only, in the thread.
    const more = (tail.blocks ?? []).flatMap((b) => (Array.isArray(b.elements) ? (b.elements as Record<string, unknown>[]) : [])).find((element) => element.action_id === 'logtail.more');
    expect(more?.value).toMatch(/^[0-9a-f]{40}$/);
    const click = await postSigned(`${bot.url}/slack/events`, SIGNING_SECRET, blockActionsBody({ userId: 'U0ONCALL', channelId: 'C0TRAIN', messageTs: tail.ts, actionId: 'logtail.more', value: String(more?.value) }));
    expect(click.status).toBe(200);
    const page = await slack.waitFor(() => slack.ephemerals('C0TRAIN').find((message) => message.user === 'U0ONCALL' && message.text.includes('earlier')), 10_000, 'older page');
    expect(page.threadTs).toBe(root.ts);
    const older = /```\\n([\s\S]*?)\\n```/.exec(JSON.stringify(page.blocks))?.[1]?.split('\\n') ?? [];
    expect(older).toHaveLength(10);
    expect(older[0]).toContain('epoch 1:');
    expect(older.at(-1)).toContain('epoch 10:');
    expect(JSON.stringify(page.blocks)).not.toContain('logtail.more');
  });

  it('links a failed training run to its MLflow run through the mlops.run_key tag, with its last metrics and step', async () => {
    const runKey = 'train-0000000000000000000000000000abcd';
    mlflow.addTaggedRun({ name: 'fraud-xgb-7', metrics: { auc: 0.8123, loss: 0.4 }, steps: { auc: 14, loss: 15 }, tags: { 'mlops.run_key': runKey }, status: 'FAILED' });
    mlflow.addTaggedRun({ name: 'unrelated', metrics: { auc: 0.99 }, tags: { 'mlops.run_key': 'train-ffff' } });
    const run = oci.fake.seedJobRun({ lifecycleState: 'FAILED', displayName: 'fraud-train-8', compartmentId: COMPARTMENT, freeformTags: { 'mlops.run': runKey } });
    await foldAndShow(bot.context, { key: runKey, resourceId: run.id, subject: 'jobRun', kind: 'training', at: new Date().toISOString(), state: 'FAILED', name: 'fraud-train-8', compartmentId: COMPARTMENT }, { retry: false });
    const root = await alerted('C0TRAIN', 'fraud-train-8');
    const linked = await slack.waitFor(() => slack.thread('C0TRAIN', root.ts).find((reply) => reply.text.includes('MLflow run')), 10_000, 'mlflow link');
    expect(linked.text).toContain('fraud-xgb-7');
    expect(linked.text).toContain('stopped at step 15');
    expect(linked.text).toContain('auc=0.8123');
    // The run link is only made for an https MLflow (links are https or plain text); the fake is http.
    expect(linked.text).not.toContain('<http://');
    const search = mlflow.requests().find((request) => request.path.endsWith('/runs/search'));
    expect(search?.body).toMatchObject({ filter: `tags.\`mlops.run_key\` = '${runKey}'` });
    // No log configured on that run: said once, with how to enable it.
    const noLog = slack.thread('C0TRAIN', root.ts).filter((reply) => reply.text.includes('No log is configured'));
    expect(noLog).toHaveLength(1);
    expect(noLog[0]?.text).toContain('Enable logging');
  });

  it('says once that a run has no log configured, and how to enable it', async () => {
    const run = oci.fake.seedJobRun({ lifecycleState: 'FAILED', displayName: 'fraud-train-nolog', compartmentId: COMPARTMENT });
    const failed = event('com.oraclecloud.datascience.failedjobrun', run.id, 'fraud-train-nolog', { additionalDetails: { lifecycleState: 'FAILED' } });
    await deliver(failed);
    await deliver({ ...failed, eventID: `${failed.eventID}-again` });
    const root = await alerted('C0TRAIN', 'fraud-train-nolog');
    await slack.waitFor(() => slack.thread('C0TRAIN', root.ts).find((reply) => reply.text.includes('No log is configured')), 10_000, 'no-log note');
    await eventually(async () => Object.values(await bot.context.queues.explain.getJobCounts('active', 'waiting', 'delayed')).every((count) => count === 0) || undefined, 10_000, 'explain queue idle');
    expect(slack.thread('C0TRAIN', root.ts).filter((reply) => reply.text.includes('No log is configured'))).toHaveLength(1);
    expect(oci.fake.requests().filter((request) => request.path.startsWith('/20190909/search') && JSON.stringify(request.body).includes(run.id))).toHaveLength(0);
  });

  it('tails a failed DevOps build run from its project log', async () => {
    const build = oci.fake.seedBuildRun({ lifecycleState: 'FAILED', displayName: 'churn-build-3', compartmentId: COMPARTMENT });
    const devopsLog = { compartmentId: COMPARTMENT, logGroupId: 'ocid1.loggroup.oc1.iad.devops', logId: 'ocid1.log.oc1.iad.project' };
    oci.fake.telemetry.addLogEntries(devopsLog, [
      { time: new Date(Date.now() - 30_000).toISOString(), message: 'Step build: docker build .', data: { buildRunId: build.id }, type: 'com.oraclecloud.devops.build', subject: build.id },
      { time: new Date(Date.now() - 20_000).toISOString(), message: 'ERROR: pip install failed', data: { buildRunId: build.id }, type: 'com.oraclecloud.devops.build', subject: build.id },
    ]);
    await deliver({ ...event('com.oraclecloud.devopsbuild.updatebuildrun', build.id, 'churn-build-3'), source: 'devopsbuild' });
    const root = await alerted('C0DEFAULT', 'churn-build-3');
    const tail = await slack.waitFor(() => slack.thread('C0DEFAULT', root.ts).find((reply) => reply.text.includes('log line')), 10_000, 'build log tail');
    expect(JSON.stringify(tail.blocks)).toMatch(/docker build[\s\S]*pip install failed/);
    const search = oci.fake.requests().find((request) => request.path.startsWith('/20190909/search') && JSON.stringify(request.body).includes(build.id));
    expect(search?.body).toMatchObject({ searchQuery: `search "${COMPARTMENT}" | where data.buildRunId = '${build.id}' | sort by datetime desc` });
  });

  it('shares a chart of the alarm metric when it fires and a recovery chart when it returns to OK', async () => {
    const alarmId = 'ocid1.alarm.oc1.iad.cpuhigh';
    const now = Date.now();
    oci.fake.telemetry.seedAlarm({ id: alarmId, displayName: 'High CPU Utilization', metricCompartmentId: 'ocid1.compartment.oc1..apps', namespace: 'oci_computeagent', query: 'CpuUtilization[1m].mean() > 90', resolution: '1m' });
    for (const [resourceId, base] of [['ocid1.instance.oc1.iad.exampleid', 40], ['ocid1.instance.oc1.iad.exampleid2', 45], ['ocid1.instance.oc1.iad.quiet', 10]] as const) {
      oci.fake.telemetry.seedMetric({ compartmentId: 'ocid1.compartment.oc1..apps', namespace: 'oci_computeagent', name: 'CpuUtilization', dimensions: { resourceId }, points: Array.from({ length: 70 }, (_, i) => ({ at: now - (69 - i) * 60_000, value: base + (i > 55 ? 55 : i % 5) })) });
    }
    await deliver(alarm('OK_TO_FIRING', alarmId, now - 5 * 60_000));
    const root = await alerted('C0ONCALL', 'High CPU Utilization');
    const shared = await slack.waitFor(() => slack.thread('C0ONCALL', root.ts).find((reply) => reply.files.length > 0), 15_000, 'firing chart');
    const [file] = shared.files;
    expect(file?.name).toBe('alarm-firing.png');
    expect(file?.bytes?.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
    expect(file?.length).toBe(file?.bytes?.length);
    expect(shared.text).toContain('threshold dashed');
    const image = await loadImage(file?.bytes ?? Buffer.alloc(0));
    expect([image.width, image.height]).toEqual([900, 420]);
    const canvas = createCanvas(image.width, image.height);
    canvas.getContext('2d').drawImage(image, 0, 0);
    expect(slack.calls().map((call) => call.method)).toEqual(expect.arrayContaining(['files.getUploadURLExternal', 'files.completeUploadExternal']));
    expect(slack.calls('files.upload')).toHaveLength(0);
    const summarize = oci.fake.requests().find((request) => request.path.startsWith('/20180401/metrics/actions/summarizeMetricsData'));
    expect(summarize?.body).toMatchObject({ namespace: 'oci_computeagent', query: 'CpuUtilization[1m].mean()', resolution: '1m' });
    expect(summarize?.signatureVerified).toBe(true);

    await deliver(alarm('FIRING_TO_OK', alarmId, now - 60_000));
    const recovered = await slack.waitFor(() => slack.thread('C0ONCALL', root.ts).find((reply) => reply.files.some((f) => f.name === 'alarm-recovered.png')), 15_000, 'recovery chart');
    expect(recovered.text).toContain('recovered');
    expect(slack.files().filter((f) => f.threadTs === root.ts)).toHaveLength(2);
  });

  it('skips the chart with a note when Monitoring does not answer, and the alert still stands', async () => {
    const alarmId = 'ocid1.alarm.oc1.iad.monitoringdown';
    oci.fake.failNext({ pathPrefix: '/20180401/alarms' }, { status: 503, code: 'ServiceUnavailable' });
    await deliver(alarm('OK_TO_FIRING', alarmId, Date.now() - 60_000));
    const root = await alerted('C0ONCALL', 'High CPU Utilization');
    const note = await slack.waitFor(() => slack.thread('C0ONCALL', root.ts).find((reply) => reply.text.includes('No chart for this alarm')), 10_000, 'chart skipped note');
    expect(note.text).toContain('ServiceUnavailable');
    expect(slack.files().filter((f) => f.threadTs === root.ts)).toHaveLength(0);
  });

  it('turns the log tail off with alerts.logTail false', async () => {
    // Its own Redis: the queues are shared by name, and the other bot's workers must not take its jobs.
    const quietRedis = await startRedis();
    const quiet = await startTestBot({ redisUrl: quietRedis.url, slackApiUrl: slack.url, oci: oci.gateway, logSearch: oci.logSearch, monitoring: oci.monitoring, env: { ...oci.env, SLACK_BOT_TOKEN: BOT_TOKEN }, file: baseConfigFile({ alerts: { logTail: false, charts: false } }) });
    try {
      await waitReady(quiet);
      const run = oci.fake.seedJobRun({ lifecycleState: 'FAILED', displayName: 'quiet-train', compartmentId: COMPARTMENT, logDetails: { logGroupId: LOG.logGroupId, logId: LOG.logId } });
      oci.fake.telemetry.addLogEntries(LOG, [{ time: new Date().toISOString(), message: 'quiet line', source: run.id }]);
      await foldAndShow(quiet.context, { key: run.id, resourceId: run.id, subject: 'jobRun', kind: 'training', at: new Date().toISOString(), state: 'FAILED', name: 'quiet-train', compartmentId: COMPARTMENT }, { retry: false });
      const root = await alerted('C0TRAIN', 'quiet-train');
      await eventually(async () => ((await quiet.context.queues.explain.getJobCounts('completed')).completed ?? 0) > 0 || undefined, 10_000, 'explain job done');
      expect(oci.fake.requests().filter((request) => request.path.startsWith('/20190909/') && JSON.stringify(request.body).includes(run.id))).toHaveLength(0);
      expect(slack.thread('C0TRAIN', root.ts).filter((reply) => reply.text.includes('log line'))).toHaveLength(0);
    } finally {
      await quiet.stop();
      await quietRedis.stop();
    }
  });
});
