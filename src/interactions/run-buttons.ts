import type { AllMiddlewareArgs, App, BlockAction, SlackActionMiddlewareArgs } from '@slack/bolt';
import { z } from 'zod';
import type { Authorizer } from '../authorizer.js';
import { refusalText } from '../authorizer.js';
import type { Context } from '../context.js';
import type { RoleName } from '../config/config-file.js';
import type { Run } from '../domain/run.js';
import { escapeMrkdwn } from '../slack/mrkdwn.js';
import { RETRAIN_ACTION, RUN_ACTIONS } from '../slack/run-message.js';
import { safeJson } from './payloads.js';

const clickSchema = z.object({
  user: z.object({ id: z.string().regex(/^[UW][A-Z0-9]+$/) }),
  channel: z.object({ id: z.string() }).optional(),
  container: z.object({ channel_id: z.string().optional() }).loose().optional(),
  actions: z.array(z.object({ action_id: z.string(), value: z.string().max(2000).optional() })).min(1),
});
const buttonValue = z.object({ run: z.string().min(1).max(600), model: z.string().min(1).max(64).optional() });

type ActionArgs = SlackActionMiddlewareArgs<BlockAction> & AllMiddlewareArgs;

export interface RunClick {
  userId: string;
  channelId: string;
  run: Run;
  /** The model a Retrain button names. */
  model?: string | undefined;
}

/** What a run button does once the clicker is authorized; the train and rollback flows provide these. */
export interface RunButtonHandlers {
  retry?: (click: RunClick) => Promise<string>;
  retrain?: (click: RunClick) => Promise<string>;
  rollback?: (click: RunClick, args: ActionArgs) => Promise<string | undefined>;
}

/**
 * The buttons on failure alerts: acknowledged at once, the clicker authorized on their Slack ID (Retry
 * needs trainers, Roll back deployers), then handed to the flow; every refusal is an ephemeral reason.
 */
export function registerRunButtons(app: App, context: Context, authorizer: Authorizer, handlers: RunButtonHandlers): void {
  app.action(RUN_ACTIONS.openConsole, async ({ ack }) => {
    await ack();
  });

  const handle = (role: RoleName, label: string, flow: (click: RunClick, args: ActionArgs) => Promise<string | undefined>) => async (args: ActionArgs) => {
    await args.ack();
    const click = clickSchema.safeParse(args.body);
    const channelId = click.success ? (click.data.channel?.id ?? click.data.container?.channel_id) : undefined;
    const say = async (text: string) => {
      if (click.success && channelId) await context.slack.postEphemeral(channelId, click.data.user.id, { text });
    };
    try {
      if (!click.success || !channelId) {
        context.logger.warn({ action: label }, 'malformed button click');
        return;
      }
      const value = buttonValue.safeParse(safeJson(click.data.actions[0]?.value));
      const run = value.success ? await context.runs.get(value.data.run) : undefined;
      if (!run) {
        await say(':warning: That run is no longer known to the bot (runs are kept for 30 days).');
        return;
      }
      const decision = await authorizer.check(role, click.data.user.id);
      if (!decision.allowed) {
        await say(refusalText(decision, label));
        return;
      }
      const answer = await flow({ userId: click.data.user.id, channelId, run, model: value.data?.model }, args);
      if (answer) await say(answer);
    } catch (error) {
      context.logger.error({ err: error, action: label }, 'button failed');
      await say(`:x: ${escapeMrkdwn(label)} failed: ${escapeMrkdwn(error instanceof Error ? error.message : String(error))}`).catch(() => undefined);
    }
  };

  app.action<BlockAction>(
    RUN_ACTIONS.retry,
    handle('trainers', 'Retry', (click) =>
      handlers.retry ? handlers.retry(click) : Promise.resolve(`:construction: Retry of ${escapeMrkdwn(click.run.name)} is coming soon.`),
    ),
  );
  app.action<BlockAction>(
    RETRAIN_ACTION,
    handle('trainers', 'Retrain', (click) =>
      handlers.retrain ? handlers.retrain(click) : Promise.resolve(`:construction: Retrain of ${escapeMrkdwn(click.model ?? click.run.name)} is coming soon.`),
    ),
  );
  app.action<BlockAction>(
    RUN_ACTIONS.rollback,
    handle('deployers', 'Roll back', (click, args) =>
      handlers.rollback ? handlers.rollback(click, args) : Promise.resolve(`:construction: Roll back of ${escapeMrkdwn(click.run.details.model ?? click.run.name)} is coming soon.`),
    ),
  );
}

