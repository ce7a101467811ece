import { DirectMessages } from '../src/adapters/slack-api/direct-messages.js';
import { UsageError, type Subcommand } from './command.js';

const USAGE = 'dm [on|off]';

/** `/mlops dm off|on`: whether the bot may send you direct messages (your runs' outcomes, your promotion requests' decisions). */
export function createDmCommand(): Subcommand {
  return {
    name: 'dm',
    usage: USAGE,
    summary: 'Switch off (or back on) the direct messages the bot sends you: how your training runs ended, and the decisions on your promotion requests.',
    who: 'anyone, for themselves',
    async run(input, { context }) {
      const dms = new DirectMessages(context.redis, context.slack);
      const [choice, ...extra] = input.args;
      if (extra.length > 0 || (choice !== undefined && choice !== 'on' && choice !== 'off')) throw new UsageError('Say `on` or `off`.', USAGE);
      if (choice === undefined) {
        const on = await dms.enabled(input.userId);
        return { text: on ? 'Direct messages from the bot are *on* for you. `/mlops dm off` stops them.' : 'Direct messages from the bot are *off* for you. `/mlops dm on` brings them back.' };
      }
      await dms.setEnabled(input.userId, choice === 'on');
      await context.audit.record({ actor: input.userId, action: 'command.dm', subject: input.userId, outcome: choice });
      return {
        text:
          choice === 'on'
            ? ':bell: Direct messages are on: you will hear how your training runs end and what is decided on your promotion requests.'
            : ':no_bell: Direct messages are off. Channel messages and your Home tab still show everything; `/mlops dm on` brings them back.',
      };
    },
  };
}
