import type { PromotionTarget } from '../src/domain/approval.js';
import { approvalTargetLabel, gateBlocked } from '../src/domain/approval.js';
import { explainFailure, failedGates } from '../src/domain/gates.js';
import { code, escapeMrkdwn } from '../src/slack/mrkdwn.js';
import { requestPromotion } from '../jobs/promote.js';
import { UsageError, type Subcommand } from './command.js';

const USAGE = 'promote <model> <version> [--to ENV | --alias A | --stage S]';
const ALIAS = /^[A-Za-z0-9_-]{1,255}$/;
const STAGES = ['Staging', 'Production', 'Archived'];

/**
 * Parses `<model> <version> [--to ENV | --alias A | --stage S]` strictly; the model must be configured.
 * `environments` gives a model's environment names: such a model takes `--to`, the others `--alias` / `--stage`.
 */
export function parsePromoteArgs(
  args: readonly string[],
  models: readonly string[],
  environments: (model: string) => readonly string[] | undefined = () => undefined,
): { model: string; version: string; target?: PromotionTarget; environment?: string } {
  const valid = models.length > 0 ? `Models: ${models.map((name) => code(name)).join(', ')}.` : 'No models are configured.';
  const [model, version, ...options] = args;
  if (!model || !version) throw new UsageError(`Name a model and a version. ${valid}`, USAGE);
  if (!models.includes(model)) throw new UsageError(`Unknown model ${code(model)}. ${valid}`, USAGE);
  if (!/^[1-9]\d{0,9}$/.test(version)) throw new UsageError(`${code(version)} is not a model version number.`, USAGE);
  if (options.length === 0) return { model, version };
  const names = environments(model);
  if (names) {
    const [flag, value = ''] = options;
    const choices = `Environments: ${names.map((name) => code(name)).join(', ')}.`;
    if (flag !== '--to' || options.length !== 2) throw new UsageError(`${code(model)} is promoted through its environments: give \`--to ENV\`. ${choices}`, USAGE);
    if (!names.includes(value)) throw new UsageError(`Unknown environment ${code(value)} (\`--to\`). ${choices}`, USAGE);
    return { model, version, environment: value };
  }
  if (options[0] === '--to') throw new UsageError(`${code(model)} has no \`environments\` in the config: give \`--alias A\` or \`--stage S\`, or nothing for its own.`, USAGE);
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
    summary:
      'Ask for a model version to move into the next environment of its path (`--to ENV` names it), or to take an alias (or stage): approvers get the metrics side by side and Approve / Reject buttons.',
    who: 'anyone may request',
    async run(input, { context }) {
      const { models } = context.config.file;
      const parsed = parsePromoteArgs(input.args, Object.keys(models), (model) => models[model]?.environments?.map((environment) => environment.name));
      try {
        const { approval, channel } = await requestPromotion(context, {
          model: parsed.model,
          version: parsed.version,
          ...(parsed.target ? { target: parsed.target } : {}),
          ...(parsed.environment ? { environment: parsed.environment } : {}),
          requestedBy: input.userId,
        });
        const label = approvalTargetLabel(approval);
        const immediate = approval.state === 'approved';
        await context.audit.record({ actor: input.userId, action: 'command.promote', subject: `${parsed.model} v${parsed.version} ${label}`, outcome: immediate ? 'promoting: no approval needed' : gateBlocked(approval) ? 'requested: quality gate failed' : 'requested', jobId: approval.id });
        if (gateBlocked(approval)) {
          const failed = failedGates(approval.gates).map((gate) => explainFailure(gate, approval.version));
          return { text: `:no_entry: Request for ${code(parsed.model)} v${parsed.version} → ${code(label)} posted in <#${channel}>, blocked by a failed quality gate: ${escapeMrkdwn(failed.join('; '))}. Only a gate overrider can lift it, giving a reason.` };
        }
        if (immediate) return { text: `:rocket: Promoting ${code(parsed.model)} v${parsed.version} → ${code(label)}: no approval needed there. Follow it in <#${channel}> (request ${code(approval.id)}).` };
        return { text: `:memo: Approval request for ${code(parsed.model)} v${parsed.version} → ${code(label)} posted in <#${channel}> (request ${code(approval.id)}).` };
      } catch (error) {
        await context.audit.record({ actor: input.userId, action: 'command.promote', subject: `${parsed.model} v${parsed.version}${parsed.environment ? ` --to ${parsed.environment}` : ''}`, outcome: 'refused' });
        throw error;
      }
    },
  };
}
