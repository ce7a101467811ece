import { previewRollback, resolveRollbackTarget, rollbackLabel, storeConfirm } from '../jobs/rollback.js';
import { refusalText } from '../src/authorizer.js';
import { code, escapeMrkdwn } from '../src/slack/mrkdwn.js';
import { renderRollbackConfirm } from '../src/slack/rollback-message.js';
import { UsageError, type Subcommand } from './command.js';

const USAGE = 'rollback <model> [--env ENV] [--to-revision N] [--dry-run]  or  rollback <namespace/name> [--to-revision N] [--dry-run]';
const ENVIRONMENT_NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/;

/** Parses `[--env ENV] [--to-revision N] [--dry-run]` after the subject. */
export function parseRollbackOptions(options: readonly string[]): { toRevision: number; dryRun: boolean; environment?: string } {
  let toRevision = 0;
  let dryRun = false;
  let environment: string | undefined;
  for (let index = 0; index < options.length; index++) {
    const option = options[index];
    if (option === '--env' && environment === undefined && ENVIRONMENT_NAME.test(options[index + 1] ?? '')) {
      environment = options[++index];
    } else if (option === '--dry-run' && !dryRun) {
      dryRun = true;
    } else if (option === '--to-revision' && toRevision === 0 && /^[1-9]\d{0,9}$/.test(options[index + 1] ?? '')) {
      toRevision = Number(options[++index]);
    } else {
      throw new UsageError(`Unexpected ${code(option ?? '')}.`, USAGE);
    }
  }
  return { toRevision, dryRun, ...(environment !== undefined ? { environment } : {}) };
}

/**
 * `/mlops rollback`: deployers see the current and the target revision (images, change-cause) and
 * confirm before anything changes; `--dry-run` shows the same and changes nothing.
 */
export function createRollbackCommand(): Subcommand {
  return {
    name: 'rollback',
    usage: USAGE,
    summary:
      'Roll an OKE inference Deployment back to its previous (or a given) revision, after a confirm step; `--env ENV` picks the environment (and cluster) of a model with several; `--dry-run` changes nothing.',
    who: 'deployers',
    async run(input, { context, authorizer }) {
      const [subject, ...options] = input.args;
      if (!subject) throw new UsageError('Name a model or a `namespace/name` Deployment.', USAGE);
      const { toRevision, dryRun, environment } = parseRollbackOptions(options);
      const resolved = resolveRollbackTarget(context, subject, environment);
      if (!resolved) throw new UsageError(`${code(subject)} is neither a model with a \`deployment\` in the config nor \`namespace/name\`.`, USAGE);
      if (!resolved.ok) throw new UsageError(resolved.reason, USAGE);
      const { target } = resolved;
      const decision = await authorizer.check('deployers', input.userId);
      const label = rollbackLabel(target);
      if (!decision.allowed) {
        await context.audit.record({ actor: input.userId, action: 'command.rollback', subject: label, outcome: 'refused' });
        return { text: refusalText(decision, 'Rolling back') };
      }
      const preview = await previewRollback(context, target, toRevision);
      if (preview.kind === 'error') return { text: `:x: Cannot roll back ${code(label)}: ${escapeMrkdwn(preview.message)}` };
      if (preview.kind === 'skip') return { text: `:information_source: ${code(label)}: ${escapeMrkdwn(preview.message)}` };
      if (dryRun) {
        await context.audit.record({ actor: input.userId, action: 'command.rollback', subject: label, outcome: 'dry run' });
        return renderRollbackConfirm(label, preview.current, preview.goal, undefined, '_Dry run: nothing was changed._');
      }
      const confirmId = await storeConfirm(context, { ...target, targetReplicaSet: preview.targetReplicaSet, goal: preview.goal, requestedBy: input.userId, channel: input.channelId });
      await context.audit.record({ actor: input.userId, action: 'command.rollback', subject: label, outcome: 'confirm shown', jobId: confirmId });
      return renderRollbackConfirm(label, preview.current, preview.goal, confirmId);
    },
  };
}
