import { randomBytes } from 'node:crypto';
import { UnrecoverableError, type Job } from 'bullmq';
import type { MlflowClient } from '../src/adapters/mlflow/mlflow-client.js';
import { readSnapshot } from '../src/adapters/mlflow/run-metrics.js';
import { KEY_PREFIX } from '../src/adapters/redis/keys.js';
import type { Context } from '../src/context.js';
import { approvalTargetLabel, gateBlocked, targetLabel, type Approval, type EnvironmentStep, type PromotionTarget } from '../src/domain/approval.js';
import { approvalPolicy, environmentsOf, evaluateSoak, findEnvironment, resolveTarget, soakRefusal, type ApprovalPolicy } from '../src/domain/environments.js';
import { withGates } from '../src/domain/gates.js';
import { recheckGates } from '../src/gate-check.js';
import { pickChannel } from '../src/domain/route.js';
import { applyRunUpdate, hasOciResource, startedRunKey } from '../src/domain/run.js';
import { fromOciLifecycleState } from '../src/domain/run-state.js';
import { MlopsError, toMlopsError } from '../src/errors.js';
import { jobId, TRAIN_JOB_OPTIONS, type PromoteJob } from '../src/queues.js';
import { renderApprovalMessage, type ApprovalLinks } from '../src/slack/approval-message.js';
import { consoleUrlFor } from '../src/adapters/oci/console-links.js';
import { foldAndShow } from './fold-run.js';
import { ensureDeploymentPolling } from './deployment-poll.js';
import { scheduleHomeRefresh } from './app-home.js';
import { code } from '../src/slack/mrkdwn.js';

export interface PromotionRequest {
  model: string;
  version: string;
  target?: PromotionTarget;
  /** `--to ENV`, for a model with environments; without it the next environment of the version's path. */
  environment?: string;
  requestedBy: string;
  /** Post the request in this thread (Request promotion clicked in a training run's thread) rather than in the model's channel. */
  thread?: { channel: string; ts: string } | undefined;
}

/** Marks an alias the bot itself is about to set, so MLflow's webhook echo is not reported as an outside change. */
export const botAliasKey = (model: string, alias: string, version: string) => `${KEY_PREFIX}:bot-alias:${model}|${alias}|${version}`;

function requireMlflow(context: Context): MlflowClient {
  if (!context.mlflow) throw new MlopsError('CONFIG_INVALID', 'MLFLOW_TRACKING_URI is not set', { userMessage: 'Promotion needs MLflow: set MLFLOW_TRACKING_URI.' });
  return context.mlflow;
}

/** A model's own alias or stage; for a model with environments, its first environment's alias. */
export function defaultTarget(context: Context, model: string): PromotionTarget {
  const config = context.config.file.models[model];
  const first = environmentsOf(config)?.[0];
  if (first) return { kind: 'alias', alias: first.alias };
  if (config?.alias) return { kind: 'alias', alias: config.alias };
  if (config?.stage) return { kind: 'stage', stage: config.stage };
  return { kind: 'alias', alias: 'champion' };
}

export function modelChannel(context: Context, model: string): string {
  const configured = context.config.file.models[model]?.channel;
  return configured ?? pickChannel(context.config.file.routes, context.config.file.slack.defaultChannel, { kind: 'model', resourceName: model });
}

export async function approvalLinks(context: Context, approval: Approval): Promise<ApprovalLinks> {
  const mlflow = context.mlflow;
  const links: ApprovalLinks = {};
  if (mlflow) {
    links.candidateUrl = mlflow.modelVersionUrl(approval.model, approval.version);
    if (approval.candidate.runId) links.candidateRunUrl = mlflow.runUrl(undefined, approval.candidate.runId);
  }
  const deployment = approval.outcome ? await context.runs.resolveAlias(`promotion:${approval.id}`) : undefined;
  const run = deployment ? await context.runs.get(deployment) : undefined;
  if (run?.details.consoleUrl) links.deploymentUrl = run.details.consoleUrl;
  return links;
}

/** Re-renders an approval's Slack message from Redis (through the rate-limited Slack queue). */
export async function refreshApprovalMessage(context: Context, approvalId: string): Promise<void> {
  await context.queues.slackStatus.add('approval', { kind: 'approval', approvalId }, { jobId: jobId('approval', approvalId, randomBytes(4).toString('hex')) });
}

/**
 * How long the approval request may wait for its channel's posting slot. The command and the button
 * have acknowledged Slack already, so a channel busy with a burst of run updates delays the request
 * rather than failing it.
 */
const APPROVAL_POST_MAX_WAIT_MS = 20_000;

const refuse = (reason: string) => new MlopsError('BAD_REQUEST', 'promotion refused', { userMessage: reason });

/**
 * Where a request goes and under which policy. A model with environments: the environment resolved from
 * the aliases the version holds (or `--to`), refused when it skips one, already serves it or has not
 * soaked long enough in the previous one. Otherwise the alias (or stage) asked for, under the global policy.
 */
async function planPromotion(context: Context, request: PromotionRequest, aliases: Readonly<Record<string, string>>, stages: Readonly<Record<string, string>>): Promise<{ target: PromotionTarget; policy: ApprovalPolicy; environment?: EnvironmentStep }> {
  const { file } = context.config;
  const modelConfig = file.models[request.model];
  const environments = environmentsOf(modelConfig);
  if (!environments) {
    if (request.environment !== undefined) throw refuse(`${code(request.model)} has no environments in the config.`);
    const target = request.target ?? defaultTarget(context, request.model);
    const currentVersion = target.kind === 'alias' ? aliases[target.alias] : stages[target.stage];
    if (currentVersion === request.version) throw refuse(`Version ${code(request.version)} already holds ${code(targetLabel(target))}.`);
    return { target, policy: approvalPolicy(file) };
  }
  if (request.target) throw refuse(`${code(request.model)} is promoted through its environments: give \`--to ENV\`.`);
  const resolved = resolveTarget(environments, aliases, request.version, request.environment);
  if (!resolved.ok) throw refuse(resolved.reason);
  const policy = approvalPolicy(file, resolved.environment);
  const step: EnvironmentStep = { name: resolved.environment.name, path: environments.map((environment) => environment.name), approvers: [...policy.approvers] };
  if (resolved.previous && resolved.environment.soak !== undefined) {
    const now = context.now();
    // No record of the move: the clock starts now, never from a guess in the past.
    const since = await context.aliasMoves.since(request.model, resolved.previous.alias, request.version, now);
    const soak = evaluateSoak(resolved.environment.soak, since, now);
    if (!soak.met) throw refuse(soakRefusal(request.version, resolved.previous.name, soak));
    step.soak = { previous: resolved.previous.name, soakMs: soak.soakMs, servedMs: soak.servedMs };
  }
  return { target: { kind: 'alias', alias: resolved.environment.alias }, policy, environment: step };
}

/**
 * `/mlops promote` and the Request promotion button: check with MLflow that the version exists and is
 * READY, decide where it goes (the next environment of its path, or the alias asked for), compare its run's
 * metrics with the current holder's, store the request (superseding an older one for the same model and
 * alias) and post it with Approve / Reject buttons. An environment needing no approval (`required: 0`) is
 * posted and audited the same way, already approved, and promoted at once.
 */
export async function requestPromotion(context: Context, request: PromotionRequest): Promise<{ approval: Approval; channel: string }> {
  const mlflow = requireMlflow(context);
  let version;
  try {
    version = await mlflow.getModelVersion(request.model, request.version);
  } catch (error) {
    if (error instanceof MlopsError && error.code === 'NOT_FOUND') {
      throw new MlopsError('NOT_FOUND', error.message, { userMessage: `Version ${code(request.version)} of ${code(request.model)} does not exist in MLflow.`, cause: error });
    }
    throw error;
  }
  if (version.status && version.status !== 'READY') {
    throw new MlopsError('BAD_REQUEST', `version status ${version.status}`, { userMessage: `Version ${code(request.version)} of ${code(request.model)} is ${code(version.status)}, not READY.` });
  }
  const registered = await mlflow.getRegisteredModel(request.model);
  const { target, policy, environment } = await planPromotion(context, request, registered.aliases, registered.stages);
  const currentVersion = target.kind === 'alias' ? registered.aliases[target.alias] : registered.stages[target.stage];
  const current = currentVersion ? await mlflow.getModelVersion(request.model, currentVersion) : undefined;
  const now = context.now();
  const label = environment ? environment.name : targetLabel(target);
  // Gates are evaluated against the holder this request names (the model's and the environment's); again
  // just before the alias moves.
  const gated = withGates(
    context.config.file.models[request.model],
    { candidate: await readSnapshot(mlflow, version.runId, version.version), current: await readSnapshot(mlflow, current?.runId, currentVersion) },
    environment?.name,
    label,
  );
  // No approval needed still waits for a gate override when a gate failed.
  const immediate = policy.required === 0 && !gateBlocked(gated);
  const approval: Approval = {
    id: randomBytes(6).toString('hex'),
    model: request.model,
    version: request.version,
    target,
    requestedBy: request.requestedBy,
    requestedAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + policy.ttlMs).toISOString(),
    required: policy.required,
    allowSelfApproval: policy.allowSelfApproval,
    approvers: [],
    state: immediate ? 'approved' : 'pending',
    ...(immediate ? { decidedBy: request.requestedBy } : {}),
    ...gated,
    ...(environment ? { environment } : {}),
  };
  const channel = modelChannel(context, request.model);
  // Shown before it is stored: a request Slack could not show (channel busy past the wait, Slack down)
  // supersedes nothing and is never left pending where nobody can see it. A click cannot come sooner than
  // the store, which follows in milliseconds.
  const where = request.thread ? { channel: request.thread.channel, threadTs: request.thread.ts } : { channel };
  const posted = await context.slack.postMessage({ ...where, ...renderApprovalMessage(approval, await approvalLinks(context, approval)) }, APPROVAL_POST_MAX_WAIT_MS);
  const stored: Approval = { ...approval, channel: posted.channel, ts: posted.ts };
  let superseded: string | undefined;
  try {
    superseded = await context.approvals.create(stored);
  } catch (error) {
    // Its buttons would find nothing: say so on the message, then fail the request.
    const reason = toMlopsError(error).userMessage;
    await context.slack
      .updateMessage(posted.channel, posted.ts, { text: `:x: This promotion request could not be stored (${reason}); ask again.`, blocks: [] })
      .catch((updateError: unknown) => context.logger.warn({ err: updateError, approval: approval.id }, 'unstored approval request not withdrawn'));
    throw error;
  }
  if (superseded) await refreshApprovalMessage(context, superseded);
  if (immediate) await context.queues.promote.add('promote', { approvalId: stored.id }, { jobId: jobId('promote', stored.id) });
  // Closed at its expiry time even if nobody clicks: the requester hears it, the Homes drop it.
  await context.queues.slackStatus.add('approval-expiry', { kind: 'approval-expiry', approvalId: stored.id }, { jobId: jobId('approval-expiry', stored.id), delay: Math.max(0, Date.parse(stored.expiresAt) - now.getTime() + 1_000) });
  await scheduleHomeRefresh(context);
  return { approval: stored, channel: posted.channel };
}

/**
 * After approval: set the alias (or transition the stage), verify it, start the model's OCI DevOps
 * deployment when configured (its notifications then update the approval's thread), and finish the
 * approval message with the outcome. Every step is idempotent, so a retry or a second worker cannot
 * promote twice or start two deployments.
 */
export function createPromoteProcessor(context: Context) {
  return async (job: Job<PromoteJob>): Promise<void> => {
    const { approvalId } = job.data;
    const approval = await context.approvals.get(approvalId);
    if (!approval || approval.state !== 'approved') return;
    const mlflow = requireMlflow(context);
    const modelConfig = context.config.file.models[approval.model];
    const environment = approval.environment ? findEnvironment(modelConfig, approval.environment.name) : undefined;
    // An environment's own pipeline (none: no deployment there); a model without environments keeps its one.
    const deployPipelineId = approval.environment ? environment?.deployPipelineId : modelConfig?.deployPipelineId;
    try {
      const gates = await recheckGates(context, mlflow, approval, approval.environment?.name);
      if (!gates.ok) {
        await context.approvals.update(approvalId, (current) => ({ ...current, state: 'failed', gates: gates.gates, outcome: gates.reason }));
        await context.audit.record({ actor: 'system', action: 'job.promote', subject: `${approval.model} v${approval.version}`, outcome: 'stopped: quality gate failed', jobId: job.id ?? '', detail: gates.reason });
        await refreshApprovalMessage(context, approvalId);
        return;
      }
      if (gates.gates) await context.approvals.update(approvalId, (current) => ({ ...current, gates: gates.gates }));
      let previous: string | undefined;
      if (approval.target.kind === 'alias') {
        const before = (await mlflow.getVersionByAlias(approval.model, approval.target.alias))?.version;
        // Already at the version: an earlier attempt set it and died before finishing; the holder before it is the one the request saw.
        previous = before === approval.version ? approval.current.version : before;
        await context.redis.set(botAliasKey(approval.model, approval.target.alias, approval.version), '1', 'EX', 600);
        if (before !== approval.version) await mlflow.setAlias(approval.model, approval.target.alias, approval.version);
        const now = await mlflow.getVersionByAlias(approval.model, approval.target.alias);
        if (now?.version !== approval.version) throw new MlopsError('UPSTREAM_UNAVAILABLE', `alias ${approval.target.alias} reads ${now?.version ?? 'unset'} after setting`);
        await context.aliasMoves.record(approval.model, approval.target.alias, approval.version, context.now(), 'bot');
      } else {
        previous = (await mlflow.getRegisteredModel(approval.model)).stages[approval.target.stage];
        await mlflow.transitionStage(approval.model, approval.version, approval.target.stage, modelConfig?.archiveExisting ?? true);
      }
      let deployment = '';
      if (deployPipelineId && approval.channel && approval.ts) {
        const runKey = startedRunKey.promotion(approval.id);
        const name = `${approval.model}-v${approval.version}${approval.environment ? `-${approval.environment.name}` : ''}`;
        const details: Record<string, string> = { channel: approval.channel, threadTs: approval.ts, model: approval.model, requestedBy: approval.requestedBy };
        if (approval.environment) details.environment = approval.environment.name;
        // For the gates shown again beside a canary approval: the version deployed, and the one it replaces.
        details.modelVersion = approval.version;
        if (previous && previous !== approval.version) details.previousVersion = previous;
        const base = { key: runKey, subject: 'deployment', kind: 'deploy', startedBy: approval.decidedBy ?? approval.requestedBy } as const;
        // Stored before the call but not shown: an event of the new deployment that OCI delivers before
        // createDeployment returns finds this run through the deployment's tag instead of starting another.
        await context.runs.update(runKey, (existing) => existing ?? applyRunUpdate(undefined, { ...base, resourceId: `promotion:${approval.id}`, at: context.now().toISOString(), state: 'QUEUED', name, details }).run);
        const started = await context.oci.createDeployment({
          deployPipelineId,
          displayName: name,
          arguments: { MODEL_NAME: approval.model, MODEL_VERSION: approval.version, ...(approval.environment ? { ENVIRONMENT: approval.environment.name } : {}) },
          retryToken: approval.id,
          runKey,
        });
        await context.runs.setAlias(started.id, runKey);
        await context.runs.setAlias(`promotion:${approval.id}`, runKey);
        if (started.projectId) details.projectId = started.projectId;
        if (started.pipelineId) details.pipelineId = started.pipelineId;
        const consoleUrl = consoleUrlFor('deployment', started.id, details, context.config.env.OCI_REGION);
        if (consoleUrl) details.consoleUrl = consoleUrl;
        // Always asks Slack to show the run: an attempt that died after this fold left it unshown.
        await foldAndShow(
          context,
          {
            ...base,
            resourceId: started.id,
            at: started.timeCreated ?? context.now().toISOString(),
            state: fromOciLifecycleState(started.lifecycleState) ?? 'ACCEPTED',
            name: started.displayName ?? name,
            ...(started.compartmentId ? { compartmentId: started.compartmentId } : {}),
            details,
          },
          { retry: true },
        );
        await ensureDeploymentPolling(context, started.id, runKey);
        deployment = ` Deployment ${started.id} started.`;
      }
      const outcome = `${approvalTargetLabel(approval)}: ${previous ? `v${previous}` : 'unset'} → v${approval.version}.${deployment}`;
      await context.approvals.update(approvalId, (current) => ({ ...current, state: 'promoted', outcome }));
      await context.audit.record({ actor: approval.decidedBy ?? 'system', action: 'job.promote', subject: `${approval.model} v${approval.version}`, outcome: 'promoted', jobId: job.id ?? '', detail: outcome });
      await refreshApprovalMessage(context, approvalId);
    } catch (error) {
      const mlops = toMlopsError(error);
      const attempts = job.opts.attempts ?? TRAIN_JOB_OPTIONS.attempts ?? 1;
      if (mlops.retryable && job.attemptsMade + 1 < attempts) throw mlops;
      // The deployment run stored before createDeployment, if OCI never created the deployment: nothing to show.
      const unstarted = await context.runs.get(startedRunKey.promotion(approvalId));
      if (unstarted && !hasOciResource(unstarted)) await context.runs.remove(unstarted);
      await context.approvals.update(approvalId, (current) => ({ ...current, state: 'failed', outcome: mlops.userMessage }));
      await context.audit.record({ actor: 'system', action: 'job.promote', subject: `${approval.model} v${approval.version}`, outcome: `failed: ${mlops.code}`, jobId: job.id ?? '', detail: mlops.userMessage });
      await refreshApprovalMessage(context, approvalId);
      throw new UnrecoverableError(mlops.message);
    }
  };
}
