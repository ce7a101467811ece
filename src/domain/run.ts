import type { EventKind } from '../config/config-file.js';
import { sameStages, type DeployStage, type StageVote } from './deploy-stages.js';
import type { Subject } from './oci-notification.js';
import { isTerminal, stateRank, type RunState } from './run-state.js';

export interface RunTransition {
  state: RunState;
  at: string;
  note?: string;
}

/** One tracked pipeline run (or alarm episode): everything its Slack message is rendered from. */
export interface Run {
  key: string;
  resourceId: string;
  subject: Subject;
  kind: EventKind;
  name: string;
  compartmentId?: string;
  compartmentName?: string;
  state: RunState;
  stateAt: string;
  startedAt?: string;
  finishedAt?: string;
  /** Facts shown in the message: pipeline and project ids, lifecycle details, severity, links. */
  details: Record<string, string>;
  history: RunTransition[];
  /** Slack user who started it through the bot, with the train target and arguments. */
  startedBy?: string;
  target?: string;
  arguments?: Record<string, string>;
  /** A deployment's stages in pipeline order, as the last getDeployment showed them. */
  stages?: DeployStage[];
  /** Slack's approvals of its approval stages, by stage OCID. */
  stageVotes?: Record<string, StageVote>;
  /** Bumped on every visible change; the Slack message records which version it shows. */
  version: number;
}

export interface RunUpdate {
  key: string;
  resourceId: string;
  subject: Subject;
  kind: EventKind;
  at: string;
  state?: RunState;
  name?: string;
  compartmentId?: string;
  compartmentName?: string;
  startedAt?: string;
  finishedAt?: string;
  details?: Record<string, string>;
  note?: string;
  startedBy?: string;
  target?: string;
  arguments?: Record<string, string>;
  /** A deployment's stages (ordered), replacing what the run had. */
  stages?: DeployStage[];
}

const MAX_HISTORY = 30;

/**
 * Keys of the runs the bot starts itself. They exist before OCI names the resource, and are tagged on it
 * (RUN_TAG) so its events can find the run.
 */
export const startedRunKey = {
  train: (jobId: string) => `train-${jobId}`,
  promotion: (approvalId: string) => `promotion-${approvalId}`,
} as const;
/**
 * Every run the bot starts carries its run key under this name (an environment variable of a job or
 * pipeline run, an argument of a build run); a training script tags its MLflow run with it
 * (RUN_KEY_MLFLOW_TAG), which leads the versions it registers back to the run's Slack thread.
 */
export const RUN_KEY_VARIABLE = 'MLOPS_RUN_KEY';
export const RUN_KEY_MLFLOW_TAG = 'mlops.run_key';

/** Exactly the keys startedRunKey makes (ids are hex). */
export const STARTED_RUN_KEY = /^(?:train|promotion)-[0-9a-f]{1,64}$/;

/** True once the run is bound to its OCI resource; until then a run started by the bot has a placeholder id. */
export function hasOciResource(run: Run): boolean {
  return run.resourceId.startsWith('ocid1.');
}

function acceptsState(run: Run, next: RunState, at: string): boolean {
  if (next === run.state || isTerminal(run.state)) return false;
  if (stateRank(next) > stateRank(run.state)) return true;
  return stateRank(next) === stateRank(run.state) && at > run.stateAt;
}

function mergeDetails(current: Record<string, string>, incoming: Record<string, string> | undefined): Record<string, string> {
  if (!incoming) return current;
  const merged = { ...current };
  for (const [key, value] of Object.entries(incoming)) {
    if (value !== '') merged[key] = value;
  }
  return merged;
}

function fillDetails(current: Record<string, string>, incoming: Record<string, string> | undefined): Record<string, string> {
  if (!incoming) return current;
  const filled = { ...current };
  for (const [key, value] of Object.entries(incoming)) {
    if (value !== '' && filled[key] === undefined) filled[key] = value;
  }
  return filled;
}

function sameRecord(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((key) => a[key] === b[key]);
}

/**
 * Folds one fact about a run into its state. Deliveries arrive late, twice and out of order, so a state
 * only moves forward (by lifecycle rank, then time) and never leaves a terminal state; descriptive fields
 * are filled in whenever they arrive. `changed` says whether the Slack message needs to show something new.
 */
export function applyRunUpdate(run: Run | undefined, update: RunUpdate): { run: Run; changed: boolean; stateChanged: boolean } {
  if (!run) {
    const state = update.state ?? 'ACCEPTED';
    const created: Run = {
      key: update.key,
      resourceId: update.resourceId,
      subject: update.subject,
      kind: update.kind,
      name: update.name ?? update.resourceId,
      ...(update.compartmentId === undefined ? {} : { compartmentId: update.compartmentId }),
      ...(update.compartmentName === undefined ? {} : { compartmentName: update.compartmentName }),
      state,
      stateAt: update.at,
      ...(update.startedAt !== undefined ? { startedAt: update.startedAt } : state === 'IN_PROGRESS' ? { startedAt: update.at } : {}),
      ...(update.finishedAt !== undefined ? { finishedAt: update.finishedAt } : isTerminal(state) ? { finishedAt: update.at } : {}),
      details: mergeDetails({}, update.details),
      history: [{ state, at: update.at, ...(update.note ? { note: update.note } : {}) }],
      ...(update.startedBy === undefined ? {} : { startedBy: update.startedBy }),
      ...(update.target === undefined ? {} : { target: update.target }),
      ...(update.arguments === undefined ? {} : { arguments: update.arguments }),
      ...(update.stages === undefined ? {} : { stages: update.stages }),
      version: 1,
    };
    return { run: created, changed: true, stateChanged: true };
  }

  // A fact older than the run's state (a late delivery) fills in what is missing but overwrites nothing: the
  // failed run keeps its failure's lifecycleDetails rather than an earlier event's progress line.
  const late = update.at < run.stateAt;
  const next: Run = { ...run, details: late ? fillDetails(run.details, update.details) : mergeDetails(run.details, update.details) };
  let changed = !sameRecord(next.details, run.details);
  const fill = <K extends 'resourceId' | 'name' | 'compartmentId' | 'compartmentName' | 'startedBy' | 'target'>(field: K) => {
    const value = update[field];
    if (value !== undefined && value !== '' && value !== next[field] && !(field === 'name' && value === update.resourceId)) {
      next[field] = value;
      changed = true;
    }
  };
  // A run queued from Slack is known by its job id until OCI gives it an OCID.
  fill('resourceId');
  fill('name');
  fill('compartmentId');
  fill('compartmentName');
  fill('startedBy');
  fill('target');
  if (update.arguments && !next.arguments) {
    next.arguments = update.arguments;
    changed = true;
  }
  // Stages come whole from one getDeployment, so the newest read replaces them; a terminal run keeps the
  // stages it ended with unless the read is of the end itself (late reads of an earlier moment lose).
  if (update.stages && !sameStages(update.stages, run.stages) && (!isTerminal(run.state) || update.at >= run.stateAt)) {
    next.stages = update.stages;
    changed = true;
  }
  if (update.startedAt && update.startedAt !== next.startedAt) {
    next.startedAt = update.startedAt;
    changed = true;
  }

  let stateChanged = false;
  if (update.state !== undefined && acceptsState(run, update.state, update.at)) {
    next.state = update.state;
    next.stateAt = update.at;
    if (update.state === 'IN_PROGRESS' && !next.startedAt) next.startedAt = update.at;
    if (isTerminal(update.state)) next.finishedAt = update.finishedAt ?? update.at;
    next.history = [...run.history, { state: update.state, at: update.at, ...(update.note ? { note: update.note } : {}) }].slice(-MAX_HISTORY);
    stateChanged = true;
    changed = true;
  } else if (update.finishedAt && isTerminal(next.state) && update.finishedAt !== next.finishedAt) {
    next.finishedAt = update.finishedAt;
    changed = true;
  }

  if (changed) next.version = run.version + 1;
  return { run: changed ? next : run, changed, stateChanged };
}

/** Records Slack's vote on one approval stage (the caller decided it with castVote); bumps the version. */
export function withStageVote(run: Run, stageId: string, vote: StageVote): Run {
  return { ...run, stageVotes: { ...run.stageVotes, [stageId]: vote }, version: run.version + 1 };
}

/** Milliseconds from start (or acceptance) to finish, or to `now` while running. */
export function runDurationMs(run: Run, now: Date): number | undefined {
  const first = run.history[0];
  // Seen only at its end (no start time from OCI): the duration is unknown, not zero.
  if (!run.startedAt && first && isTerminal(first.state)) return undefined;
  const start = run.startedAt ?? first?.at;
  if (!start) return undefined;
  const end = run.finishedAt ?? (isTerminal(run.state) ? run.stateAt : now.toISOString());
  const ms = Date.parse(end) - Date.parse(start);
  return Number.isFinite(ms) && ms >= 0 ? ms : undefined;
}

export function formatDuration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${seconds % 60}s`;
  const hours = Math.floor(minutes / 60);
  return `${hours}h ${minutes % 60}m`;
}
