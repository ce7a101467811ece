import type { Job } from 'bullmq';
import { replyTo, runSubcommand } from '../commands/index.js';
import type { CommandDeps, Subcommand } from '../commands/command.js';
import { isReplayedTrigger } from '../src/http/slack-receiver.js';
import type { CommandJob } from '../src/queues.js';

/**
 * Runs a `/mlops` command a web process acknowledged (commands/index.ts) and answers through its
 * response_url. A trigger_id seen before is a replayed request (or this job picked up again after its
 * worker died): nothing runs. The command's own failures are its reply; a reply Slack does not take is
 * logged, and the command is not run again for it (its effects, a run queued or an approval asked, must
 * happen once).
 */
export function createCommandProcessor(deps: CommandDeps, subcommands: ReadonlyMap<string, Subcommand>) {
  return async (job: Job<CommandJob>): Promise<void> => {
    const { subcommand: name, input, responseUrl } = job.data;
    if (input.triggerId && (await isReplayedTrigger(deps.context.redis, input.triggerId))) {
      deps.context.logger.warn({ command: name, slackUser: input.userId }, 'replayed slack request ignored');
      return;
    }
    const subcommand = subcommands.get(name);
    // A command queued by a newer release that this worker does not know yet (during a rolling upgrade).
    const reply = subcommand ? await runSubcommand(subcommand, input, deps) : { text: `:warning: This bot cannot run \`${name}\` yet (an upgrade is under way); try again in a minute.` };
    try {
      await replyTo(responseUrl, reply);
    } catch (error) {
      deps.context.logger.warn({ err: error, command: name, slackUser: input.userId, channel: input.channelId }, 'command reply not delivered');
    }
  };
}
