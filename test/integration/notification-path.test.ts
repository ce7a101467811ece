import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { RunningBot } from '../../src/app.js';
import type { Job } from 'bullmq';
import { KEY_PREFIX, keys } from '../../src/adapters/redis/keys.js';
import { Lease } from '../../src/adapters/redis/run-lock.js';
import { parseOciNotification } from '../../src/domain/oci-notification.js';
import type { NotificationJob } from '../../src/queues.js';
import { createNotificationProcessor } from '../../jobs/oci-notification.js';
import { FakeSlackApi } from '../fakes/fake-slack-api.js';
import { eventually, startTestBot, waitReady } from '../helpers/bot-harness.js';
import { startTestOci, type TestOci } from '../helpers/oci.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';

const USER = 'ons';
const PASSWORD = 'p@ss:word/with?reserved';
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

let seq = 0;
function jobRunEvent(eventType: string, resourceId: string, fields: Record<string, unknown> = {}) {
  seq++;
  return {
    eventType: `com.oraclecloud.datascience.${eventType}`,
    cloudEventsVersion: '0.1',
    eventTypeVersion: '2.0',
    source: 'datascience',
    eventTime: new Date(Date.UTC(2026, 10, 22, 12, 0, seq)).toISOString(),
    contentType: 'application/json',
    eventID: `evt-${seq}-${Math.random().toString(36).slice(2)}`,
    extensions: { compartmentId: 'ocid1.compartment.oc1..ml' },
    data: { compartmentId: 'ocid1.compartment.oc1..ml', compartmentName: 'ml-prod', resourceName: 'fraud-train-42', resourceId, ...fields },
  };
}

describe('OCI Notifications in, live pipeline status in Slack', () => {
  let redis: TestRedis;
  let slack: FakeSlackApi;
  let oci: TestOci;
  let bot: RunningBot;
  let confirmServer: Server;
  let confirmOrigin: string;
  const confirmHits: string[] = [];

  const post = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${bot.url}/oci/notifications`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: basic(USER, PASSWORD), 'x-oci-ns-messagetype': 'Notification', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  const start = async () => {
    bot = await startTestBot({
      redisUrl: redis.url,
      slackApiUrl: slack.url,
      oci: oci.gateway,
      env: { ...oci.env, OCI_NOTIFICATIONS_USER: USER, OCI_NOTIFICATIONS_PASSWORD: PASSWORD, OCI_CONFIRM_HOSTS: `*.oraclecloud.com,${confirmOrigin}` },
    });
    await waitReady(bot);
  };

  beforeAll(async () => {
    confirmServer = createServer((req, res) => {
      confirmHits.push(req.url ?? '');
      res.writeHead(200);
      res.end('confirmed');
    });
    await new Promise<void>((resolve) => confirmServer.listen(0, '127.0.0.1', resolve));
    confirmOrigin = `http://127.0.0.1:${(confirmServer.address() as AddressInfo).port}`;
    redis = await startRedis();
    slack = await FakeSlackApi.start({ usergroups: { S0ONCALL: ['U0ONCALL'], S0DS: ['U0DS1'], S0SRE: ['U0SRE1'] } });
    oci = await startTestOci();
    await start();
  });

  afterAll(async () => {
    await bot.stop();
    await oci.stop();
    await slack.stop();
    await redis.stop();
    await new Promise<void>((resolve) => confirmServer.close(() => resolve()));
  });

  beforeEach(() => {
    slack.reset();
  });

  it('serves health and readiness on the main port, Prometheus metrics only on the metrics listener', async () => {
    expect((await fetch(`${bot.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${bot.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', checks: { redis: true, slack: true, workers: true } });
    expect(new URL(bot.metricsUrl).port).not.toBe(new URL(bot.url).port);
    const scrape = await fetch(`${bot.metricsUrl}/metrics`);
    expect(scrape.status).toBe(200);
    expect(scrape.headers.get('content-type')).toContain('text/plain');
    const metrics = await scrape.text();
    for (const name of ['mlops_http_requests_total', 'mlops_queue_jobs', 'mlops_queue_oldest_waiting_seconds', 'mlops_oci_notifications_total', 'mlops_jobs_total', 'mlops_slack_api_calls_total', 'mlops_approval_decision_seconds']) {
      expect(metrics, name).toContain(`# TYPE ${name} `);
    }
    expect(metrics).toMatch(/mlops_queue_oldest_waiting_seconds\{queue="oci-notifications"\} \d/);
    // The public port (behind the load balancer) does not serve them; the metrics listener serves nothing else.
    expect((await fetch(`${bot.url}/metrics`)).status).toBe(404);
    expect((await fetch(`${bot.metricsUrl}/healthz`)).status).toBe(404);
    expect((await fetch(`${bot.metricsUrl}/oci/notifications`, { method: 'POST', body: '{}' })).status).toBe(404);
  });

  it('challenges a delivery without credentials, or with wrong ones, with 401 and WWW-Authenticate: Basic', async () => {
    const none = await fetch(`${bot.url}/oci/notifications`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Basic/);
    const wrong = await post(jobRunEvent('succeededjobrun', 'ocid1.datasciencejobrun.oc1.iad.x'), { authorization: basic(USER, 'nope') });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toMatch(/^Basic/);
    const wrongUser = await post(jobRunEvent('succeededjobrun', 'ocid1.datasciencejobrun.oc1.iad.x'), { authorization: basic('someone', PASSWORD) });
    expect(wrongUser.status).toBe(401);
  });

  it('accepts the right credentials however the scheme is spelled (case, spacing)', async () => {
    const token = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');
    for (const authorization of [`basic ${token}`, `BASIC   ${token}`, `Basic ${token} `]) {
      const response = await post(jobRunEvent('succeededjobrun', 'ocid1.datasciencejobrun.oc1.iad.spelled'), { authorization });
      expect(response.status, authorization).toBe(200);
    }
  });

  it('confirms a subscription by visiting an allowed ConfirmationURL and says so in the default channel', async () => {
    const url = `${confirmOrigin}/20181201/subscriptions/ocid1.onssubscription.oc1.iad.s/confirmation?token=abc&amp;protocol=CUSTOM_HTTPS`;
    const response = await post({ ConfirmationURL: url }, { 'x-oci-ns-messagetype': 'SubscriptionConfirmation', 'x-oci-ns-confirmationurl': url, 'x-oci-ns-topicname': 'mlops-events' });
    expect(response.status).toBe(200);
    expect(confirmHits.at(-1)).toBe('/20181201/subscriptions/ocid1.onssubscription.oc1.iad.s/confirmation?token=abc&protocol=CUSTOM_HTTPS');
    const notice = await slack.waitFor(() => slack.messages('C0DEFAULT').find((message) => message.text.includes('subscription')));
    expect(notice.text).toContain('mlops-events');
    expect(notice.text).toContain('is active');
  });

  it('takes the ConfirmationURL from the body when the header is missing', async () => {
    const before = confirmHits.length;
    const response = await post({ ConfirmationURL: `${confirmOrigin}/confirm-from-body` }, { 'x-oci-ns-messagetype': 'SubscriptionConfirmation' });
    expect(response.status).toBe(200);
    expect(confirmHits.slice(before)).toEqual(['/confirm-from-body']);
  });

  it.each([
    ['cloud metadata', 'https://169.254.169.254/latest/meta-data'],
    ['plain http on an allowed domain', 'http://cell1.notification.us-ashburn-1.oci.oraclecloud.com/confirm'],
    ['a look-alike host', 'https://notification.oraclecloud.com.evil.example/confirm'],
    ['another port of the allowed test origin', 'http://127.0.0.1:1/confirm'],
    ['localhost', 'https://localhost/confirm'],
  ])('refuses a ConfirmationURL aimed at %s without fetching it', async (_label, url) => {
    const before = confirmHits.length;
    const response = await post({ ConfirmationURL: url }, { 'x-oci-ns-messagetype': 'SubscriptionConfirmation', 'x-oci-ns-confirmationurl': url });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toMatch(/ConfirmationURL/);
    expect(confirmHits.length).toBe(before);
  });

  it('refuses bodies over 64 KiB with 413 and malformed JSON with 400 and a reason', async () => {
    const big = await post(JSON.stringify({ eventType: 'x', eventID: 'y', data: { resourceName: 'a'.repeat(70 * 1024) } }));
    expect(big.status).toBe(413);
    const bad = await post('{"eventType": "com.oraclecloud.datascience.failedjobrun", ');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/not valid JSON/);
  });

  it("follows a training job run from accepted to succeeded in one message, updated in place, with the thread narrating", async () => {
    const runId = 'ocid1.datasciencejobrun.oc1.iad.life1';
    expect((await post(jobRunEvent('createjobrun.end', runId))).status).toBe(200);
    const root = await slack.waitFor(() => slack.messages('C0TRAIN').find((message) => message.text.includes('fraud-train-42')), 10_000, 'root message');
    expect(root.text).toContain('accepted');
    expect(JSON.stringify(root.blocks)).toContain('ml-prod');
    expect(JSON.stringify(root.blocks)).toContain(`https://cloud.oracle.com/data-science/job-runs/${runId}?region=us-ashburn-1`);

    expect((await post(jobRunEvent('succeededjobrun', runId))).status).toBe(200);
    await slack.waitFor(() => slack.message('C0TRAIN', root.ts)?.text.includes('succeeded'), 10_000, 'updated root');
    await slack.waitFor(() => slack.thread('C0TRAIN', root.ts).length === 1, 10_000, 'thread reply');
    expect(slack.messages('C0TRAIN')).toHaveLength(1);
    expect(slack.effective('chat.update').every((call) => call.args.ts === root.ts)).toBe(true);
    expect(slack.thread('C0TRAIN', root.ts)[0]?.text).toContain('succeeded');
    expect(slack.message('C0TRAIN', root.ts)?.text).toMatch(/in \d+s/);
  });

  it('gives a duplicate delivery (same eventID) exactly one effect', async () => {
    const runId = 'ocid1.datasciencejobrun.oc1.iad.dup1';
    const event = jobRunEvent('failedjobrun', runId);
    const responses = await Promise.all([post(event), post(event), post(event)]);
    expect(responses.map((response) => response.status)).toEqual([200, 200, 200]);
    const root = await slack.waitFor(() => slack.messages('C0TRAIN').find((message) => message.text.includes('failed')), 10_000, 'failure message');
    await slack.waitFor(() => slack.thread('C0TRAIN', root.ts).length >= 1, 10_000, 'alert');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(slack.messages('C0TRAIN')).toHaveLength(1);
    expect(slack.thread('C0TRAIN', root.ts)).toHaveLength(1);
  });

  it('asks OCI for the state of a DevOps build run, and a failure alerts on-call with Retry and Open in console', async () => {
    const build = oci.fake.seedBuildRun({ lifecycleState: 'FAILED', displayName: 'churn-build-7', lifecycleDetails: 'Stage "train" failed: exit code 1' });
    const event = {
      eventType: 'com.oraclecloud.devopsbuild.updatebuildrun',
      cloudEventsVersion: '0.1',
      eventTypeVersion: '2.0',
      source: 'devopsbuild',
      eventTime: new Date().toISOString(),
      contentType: 'application/json',
      eventID: `build-${build.id}`,
      data: { compartmentId: 'ocid1.compartment.oc1..ml', resourceName: 'churn-build-7', resourceId: build.id },
    };
    expect((await post(event)).status).toBe(200);
    const root = await slack.waitFor(() => slack.messages('C0DEFAULT').find((message) => message.text.includes('churn-build-7')), 10_000, 'build message');
    expect(root.text).toContain('failed');
    expect(oci.fake.requests().some((request) => request.method === 'GET' && request.path.endsWith(build.id) && request.status === 200)).toBe(true);
    const alert = await slack.waitFor(() => slack.thread('C0DEFAULT', root.ts).find((message) => message.replyBroadcast), 10_000, 'on-call alert');
    expect(alert.text).toContain('<!subteam^S0ONCALL>');
    expect(alert.text).toContain('exit code 1');
    const actions = JSON.stringify(alert.blocks);
    expect(actions).toContain('run.retry');
    expect(actions).toContain('run.open_console');
    expect(actions).toContain('/devops-build/projects/ocid1.devopsproject.oc1.iad.proj/build-pipelines/');
  });

  it('escapes event text: a resource named <!channel> pings nobody', async () => {
    const runId = 'ocid1.datasciencejobrun.oc1.iad.hostile';
    await post(jobRunEvent('succeededjobrun', runId, { resourceName: '<!channel> <@U0LEAD1> <https://evil.example|click>' }));
    const root = await slack.waitFor(() => slack.messages('C0TRAIN').find((message) => message.text.includes('&lt;!channel&gt;')), 10_000, 'escaped message');
    // plain_text (the header) is rendered literally by Slack; everything parsed as mrkdwn must be escaped.
    const mrkdwn: string[] = [root.text];
    JSON.stringify(root.blocks, (_key, value: unknown) => {
      if (typeof value === 'object' && value !== null && (value as { type?: unknown }).type === 'mrkdwn') mrkdwn.push(String((value as { text?: unknown }).text));
      return value;
    });
    const everything = mrkdwn.join('\n');
    expect(everything).toContain('&lt;!channel&gt;');
    expect(everything).not.toContain('<!channel>');
    expect(everything).not.toContain('<@U0LEAD1>');
    expect(everything).not.toContain('<https://evil.example');
  });

  it('shows a run whose fold was stored by an attempt that died before asking Slack, when the delivery is retried', async () => {
    const runId = 'ocid1.datasciencejobrun.oc1.iad.crashfold1';
    const parsed = parseOciNotification(JSON.stringify(jobRunEvent('succeededjobrun', runId)), {}, new Date().toISOString());
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    const process = createNotificationProcessor(bot.context);
    const job = (attempt: { attemptsMade: number; stalledCounter: number; attemptsStarted: number }) =>
      ({ id: 'retry-job', queueName: 'oci-notifications', data: { notification: parsed.notification, receivedAt: new Date().toISOString() }, ...attempt }) as unknown as Job<NotificationJob>;
    const first = { attemptsMade: 0, stalledCounter: 0, attemptsStarted: 1 };
    // The first attempt stores its fold, and its worker dies before the Slack job is enqueued.
    // Only this run's ask fails: other tests' background work (a deployment's poller, say) may ask for theirs meanwhile.
    const queue = bot.context.queues.slackStatus;
    const realAdd = queue.add.bind(queue);
    const forThisRun = (data: unknown) => JSON.stringify(data).includes(runId);
    const add = vi.spyOn(queue, 'add').mockImplementation(async (name, data, opts) => {
      if (forThisRun(data)) throw new Error('worker killed');
      return realAdd(name, data, opts);
    });
    await expect(process(job(first))).rejects.toThrow('worker killed');
    add.mockRestore();
    const folded = await bot.context.runs.get(runId);
    expect(folded?.state).toBe('SUCCEEDED');
    // Delivered again as a first attempt (a duplicate), the fold changes nothing and asks for nothing.
    const asked = vi.spyOn(queue, 'add');
    await process(job(first));
    expect(asked.mock.calls.filter(([, data]) => forThisRun(data))).toEqual([]);
    asked.mockRestore();
    // Picked up again after its worker died (stalled), the same job asks Slack to show the run.
    await process(job({ attemptsMade: 0, stalledCounter: 1, attemptsStarted: 2 }));
    const root = await slack.waitFor(() => slack.messages('C0TRAIN').find((message) => message.text.includes('fraud-train-42') && message.text.includes('succeeded')), 10_000, 'root after retry');
    expect(slack.messages('C0TRAIN')).toHaveLength(1);
    expect(root.text).toContain('succeeded');
  });

  it('coalesces while another worker holds the run: one pending Slack job for the run, and the last state is shown', async () => {
    const runId = 'ocid1.datasciencejobrun.oc1.iad.coalesce1';
    expect((await post(jobRunEvent('createjobrun.end', runId))).status).toBe(200);
    const root = await slack.waitFor(() => slack.messages('C0TRAIN').find((message) => message.text.includes('accepted') && message.text.includes('fraud-train-42')), 10_000, 'root');
    // Another worker is showing this run (e.g. waiting for a Slack rate-limit slot) and holds its lease.
    const lease = await eventually(() => Lease.acquire(bot.context.redis, keys.runLock(runId), 20_000), 10_000, 'the run lease');
    const states = ['startjobrun.begin', 'startjobrun.end', 'succeededjobrun'];
    for (const state of states) expect((await post(jobRunEvent(state, runId))).status).toBe(200);
    // Every delivery is folded; the run's one pending Slack job absorbs the later asks and keeps coming back for the lease.
    await eventually(async () => {
      const run = await bot.context.runs.get(runId);
      expect(run?.state).toBe('SUCCEEDED');
      const counts = await bot.context.queues.slackStatus.getJobCounts('waiting', 'active', 'delayed');
      expect((counts.waiting ?? 0) + (counts.active ?? 0) + (counts.delayed ?? 0)).toBe(1);
      return true;
    }, 15_000, 'one Slack job left for the run');
    expect(slack.message('C0TRAIN', root.ts)?.text).toContain('accepted');
    await lease.release();
    await slack.waitFor(() => slack.message('C0TRAIN', root.ts)?.text.includes('succeeded'), 15_000, 'final state after the lease is released');
    await slack.waitFor(() => slack.thread('C0TRAIN', root.ts).length >= 1, 10_000, 'narration');
    expect(slack.messages('C0TRAIN').map((message) => message.text)).toHaveLength(1);
  });

  it('brings a message found again after an interrupted post up to the run, instead of leaving it at the version it was posted with', async () => {
    const runId = 'ocid1.datasciencejobrun.oc1.iad.adopted1';
    expect((await post(jobRunEvent('createjobrun.end', runId))).status).toBe(200);
    const root = await slack.waitFor(() => slack.messages('C0TRAIN').find((message) => message.text.includes('accepted') && message.text.includes('fraud-train-42')), 10_000, 'root');
    await eventually(async () => (await bot.context.runs.getMessage(runId))?.ts === root.ts, 10_000, 'message stored');
    // As if the worker that posted the root had died before storing its ts: the marker is all that is left.
    await bot.context.redis.del(keys.runMessage(runId));
    await bot.context.redis.set(`${KEY_PREFIX}:posting:run:${runId}`, String(Math.floor(Date.now() / 1000) - 5), 'EX', 3600);
    expect((await post(jobRunEvent('succeededjobrun', runId))).status).toBe(200);
    await slack.waitFor(() => slack.message('C0TRAIN', root.ts)?.text.includes('succeeded'), 15_000, 'the found root updated to the final state');
    expect(slack.messages('C0TRAIN')).toHaveLength(1);
    expect((await bot.context.runs.getMessage(runId))?.ts).toBe(root.ts);
  });

  it('keeps using the same message after the bot restarts in the middle of a run', async () => {
    const runId = 'ocid1.datasciencejobrun.oc1.iad.restart1';
    await post(jobRunEvent('createjobrun.end', runId));
    const root = await slack.waitFor(() => slack.messages('C0TRAIN').find((message) => message.text.includes('fraud-train-42')), 10_000, 'root');
    await bot.stop();
    await start();
    await post(jobRunEvent('succeededjobrun', runId));
    await slack.waitFor(() => slack.message('C0TRAIN', root.ts)?.text.includes('succeeded'), 10_000, 'update after restart');
    expect(slack.messages('C0TRAIN')).toHaveLength(1);
  });

  it('turns an alarm into one message per firing episode: firing alerts on-call, OK resolves it in place', async () => {
    const alarm = (type: string, at: number) => ({
      dedupeKey: 'dedupe-cpu',
      title: 'fraud-model p99 latency',
      body: 'Check the fraud-model deployment',
      type,
      severity: 'CRITICAL',
      timestampEpochMillis: at,
      timestamp: new Date(at).toISOString(),
      alarmMetaData: [
        {
          id: 'ocid1.alarm.oc1.iad.latency',
          status: type === 'OK_TO_FIRING' || type === 'REPEAT' ? 'FIRING' : 'OK',
          severity: 'CRITICAL',
          namespace: 'oci_datascience',
          query: 'Latency[1m].p99() > 500',
          totalMetricsFiring: 1,
          dimensions: [{ resourceDisplayName: 'fraud-model', region: 'us-ashburn-1' }],
          metricValues: [{ 'Latency[1m].p99()': '812' }],
          alarmUrl: 'https://cloud.oracle.com/monitoring/alarms/ocid1.alarm.oc1.iad.latency?region=us-ashburn-1',
        },
      ],
      notificationType: 'Split messages per metric stream',
      version: 1.5,
    });
    const t0 = Date.UTC(2026, 10, 22, 13, 0, 0);
    await post(alarm('OK_TO_FIRING', t0));
    const root = await slack.waitFor(() => slack.messages('C0ONCALL').find((message) => message.text.includes('latency')), 10_000, 'alarm message');
    expect(root.text).toContain('firing');
    await slack.waitFor(() => slack.thread('C0ONCALL', root.ts).find((message) => message.text.includes('<!subteam^S0ONCALL>')), 10_000, 'alarm alert');
    await post(alarm('REPEAT', t0 + 60_000));
    await post(alarm('FIRING_TO_OK', t0 + 120_000));
    await slack.waitFor(() => slack.message('C0ONCALL', root.ts)?.text.includes('resolved'), 10_000, 'resolved');
    await post(alarm('OK_TO_FIRING', t0 + 600_000));
    await slack.waitFor(() => slack.messages('C0ONCALL').length === 2, 10_000, 'second episode');
  });

  it('posts anything else on the topic as a notice, never as an error', async () => {
    const response = await post('Deployment window opens at 18:00', { 'content-type': 'text/plain; charset=UTF-8', 'x-oci-ns-messageid': 'msg-plain-1', 'x-oci-ns-topicname': 'ops' });
    expect(response.status).toBe(200);
    await slack.waitFor(() => slack.messages('C0DEFAULT').find((message) => JSON.stringify(message.blocks).includes('Deployment window opens')), 10_000, 'notice');
  });

  it('answers 503 while Redis is down, so OCI retries, and accepts again once it is back', async () => {
    await redis.stop();
    try {
      const response = await post(jobRunEvent('succeededjobrun', 'ocid1.datasciencejobrun.oc1.iad.down1'));
      expect(response.status).toBe(503);
      expect((await fetch(`${bot.url}/readyz`)).status).toBe(503);
    } finally {
      await redis.start();
    }
    await eventually(async () => (await fetch(`${bot.url}/readyz`)).status === 200, 15_000, 'ready again');
    const response = await post(jobRunEvent('succeededjobrun', 'ocid1.datasciencejobrun.oc1.iad.down1'));
    expect(response.status).toBe(200);
    await slack.waitFor(() => slack.messages('C0TRAIN').length === 1, 15_000, 'message after recovery');
  });
});
