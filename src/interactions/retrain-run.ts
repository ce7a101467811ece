import { startRetrain } from '../../jobs/retrain.js';
import type { Context } from '../context.js';
import { code, link } from '../slack/mrkdwn.js';
import { messageLink } from '../slack/permalink.js';
import type { RunClick } from './run-buttons.js';

/**
 * Retrain on a firing alarm: starts the model's retrain target, announced in the alarm's thread. A
 * trainer's click always starts (it still counts towards the cooldown of automatic retrains); a retrain
 * of the model already running is pointed out, not refused. A double click is one run (a second trainer's click is another).
 */
export async function retrainFromAlarm(context: Context, click: RunClick): Promise<string> {
  const { run, model } = click;
  const offered = (run.details.retrain ?? '').split(',');
  if (!model || run.subject !== 'alarm' || !offered.includes(model)) {
    await context.audit.record({ actor: click.userId, action: 'button.retrain', subject: model ?? run.name, outcome: 'not-offered' });
    return `:warning: This alarm does not retrain ${code(model ?? 'that model')}.`;
  }
  const outcome = await startRetrain(context, { model, trigger: 'alarm-button', requestedBy: click.userId, alarm: { runKey: run.key, title: run.name }, dedupeOn: `retrain:${run.key}:${model}:${click.userId}` });
  if (!outcome.started) {
    await context.audit.record({ actor: click.userId, action: 'button.retrain', subject: model, outcome: outcome.reason });
    return `:warning: ${outcome.detail}`;
  }
  const { queued, alreadyRunning } = outcome;
  await context.audit.record({ actor: click.userId, action: 'button.retrain', subject: model, outcome: queued.duplicate ? 'duplicate' : 'queued', jobId: queued.jobId });
  if (queued.duplicate) return `:repeat: Your retrain of ${code(model)} from this alarm was queued less than a minute ago (job ${code(queued.jobId)}).`;
  let running = '';
  if (alreadyRunning) {
    const message = await context.runs.getMessage(alreadyRunning.key);
    running = `\n:warning: Another retrain of ${code(model)} is still running (${link(messageLink(message?.channel, message?.ts), alreadyRunning.name)}); this one runs as well.`;
  }
  return `:rocket: Retraining ${code(model)} (job ${code(queued.jobId)}); its status is posted in <#${queued.channel}> and in this alarm's thread.${running}`;
}
