import type { PromotionTarget } from '../src/domain/approval.js';
import { targetLabel } from '../src/domain/approval.js';
import { code } from '../src/slack/mrkdwn.js';
import { defaultTarget, requestPromotion } from '../jobs/promote.js';
import { modalFor } from '../src/slack/modals.js';
import { UsageError, type Subcommand } from './command.js';

const USAGE = 'promote <model> <version> [--alias A | --stage S]';
const ALIAS = /^[A-Za-z0-9_-]{1,255}$/;
const STAGES = ['Staging', 'Production', 'Archived'];

/** Parses `<model> <version> [--alias A | --stage S]` strictly; the model must be configured. */
export function parsePromoteArgs(args: readonly string[], models: readonly string[]): { model: string; version: string; target?: PromotionTarget } {
  const valid = models.length > 0 ? `Models: ${models.map((name) => code(name)).join(', ')}.` : 'No models are configured.';
  const [model, version, ...options] = args;
  if (!model || !version) throw new UsageError(`Name a model and a version. ${valid}`, USAGE);
  if (!models.includes(model)) throw new UsageError(`Unknown model ${code(model)}. ${valid}`, USAGE);
  if (!/^[1-9]\d{0,9}$/.test(version)) throw new UsageError(`${code(version)} is not a model version number.`, USAGE);
  if (options.length === 0) return { model, version };
  if (options.length !== 2) throw new UsageError('Give one of `--alias A` or `--stage S`.', USAGE);
  const [flag, value = ''] = options;
  if (flag === '--alias') {
    if (!ALIAS.test(value) || /^latest$/i.test(value) || /^[vV]\d+$/.test(value)) throw new UsageError(`${code(value)} is not a usable MLflow alias.`, USAGE);
    return { model, version, target: { kind: 'alias', alias: value } };
  }
  if (flag === '--stage') {
    const stage = STAGES.find((candidate) => candidate.toLowerCase() === value.toLowerCase());
    if (!stage) throw new UsageError(`${code(value)} is not a stage (${STAGES.join(', ')}).`, USAGE);
    return { model, version, target: { kind: 'stage', stage } };
  }
  throw new UsageError(`Unknown option ${code(flag ?? '')}.`, USAGE);
}

/** `/mlops promote`: anyone may ask; approvers decide on the posted request. */
export function createPromoteCommand(): Subcommand {
  return {
    name: 'promote',
    usage: USAGE,
    summary: 'Ask for a model version to take an alias (or stage): approvers get the metrics side by side and Approve / Reject buttons.',
    who: 'anyone may request',
    modal: (input, { context }) => modalFor.promote(context.config.file, input.channelId),
    async run(input, { context }) {
      const parsed = parsePromoteArgs(input.args, Object.keys(context.config.file.models));
      const target = parsed.target ?? defaultTarget(context, parsed.model);
      try {
        const { approval, channel } = await requestPromotion(context, { model: parsed.model, version: parsed.version, target, requestedBy: input.userId });
        await context.audit.record({ actor: input.userId, action: 'command.promote', subject: `${parsed.model} v${parsed.version} ${targetLabel(target)}`, outcome: 'requested', jobId: approval.id });
        return { text: `:memo: Approval request for ${code(parsed.model)} v${parsed.version} → ${code(targetLabel(target))} posted in <#${channel}> (request ${code(approval.id)}).` };
      } catch (error) {
        await context.audit.record({ actor: input.userId, action: 'command.promote', subject: `${parsed.model} v${parsed.version}`, outcome: 'refused' });
        throw error;
      }
    },
  };
}
