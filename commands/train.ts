import { refusalText } from '../src/authorizer.js';
import { parseKeyValues } from '../src/domain/command-line.js';
import { code, escapeMrkdwn, mention } from '../src/slack/mrkdwn.js';
import { enqueueTraining } from '../jobs/train.js';
import type { Decision } from '../src/domain/policy.js';
import { modalFor } from '../src/slack/modals.js';
import { UsageError, type CommandDeps, type Subcommand } from './command.js';

const USAGE = 'train <target> [key=value ...]';

/** `/mlops train <target> [key=value ...]`: trainers queue a Data Science job run or a DevOps build run. */
export function createTrainCommand(): Subcommand {
  return {
    name: 'train',
    usage: USAGE,
    summary: 'Queue a training run (Data Science job run or DevOps build run) with those arguments. Typed without arguments (or from the "Train a model" shortcut), opens a form.',
    who: 'trainers',
    modal: (input, { context }) => modalFor.train(context.config.file, input.channelId),
    async run(input, { context, authorizer }) {
      const targets = Object.keys(context.config.file.train);
      const valid = targets.length > 0 ? `Targets: ${targets.map((name) => code(name)).join(', ')}.` : 'No train targets are configured.';
      const [target, ...rest] = input.args;
      if (!target) throw new UsageError(`Name a training target. ${valid}`, USAGE);
      if (!Object.hasOwn(context.config.file.train, target)) throw new UsageError(`Unknown target ${code(target)}. ${valid}`, USAGE);
      const parsed = parseKeyValues(rest);
      if (!parsed.ok) throw new UsageError(escapeMrkdwn(parsed.error), USAGE);

      const queued = await queueTraining(input, target, parsed.values, { context, authorizer });
      if (queued.outcome === 'refused') return { text: refusalText(queued.decision, `Training ${target}`) };
      return { text: queued.text, inChannel: queued.outcome === 'queued' };
    },
  };
}

export type TrainingQueued = { outcome: 'refused'; decision: Extract<Decision, { allowed: false }> } | { outcome: 'queued' | 'duplicate'; text: string; channel?: string };

/**
 * Authorizes the trainer, queues the run and audits it: the part of `/mlops train` after the arguments
 * were read, shared with the train modal. `channelId` is where the command was typed (none from a shortcut).
 */
export async function queueTraining(input: { userId: string; channelId?: string | undefined }, target: string, values: Record<string, string>, { context, authorizer }: CommandDeps): Promise<TrainingQueued> {
  const decision = await authorizer.check('trainers', input.userId);
  if (!decision.allowed) {
    await context.audit.record({ actor: input.userId, action: 'command.train', subject: target, outcome: 'refused' });
    return { outcome: 'refused', decision };
  }
  const queued = await enqueueTraining(context, { target, arguments: values, requestedBy: input.userId });
  await context.audit.record({ actor: input.userId, action: 'command.train', subject: target, outcome: queued.duplicate ? 'duplicate' : 'queued', jobId: queued.jobId });
  if (queued.duplicate) {
    return { outcome: 'duplicate', text: `:repeat: The same training of ${code(target)} was queued less than a minute ago (job ${code(queued.jobId)}); not starting another.` };
  }
  const args = Object.entries(values).map(([key, value]) => code(`${key}=${value}`));
  const where = queued.channel === input.channelId ? 'Its status follows below.' : `Its status is posted in <#${queued.channel}>.`; // our own channel ID: safe mrkdwn
  return {
    outcome: 'queued',
    channel: queued.channel,
    text: `:rocket: ${mention(input.userId)} queued training ${code(target)}${args.length > 0 ? ` with ${args.join(' ')}` : ''} (job ${code(queued.jobId)}). ${where}`,
  };
}
