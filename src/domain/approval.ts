import type { MetricDirection } from '../config/config-file.js';
import type { GateResult } from './gates.js';

/** A request to move a model alias (or stage) to a version, decided by approvers in Slack. */
export type PromotionTarget = { kind: 'alias'; alias: string } | { kind: 'stage'; stage: string };

/** The requester (and decider) of a promotion the bot makes by itself on MLflow's webhook. */
export const AUTOMATIC_REQUESTER = 'mlflow-webhook';

export const APPROVAL_STATES = ['pending', 'approved', 'rejected', 'expired', 'superseded', 'promoted', 'failed'] as const;
export type ApprovalState = (typeof APPROVAL_STATES)[number];

export interface MetricsSnapshot {
  version?: string;
  runId?: string;
  metrics: Record<string, number>;
}

/** A gate overrider lifted the failed gates of a request: who, why and when. */
export interface GateOverride {
  by: string;
  reason: string;
  at: string;
}

/** The step of a model's promotion path that a request is for (models with `environments` only). */
export interface EnvironmentStep {
  /** The environment being promoted into. */
  name: string;
  /** Every environment of the path, in order, for the request's display. */
  path: string[];
  /** Slack users and user groups who may approve here: the environment's approvers, else roles.approvers. */
  approvers: string[];
  /** The soak the version met in the previous environment, when this environment has one. */
  soak?: { previous: string; soakMs: number; servedMs: number };
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
  /** Bound to one environment of the model's path; absent for a model without environments. */
  environment?: EnvironmentStep;
  /** Which way each shown metric is better (models.<name>.metrics), for the comparison marks. */
  directions?: Record<string, MetricDirection>;
  /** How many more metrics the runs logged than the request shows. */
  metricsOmitted?: number;
  /** The quality gates as evaluated when the request was made (and again just before the alias moves). */
  gates?: GateResult[];
  /** Set when a gate overrider lifted the failed gates; approvals then proceed as usual. */
  gateOverride?: GateOverride;
}

/** A failed gate nobody has overridden: the request cannot be approved. */
export function gateBlocked(approval: Pick<Approval, 'gates' | 'gateOverride'>): boolean {
  return !approval.gateOverride && (approval.gates ?? []).some((gate) => !gate.passed);
}

/** What a request promotes into: `qa (@qa)` for an environment, else the alias or stage. */
export function approvalTargetLabel(approval: Pick<Approval, 'target' | 'environment'>): string {
  return approval.environment ? `${approval.environment.name} (${targetLabel(approval.target)})` : targetLabel(approval.target);
}

export function targetLabel(target: PromotionTarget): string {
  return target.kind === 'alias' ? `@${target.alias}` : `stage ${target.stage}`;
}

export function targetSlot(model: string, target: PromotionTarget): string {
  return `${model}|${target.kind}|${target.kind === 'alias' ? target.alias : target.stage}`;
}
