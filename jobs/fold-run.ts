import type { Job } from 'bullmq';
import type { Context } from '../src/context.js';
import { applyRunUpdate, type RunUpdate } from '../src/domain/run.js';
import { isFailure, isTerminal } from '../src/domain/run-state.js';
import { enqueueRunStatus } from '../src/queues.js';

/**
 * A job that ran before (failed, or was picked up again after its worker died) may have folded its update
 * and died before asking Slack to show it; such a job asks again even when the fold changes nothing.
 */
export function isRetry(job: Job): boolean {
  return job.attemptsMade > 0 || job.stalledCounter > 0 || job.attemptsStarted > 1;
}

/**
 * Folds an update into its run and, when the run changed (or on a retry, see isRetry), enqueues the Slack
 * job for the run (one pending per run, see enqueueRunStatus). Returns whether the run changed.
 */
export async function foldAndShow(context: Context, update: RunUpdate, options: { retry: boolean }): Promise<boolean> {
  const { before, after } = await context.runs.update(update.key, (run) => {
    const result = applyRunUpdate(run, update);
    return result.changed ? result.run : run;
  });
  // A final or failed state is shown as soon as Slack allows (see enqueueRunStatus); other changes keep the
  // pending job's delay, so a burst's intermediate states do not spend the chat.update budget.
  const now = after !== undefined && before?.state !== after.state && (isTerminal(after.state) || isFailure(after.state));
  if (after && (after !== before || options.retry)) await showRun(context, after.key, after.version, { now });
  return after !== before;
}

/** Asks the Slack side to show the run as it is (one pending job per run: the latest version); `now` for a new state. */
export async function showRun(context: Context, runKey: string, version: number, options: { now?: boolean } = {}): Promise<void> {
  await enqueueRunStatus(context.queues, runKey, version, options);
}
