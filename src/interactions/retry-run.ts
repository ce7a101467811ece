import { enqueueTraining } from '../../jobs/train.js';
import type { Context } from '../context.js';
import { trainTargetSourceId } from '../domain/train-target.js';
import { RETRAIN_LINEAGE } from '../domain/retrain.js';
import { code } from '../slack/mrkdwn.js';
import type { RunClick } from './run-buttons.js';

/**
 * Retry on a failed training alert: the same target with the same arguments. A run that was not started
 * from Slack is matched to a train target by its job, pipeline or build pipeline OCID.
 */
export async function retryRun(context: Context, click: RunClick): Promise<string> {
  const { run } = click;
  const target =
    run.target ??
    Object.entries(context.config.file.train).find(([, config]) => trainTargetSourceId(config) === run.details.pipelineId)?.[0];
  if (!target || !Object.hasOwn(context.config.file.train, target)) {
    await context.audit.record({ actor: click.userId, action: 'button.retry', subject: run.name, outcome: 'no-target' });
    return `:warning: ${code(run.name)} was not started from Slack and matches no train target, so there is nothing to re-run here.`;
  }
  // A double click on Retry is one retry; the original submit's dedupe window does not apply.
  // A retried retrain is still the retrain of its model, from its alarm: its message and its versions keep that lineage.
  const lineage = Object.fromEntries(RETRAIN_LINEAGE.flatMap((key) => (run.details[key] ? [[key, run.details[key]]] : [])));
  const queued = await enqueueTraining(context, { target, arguments: run.arguments ?? {}, requestedBy: click.userId, dedupeOn: `retry:${run.key}`, details: lineage });
  await context.audit.record({ actor: click.userId, action: 'button.retry', subject: target, outcome: queued.duplicate ? 'duplicate' : 'queued', jobId: queued.jobId });
  return queued.duplicate
    ? `:repeat: ${code(target)} was already queued less than a minute ago (job ${code(queued.jobId)}).`
    : `:rocket: Retrying ${code(target)} (job ${code(queued.jobId)}); its status is posted in <#${queued.channel}>.`;
}
