import { approvalOutcome, awaitsApproval, canaryTraffic, isApprovalStage, stageDurationMs, type DeployStage, type StageVote } from '../domain/deploy-stages.js';
import { deploymentPolicy } from '../domain/deployment-policy.js';
import { formatDuration, type Run } from '../domain/run.js';
import type { ConfigFile } from '../config/config-file.js';
import { mrkdwnText, plainText, type Block, type ButtonElement } from './blocks.js';
import { escapeMrkdwn, mention, plain } from './mrkdwn.js';

export const DEPLOY_ACTIONS = {
  approve: 'deploy.approve',
  reject: 'deploy.reject',
  cancel: 'deploy.cancel',
  approveModal: 'deploy.approve_modal',
  rejectModal: 'deploy.reject_modal',
} as const;

/** What the message needs besides the run: who decides its approvals, and what else a canary approval shows. */
export interface DeploymentView {
  approvers: readonly string[];
  required: number;
  /** Gate results to show again beside a canary approval (one line each), when the model has gates. */
  gates?: readonly string[] | undefined;
}

const STATUS: Record<string, { emoji: string; label: string }> = {
  ACCEPTED: { emoji: ':inbox_tray:', label: 'accepted' },
  IN_PROGRESS: { emoji: ':arrows_counterclockwise:', label: 'in progress' },
  SUCCEEDED: { emoji: ':white_check_mark:', label: 'succeeded' },
  FAILED: { emoji: ':x:', label: 'failed' },
  CANCELING: { emoji: ':double_vertical_bar:', label: 'canceling' },
  CANCELED: { emoji: ':no_entry_sign:', label: 'canceled' },
  ROLLBACK_IN_PROGRESS: { emoji: ':rewind:', label: 'rolling back' },
  ROLLBACK_SUCCEEDED: { emoji: ':rewind:', label: 'rolled back' },
  ROLLBACK_FAILED: { emoji: ':x:', label: 'rollback failed' },
};

/** The view of a deployment run under the config: its environment's approvers; the gate lines the poller stored. */
export function deploymentViewFor(file: ConfigFile, run: Run): DeploymentView | undefined {
  if (run.subject !== 'deployment') return undefined;
  const policy = deploymentPolicy(file, { model: run.details.model, environment: run.details.environment, pipelineId: run.details.pipelineId, arguments: run.arguments });
  const gates = run.details.canaryGates?.split('\n').filter(Boolean);
  return { approvers: policy.approvers, required: policy.required, ...(gates && gates.length > 0 ? { gates } : {}) };
}

/** Button values carry the run key and the stage OCID only; the rest is re-read when clicked. */
export function stageButtonValue(run: Run, stage: DeployStage): string {
  return JSON.stringify({ run: run.key, stage: stage.id });
}

function who(users: readonly string[]): string {
  return users.map((user) => mention(user)).join(', ');
}

function approvalLine(stage: DeployStage, vote: StageVote | undefined, view: DeploymentView | undefined): string {
  const outcome = approvalOutcome(stage);
  const slackDecided = vote?.state === 'done';
  switch (outcome) {
    case 'waiting': {
      if (vote?.state === 'approving') return `:hourglass_flowing_sand: approving (${who(vote.approvers)}), telling OCI…`;
      if (vote?.state === 'rejecting') return `:hourglass_flowing_sand: rejecting (${mention(vote.decidedBy ?? '')}), telling OCI…`;
      if (vote?.state === 'failed') return `:warning: waiting for approval; OCI refused the last decision: ${escapeMrkdwn(plain(vote.note ?? '', 300))}`;
      const required = vote?.required ?? Math.max(1, view?.required ?? 1);
      const counted = vote?.approvers.length ?? 0;
      const so = counted > 0 ? `: ${who(vote?.approvers ?? [])}` : '';
      const by = view && view.approvers.length > 0 ? ` from ${view.approvers.map((holder) => mention(holder)).join(', ')}` : '';
      return `:raised_hand: *waiting for approval* (${counted}/${required}${so})${by}`;
    }
    case 'approved':
      return slackDecided && vote.approvers.length > 0 ? `:white_check_mark: approved in Slack by ${who(vote.approvers)}` : ':white_check_mark: approved outside Slack (OCI console or API)';
    case 'rejected': {
      const reason = slackDecided ? vote.reason : stage.approvalActions?.find((action) => action.action === 'REJECT')?.reason;
      const because = reason ? `: ${escapeMrkdwn(plain(reason, 300))}` : '';
      return slackDecided && vote.decidedBy ? `:no_entry: rejected in Slack by ${mention(vote.decidedBy)}${because}` : `:no_entry: rejected outside Slack${because}`;
    }
    case 'failed':
      return ':x: failed (approval timed out or the deployment stopped)';
    case 'not reached':
      return ':white_circle: not reached yet';
  }
}

function stageLine(stage: DeployStage, vote: StageVote | undefined, view: DeploymentView | undefined, now: Date): string {
  const name = `*${escapeMrkdwn(plain(stage.name, 100))}*`;
  const duration = stageDurationMs(stage, now);
  const took = duration !== undefined ? ` · ${formatDuration(duration)}${stage.finishedAt ? '' : ' so far'}` : '';
  if (isApprovalStage(stage)) return `${name} · ${approvalLine(stage, vote, view)}${took}`;
  const status = stage.status ? STATUS[stage.status] : undefined;
  // Stages not reached yet are either absent from OCI's map or ACCEPTED without a start (reference/oci.md §8.1).
  const reached = stage.status !== undefined && !(stage.status === 'ACCEPTED' && !stage.startedAt);
  const state = !reached ? ':white_circle: not reached yet' : status ? `${status.emoji} ${status.label}` : escapeMrkdwn((stage.status ?? '').toLowerCase());
  const traffic = stage.trafficPercent !== undefined ? ` · canary traffic ${stage.trafficPercent}%` : '';
  const namespace = stage.namespace ? ` · namespace \`${escapeMrkdwn(plain(stage.namespace, 63))}\`` : '';
  const failed = stage.status === 'FAILED' && stage.failedStep ? ` at step “${escapeMrkdwn(plain(stage.failedStep, 100))}”` : '';
  return `${state}${failed} ${name}${traffic}${namespace}${took}`;
}

/**
 * The stages of a deployment (one line each, in pipeline order), then, per stage waiting for approval, its
 * Approve and Reject buttons; a canary approval also shows the canary's traffic and the gates again.
 */
export function renderStageBlocks(run: Run, now: Date, view: DeploymentView | undefined): Block[] {
  const stages = run.stages ?? [];
  if (stages.length === 0) return [];
  const lines = stages.slice(0, 25).map((stage) => stageLine(stage, run.stageVotes?.[stage.id], view, now));
  const blocks: Block[] = [{ type: 'section', text: mrkdwnText(plain(`*Stages*\n${lines.join('\n')}`, 2900)) }];
  stages.forEach((stage, index) => {
    if (!awaitsApproval(stage)) return;
    const vote = run.stageVotes?.[stage.id];
    if (vote && vote.state !== 'pending' && vote.state !== 'failed') return;
    if (stage.type === 'OKE_CANARY_APPROVAL') {
      const traffic = canaryTraffic(stages);
      const facts = [`The canary takes ${traffic !== undefined ? `*${traffic}%*` : 'part'} of the traffic.`, ...(view?.gates ?? [])];
      blocks.push({ type: 'context', elements: [mrkdwnText(plain(facts.join('\n'), 2900))] });
    }
    const value = stageButtonValue(run, stage);
    const buttons: ButtonElement[] = [
      { type: 'button', action_id: DEPLOY_ACTIONS.approve, text: plainText(plain(`Approve ${stage.name}`, 75)), style: 'primary', value },
      { type: 'button', action_id: DEPLOY_ACTIONS.reject, text: plainText('Reject'), style: 'danger', value },
    ];
    blocks.push({ type: 'actions', block_id: `stage-${index}-${run.version}`, elements: buttons });
  });
  return blocks;
}

/** Cancel on a deployment that still runs (deployers only; confirmed in Slack's own dialog). */
export function cancelButton(run: Run): ButtonElement {
  return {
    type: 'button',
    action_id: DEPLOY_ACTIONS.cancel,
    text: plainText('Cancel deployment'),
    value: JSON.stringify({ run: run.key }),
    confirm: {
      title: plainText('Cancel the deployment?'),
      text: mrkdwnText(plain(`OCI stops ${escapeMrkdwn(run.name)} where it is; stages already done are not undone.`, 300)),
      confirm: plainText('Cancel it'),
      deny: plainText('Keep it running'),
      style: 'danger',
    },
  };
}
