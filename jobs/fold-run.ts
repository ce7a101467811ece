import type { Job } from 'bullmq';
import type { Context } from '../src/context.js';
import { applyRunUpdate, type RunUpdate } from '../src/domain/run.js';
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
 * job for the run (one pending per run, see enqueueRunStatus).
 */
export async function foldAndShow(context: Context, update: RunUpdate, options: { retry: boolean }): Promise<void> {
  const { before, after } = await context.runs.update(update.key, (run) => {
    const result = applyRunUpdate(run, update);
    return result.changed ? result.run : run;
  });
  if (after && (after !== before || options.retry)) {
    await enqueueRunStatus(context.queues, after.key, after.version);
  }
}
