import { mrkdwnText } from '../src/slack/blocks.js';
import { escapeMrkdwn } from '../src/slack/mrkdwn.js';
import type { Reply, Subcommand } from './command.js';

export function helpReply(subcommands: readonly Subcommand[]): Reply {
  const lines = subcommands.map((command) => `\`/mlops ${escapeMrkdwn(command.usage)}\`\n${command.summary} _(${command.who})_`);
  return {
    text: `*/mlops* drives training, promotion and rollback from Slack.\n\n${lines.join('\n\n')}`,
    blocks: [
      { type: 'section', text: mrkdwnText('*/mlops* drives training, promotion and rollback from Slack.') },
      ...lines.map((line) => ({ type: 'section' as const, text: mrkdwnText(line) })),
    ],
  };
}

export function createHelpCommand(all: () => readonly Subcommand[]): Subcommand {
  return {
    name: 'help',
    usage: 'help',
    summary: 'Usage for every subcommand.',
    who: 'anyone',
    answersInAck: true,
    run: () => Promise.resolve(helpReply(all())),
  };
}
