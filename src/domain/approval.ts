/** A request to move a model alias (or stage) to a version, decided by approvers in Slack. */
export type PromotionTarget = { kind: 'alias'; alias: string } | { kind: 'stage'; stage: string };

export const APPROVAL_STATES = ['pending', 'approved', 'rejected', 'expired', 'superseded', 'promoted', 'failed'] as const;
export type ApprovalState = (typeof APPROVAL_STATES)[number];

export interface MetricsSnapshot {
  version?: string;
  runId?: string;
  metrics: Record<string, number>;
}

export interface Approval {
  id: string;
  model: string;
  version: string;
  target: PromotionTarget;
  requestedBy: string;
  requestedAt: string;
  expiresAt: string;
  required: number;
  allowSelfApproval: boolean;
  approvers: string[];
  state: ApprovalState;
  decidedBy?: string;
  reason?: string;
  channel?: string;
  ts?: string;
  candidate: MetricsSnapshot;
  current: MetricsSnapshot;
  /** Who held the alias/stage before, and the outcome line, once promoted. */
  outcome?: string;
}

export function targetLabel(target: PromotionTarget): string {
  return target.kind === 'alias' ? `@${target.alias}` : `stage ${target.stage}`;
}

export function targetSlot(model: string, target: PromotionTarget): string {
  return `${model}|${target.kind}|${target.kind === 'alias' ? target.alias : target.stage}`;
}
