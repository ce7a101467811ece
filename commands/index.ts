import type { AllMiddlewareArgs, SlackCommandMiddlewareArgs } from '@slack/bolt';
import { z } from 'zod';
import { tokenize } from '../src/domain/command-line.js';
import { postToResponseUrl } from '../src/adapters/slack-api/response-url.js';
import { toMlopsError } from '../src/errors.js';
import { escapeMrkdwn } from '../src/slack/mrkdwn.js';
import { UsageError, type CommandDeps, type Reply, type Subcommand } from './command.js';
import { createHelpCommand, helpReply } from './help.js';

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

/**
 * The `/mlops` listener: parse strictly, acknowledge within Slack's 3 seconds before anything slow, then
 * run the subcommand (which only enqueues or reads Redis) and answer through response_url, after the
 * requests already waiting have been acknowledged.
 */
export function createCommandListener(deps: CommandDeps, extra: readonly Subcommand[] = []) {
  const subcommands: Subcommand[] = [];
  const help = createHelpCommand(() => subcommands);
  subcommands.push(help, ...extra);
  const byName = new Map(subcommands.map((command) => [command.name, command]));

  return async ({ command, ack, respond }: CommandArgs): Promise<void> => {
    const body = commandBody.safeParse(command);
    if (!body.success) {
      await ack({ response_type: 'ephemeral', text: ':warning: That command did not look like a Slack slash command.' });
      return;
    }
    const tokens = tokenize(body.data.text.trim());
    if (!tokens.ok) {
      await ack({ response_type: 'ephemeral', text: `:warning: ${escapeMrkdwn(tokens.error)}. Try \`/mlops help\`.` });
      return;
    }
    const [name, ...args] = tokens.tokens;
    const subcommand = byName.get((name ?? 'help').toLowerCase());
    if (!subcommand) {
      const reply = helpReply(subcommands);
      await ack({ response_type: 'ephemeral', text: `:warning: Unknown subcommand \`${escapeMrkdwn(name ?? '')}\`.\n\n${reply.text}` });
      return;
    }
    const input = {
      userId: body.data.user_id,
      channelId: body.data.channel_id,
      teamId: body.data.team_id,
      args,
      ...(body.data.trigger_id ? { triggerId: body.data.trigger_id } : {}),
    };
    if (subcommand.answersInAck) {
      await ack(ephemeral(await subcommand.run(input, deps)));
      return;
    }
    await ack();
    // What follows the ack yields first to the requests already waiting, so it never holds up their acks.
    await new Promise((resolve) => setImmediate(resolve));
    const logger = deps.context.logger.child({ command: subcommand.name, slackUser: body.data.user_id, channel: body.data.channel_id });
    let reply: Reply;
    try {
      reply = await subcommand.run(input, deps);
    } catch (error) {
      if (error instanceof UsageError) {
        reply = { text: `:warning: ${error.message}\nUsage: \`/mlops ${escapeMrkdwn(error.usage)}\`` };
      } else {
        const mlops = toMlopsError(error);
        logger.error({ err: error, code: mlops.code }, 'command failed');
        reply = { text: `:x: ${escapeMrkdwn(mlops.userMessage)}` };
      }
    }
    try {
      const responseUrl = body.data.response_url;
      await (responseUrl ? postToResponseUrl(responseUrl, ephemeral(reply)) : respond(ephemeral(reply)));
    } catch (error) {
      logger.warn({ err: error }, 'command reply not delivered');
    }
  };
}
