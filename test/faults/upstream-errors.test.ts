import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { KUBE_REQUEST_TIMEOUT_MS } from '../../src/adapters/kube/kube-client.js';
import { MLFLOW_TIMEOUT_MS } from '../../src/adapters/mlflow/mlflow-client.js';
import { OCI_CALL_TIMEOUT_MS } from '../../src/adapters/oci/retry-after-http-client.js';
import { TRAIN_JOB_OPTIONS } from '../../src/queues.js';
import { FakeKubeApi } from '../fakes/fake-kube-api.js';
import { FakeMlflow } from '../fakes/fake-mlflow.js';
import { FakeSlackApi, type FakeMessage } from '../fakes/fake-slack-api.js';
import { baseConfigFile, eventually } from '../helpers/bot-harness.js';
import { startTestOci, type TestOci } from '../helpers/oci.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startResponseUrlServer, type ResponseUrlServer } from '../helpers/response-url-server.js';
import { recordReliability } from './reliability.js';
import { botLauncher, type BotProcess } from './support/bot-process.js';
import { slackUser, type SlackUser } from './support/slack-user.js';

/**
 * OCI (createJobRun of /mlops train), MLflow (the promote job's alias calls) and Kubernetes (the rollback
 * job's Deployment calls) answering throttling, server errors and timeouts, which the jobs retry with
 * growing backoff and then report in Slack, and 401/403/404, which are reported after one attempt.
 * One ROLE=all bot process; every case runs at once against its own train target, model or Deployment.
 */

const ATTEMPTS = TRAIN_JOB_OPTIONS.attempts ?? 1;
const BACKOFF_MS = typeof TRAIN_JOB_OPTIONS.backoff === 'object' ? (TRAIN_JOB_OPTIONS.backoff.delay ?? 0) : 0;
const NS = 'inference';
/** Past the client's own timeout, so the call is given up on while the upstream still performs it. */
const LATE_MS = 2_000;

interface StatusFault {
  status: number;
  retryable: boolean;
  oci: string;
  mlflow: string;
}

const STATUS_FAULTS: StatusFault[] = [
  { status: 429, retryable: true, oci: 'TooManyRequests', mlflow: 'REQUEST_LIMIT_EXCEEDED' },
  { status: 500, retryable: true, oci: 'InternalServerError', mlflow: 'INTERNAL_ERROR' },
  { status: 502, retryable: true, oci: 'BadGateway', mlflow: 'BAD_GATEWAY' },
  { status: 503, retryable: true, oci: 'ServiceUnavailable', mlflow: 'TEMPORARILY_UNAVAILABLE' },
  { status: 401, retryable: false, oci: 'NotAuthenticated', mlflow: 'UNAUTHENTICATED' },
  { status: 403, retryable: false, oci: 'NotAllowed', mlflow: 'PERMISSION_DENIED' },
  { status: 404, retryable: false, oci: 'NotAuthorizedOrNotFound', mlflow: 'RESOURCE_DOES_NOT_EXIST' },
];

/** What one case measured: the faulted call's arrivals at the fake and what Slack showed at the end. */
interface Measured {
  upstream: 'OCI' | 'MLflow' | 'Kubernetes';
  fault: string;
  retryable: boolean;
  /** Arrival times of the faulted call, in order. */
  arrivals: number[];
  /** The text a user sees for the outcome. */
  shown: string;
  /** How many Slack messages the case produced (one expected). */
  messages: number;
  /** Whether the outcome is the failure (true) or the success after retries (false). */
  failed: boolean;
}

/** Fakes log a request when they answer it; a late answer is logged after the retry that followed it. */
const arrivalTimes = (calls: { at: number }[]): number[] => calls.map((call) => call.at).sort((a, b) => a - b);
/** A timed-out call's late answer can come after its retry's outcome shows; it is logged only then. */
const lateAnswersLogged = (): Promise<void> => sleep(LATE_MS + 1_000);
const gapsOf = (arrivals: number[]): number[] => arrivals.slice(1).map((at, index) => at - (arrivals[index] ?? at));
const seconds = (ms: number): string => (ms / 1000).toFixed(1);
/** The texts of a message's blocks (sections, fields, context elements), in order. */
function blockTexts(message: FakeMessage): string[] {
  const texts: string[] = [];
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(visit);
    else if (value && typeof value === 'object') {
      const text = (value as { text?: unknown }).text;
      if (typeof text === 'string') texts.push(text);
      Object.values(value).forEach(visit);
    }
  };
  visit(message.blocks ?? []);
  return texts;
}
const plainText = (message: FakeMessage): string => `${message.text} ${JSON.stringify(message.blocks ?? [])}`;

describe('OCI, MLflow and Kubernetes answering errors and timeouts', () => {
  let redis: TestRedis;
  let slack: FakeSlackApi;
  let oci: TestOci;
  let mlflow: FakeMlflow;
  let kube: FakeKubeApi;
  let hooks: ResponseUrlServer;
  let bot: BotProcess;
  let user: SlackUser;

  const label = (upstream: string, fault: string) => `${upstream}-${fault}`.toLowerCase();
  // A channel per case: each request posts at once, and Slack allows about one message per second per channel.
  const channelOf = (upstream: 'M' | 'K', fault: string) => `C0${upstream}${fault.toUpperCase()}`;
  const statusLabels = STATUS_FAULTS.map((fault) => String(fault.status));
  const allLabels = [...statusLabels, 'timeout'];
  /** The case where a 429's Retry-After asks for longer than the job's backoff would wait. */
  const LONG_WAIT = 'wait';
  const LONG_RETRY_AFTER_S = 7;

  beforeAll(async () => {
    redis = await startRedis();
    slack = await FakeSlackApi.start({ usergroups: { S0DS: ['U0DS1'], S0SRE: ['U0SRE1'], S0ONCALL: ['U0ONCALL'] } });
    oci = await startTestOci();
    mlflow = await FakeMlflow.start();
    kube = await FakeKubeApi.start();
    hooks = await startResponseUrlServer();
    const job = { jobId: 'ocid1.datasciencejob.oc1.iad.faultjob', projectId: 'ocid1.datascienceproject.oc1.iad.proj', compartmentId: 'ocid1.compartment.oc1..ml' };
    const models: Record<string, unknown> = {};
    for (const fault of [...allLabels, LONG_WAIT]) {
      const model = label('mlflow', fault);
      mlflow.setAliasDirectly(model, 'champion', mlflow.addVersion(model));
      mlflow.addVersion(model);
      models[model] = { alias: 'champion', channel: channelOf('M', fault) };
      const deployment = label('k', fault);
      kube.createDeployment({ namespace: NS, name: deployment, image: `registry.example.com/${deployment}:1`, replicas: 2 });
      kube.setImage(NS, deployment, `registry.example.com/${deployment}:2`);
    }
    const file = baseConfigFile({
      routes: [{ match: { kind: 'training' }, channel: 'C0TRAIN' }],
      roles: { trainers: ['S0DS'], approvers: ['U0LEAD1'], deployers: ['S0SRE'] },
      approvals: { required: 1, allowSelfApproval: false, ttl: '1h' },
      train: Object.fromEntries([...allLabels, LONG_WAIT].map((fault) => [label('oci', fault), { dataScienceJob: job }])),
      models,
    });
    const launcher = botLauncher({ redisUrl: redis.url, slackApiUrl: slack.url, file, oci: { url: oci.fake.url, key: oci.key }, mlflowUrl: mlflow.url, kubeconfig: kube.kubeconfigText(NS) });
    bot = await launcher.start('all');
    user = slackUser(() => bot.url, hooks);
  }, 90_000);

  afterAll(async () => {
    await bot.stop();
    await hooks.stop();
    await kube.stop();
    await mlflow.stop();
    await oci.stop();
    await slack.stop();
    await redis.stop();
  });

  /** /mlops train of the case's target; createJobRun is faulted. The run's one message shows the outcome. */
  async function train(fault: StatusFault | 'timeout'): Promise<Measured> {
    const target = label('oci', fault === 'timeout' ? 'timeout' : String(fault.status));
    const matcher = { method: 'POST', pathPrefix: '/20190101/jobRuns', bodyIncludes: `"displayName":"${target}-` };
    if (fault === 'timeout') oci.fake.delayNext(matcher, OCI_CALL_TIMEOUT_MS + LATE_MS);
    else oci.fake.failNext(matcher, { status: fault.status, code: fault.oci, count: ATTEMPTS, ...(fault.status === 429 ? { retryAfterSeconds: 1 } : {}) });
    const reply = await user.command(`train ${target}`, 'U0DS1', 'C0TRAIN');
    expect(JSON.stringify(reply)).toContain(target);
    const failed = fault !== 'timeout';
    const message = await eventually(
      () => slack.messages('C0TRAIN').find((candidate) => plainText(candidate).includes(target) && (failed ? plainText(candidate).includes('createJobRun') : !candidate.text.includes('queued'))),
      failed ? 90_000 : OCI_CALL_TIMEOUT_MS + 60_000,
      `the ${target} run message showing its outcome`,
    );
    if (fault === 'timeout') await lateAnswersLogged();
    const calls = oci.fake.requests().filter((request) => request.method === 'POST' && request.path.startsWith('/20190101/jobRuns') && JSON.stringify(request.body).includes(`"${target}-`));
    if (fault === 'timeout') expect(new Set(calls.map((request) => request.headers['opc-retry-token'])).size).toBe(1);
    return {
      upstream: 'OCI',
      fault: fault === 'timeout' ? 'timeout' : String(fault.status),
      retryable: fault === 'timeout' || fault.retryable,
      arrivals: arrivalTimes(calls),
      shown: `${message.text} ${blockTexts(message).find((text) => text.startsWith('>')) ?? ''}`,
      messages: slack.messages('C0TRAIN').filter((candidate) => plainText(candidate).includes(target)).length,
      failed,
    };
  }

  /** /mlops promote of the case's model, approved; the promote job's alias calls are faulted. */
  async function promote(fault: StatusFault | 'timeout'): Promise<Measured> {
    const model = label('mlflow', fault === 'timeout' ? 'timeout' : String(fault.status));
    const channel = channelOf('M', fault === 'timeout' ? 'timeout' : String(fault.status));
    const reply = await user.command(`promote ${model} 2`, 'U0DS1', channel);
    expect(JSON.stringify(reply)).toContain('Approval request');
    const request = await eventually(() => slack.messages(channel).find((candidate) => candidate.text.includes(`${model} v2`)), 30_000, `the ${model} approval request`);
    // Set after the request: requesting reads MLflow too, only the job's calls are faulted.
    if (fault === 'timeout') mlflow.delayNext({ method: 'GET', pathPrefix: '/registered-models/alias', bodyIncludes: `name=${model}` }, MLFLOW_TIMEOUT_MS + LATE_MS, 2);
    else mlflow.failNext('/registered-models/alias', fault.status, fault.mlflow, ATTEMPTS, { method: 'POST', bodyIncludes: `"name":"${model}"`, ...(fault.status === 429 ? { retryAfterSeconds: 1 } : {}) });
    await user.click(request, 'approval.approve', 'U0LEAD1');
    const failed = fault !== 'timeout';
    const outcome = await eventually(
      () => {
        const current = slack.message(request.channel, request.ts);
        const text = current ? plainText(current) : '';
        return (failed ? text.includes('the promotion failed') : text.includes('Promoted')) ? current : undefined;
      },
      90_000,
      `the ${model} approval showing its outcome`,
    );
    if (fault === 'timeout') await lateAnswersLogged();
    const method = fault === 'timeout' ? 'GET' : 'POST';
    const calls = mlflow.requests().filter((call) => call.method === method && call.path.endsWith('/registered-models/alias') && JSON.stringify([call.query, call.body]).includes(`"${model}"`));
    if (!failed) expect(mlflow.alias(model, 'champion')).toBe('2');
    return {
      upstream: 'MLflow',
      fault: fault === 'timeout' ? 'timeout' : String(fault.status),
      retryable: fault === 'timeout' || fault.retryable,
      // A timed-out attempt makes the read three times in all (two timed out, one answered) before its check read.
      arrivals: fault === 'timeout' ? arrivalTimes(calls).slice(0, 3) : arrivalTimes(calls),
      shown: blockTexts(outcome).at(-1) ?? outcome.text,
      messages: slack.messages(channel).filter((candidate) => candidate.text.includes(`${model} v2`)).length,
      failed,
    };
  }

  /** /mlops rollback of the case's Deployment, confirmed; the rollback job's PATCH (or its read) is faulted. */
  async function rollback(fault: StatusFault | 'timeout'): Promise<Measured> {
    const name = label('k', fault === 'timeout' ? 'timeout' : String(fault.status));
    const path = `/apis/apps/v1/namespaces/${NS}/deployments/${name}`;
    const channel = channelOf('K', fault === 'timeout' ? 'timeout' : String(fault.status));
    const reply = await user.command(`rollback ${NS}/${name}`, 'U0SRE1', channel);
    // Set after the confirm step, whose preview reads the Deployment too.
    if (fault === 'timeout') kube.delayNext({ method: 'GET', pathPrefix: path }, KUBE_REQUEST_TIMEOUT_MS + LATE_MS, 2);
    else kube.failNext({ method: 'PATCH', pathPrefix: path }, { code: fault.status, count: ATTEMPTS, ...(fault.status === 429 ? { retryAfterSeconds: 1 } : {}) });
    await user.confirmRollback(reply, 'U0SRE1', channel);
    const failed = fault !== 'timeout';
    const state = failed ? '· failed ·' : '· succeeded ·';
    const message = await eventually(
      () => slack.messages(channel).find((candidate) => candidate.text.includes(`${NS}/${name}`) && candidate.text.includes(state)),
      90_000,
      `the ${name} rollback showing its outcome`,
    ).catch((error: unknown) => {
      const requests = kube.requests().filter((call) => call.path === path).map((call) => `${call.method} ${call.status}`);
      throw new Error(`${String(error)}; Slack shows ${JSON.stringify(slack.messages(channel).map((candidate) => candidate.text))}; requests ${requests.join(', ')}; bot log ${bot.output().slice(-3_000)}`);
    });
    if (fault === 'timeout') await lateAnswersLogged();
    const calls = kube.requests().filter((call) => call.path === path && call.method === (fault === 'timeout' ? 'GET' : 'PATCH') && !call.watch);
    return {
      upstream: 'Kubernetes',
      fault: fault === 'timeout' ? 'timeout' : String(fault.status),
      retryable: fault === 'timeout' || fault.retryable,
      // The preview's read came before the job's: the job's attempts are the last three reads.
      arrivals: fault === 'timeout' ? arrivalTimes(calls).slice(-3) : arrivalTimes(calls),
      shown: message.text,
      messages: slack.messages(channel).filter((candidate) => candidate.text.includes(`${NS}/${name}`)).length,
      failed,
    };
  }

  test('429/5xx/timeouts are retried with growing backoff then reported; 401/403/404 are reported after one attempt', async (ctx) => {
    const faults: (StatusFault | 'timeout')[] = [...STATUS_FAULTS, 'timeout'];
    const measured = await Promise.all([...faults.map(train), ...faults.map(promote), ...faults.map(rollback)]);

    for (const upstream of ['OCI', 'MLflow', 'Kubernetes'] as const) {
      const cases = measured.filter((entry) => entry.upstream === upstream);
      const describeCase = (entry: Measured) => `${entry.fault}: ${entry.arrivals.length} attempt(s)${entry.arrivals.length > 1 ? `, gaps ${gapsOf(entry.arrivals).map(seconds).join('/')} s` : ''}, ${entry.messages} message(s)`;
      const retried = cases.filter((entry) => entry.retryable && entry.failed);
      const timedOut = cases.filter((entry) => entry.fault === 'timeout');
      const final = cases.filter((entry) => !entry.retryable);
      recordReliability(ctx, {
        area: `${upstream} API`,
        fault: `answering 429 (Retry-After 1 s), 500, 502, 503 to every attempt`,
        cases: retried.length,
        outcome: `${retried.map(describeCase).join('; ')}; then shown failed, e.g. "${retried[0]?.shown.slice(0, 120) ?? ''}"`,
      });
      recordReliability(ctx, {
        area: `${upstream} API`,
        fault: `call performed but answered after the client's timeout (${upstream === 'OCI' ? 'createJobRun once' : upstream === 'MLflow' ? 'alias read twice' : 'Deployment read twice'})`,
        cases: timedOut.length,
        outcome: `${timedOut.map(describeCase).join('; ')}; then completed: "${timedOut[0]?.shown.slice(0, 120) ?? ''}"`,
      });
      recordReliability(ctx, {
        area: `${upstream} API`,
        fault: 'answering 401, 403, 404',
        cases: final.length,
        outcome: `${final.map(describeCase).join('; ')}; shown failed, e.g. "${final[0]?.shown.slice(0, 120) ?? ''}"`,
      });
    }

    for (const entry of measured) {
      const what = `${entry.upstream} ${entry.fault}`;
      expect(entry.messages, `${what}: one Slack message`).toBe(1);
      if (!entry.retryable) {
        expect(entry.arrivals, `${what}: not retried`).toHaveLength(1);
        continue;
      }
      const expectedAttempts = entry.fault !== 'timeout' ? ATTEMPTS : entry.upstream === 'OCI' ? 2 : 3;
      expect(entry.arrivals, `${what}: attempts`).toHaveLength(expectedAttempts);
      // Each retry waits at least the job's exponential backoff (BACKOFF_MS, then twice that, …).
      gapsOf(entry.arrivals).forEach((gap, index) => expect(gap, `${what}: gap ${index + 1}`).toBeGreaterThanOrEqual(BACKOFF_MS * 2 ** index - 100));
    }
    const shown = (upstream: Measured['upstream'], fault: string) => measured.find((entry) => entry.upstream === upstream && entry.fault === fault)?.shown ?? '';
    expect(shown('OCI', '429')).toContain('OCI throttled createJobRun: TooManyRequests');
    expect(shown('OCI', '503')).toContain('OCI failed createJobRun: ServiceUnavailable');
    expect(shown('OCI', '403')).toContain('OCI refused createJobRun: NotAllowed');
    expect(shown('MLflow', '429')).toContain('MLflow throttled registered-models/alias: REQUEST_LIMIT_EXCEEDED');
    expect(shown('MLflow', '503')).toContain('MLflow failed registered-models/alias: TEMPORARILY_UNAVAILABLE');
    expect(shown('MLflow', '401')).toContain('MLflow refused registered-models/alias: UNAUTHENTICATED');
    expect(shown('Kubernetes', '429')).toContain('Kubernetes throttled the request to patch deployment');
    expect(shown('Kubernetes', '503')).toContain('Kubernetes failed to patch deployment');
    expect(shown('Kubernetes', '404')).toContain('Kubernetes refused to patch deployment');
  }, 180_000);

  test('a 429 whose Retry-After is longer than the backoff is retried no sooner than it asks, then succeeds', async (ctx) => {
    const wait = LONG_RETRY_AFTER_S * 1000;
    expect(wait, 'the case must ask for more than the first backoff').toBeGreaterThan(2 * BACKOFF_MS);

    const trainCase = async (): Promise<number[]> => {
      const target = label('oci', LONG_WAIT);
      oci.fake.failNext({ method: 'POST', pathPrefix: '/20190101/jobRuns', bodyIncludes: `"displayName":"${target}-` }, { status: 429, code: 'TooManyRequests', retryAfterSeconds: LONG_RETRY_AFTER_S });
      await user.command(`train ${target}`, 'U0DS1', 'C0TRAIN');
      await eventually(() => slack.messages('C0TRAIN').find((candidate) => plainText(candidate).includes(target) && !candidate.text.includes('queued')), 60_000, `the ${target} run started`);
      return arrivalTimes(oci.fake.requests().filter((request) => request.method === 'POST' && request.path.startsWith('/20190101/jobRuns') && JSON.stringify(request.body).includes(`"${target}-`)));
    };
    const promoteCase = async (): Promise<number[]> => {
      const model = label('mlflow', LONG_WAIT);
      const channel = channelOf('M', LONG_WAIT);
      await user.command(`promote ${model} 2`, 'U0DS1', channel);
      const request = await eventually(() => slack.messages(channel).find((candidate) => candidate.text.includes(`${model} v2`)), 30_000, `the ${model} approval request`);
      mlflow.failNext('/registered-models/alias', 429, 'REQUEST_LIMIT_EXCEEDED', 1, { method: 'POST', bodyIncludes: `"name":"${model}"`, retryAfterSeconds: LONG_RETRY_AFTER_S });
      await user.click(request, 'approval.approve', 'U0LEAD1');
      await eventually(() => (plainText(slack.message(request.channel, request.ts) ?? request).includes('Promoted') ? true : undefined), 60_000, `the ${model} promotion`);
      expect(mlflow.alias(model, 'champion')).toBe('2');
      return arrivalTimes(mlflow.requests().filter((call) => call.method === 'POST' && call.path.endsWith('/registered-models/alias') && JSON.stringify(call.body).includes(`"${model}"`)));
    };
    const rollbackCase = async (): Promise<number[]> => {
      const name = label('k', LONG_WAIT);
      const path = `/apis/apps/v1/namespaces/${NS}/deployments/${name}`;
      const channel = channelOf('K', LONG_WAIT);
      const reply = await user.command(`rollback ${NS}/${name}`, 'U0SRE1', channel);
      kube.failNext({ method: 'PATCH', pathPrefix: path }, { code: 429, retryAfterSeconds: LONG_RETRY_AFTER_S });
      await user.confirmRollback(reply, 'U0SRE1', channel);
      await eventually(() => slack.messages(channel).find((candidate) => candidate.text.includes(`${NS}/${name}`) && candidate.text.includes('· succeeded ·')), 60_000, `the ${name} rollback`);
      return arrivalTimes(kube.requests().filter((call) => call.path === path && call.method === 'PATCH' && !call.watch));
    };

    const [trainArrivals, promoteArrivals, rollbackArrivals] = await Promise.all([trainCase(), promoteCase(), rollbackCase()]);
    const cases = { OCI: trainArrivals, MLflow: promoteArrivals, Kubernetes: rollbackArrivals };
    for (const [upstream, arrivals] of Object.entries(cases)) {
      expect(arrivals, `${upstream}: the throttled call, then its retry`).toHaveLength(2);
      expect(gapsOf(arrivals)[0], `${upstream}: retried after Retry-After, not after the ${BACKOFF_MS} ms backoff`).toBeGreaterThanOrEqual(wait - 100);
    }
    recordReliability(ctx, {
      area: 'Retry-After',
      fault: `OCI, MLflow and Kubernetes answering one 429 with Retry-After ${LONG_RETRY_AFTER_S} s (the job's first backoff is ${BACKOFF_MS / 1000} s)`,
      cases: 3,
      outcome: `${Object.entries(cases)
        .map(([upstream, arrivals]) => `${upstream} retried after ${seconds(gapsOf(arrivals)[0] ?? 0)} s`)
        .join('; ')}; each then succeeded once`,
    });
  }, 120_000);
});
