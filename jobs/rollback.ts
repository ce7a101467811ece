import { randomBytes } from 'node:crypto';
import { UnrecoverableError, type Job } from 'bullmq';
import { z } from 'zod';
import { KEY_PREFIX } from '../src/adapters/redis/keys.js';
import { postOnce } from '../src/adapters/slack-api/post-once.js';
import type { Context } from '../src/context.js';
import { planRollback, rolloutStatus, selectorString, type RevisionSummary } from '../src/domain/rollback.js';
import { isMlopsError, MlopsError, toMlopsError } from '../src/errors.js';
import { jobId, type RollbackJobData } from '../src/queues.js';
import { mrkdwnText } from '../src/slack/blocks.js';
import { code, escapeMrkdwn } from '../src/slack/mrkdwn.js';
import { deploymentsOf } from '../src/domain/environments.js';
import { renderRollbackStatus, type RollbackState } from '../src/slack/rollback-message.js';

export interface RollbackTarget {
  namespace: string;
  name: string;
  model?: string;
  /** The model's environment this Deployment serves, for a model with environments. */
  environment?: string;
  /** The kubeconfig context of its cluster; unset: in-cluster (or KUBECONFIG's current context). */
  kubeContext?: string;
  timeoutMs: number;
}

/** `namespace/name`, with the environment and cluster when there are several. */
export function rollbackLabel(target: Pick<RollbackTarget, 'namespace' | 'name' | 'environment' | 'kubeContext'>): string {
  const where = [target.environment, target.kubeContext ? `context ${target.kubeContext}` : undefined].filter(Boolean).join(', ');
  return `${target.namespace}/${target.name}${where ? ` (${where})` : ''}`;
}

export type RollbackJob = RollbackJobData;

const DEFAULT_TIMEOUT_MS = 10 * 60_000;
/** The outcome waits this long for its Slack slot (chat.update is one bucket for the whole workspace). */
const OUTCOME_WAIT_MS = 30_000;
const confirmKey = (id: string) => `${KEY_PREFIX}:rollback-confirm:${id}`;
const lockKey = (target: RollbackTarget) => `${KEY_PREFIX}:lock:rollback:${target.kubeContext ? `${target.kubeContext}|` : ''}${target.namespace}/${target.name}`;
const messageKey = (id: string) => `${KEY_PREFIX}:rollback-message:${id}`;
const patchedKey = (id: string) => `${KEY_PREFIX}:rollback-patched:${id}`;

const jobSchema = z.object({
  namespace: z.string(),
  name: z.string(),
  model: z.string().optional(),
  environment: z.string().optional(),
  kubeContext: z.string().optional(),
  timeoutMs: z.number(),
  targetReplicaSet: z.string(),
  goal: z.object({ revision: z.number().optional(), replicaSet: z.string().optional(), images: z.array(z.string()), changeCause: z.string().optional() }),
  requestedBy: z.string(),
  channel: z.string(),
});

export type RollbackResolution = { ok: true; target: RollbackTarget } | { ok: false; reason: string } | undefined;

/**
 * A model name (through its `deployment`, or the `deployment` of its environment `environment`) or
 * `namespace/name` (in-cluster). A model with several deployments and no environment named gets the choices
 * rather than a guess; undefined when the subject is neither a model with a deployment nor `namespace/name`.
 */
export function resolveRollbackTarget(context: Context, subject: string, environment?: string): RollbackResolution {
  const model = context.config.file.models[subject];
  if (model) {
    const deployments = deploymentsOf(model);
    const names = deployments.map((entry) => entry.environment ?? '');
    const choices = () => `Environments with a deployment: ${names.map((name) => code(name)).join(', ') || '_none_'}.`;
    let chosen = deployments[0];
    if (environment !== undefined) {
      if (!model.environments) return { ok: false, reason: `${code(subject)} has no environments in the config; leave out \`--env\`.` };
      if (!model.environments.some((entry) => entry.name === environment)) return { ok: false, reason: `Unknown environment ${code(environment)} of ${code(subject)}. ${choices()}` };
      chosen = deployments.find((entry) => entry.environment === environment);
      if (!chosen) return { ok: false, reason: `${code(environment)} of ${code(subject)} has no \`deployment\` in the config. ${choices()}` };
    } else if (deployments.length > 1) {
      return { ok: false, reason: `${code(subject)} has a deployment in several environments: name one with \`--env\`. ${choices()}` };
    }
    if (chosen) {
      const { deployment } = chosen;
      return {
        ok: true,
        target: {
          namespace: deployment.namespace,
          name: deployment.name,
          model: subject,
          ...(chosen.environment ? { environment: chosen.environment } : {}),
          ...(deployment.context ? { kubeContext: deployment.context } : {}),
          timeoutMs: deployment.timeout,
        },
      };
    }
  }
  const match = /^([a-z0-9][-a-z0-9]*)\/([a-z0-9][-.a-z0-9]*)$/.exec(subject);
  if (match?.[1] && match[2]) {
    if (environment !== undefined) return { ok: false, reason: `\`--env\` goes with a model name, not \`namespace/name\`.` };
    return { ok: true, target: { namespace: match[1], name: match[2], timeoutMs: DEFAULT_TIMEOUT_MS } };
  }
  return undefined;
}

export type Preview =
  | { kind: 'error'; message: string }
  | { kind: 'skip'; message: string; current: RevisionSummary; goal: RevisionSummary }
  | { kind: 'ready'; current: RevisionSummary; goal: RevisionSummary; targetReplicaSet: string };

/** What an undo would do now (read only): the confirm step and --dry-run show this. */
export async function previewRollback(context: Context, target: RollbackTarget, toRevision: number): Promise<Preview> {
  const kube = await context.kube(target.kubeContext);
  const deployment = await kube.getDeployment(target.namespace, target.name);
  const replicaSets = await kube.listReplicaSets(target.namespace, selectorString(deployment));
  const plan = planRollback(deployment, replicaSets, toRevision);
  if (plan.kind === 'error' || plan.kind === 'paused') return { kind: 'error', message: plan.message };
  if (plan.kind === 'skip') return { kind: 'skip', message: plan.message, current: plan.current, goal: plan.target };
  return { kind: 'ready', current: plan.current, goal: plan.target, targetReplicaSet: plan.targetReplicaSet };
}

/** Remembers a confirm step for 15 minutes; its id is the button value and the rollback job's id. */
export async function storeConfirm(context: Context, job: RollbackJob): Promise<string> {
  const id = randomBytes(8).toString('hex');
  await context.redis.set(confirmKey(id), JSON.stringify(job), 'EX', 900);
  return id;
}

export async function loadConfirm(context: Context, id: string): Promise<RollbackJob | undefined> {
  const raw = await context.redis.get(confirmKey(id));
  if (!raw) return undefined;
  try {
    const parsed = jobSchema.safeParse(JSON.parse(raw));
    return parsed.success ? (parsed.data) : undefined;
  } catch {
    return undefined;
  }
}

/** Both clicks of a double click (or two replicas) give the same job id, so one rollback runs. */
export async function enqueueRollback(context: Context, confirmId: string, job: RollbackJob): Promise<void> {
  await context.queues.rollback.add('rollback', job, { jobId: jobId('rollback', confirmId) });
}

/**
 * The rollback worker: exactly what `kubectl rollout undo` does (pinned to the ReplicaSet shown in the
 * confirm step, so a retry after a crash cannot undo the undo), then a watch like `kubectl rollout status`
 * until success, failure (ProgressDeadlineExceeded) or the timeout. A lease in Redis keeps two rollbacks
 * of one Deployment from running at once.
 */
export function createRollbackProcessor(context: Context) {
  return async (job: Job<RollbackJob>): Promise<void> => {
    const data = jobSchema.parse(job.data);
    const id = job.id ?? 'rollback';
    const target = rollbackLabel(data);
    const lock = lockKey(data);
    const taken = await context.redis.set(lock, id, 'PX', data.timeoutMs + 120_000, 'NX');
    if (taken !== 'OK' && (await context.redis.get(lock)) !== id) {
      await report(context, id, data, 'failed', `Another rollback of ${target} is already running; try again when it has finished.`).catch((error: unknown) =>
        context.logger.warn({ err: error, rollback: id }, 'rollback outcome not posted'),
      );
      throw new UnrecoverableError(`rollback of ${target} already running`);
    }
    let release = true;
    try {
      await run(context, id, data, target);
    } catch (error) {
      const mlops = toMlopsError(error);
      const final = !mlops.retryable || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      // A retry of this job takes the lease over again, so only a final outcome gives it back.
      release = final;
      if (!final) throw mlops;
      await report(context, id, data, 'failed', mlops.userMessage).catch((reportError: unknown) => context.logger.warn({ err: reportError, rollback: id }, 'rollback outcome not posted'));
      await context.audit.record({ actor: data.requestedBy, action: 'job.rollback', subject: target, outcome: `failed: ${mlops.code}`, jobId: id, detail: mlops.userMessage });
      throw new UnrecoverableError(mlops.message);
    } finally {
      if (release) await context.redis.eval("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0", 1, lock, id);
    }
  };
}

async function run(context: Context, id: string, data: RollbackJob, target: string): Promise<void> {
  const kube = await context.kube(data.kubeContext);
  // Slack being busy must not spend one of the rollback's attempts: the outcome posts the message if this could not.
  await report(context, id, data, 'running').catch((error: unknown) => {
    if (!isMlopsError(error) || error.code !== 'RATE_LIMITED') throw error;
    context.logger.debug({ err: error, rollback: id }, 'rollback running status skipped');
  });
  const deployment = await kube.getDeployment(data.namespace, data.name);
  const replicaSets = await kube.listReplicaSets(data.namespace, selectorString(deployment));
  const plan = planRollback(deployment, replicaSets, data.goal.revision ?? 0, data.targetReplicaSet);
  let generation = deployment.metadata?.generation ?? 0;
  if (plan.kind === 'error' || plan.kind === 'paused') throw new MlopsError('BAD_REQUEST', plan.message, { userMessage: plan.message });
  // Noted before the PATCH: an attempt after a crash that finds the template already restored knows it did that itself.
  const ours = plan.kind === 'skip' && (await context.redis.exists(patchedKey(id))) === 1;
  if (plan.kind === 'patch') {
    await context.redis.set(patchedKey(id), '1', 'EX', 7 * 24 * 3600);
    const patched = await kube.patchDeployment(data.namespace, data.name, plan.patch);
    generation = patched.metadata?.generation ?? generation;
    await progress(context, id, data, `deployment.apps/${data.name} rolled back (template of ${data.targetReplicaSet} restored)`);
  } else if (ours) {
    await progress(context, id, data, `deployment.apps/${data.name} rolled back (template of ${data.targetReplicaSet} restored by an earlier attempt); watching the rollout`);
  } else {
    await progress(context, id, data, `${plan.message}; watching the rollout`);
  }
  let last = '';
  let outcome: { state: RollbackState; detail: string } | undefined;
  const watched = await kube.watchDeployment(
    data.namespace,
    data.name,
    (current) => {
      if ((current.metadata?.generation ?? 0) < generation) return false;
      const status = rolloutStatus(current);
      if (status.message !== last) {
        last = status.message;
        void progress(context, id, data, status.message);
      }
      if (status.done) outcome = { state: plan.kind === 'skip' && !ours ? 'skipped' : 'succeeded', detail: status.message };
      else if (status.failed) outcome = { state: 'failed', detail: status.message };
      return outcome !== undefined;
    },
    AbortSignal.timeout(data.timeoutMs),
  );
  if (watched === 'deleted') outcome = { state: 'failed', detail: `deployment ${target} was deleted during the rollout` };
  outcome ??= { state: 'timed out', detail: `timed out after ${Math.round(data.timeoutMs / 1000)}s waiting for the rollout (${last || 'no status yet'})` };
  await report(context, id, data, outcome.state, outcome.detail);
  await context.audit.record({ actor: data.requestedBy, action: 'job.rollback', subject: target, outcome: outcome.state, jobId: id, detail: outcome.detail });
}

/** Posts the rollback's message once, then updates it in place; the outcome also goes to the thread. */
async function report(context: Context, id: string, data: RollbackJob, state: RollbackState, detail?: string): Promise<void> {
  const target = rollbackLabel(data);
  const view = renderRollbackStatus(target, data.requestedBy, data.goal, state, detail);
  const wait = state === 'running' ? undefined : OUTCOME_WAIT_MS;
  const stored = await context.redis.hgetall(messageKey(id));
  if (!stored.ts || !stored.channel) {
    const posted = await postOnce(context, { key: `rollback:${id}`, channel: data.channel }, (metadata) => context.slack.postMessage({ channel: data.channel, ...view, metadata: metadata() }, wait));
    await context.redis.multi().hset(messageKey(id), { channel: posted.channel, ts: posted.ts }).expire(messageKey(id), 7 * 24 * 3600).exec();
    return;
  }
  try {
    await context.slack.updateMessage(stored.channel, stored.ts, view, wait);
  } catch (error) {
    if (!(error instanceof MlopsError) || error.details.slackError !== 'message_not_found') throw error;
    // Someone deleted the rollback's message: start a new one rather than lose the outcome.
    await context.redis.del(messageKey(id));
    await report(context, id, data, state, detail);
    return;
  }
  // The outcome waits for its slot rather than being dropped behind progress lines.
  if (state !== 'running') await context.slack.postMessage({ channel: stored.channel, threadTs: stored.ts, text: view.text, blocks: view.blocks, broadcast: state === 'failed' || state === 'timed out' }, 15_000);
}

/** Progress lines in the thread; under Slack's limits a skipped line is fine, the outcome is not skipped. */
async function progress(context: Context, id: string, data: RollbackJob, line: string): Promise<void> {
  const stored = await context.redis.hgetall(messageKey(id));
  if (!stored.ts || !stored.channel) return;
  const text = escapeMrkdwn(line);
  try {
    await context.slack.postMessage({ channel: stored.channel, threadTs: stored.ts, text, blocks: [{ type: 'section', text: mrkdwnText(text) }] }, 0);
  } catch (error) {
    context.logger.debug({ err: error, rollback: id }, 'rollback progress line skipped');
  }
}
