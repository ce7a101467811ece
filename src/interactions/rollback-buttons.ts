import type { AllMiddlewareArgs, App, BlockAction, SlackActionMiddlewareArgs } from '@slack/bolt';
import { z } from 'zod';
import { enqueueRollback, loadConfirm, previewRollback, resolveRollbackTarget, rollbackLabel, storeConfirm } from '../../jobs/rollback.js';
import { refusalText, type Authorizer } from '../authorizer.js';
import type { Context } from '../context.js';
import { environmentOfDeployPipeline } from '../domain/environments.js';
import { toMlopsError } from '../errors.js';
import { code, escapeMrkdwn } from '../slack/mrkdwn.js';
import { renderRollbackConfirm, ROLLBACK_ACTIONS } from '../slack/rollback-message.js';
import type { RunClick } from './run-buttons.js';

const click = z.object({
  user: z.object({ id: z.string().regex(/^[UW][A-Z0-9]+$/) }),
  actions: z.array(z.object({ value: z.string().regex(/^[0-9a-f]{16}$/).optional() })).min(1),
});

type ActionArgs = SlackActionMiddlewareArgs<BlockAction> & AllMiddlewareArgs;

/**
 * The confirm step's buttons. Roll back re-checks the deployers role and queues the rollback under the
 * confirm step's id, so a double click or a second replica queues nothing more.
 */
export function registerRollbackButtons(app: App, context: Context, authorizer: Authorizer): void {
  const answer = async (args: ActionArgs, text: string) => {
    await args.respond({ replace_original: true, text }).catch((error: unknown) => context.logger.warn({ err: error }, 'rollback answer not delivered'));
  };

  app.action<BlockAction>(ROLLBACK_ACTIONS.confirm, async (args: ActionArgs) => {
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
      await enqueueRollback(context, id, { ...job, requestedBy: user });
      await context.audit.record({ actor: user, action: 'button.rollback_confirm', subject: rollbackLabel(job), outcome: 'queued', jobId: id });
      await answer(args, `:rewind: Rolling back ${code(rollbackLabel(job))} to revision ${job.goal.revision ?? '?'}; progress is posted in <#${job.channel}>.`);
    } catch (error) {
      await answer(args, `:x: ${escapeMrkdwn(toMlopsError(error).userMessage)}`);
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
  const confirmId = await storeConfirm(context, { ...target, targetReplicaSet: preview.targetReplicaSet, goal: preview.goal, requestedBy: runClick.userId, channel: runClick.channelId });
  await context.slack.postEphemeral(runClick.channelId, runClick.userId, renderRollbackConfirm(label, preview.current, preview.goal, confirmId));
  return undefined;
}
