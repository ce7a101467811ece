/**
 * The lifecycle of anything the bot tracks as one Slack message: DevOps build runs and deployments,
 * Data Science job and pipeline runs, model deployments, and alarms (one message per firing episode).
 */
export const RUN_STATES = [
  'QUEUED', // asked for by the bot, not yet accepted by OCI
  'ACCEPTED',
  'IN_PROGRESS',
  'CANCELING',
  'NEEDS_ATTENTION',
  'SUCCEEDED',
  'FAILED',
  'TIMED_OUT',
  'CANCELED',
  'DELETED',
  'FIRING',
  'RESOLVED',
] as const;
export type RunState = (typeof RUN_STATES)[number];

const TERMINAL: ReadonlySet<RunState> = new Set(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CANCELED', 'DELETED', 'RESOLVED']);
const FAILURE: ReadonlySet<RunState> = new Set(['FAILED', 'TIMED_OUT', 'NEEDS_ATTENTION', 'FIRING']);

/** Later in a lifecycle ranks higher; used to order deliveries that arrive out of order. */
const RANK: Record<RunState, number> = {
  QUEUED: 0,
  ACCEPTED: 1,
  IN_PROGRESS: 2,
  NEEDS_ATTENTION: 3,
  CANCELING: 3,
  FIRING: 3,
  SUCCEEDED: 4,
  FAILED: 4,
  TIMED_OUT: 4,
  CANCELED: 4,
  RESOLVED: 4,
  DELETED: 5,
};

export function isTerminal(state: RunState): boolean {
  return TERMINAL.has(state);
}

export function isFailure(state: RunState): boolean {
  return FAILURE.has(state);
}

export function stateRank(state: RunState): number {
  return RANK[state];
}

/** Maps an OCI lifecycleState (any service's spelling) onto ours; unknown values give undefined. */
export function fromOciLifecycleState(value: string | undefined): RunState | undefined {
  switch (value?.toUpperCase()) {
    case 'ACCEPTED':
    case 'CREATING':
      return 'ACCEPTED';
    case 'IN_PROGRESS':
    case 'UPDATING':
    case 'ACTIVE_UPDATING':
      return 'IN_PROGRESS';
    case 'SUCCEEDED':
    case 'ACTIVE':
      return 'SUCCEEDED';
    case 'FAILED':
      return 'FAILED';
    case 'CANCELING':
      return 'CANCELING';
    case 'CANCELED':
    case 'CANCELLED':
      return 'CANCELED';
    case 'NEEDS_ATTENTION':
      return 'NEEDS_ATTENTION';
    case 'DELETING':
    case 'DELETED':
      return 'DELETED';
    default:
      return undefined;
  }
}
