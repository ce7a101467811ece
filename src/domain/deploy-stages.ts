/**
 * The stages of an OCI DevOps deployment as its Slack message shows them (reference/oci.md §8): the order
 * comes from the predecessors (the first stage's predecessor is the pipeline), an approval-type stage that
 * is IN_PROGRESS waits for a decision, and the canary's traffic comes from the traffic-shift stage's
 * definition. Pure: the OCI adapter parses the progress into DeployStage, this module reasons about it.
 */

/** One approval decision OCI recorded on a stage (its subject is an OCI principal: the bot, or someone in the console). */
export interface StageApprovalAction {
  subjectId: string;
  action: string;
  reason?: string | undefined;
}

export interface DeployStage {
  id: string;
  name: string;
  /** OCI's deployStageType: MANUAL_APPROVAL, OKE_CANARY_APPROVAL, OKE_CANARY_TRAFFIC_SHIFT, OKE_DEPLOYMENT, WAIT, ... */
  type: string;
  /** OCI's stage status; absent for a stage not reached yet. */
  status?: string | undefined;
  startedAt?: string | undefined;
  finishedAt?: string | undefined;
  /** Stage OCIDs (or the pipeline OCID, for the first stage) this stage runs after. */
  after: string[];
  approvalActions?: StageApprovalAction[] | undefined;
  /** The canary, blue-green or traffic namespace, where OCI reports one. */
  namespace?: string | undefined;
  /** The step that failed, for a failed stage: the closest thing OCI gives to "why". */
  failedStep?: string | undefined;
  /** The canary traffic-shift stage's rampLimitPercent (from the stage definition). */
  trafficPercent?: number | undefined;
}

/** Stage types whose progress carries approvalActions and that wait for Approve / Reject. */
export const APPROVAL_STAGE_TYPES: ReadonlySet<string> = new Set(['MANUAL_APPROVAL', 'OKE_CANARY_APPROVAL', 'COMPUTE_INSTANCE_GROUP_CANARY_APPROVAL']);
export const CANARY_TRAFFIC_SHIFT = 'OKE_CANARY_TRAFFIC_SHIFT';

const FINISHED = new Set(['SUCCEEDED', 'FAILED', 'CANCELED', 'ROLLBACK_SUCCEEDED', 'ROLLBACK_FAILED']);

export function isApprovalStage(stage: DeployStage): boolean {
  return APPROVAL_STAGE_TYPES.has(stage.type);
}

/**
 * Whether the stage waits for an approval now. What OCI shows for a waiting approval is not documented
 * (§8.1, UNCONFIRMED); the enums only allow an approval-type stage IN_PROGRESS, so that is the rule,
 * whatever its steps say.
 */
export function awaitsApproval(stage: DeployStage): boolean {
  return isApprovalStage(stage) && stage.status === 'IN_PROGRESS';
}

export type ApprovalOutcome = 'waiting' | 'approved' | 'rejected' | 'failed' | 'not reached';

/** How an approval stage ended: SUCCEEDED is approved; FAILED is rejected (a REJECT action) or timed out. */
export function approvalOutcome(stage: DeployStage): ApprovalOutcome {
  if (awaitsApproval(stage)) return 'waiting';
  if (stage.status === 'SUCCEEDED') return 'approved';
  if (stage.status === 'FAILED' || stage.status === 'CANCELED') {
    return stage.approvalActions?.some((action) => action.action === 'REJECT') ? 'rejected' : 'failed';
  }
  return 'not reached';
}

export function isStageFinished(stage: DeployStage): boolean {
  return stage.status !== undefined && FINISHED.has(stage.status);
}

/**
 * Stages in pipeline order: a stage comes after every predecessor it names that is in the list; ties keep
 * OCI's order. A cycle or a predecessor outside the list (the pipeline) cannot hide a stage.
 */
export function orderStages(stages: readonly DeployStage[]): DeployStage[] {
  const ids = new Set(stages.map((stage) => stage.id));
  const placed = new Set<string>();
  const out: DeployStage[] = [];
  let remaining = [...stages];
  while (remaining.length > 0) {
    const ready = remaining.filter((stage) => stage.after.every((id) => !ids.has(id) || placed.has(id)));
    const next = ready.length > 0 ? ready : remaining.slice(0, 1);
    for (const stage of next) {
      placed.add(stage.id);
      out.push(stage);
    }
    remaining = remaining.filter((stage) => !placed.has(stage.id));
  }
  return out;
}

/** The traffic the canary receives, read from the traffic-shift stage that precedes the approval. */
export function canaryTraffic(stages: readonly DeployStage[]): number | undefined {
  return stages.find((stage) => stage.type === CANARY_TRAFFIC_SHIFT && stage.trafficPercent !== undefined)?.trafficPercent;
}

export function stageDurationMs(stage: DeployStage, now: Date): number | undefined {
  if (!stage.startedAt) return undefined;
  const end = stage.finishedAt ?? now.toISOString();
  const ms = Date.parse(end) - Date.parse(stage.startedAt);
  return Number.isFinite(ms) && ms >= 0 ? ms : undefined;
}

/** Stages compared by what the message shows (times included), to know whether a poll changed anything. */
export function sameStages(a: readonly DeployStage[] | undefined, b: readonly DeployStage[] | undefined): boolean {
  return JSON.stringify(a ?? []) === JSON.stringify(b ?? []);
}

/**
 * Slack's side of one approval stage of one deployment: who approved in Slack so far, and what the bot did
 * with OCI. Kept on the run (so the message renders from it and a vote is one compare-and-set).
 */
export interface StageVote {
  required: number;
  approvers: string[];
  /** pending: counting; approving / rejecting: the OCI call is queued; done: OCI took it; failed: OCI refused it. */
  state: 'pending' | 'approving' | 'rejecting' | 'done' | 'failed';
  decidedBy?: string | undefined;
  reason?: string | undefined;
  /** What OCI answered when it refused, or why the vote closed. */
  note?: string | undefined;
}

export type VoteDecision = 'approve' | 'reject' | 'recorded' | 'self' | 'already' | 'not waiting' | 'closed';

export interface VotePolicy {
  required: number;
  allowSelfApproval: boolean;
  /** Who asked for the deployment (a promotion's requester); may not approve unless allowed. */
  requestedBy?: string | undefined;
}

/**
 * One Slack click on Approve or Reject of a waiting approval stage. Rejecting needs one approver; approving
 * counts distinct approvers up to the policy's `required` (at least 1: OCI needs one call). Returns the vote
 * as it is now; 'approve' and 'reject' mean the caller must now make the one OCI call.
 */
export function castVote(
  stage: DeployStage | undefined,
  vote: StageVote | undefined,
  user: string,
  action: 'approve' | 'reject',
  policy: VotePolicy,
  reason?: string,
): { decision: VoteDecision; vote: StageVote | undefined } {
  if (!stage || !awaitsApproval(stage)) return { decision: 'not waiting', vote };
  // A decision OCI refused starts the count again (the stage still waits, so OCI took nothing).
  const current: StageVote = vote && vote.state !== 'failed' ? vote : { required: Math.max(1, policy.required), approvers: [], state: 'pending' };
  if (current.state !== 'pending') return { decision: 'closed', vote: current };
  if (action === 'reject') {
    return { decision: 'reject', vote: { ...current, state: 'rejecting', decidedBy: user, ...(reason ? { reason } : {}) } };
  }
  if (user === policy.requestedBy && !policy.allowSelfApproval) return { decision: 'self', vote: current };
  if (current.approvers.includes(user)) return { decision: 'already', vote: current };
  const approvers = [...current.approvers, user];
  if (approvers.length >= current.required) return { decision: 'approve', vote: { ...current, approvers, state: 'approving', decidedBy: user } };
  return { decision: 'recorded', vote: { ...current, approvers } };
}
