import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyRunUpdate, formatDuration, runDurationMs, type Run, type RunUpdate } from '../../src/domain/run.js';
import { isTerminal, RUN_STATES, type RunState } from '../../src/domain/run-state.js';

const JOB_RUN = 'ocid1.datasciencejobrun.oc1.iad.amaaaaaa4mlops7jobrun2xq3example5h7abcde';
const T0 = Date.parse('2025-03-04T09:00:00.000Z');
const at = (seconds: number): string => new Date(T0 + seconds * 1000).toISOString();

function update(state: RunState | undefined, seconds: number, extra: Partial<RunUpdate> = {}): RunUpdate {
  return {
    key: `jobRun:${JOB_RUN}`,
    resourceId: JOB_RUN,
    subject: 'jobRun',
    kind: 'training',
    at: at(seconds),
    ...(state === undefined ? {} : { state }),
    ...extra,
  };
}

/** Folds updates in order, as the worker does, returning the last result. */
function fold(updates: readonly RunUpdate[], start?: Run): Run {
  let run = start;
  for (const next of updates) run = applyRunUpdate(run, next).run;
  if (!run) throw new Error('no updates');
  return run;
}

describe('applyRunUpdate: creating a run', () => {
  it('creates the run from its first update, at version 1 with one history entry', () => {
    const result = applyRunUpdate(undefined, update('ACCEPTED', 0, { name: 'fraud-model-train', compartmentName: 'mlops', details: { jobId: 'ocid1.datasciencejob.oc1.iad.x' } }));
    expect(result.changed).toBe(true);
    expect(result.stateChanged).toBe(true);
    expect(result.run).toEqual({
      key: `jobRun:${JOB_RUN}`,
      resourceId: JOB_RUN,
      subject: 'jobRun',
      kind: 'training',
      name: 'fraud-model-train',
      compartmentName: 'mlops',
      state: 'ACCEPTED',
      stateAt: at(0),
      details: { jobId: 'ocid1.datasciencejob.oc1.iad.x' },
      history: [{ state: 'ACCEPTED', at: at(0) }],
      version: 1,
    });
  });

  it('defaults the state to ACCEPTED and the name to the resource id', () => {
    const { run } = applyRunUpdate(undefined, update(undefined, 0));
    expect(run.state).toBe('ACCEPTED');
    expect(run.name).toBe(JOB_RUN);
  });

  it('records the start of a run first seen in progress, and the finish of one first seen finished', () => {
    expect(applyRunUpdate(undefined, update('IN_PROGRESS', 5)).run.startedAt).toBe(at(5));
    const finished = applyRunUpdate(undefined, update('FAILED', 60, { note: 'exit code 1' })).run;
    expect(finished.finishedAt).toBe(at(60));
    expect(finished.history).toEqual([{ state: 'FAILED', at: at(60), note: 'exit code 1' }]);
  });

  it('keeps who started it from Slack, the target and its arguments', () => {
    const { run } = applyRunUpdate(undefined, update('QUEUED', 0, { startedBy: 'U0ALICE', target: 'fraud-model', arguments: { epochs: '10' } }));
    expect(run).toMatchObject({ state: 'QUEUED', startedBy: 'U0ALICE', target: 'fraud-model', arguments: { epochs: '10' } });
  });
});

describe('applyRunUpdate: state moves forward only', () => {
  it('moves ACCEPTED → IN_PROGRESS → SUCCEEDED, recording start, finish and history', () => {
    let result = applyRunUpdate(undefined, update('ACCEPTED', 0));
    result = applyRunUpdate(result.run, update('IN_PROGRESS', 10));
    expect(result).toMatchObject({ changed: true, stateChanged: true });
    expect(result.run).toMatchObject({ state: 'IN_PROGRESS', startedAt: at(10), version: 2 });
    result = applyRunUpdate(result.run, update('SUCCEEDED', 600));
    expect(result.run).toMatchObject({ state: 'SUCCEEDED', stateAt: at(600), finishedAt: at(600), version: 3 });
    expect(result.run.history.map((entry) => entry.state)).toEqual(['ACCEPTED', 'IN_PROGRESS', 'SUCCEEDED']);
  });

  it('leaves SUCCEEDED in place when a late IN_PROGRESS arrives', () => {
    const done = fold([update('ACCEPTED', 0), update('SUCCEEDED', 600)]);
    const late = applyRunUpdate(done, update('IN_PROGRESS', 10));
    expect(late.run.state).toBe('SUCCEEDED');
    expect(late.stateChanged).toBe(false);
    expect(late.changed).toBe(false);
    expect(late.run).toBe(done);
  });

  it('does not go back from IN_PROGRESS to ACCEPTED', () => {
    const running = fold([update('IN_PROGRESS', 10)]);
    const result = applyRunUpdate(running, update('ACCEPTED', 20));
    expect(result.run.state).toBe('IN_PROGRESS');
    expect(result.stateChanged).toBe(false);
  });

  it('moves between states of equal rank only to a later one', () => {
    const canceling = fold([update('IN_PROGRESS', 0), update('CANCELING', 100)]);
    expect(applyRunUpdate(canceling, update('NEEDS_ATTENTION', 50)).run.state).toBe('CANCELING');
    expect(applyRunUpdate(canceling, update('NEEDS_ATTENTION', 150)).run.state).toBe('NEEDS_ATTENTION');
  });

  it.each(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CANCELED', 'RESOLVED'] as const)('keeps the terminal state %s terminal, even against DELETED', (terminal) => {
    const done = fold([update('IN_PROGRESS', 0), update(terminal, 100)]);
    for (const next of RUN_STATES) {
      const result = applyRunUpdate(done, update(next, 200));
      expect(result.run.state).toBe(terminal);
      expect(result.stateChanged).toBe(false);
    }
  });

  it('reports a duplicate delivery as unchanged and keeps the version', () => {
    const first = fold([update('ACCEPTED', 0), update('FAILED', 60, { details: { lifecycleDetails: 'exit 1' } })]);
    const again = applyRunUpdate(first, update('FAILED', 60, { details: { lifecycleDetails: 'exit 1' } }));
    expect(again).toEqual({ run: first, changed: false, stateChanged: false });
    expect(again.run.version).toBe(first.version);
  });

  it('uses a terminal update’s own finishedAt when it has one', () => {
    const run = fold([update('IN_PROGRESS', 0), update('SUCCEEDED', 600, { finishedAt: at(590) })]);
    expect(run.finishedAt).toBe(at(590));
  });

  it('accepts a more precise finishedAt for an already finished run as a change', () => {
    const done = fold([update('IN_PROGRESS', 0), update('SUCCEEDED', 600)]);
    const result = applyRunUpdate(done, update(undefined, 700, { finishedAt: at(595) }));
    expect(result).toMatchObject({ changed: true, stateChanged: false });
    expect(result.run).toMatchObject({ state: 'SUCCEEDED', finishedAt: at(595), version: done.version + 1 });
  });

  it('keeps at most 30 history entries, the latest ones', () => {
    let run = fold([update('IN_PROGRESS', 0)]);
    for (let index = 1; index <= 40; index++) run = fold([update(index % 2 === 0 ? 'CANCELING' : 'NEEDS_ATTENTION', index)], run);
    expect(run.history).toHaveLength(30);
    expect(run.history.at(-1)?.at).toBe(at(40));
  });
});

describe('applyRunUpdate: descriptive fields', () => {
  it('merges details, ignoring empty values, and counts that as a change', () => {
    const first = fold([update('ACCEPTED', 0, { details: { jobId: 'job-1', consoleUrl: 'https://cloud.oracle.com/x' } })]);
    const result = applyRunUpdate(first, update(undefined, 5, { details: { consoleUrl: '', lifecycleDetails: 'pulling image' } }));
    expect(result.changed).toBe(true);
    expect(result.stateChanged).toBe(false);
    expect(result.run.details).toEqual({ jobId: 'job-1', consoleUrl: 'https://cloud.oracle.com/x', lifecycleDetails: 'pulling image' });
    expect(result.run.version).toBe(2);
  });

  it('lets a late delivery fill in missing details but not overwrite those of the state the run is in', () => {
    const failed = fold([update('IN_PROGRESS', 10, { details: { lifecycleDetails: 'epoch 3 of 40' } }), update('FAILED', 60, { details: { lifecycleDetails: 'exit code 1' } })]);
    const late = applyRunUpdate(failed, update('IN_PROGRESS', 30, { details: { lifecycleDetails: 'epoch 20 of 40 (late delivery)', logId: 'ocid1.log.oc1..x' } }));
    expect(late.run.details).toEqual({ lifecycleDetails: 'exit code 1', logId: 'ocid1.log.oc1..x' });
    expect(late.run.state).toBe('FAILED');
    // Nothing new at all: unchanged, same version (no Slack edit for it).
    const again = applyRunUpdate(late.run, update('IN_PROGRESS', 31, { details: { lifecycleDetails: 'epoch 21 of 40 (late delivery)' } }));
    expect(again.changed).toBe(false);
    expect(again.run.version).toBe(late.run.version);
  });

  it('does not bump the version when the details it brings are already known', () => {
    const first = fold([update('ACCEPTED', 0, { details: { jobId: 'job-1' } })]);
    const result = applyRunUpdate(first, update(undefined, 5, { details: { jobId: 'job-1' } }));
    expect(result.changed).toBe(false);
    expect(result.run.version).toBe(1);
  });

  it('fills in the OCID of a run first known by its Slack job id, and its real name', () => {
    const queued = applyRunUpdate(undefined, { ...update('QUEUED', 0), resourceId: 'train:fraud-model:abc', name: 'fraud-model' }).run;
    const result = applyRunUpdate(queued, update('ACCEPTED', 3, { name: 'fraud-model-train-2025-03-04' }));
    expect(result.run).toMatchObject({ resourceId: JOB_RUN, name: 'fraud-model-train-2025-03-04', state: 'ACCEPTED' });
  });

  it('does not replace a known name by the bare resource id', () => {
    const named = fold([update('ACCEPTED', 0, { name: 'fraud-model-train' })]);
    const result = applyRunUpdate(named, update(undefined, 1, { name: JOB_RUN }));
    expect(result.run.name).toBe('fraud-model-train');
    expect(result.changed).toBe(false);
  });

  it('keeps the first arguments given and fills startedAt from the service', () => {
    const run = fold([update('QUEUED', 0, { arguments: { epochs: '10' } })]);
    const result = applyRunUpdate(run, update(undefined, 10, { arguments: { epochs: '99' }, startedAt: at(8) }));
    expect(result.run.arguments).toEqual({ epochs: '10' });
    expect(result.run.startedAt).toBe(at(8));
    expect(result.changed).toBe(true);
  });

  it('does not mutate the run it was given', () => {
    const run = fold([update('ACCEPTED', 0, { details: { a: '1' } })]);
    const snapshot = structuredClone(run);
    applyRunUpdate(run, update('FAILED', 10, { details: { b: '2' }, name: 'renamed' }));
    expect(run).toEqual(snapshot);
  });
});

describe('applyRunUpdate: delivery order does not matter', () => {
  const NON_TERMINAL = RUN_STATES.filter((state) => !isTerminal(state));
  const TERMINAL = RUN_STATES.filter((state) => isTerminal(state));

  it('ends in the same state for any permutation of updates with one, latest, terminal update', () => {
    const scenario = fc
      .record({
        early: fc.uniqueArray(fc.record({ state: fc.constantFrom(...NON_TERMINAL), second: fc.integer({ min: 0, max: 999 }) }), {
          maxLength: 8,
          selector: (entry) => entry.second,
        }),
        terminal: fc.constantFrom(...TERMINAL),
      })
      .chain(({ early, terminal }) => {
        const updates = [...early.map((entry) => update(entry.state, entry.second)), update(terminal, 1_000)];
        return fc.tuple(fc.constant(terminal), fc.shuffledSubarray(updates, { minLength: updates.length, maxLength: updates.length }));
      });
    fc.assert(
      fc.property(scenario, ([terminal, updates]) => {
        const run = fold(updates);
        expect(run.state).toBe(terminal);
        expect(run.stateAt).toBe(at(1_000));
        expect(run.finishedAt).toBe(at(1_000));
      }),
      { numRuns: 300 },
    );
  });

  it('never leaves a terminal state, whatever follows', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...TERMINAL),
        fc.array(fc.record({ state: fc.option(fc.constantFrom(...RUN_STATES), { nil: undefined }), second: fc.integer({ min: 0, max: 5_000 }) }), { maxLength: 10 }),
        (terminal, later) => {
          const run = fold(later.map((entry) => update(entry.state, entry.second)), fold([update(terminal, 1_000)]));
          return run.state === terminal;
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('runDurationMs and formatDuration', () => {
  const now = new Date(T0 + 3_600_000);

  it('measures a finished run from start to finish', () => {
    const run = fold([update('IN_PROGRESS', 30), update('SUCCEEDED', 630)]);
    expect(runDurationMs(run, now)).toBe(600_000);
  });

  it('measures a running run up to now, from its acceptance when it has no start', () => {
    const run = fold([update('ACCEPTED', 0)]);
    expect(runDurationMs(run, new Date(T0 + 90_000))).toBe(90_000);
  });

  it('gives no duration when the clock would run backwards', () => {
    const run = fold([update('IN_PROGRESS', 100)]);
    expect(runDurationMs(run, new Date(T0))).toBeUndefined();
  });

  it('gives no duration for a run first seen at its end, rather than "0s"', () => {
    const { run } = applyRunUpdate(undefined, { key: JOB_RUN, resourceId: JOB_RUN, subject: 'jobRun', kind: 'training', at: new Date(T0).toISOString(), state: 'SUCCEEDED' });
    expect(runDurationMs(run, now)).toBeUndefined();
  });

  it('gives no duration for unparseable times', () => {
    const run = applyRunUpdate(undefined, { ...update('IN_PROGRESS', 0), at: 'not a time' }).run;
    expect(runDurationMs(run, now)).toBeUndefined();
  });

  it.each([
    [0, '0s'],
    [1_499, '1s'],
    [59_000, '59s'],
    [59_600, '1m 0s'],
    [61_000, '1m 1s'],
    [3_599_000, '59m 59s'],
    [3_600_000, '1h 0m'],
    [5_430_000, '1h 30m'],
    [90_000_000, '25h 0m'],
  ])('formats %i ms as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});
