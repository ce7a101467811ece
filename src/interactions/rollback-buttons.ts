import type { AllMiddlewareArgs, App, BlockAction, SlackActionMiddlewareArgs, SlackViewMiddlewareArgs, ViewSubmitAction } from '@slack/bolt';
import { z } from 'zod';
import { enqueueRollback, loadConfirm, previewRollback, resolveRollbackTarget, rollbackConfirmStep, rollbackLabel, type RollbackJob } from '../../jobs/rollback.js';
import { refusalText, type Authorizer } from '../authorizer.js';
import type { Context } from '../context.js';
import { environmentOfDeployPipeline } from '../domain/environments.js';
import { toMlopsError } from '../errors.js';
import { code, escapeMrkdwn } from '../slack/mrkdwn.js';
import { ROLLBACK_ACTIONS } from '../slack/rollback-message.js';
import type { RunClick } from './run-buttons.js';
import { readSubmission } from './payloads.js';

const confirmIdSchema = z.string().regex(/^[0-9a-f]{16}$/);
const click = z.object({
  user: z.object({ id: z.string().regex(/^[UW][A-Z0-9]+$/) }),
  trigger_id: z.string().optional(),
  actions: z.array(z.object({ value: confirmIdSchema.optional() })).min(1),
});
const modalMeta = z.object({ confirm: confirmIdSchema, alias: z.boolean() });

type ActionArgs = SlackActionMiddlewareArgs<BlockAction> & AllMiddlewareArgs;
type ViewArgs = SlackViewMiddlewareArgs<ViewSubmitAction> & AllMiddlewareArgs;

/** The job a confirm step queues: with the alias move when the user chose it. */
function chosen(job: RollbackJob, user: string, withAlias: boolean): RollbackJob {
  const { aliasOffer, ...rest } = job;
  return { ...rest, requestedBy: user, ...(withAlias && aliasOffer ? { moveAlias: aliasOffer } : {}) };
}

function queuedText(job: RollbackJob): string {
  const alias = job.moveAlias ? ` and then moving ${code(`@${job.moveAlias.alias}`)} to v${job.moveAlias.version}` : '';
  return `:rewind: Rolling back ${code(rollbackLabel(job))} to revision ${job.goal.revision ?? '?'}${alias}; progress is posted in <#${job.channel}>.`;
}

/**
 * The confirm step's buttons. Roll back re-checks the deployers role and queues the rollback under the
 * confirm step's id, so a double click or a second replica queues nothing more.
 */
export function registerRollbackButtons(app: App, context: Context, authorizer: Authorizer): void {
  const answer = async (args: ActionArgs, text: string) => {
    await args.respond({ replace_original: true, text }).catch((error: unknown) => context.logger.warn({ err: error }, 'rollback answer not delivered'));
  };

  const confirmed = (withAlias: boolean) => async (args: ActionArgs) => {
    await args.ack();
    const parsed = click.safeParse(args.body);
    if (!parsed.success || !parsed.data.actions[0]?.value) return;
    const user = parsed.data.user.id;
    const id = parsed.data.actions[0].value;
    try {
      const decision = await authorizer.check('deployers', user);
      if (!decision.allowed) {
        await answer(args, refusalText(decision, 'Rolling back'));
        return;
      }
      const job = await loadConfirm(context, id);
      if (!job) {
        await answer(args, ':alarm_clock: This confirm step expired; run `/mlops rollback` again.');
        return;
      }
      if (job.typedEnvironment) {
        // `confirm: typed`: the environment's name is typed in a modal (the trigger lasts 3 s, so it opens first).
        await args.client.views.open({
          trigger_id: parsed.data.trigger_id ?? '',
          view: {
            type: 'modal',
            callback_id: ROLLBACK_ACTIONS.confirmModal,
            private_metadata: JSON.stringify({ confirm: id, alias: withAlias }),
            title: { type: 'plain_text', text: 'Confirm rollback' },
            submit: { type: 'plain_text', text: 'Roll back' },
            close: { type: 'plain_text', text: 'Cancel' },
            blocks: [
              { type: 'section', text: { type: 'mrkdwn', text: `Roll back ${code(rollbackLabel(job))} in *${escapeMrkdwn(job.typedEnvironment)}* to revision ${job.goal.revision ?? '?'}?` } },
              { type: 'input', block_id: 'confirm', label: { type: 'plain_text', text: `Type ${job.typedEnvironment} to confirm` }, element: { type: 'plain_text_input', action_id: 'confirm', max_length: 40 } },
            ],
          },
        });
        return;
      }
      const queued = chosen(job, user, withAlias);
      await enqueueRollback(context, id, queued);
      await context.audit.record({ actor: user, action: 'button.rollback_confirm', subject: rollbackLabel(job), outcome: queued.moveAlias ? 'queued with alias' : 'queued', jobId: id });
      await answer(args, queuedText(queued));
    } catch (error) {
      await answer(args, `:x: ${escapeMrkdwn(toMlopsError(error).userMessage)}`);
    }
  };
  app.action<BlockAction>(ROLLBACK_ACTIONS.confirm, confirmed(false));
  app.action<BlockAction>(ROLLBACK_ACTIONS.confirmWithAlias, confirmed(true));

  app.view<ViewSubmitAction>(ROLLBACK_ACTIONS.confirmModal, async ({ ack, body }: ViewArgs) => {
    const submitted = readSubmission(body, modalMeta);
    if (!submitted) {
      await ack();
      return;
    }
    const { user, meta, values } = submitted;
    const job = await loadConfirm(context, meta.confirm);
    const typed = values.confirm?.confirm?.value?.trim() ?? '';
    if (job?.typedEnvironment && typed !== job.typedEnvironment) {
      await ack({ response_action: 'errors', errors: { confirm: `Type ${job.typedEnvironment} exactly to confirm.` } });
      return;
    }
    await ack();
    try {
      if (!job) return;
      const say = (text: string) => context.slack.postEphemeral(job.channel, user, { text });
      const decision = await authorizer.check('deployers', user);
      if (!decision.allowed) {
        await say(refusalText(decision, 'Rolling back'));
        return;
      }
      const queued = chosen(job, user, meta.alias);
      await enqueueRollback(context, meta.confirm, queued);
      await context.audit.record({ actor: user, action: 'modal.rollback_confirm', subject: rollbackLabel(job), outcome: queued.moveAlias ? 'queued with alias' : 'queued', jobId: meta.confirm });
      await say(queuedText(queued));
    } catch (error) {
      context.logger.error({ err: error }, 'rollback confirmation failed');
    }
  });

  app.action<BlockAction>(ROLLBACK_ACTIONS.cancel, async (args: ActionArgs) => {
    await args.ack();
    await answer(args, 'Rollback cancelled; nothing was changed.');
  });
}

/** Roll back on a failure alert: the same confirm step, shown only to the clicker. */
export async function rollbackFromRun(context: Context, runClick: RunClick): Promise<string | undefined> {
  // A deployment failure names its model (and environment) when a promotion started it; otherwise the
  // model whose deploy pipeline ran it, in the environment its ENVIRONMENT argument or pipeline names.
  const { details } = runClick.run;
  const models = context.config.file.models;
  const byPipeline = (name: string) => {
    const config = models[name];
    return (config?.deployPipelineId !== undefined && config.deployPipelineId === details.pipelineId) || environmentOfDeployPipeline(config, details.pipelineId, undefined) !== undefined;
  };
  const model = details.model ?? Object.keys(models).find(byPipeline);
  const environment = model && models[model]?.environments ? environmentOfDeployPipeline(models[model], details.pipelineId, details.environment)?.name : undefined;
  const resolved = model ? resolveRollbackTarget(context, model, environment) : undefined;
  if (!resolved) return `:warning: No Kubernetes Deployment is configured for ${code(runClick.run.name)} (set \`models.<name>.deployment\`).`;
  if (!resolved.ok) return `:warning: ${resolved.reason}`;
  const { target } = resolved;
  const label = rollbackLabel(target);
  const preview = await previewRollback(context, target, 0);
  if (preview.kind === 'error') return `:x: Cannot roll back ${code(label)}: ${escapeMrkdwn(preview.message)}`;
  if (preview.kind === 'skip') return `:information_source: ${code(label)}: ${escapeMrkdwn(preview.message)}`;
  const { message } = await rollbackConfirmStep(context, target, preview, runClick.userId, runClick.channelId);
  await context.slack.postEphemeral(runClick.channelId, runClick.userId, message);
  return undefined;
}

/**
 * The confirm step's "Roll back" (a button on the typed command's answer, or the confirm modal's submit):
 * re-checks the deployers role, then queues the rollback under the confirm step's id.
 */
export async function confirmRollback(context: Context, authorizer: Authorizer, user: string, id: string): Promise<{ queued: boolean; text: string }> {
  const decision = await authorizer.check('deployers', user);
  if (!decision.allowed) return { queued: false, text: refusalText(decision, 'Rolling back') };
  const job = await loadConfirm(context, id);
  if (!job) return { queued: false, text: ':alarm_clock: This confirm step expired; run `/mlops rollback` again.' };
  // `confirm: typed` environments are confirmed by typing their name, which the typed command's confirm step asks for.
  if (job.typedEnvironment) return { queued: false, text: `:keyboard: Rollbacks in *${escapeMrkdwn(job.typedEnvironment)}* are confirmed by typing its name: run \`/mlops rollback ${rollbackLabel(job)} --env ${job.typedEnvironment}\` and press Roll back.` };
  const queued = chosen(job, user, false);
  await enqueueRollback(context, id, queued);
  await context.audit.record({ actor: user, action: 'button.rollback_confirm', subject: rollbackLabel(job), outcome: 'queued', jobId: id });
  return { queued: true, text: queuedText(queued) };
}
