import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { FakeSlackApi } from '../fakes/fake-slack-api.js';
import { baseConfigFile, eventually, SIGNING_SECRET } from '../helpers/bot-harness.js';
import { startTestOci, type TestOci } from '../helpers/oci.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startResponseUrlServer, type ResponseUrlServer } from '../helpers/response-url-server.js';
import { postSigned, slashCommandBody } from '../helpers/slack-request.js';
import { recordReliability } from './reliability.js';
import { botLauncher, type BotProcess } from './support/bot-process.js';
import { deliver, jobRunEvent, rootsByRun } from './support/notifications.js';

/**
 * A worker SIGKILLed at the moment an upstream performed an effect whose answer the worker never saw.
 * BullMQ hands the job to the next worker once its lock lapses; the effect must still happen once.
 */
describe('a worker killed in the middle of effectful jobs', () => {
  let redis: TestRedis;
  let slack: FakeSlackApi;
  let oci: TestOci;
  let hooks: ResponseUrlServer;
  let web: BotProcess;
  let launcher: ReturnType<typeof botLauncher>;
  const workers: BotProcess[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    slack = await FakeSlackApi.start({ usergroups: { S0DS: ['U0DS1'], S0SRE: ['U0SRE1'], S0ONCALL: ['U0ONCALL'] } });
    oci = await startTestOci();
    hooks = await startResponseUrlServer();
    launcher = botLauncher({ redisUrl: redis.url, slackApiUrl: slack.url, file: baseConfigFile(), oci: { url: oci.fake.url, key: oci.key } });
    web = await launcher.start('web');
    workers.push(await launcher.start('worker'));
  }, 90_000);

  afterAll(async () => {
    await Promise.all([web.stop(), ...workers.map((worker) => worker.stop())]);
    await hooks.stop();
    await oci.stop();
    await slack.stop();
    await redis.stop();
  });

  test('a train whose createJobRun and a run whose root chat.postMessage were answered only after the kill happen once each', async (ctx) => {
    // 1. /mlops train: the worker's createJobRun reaches OCI (the run is created), the answer is held.
    const createHeld = oci.fake.holdNext({ method: 'POST', pathPrefix: '/20190101/jobRuns' });
    const trained = await postSigned(`${web.url}/slack/events`, SIGNING_SECRET, slashCommandBody({ text: 'train fraud-model epochs=3', userId: 'U0DS1', channelId: 'C0TRAIN', responseUrl: hooks.url() }));
    expect(trained.status).toBe(200);
    // 2. A notification for another run: its root message is posted, the answer is held.
    const runId = 'ocid1.datasciencejobrun.oc1.iad.killedwhileposting';
    const postHeld = slack.holdNext('chat.postMessage', (args) => (args.metadata as { event_payload?: { key?: unknown } } | undefined)?.event_payload?.key === `run:${runId}`);
    expect(await deliver(web.url, jobRunEvent('succeededjobrun', runId, 'killed-while-posting', { at: new Date() }))).toBe(200);

    await Promise.all([createHeld.arrived, postHeld.arrived]);
    const first = workers[0];
    if (!first) throw new Error('no worker');
    await first.kill();
    createHeld.release();
    postHeld.release();
    workers.push(await launcher.start('worker'));

    // The jobs come back once the dead worker's locks lapse (BullMQ's stalled-job check).
    const trainRoot = await eventually(
      () => slack.messages('C0TRAIN').find((message) => message.text.includes('fraud-model') && !message.text.includes('queued')),
      120_000,
      'the train run shown as started',
    );
    const roots = await eventually(() => {
      const found = rootsByRun(slack).get(runId);
      return found && found.length > 0 ? found : undefined;
    }, 120_000, 'the notification run shown');
    // Anything still retrying would post now; give the retried jobs time to finish and count again.
    await eventually(async () => {
      const text = await fetch(`${workers[1]?.metricsUrl ?? ''}/metrics`).then((response) => response.text());
      return /mlops_jobs_total\{queue="train",outcome="completed"\} 1\b/.test(text);
    }, 60_000, 'the train job completed on the new worker');

    const createCalls = oci.fake.requests().filter((request) => request.method === 'POST' && request.path.startsWith('/20190101/jobRuns'));
    const tokens = new Set(createCalls.map((request) => request.headers['opc-retry-token']));
    const trainRoots = slack.messages('C0TRAIN').filter((message) => message.text.includes('fraud-model'));
    const notificationRoots = rootsByRun(slack).get(runId) ?? [];
    recordReliability(ctx, {
      area: 'worker process',
      fault: 'SIGKILL while OCI createJobRun (/mlops train) had been performed but not yet answered',
      cases: 1,
      outcome: `createJobRun sent ${createCalls.length}× with ${tokens.size} opc-retry-token(s); run messages in Slack ${trainRoots.length}, showing "${trainRoot.text.slice(0, 60)}"`,
    });
    recordReliability(ctx, {
      area: 'worker process',
      fault: 'SIGKILL after chat.postMessage of a run root message was performed but before its ts was stored',
      cases: 1,
      outcome: `root messages for the run ${notificationRoots.length}; chat.postMessage calls for it ${slack.effective('chat.postMessage').filter((call) => (call.args.metadata as { event_payload?: { key?: unknown } } | undefined)?.event_payload?.key === `run:${runId}`).length}, found again via conversations.history ${slack.effective('conversations.history').length}×`,
    });
    expect(createCalls.length).toBeGreaterThanOrEqual(2);
    expect(tokens.size).toBe(1);
    // The same token makes OCI answer with the run it already created: one job run, shown once.
    expect(createCalls.every((request) => request.status === 200)).toBe(true);
    expect(trainRoots).toHaveLength(1);
    expect(roots).toHaveLength(1);
    expect(notificationRoots).toHaveLength(1);
  }, 240_000);
});
