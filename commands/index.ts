import type { AllMiddlewareArgs, SlackCommandMiddlewareArgs } from '@slack/bolt';
import { z } from 'zod';
import { tokenize } from '../src/domain/command-line.js';
import { postToResponseUrl } from '../src/adapters/slack-api/response-url.js';
import { toMlopsError } from '../src/errors.js';
import { escapeMrkdwn } from '../src/slack/mrkdwn.js';
import { isReplayedTrigger } from '../src/http/slack-receiver.js';
import { enqueueCommand } from '../src/queues.js';
import { createApprovalsCommand } from './approvals.js';
import { UsageError, type CommandDeps, type CommandInput, type Reply, type Subcommand } from './command.js';
import { createDmCommand } from './dm.js';
import { createHelpCommand, helpReply } from './help.js';
import { createPromoteCommand } from './promote.js';
import { createRollbackCommand } from './rollback.js';
import { createStatusCommand } from './status.js';
import { createTrainCommand } from './train.js';

const commandBody = z.object({
  user_id: z.string().regex(/^[UW][A-Z0-9]+$/),
  channel_id: z.string().min(1),
  team_id: z.string().default(''),
  text: z.string().default(''),
  trigger_id: z.string().optional(),
  response_url: z.url({ protocol: /^https?$/ }).optional().catch(undefined),
});

type CommandArgs = SlackCommandMiddlewareArgs & AllMiddlewareArgs;

function ephemeral(reply: Reply) {
  return { response_type: reply.inChannel ? ('in_channel' as const) : ('ephemeral' as const), text: reply.text, ...(reply.blocks ? { blocks: reply.blocks } : {}) };
}

/** Every `/mlops` subcommand, help first: the same list in the web process that reads commands and the worker that runs them. */
export function createSubcommands(): Map<string, Subcommand> {
  const subcommands: Subcommand[] = [];
  const help = createHelpCommand(() => subcommands);
  subcommands.push(help, createTrainCommand(), createPromoteCommand(), createRollbackCommand(), createStatusCommand(), createApprovalsCommand(), createDmCommand());
  return new Map(subcommands.map((command) => [command.name, command]));
}

/** Runs a subcommand to its reply: a bad command line or a failure becomes the reply, never an exception. */
export async function runSubcommand(subcommand: Subcommand, input: CommandInput, deps: CommandDeps): Promise<Reply> {
  try {
    return await subcommand.run(input, deps);
  } catch (error) {
    if (error instanceof UsageError) return { text: `:warning: ${error.message}\nUsage: \`/mlops ${escapeMrkdwn(error.usage)}\`` };
    const mlops = toMlopsError(error);
    deps.context.logger.error({ err: error, code: mlops.code, command: subcommand.name, slackUser: input.userId, channel: input.channelId }, 'command failed');
    return { text: `:x: ${escapeMrkdwn(mlops.userMessage)}` };
  }
}

/** Answers a command through its response_url (as Bolt's `respond` would, at a fraction of the CPU). */
export function replyTo(responseUrl: string, reply: Reply): Promise<void> {
  return postToResponseUrl(responseUrl, ephemeral(reply));
}

/**
 * The `/mlops` listener: parse strictly, acknowledge, and hand the subcommand to the `commands` queue; a
 * worker runs it and answers through response_url (jobs/command.ts). The acknowledgement waits for nothing
 * (a command is queued right after it, one Redis write, so nothing holds up the next acknowledgements); a
 * replayed command is refused by the worker. Help is answered in the ack itself (a replay of it is answered
 * again: it says the same to anyone); command-line mistakes are answered in the ack and a command typed
 * without arguments opens its form, both after checking the trigger_id against replays (isReplayedTrigger).
 */
export function createCommandListener(deps: CommandDeps, subcommands: ReadonlyMap<string, Subcommand> = createSubcommands()) {
  const all = [...subcommands.values()];
  return async ({ command, ack, respond }: CommandArgs): Promise<void> => {
    const body = commandBody.safeParse(command);
    if (!body.success) {
      await ack({ response_type: 'ephemeral', text: ':warning: That command did not look like a Slack slash command.' });
      return;
    }
    const tokens = tokenize(body.data.text.trim());
    const [name, ...args] = tokens.ok ? tokens.tokens : [];
    const subcommand = tokens.ok ? subcommands.get((name ?? 'help').toLowerCase()) : undefined;
    const queued = tokens.ok && subcommand !== undefined && !subcommand.answersInAck && !(subcommand.modal && args.length === 0 && body.data.trigger_id) && body.data.response_url !== undefined;
    // Help is answered from memory and says the same to anyone: a replay of it is answered again, with no
    // Redis round trip before the ack. Everything else checks the trigger_id here or in the worker.
    if (!queued && !subcommand?.answersInAck && body.data.trigger_id && (await isReplayedTrigger(deps.context.redis, body.data.trigger_id))) {
      deps.context.logger.warn({ command: name ?? 'help' }, 'replayed slack request ignored');
      await ack();
      return;
    }
    if (!tokens.ok) {
      await ack({ response_type: 'ephemeral', text: `:warning: ${escapeMrkdwn(tokens.error)}. Try \`/mlops help\`.` });
      return;
    }
    if (!subcommand) {
      const reply = helpReply(all);
      await ack({ response_type: 'ephemeral', text: `:warning: Unknown subcommand \`${escapeMrkdwn(name ?? '')}\`.\n\n${reply.text}` });
      return;
    }
    const input: CommandInput = {
      userId: body.data.user_id,
      channelId: body.data.channel_id,
      teamId: body.data.team_id,
      args,
      ...(body.data.trigger_id ? { triggerId: body.data.trigger_id } : {}),
    };
    if (subcommand.modal && args.length === 0 && input.triggerId) {
      // Acknowledged first, then the form opens at once: views.open is the one Slack call made here, well
      // inside the trigger's 3 seconds.
      await ack();
      try {
        await deps.context.slack.openView(input.triggerId, subcommand.modal(input, deps));
      } catch (error) {
        deps.context.logger.warn({ err: error, command: subcommand.name }, 'modal not opened');
        await respond(ephemeral({ text: `:warning: The form could not be opened (${escapeMrkdwn(toMlopsError(error).userMessage)}). Type the command instead: \`/mlops ${escapeMrkdwn(subcommand.usage)}\`` })).catch(() => undefined);
      }
      return;
    }
    if (subcommand.answersInAck) {
      await ack(ephemeral(await subcommand.run(input, deps)));
      return;
    }
    const responseUrl = body.data.response_url;
    await ack();
    // What follows the ack yields first to the requests already waiting, so it never holds up their acks.
    await new Promise((resolve) => setImmediate(resolve));
    if (!responseUrl) {
      // Slack always sends one; without it the reply can only come from here, in this process.
      await respond(ephemeral(await runSubcommand(subcommand, input, deps))).catch((error: unknown) => deps.context.logger.warn({ err: error, command: subcommand.name }, 'command reply not delivered'));
      return;
    }
    try {
      await enqueueCommand(deps.context.queues, { subcommand: subcommand.name, input, responseUrl, receivedAt: deps.context.now().toISOString() });
    } catch (error) {
      deps.context.logger.error({ err: error, command: subcommand.name }, 'command not queued');
      await replyTo(responseUrl, { text: `:x: ${escapeMrkdwn(toMlopsError(error).userMessage)} Nothing was done; try again in a moment.` }).catch((replyError: unknown) =>
        deps.context.logger.warn({ err: replyError, command: subcommand.name }, 'command reply not delivered'),
      );
    }
  };
}
