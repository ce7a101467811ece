import type { Authorizer } from '../src/authorizer.js';
import type { Context } from '../src/context.js';
import type { Block, ModalView } from '../src/slack/blocks.js';

/** Who typed the command, where, and what followed the subcommand name. */
export interface CommandInput {
  userId: string;
  channelId: string;
  teamId: string;
  args: string[];
  triggerId?: string;
}

export interface Reply {
  text: string;
  blocks?: Block[];
  /** In-channel replies are seen by everyone (a training run started); the default is ephemeral. */
  inChannel?: boolean;
}

export interface CommandDeps {
  context: Context;
  authorizer: Authorizer;
}

/** One `/mlops` subcommand; each lives in its own file in commands/. */
export interface Subcommand {
  name: string;
  usage: string;
  summary: string;
  /** Who may run it, for the help text. */
  who: string;
  /** Answers from memory alone, so the reply can be the acknowledgement itself. */
  answersInAck?: boolean;
  run(input: CommandInput, deps: CommandDeps): Promise<Reply>;
  /** Typed with no arguments, opens this form instead (built from the config alone: it must open within the trigger's 3 s). */
  modal?(input: CommandInput, deps: CommandDeps): ModalView;
}

/** A bad command line; its message is mrkdwn built with the escaping helpers, shown with the usage line. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly usage: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}
