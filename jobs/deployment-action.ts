import { UnrecoverableError, type Job } from 'bullmq';
import type { Context, OciRunInfo } from '../src/context.js';
import type { StageVote } from '../src/domain/deploy-stages.js';
import { withStageVote } from '../src/domain/run.js';
import type { MlopsError} from '../src/errors.js';
import { toMlopsError } from '../src/errors.js';
import { jobId, type DeploymentActionJob } from '../src/queues.js';
import { escapeMrkdwn } from '../src/slack/mrkdwn.js';
import { deploymentUpdate, pollSoon } from './deployment-poll.js';
import { foldAndShow, showRun } from './fold-run.js';

/**
 * The job id, which is also the opc-retry-token: one per deployment, stage and action, so a retried job, a
 * double click or a second replica cannot approve (or cancel) twice.
 */
export function deploymentActionId(action: DeploymentActionJob['action'], deploymentId: string, stageId = ''): string {
  return jobId('deployment-action', deploymentId, stageId, action);
}

export async function enqueueDeploymentAction(context: Context, data: DeploymentActionJob): Promise<void> {
  await context.queues.deploymentAction.add(data.action, data, { jobId: deploymentActionId(data.action, data.deploymentId, data.stageId) });
}

/** What OCI records as the reason: the Slack users and the request, since OCI itself sees only the bot. */
function ociReason(data: DeploymentActionJob, name: string, stageName: string | undefined): string {
  const users = data.users.join(', ');
  const what = stageName ? `stage "${stageName}" of ${name}` : name;
  const verb = data.action === 'approve' ? 'Approved' : data.action === 'reject' ? 'Rejected' : 'Canceled';
  const why = data.reason ? `: ${data.reason}` : '';
  return `${verb} in Slack by ${users} (${what}, mlops-chatops)${why}`.slice(0, 1000);
}

/**
 * A 409 or 412 (the stage no longer waits, it was decided meanwhile, a stale etag), a 404 or any other
 * refusal is final: no retry storm. Retries are left for throttling and outages, which the retry token
 * makes safe.
 */
function isFinal(error: MlopsError): boolean {
  const status = error.details.statusCode;
  return !error.retryable || status === 409 || status === 412;
}

/**
 * Approve, Reject or Cancel decided in Slack: one OCI call, then the deployment as OCI answered folded into
 * its message (who approved, the next stage). When OCI refuses, the message is brought up to date from a
 * fresh getDeployment and the deciding user hears why.
 */
export function createDeploymentActionProcessor(context: Context) {
  return async (job: Job<DeploymentActionJob>): Promise<void> => {
    const data = job.data;
    const retryToken = job.id ?? deploymentActionId(data.action, data.deploymentId, data.stageId);
    const run = await context.runs.get(data.runKey);
    if (!run) return;
    const stageName = data.stageId ? run.stages?.find((stage) => stage.id === data.stageId)?.name : undefined;
    const reason = ociReason(data, run.name, stageName);
    let answer: OciRunInfo;
    try {
      answer =
        data.action === 'cancel'
          ? await context.oci.cancelDeployment({ deploymentId: data.deploymentId, reason, retryToken })
          : await context.oci.approveDeployment({ deploymentId: data.deploymentId, stageId: data.stageId ?? '', action: data.action === 'approve' ? 'APPROVE' : 'REJECT', reason, retryToken });
    } catch (error) {
      const mlops = toMlopsError(error);
      const attempts = job.opts.attempts ?? 1;
      if (!isFinal(mlops) && job.attemptsMade + 1 < attempts) throw mlops;
      await refused(context, data, mlops);
      throw new UnrecoverableError(`${mlops.code}: ${mlops.message}`);
    }
    await settleVote(context, data, { state: 'done' });
    await foldAndShow(context, await deploymentUpdate(context, data.runKey, answer), { retry: true });
    await context.audit.record({ actor: data.users.join(','), action: `job.deployment_${data.action}`, subject: `${run.name}${stageName ? ` / ${stageName}` : ''}`, outcome: 'done', jobId: retryToken, ...(data.reason ? { detail: data.reason } : {}) });
    await pollSoon(context, data.deploymentId);
  };
}

async function settleVote(context: Context, data: DeploymentActionJob, change: Partial<StageVote>): Promise<void> {
  const { stageId } = data;
  if (!stageId) return;
  const { before, after } = await context.runs.update(data.runKey, (run) => {
    const vote = run?.stageVotes?.[stageId];
    if (!run || !vote || (vote.state === change.state && vote.note === change.note)) return run;
    return withStageVote(run, stageId, { ...vote, ...change });
  });
  if (after && after !== before) await showRun(context, after.key, after.version);
}

/** OCI refused: the vote shows why, the message is re-read from OCI, the user hears it, nothing is retried. */
async function refused(context: Context, data: DeploymentActionJob, error: MlopsError): Promise<void> {
  const note = error.code === 'NOT_FOUND' ? 'OCI no longer knows this deployment.' : error.userMessage;
  await settleVote(context, data, { state: 'failed', note });
  try {
    const fresh = await context.oci.getDeployment(data.deploymentId);
    await foldAndShow(context, await deploymentUpdate(context, data.runKey, fresh), { retry: true });
  } catch (readError) {
    context.logger.debug({ err: readError, deploymentId: data.deploymentId }, 'deployment not re-read after a refused action');
  }
  await context.audit.record({ actor: data.users.join(','), action: `job.deployment_${data.action}`, subject: data.deploymentId, outcome: `refused: ${error.code}`, detail: note });
  const user = data.users.at(-1);
  if (data.channel && user) {
    const what = data.action === 'cancel' ? 'cancel the deployment' : `${data.action} the stage`;
    await context.slack.postEphemeral(data.channel, user, { text: `:warning: OCI did not ${what}: ${escapeMrkdwn(note)} The message shows the deployment as OCI has it now.` }).catch(() => undefined);
  }
}
