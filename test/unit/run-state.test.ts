import { describe, expect, it } from 'vitest';
import { fromOciLifecycleState, isFailure, isTerminal, RUN_STATES, stateRank } from '../../src/domain/run-state.js';

describe('run states', () => {
  it('knows which states end a run', () => {
    expect(RUN_STATES.filter(isTerminal)).toEqual(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CANCELED', 'DELETED', 'RESOLVED']);
  });

  it('knows which states call for on-call attention', () => {
    expect(RUN_STATES.filter(isFailure)).toEqual(['NEEDS_ATTENTION', 'FAILED', 'TIMED_OUT', 'FIRING']);
  });

  it('ranks the lifecycle in order, with every outcome above every running state', () => {
    expect(stateRank('QUEUED')).toBeLessThan(stateRank('ACCEPTED'));
    expect(stateRank('ACCEPTED')).toBeLessThan(stateRank('IN_PROGRESS'));
    expect(stateRank('IN_PROGRESS')).toBeLessThan(stateRank('CANCELING'));
    const running = RUN_STATES.filter((state) => !isTerminal(state)).map(stateRank);
    const finished = RUN_STATES.filter(isTerminal).map(stateRank);
    expect(Math.max(...running)).toBeLessThan(Math.min(...finished));
    expect(stateRank('DELETED')).toBeGreaterThan(stateRank('SUCCEEDED'));
  });

  it.each([
    ['ACCEPTED', 'ACCEPTED'],
    ['CREATING', 'ACCEPTED'],
    ['IN_PROGRESS', 'IN_PROGRESS'],
    ['UPDATING', 'IN_PROGRESS'],
    ['ACTIVE', 'SUCCEEDED'],
    ['SUCCEEDED', 'SUCCEEDED'],
    ['FAILED', 'FAILED'],
    ['CANCELING', 'CANCELING'],
    ['CANCELED', 'CANCELED'],
    ['CANCELLED', 'CANCELED'],
    ['NEEDS_ATTENTION', 'NEEDS_ATTENTION'],
    ['DELETING', 'DELETED'],
    ['DELETED', 'DELETED'],
    ['succeeded', 'SUCCEEDED'],
  ])('maps OCI lifecycleState %s to %s', (oci, ours) => {
    expect(fromOciLifecycleState(oci)).toBe(ours);
  });

  it.each([undefined, '', 'UNKNOWN_VALUE', 'INACTIVE', '__proto__', 'toString'])('gives no state for %s', (value) => {
    expect(fromOciLifecycleState(value)).toBeUndefined();
  });
});
