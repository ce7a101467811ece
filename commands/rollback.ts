import { refusalText } from '../src/authorizer.js';
import { code } from '../src/slack/mrkdwn.js';
import { UsageError, type Subcommand } from './command.js';

const USAGE = 'rollback <deployment-or-model> [--to-revision N] [--dry-run]';

/**
 * `/mlops rollback`: the entry point, its argument checks and the deployers role are here; the
 * Kubernetes rollout undo itself arrives with the rollback flow, and until then the command says so.
 */
export function createRollbackCommand(): Subcommand {
  return {
    name: 'rollback',
    usage: USAGE,
    summary: 'Roll an OKE inference Deployment back to its previous (or a given) revision, after a confirm step.',
    who: 'deployers',
    async run(input, { context, authorizer }) {
      const [subject, ...options] = input.args;
      if (!subject) throw new UsageError('Name a model or a `namespace/name` Deployment.', USAGE);
      const modelDeployment = context.config.file.models[subject]?.deployment;
      if (!modelDeployment && !/^[a-z0-9][-a-z0-9]*\/[a-z0-9][-.a-z0-9]*$/.test(subject)) {
        throw new UsageError(`${code(subject)} is neither a model with a \`deployment\` in the config nor \`namespace/name\`.`, USAGE);
      }
      for (let index = 0; index < options.length; index++) {
        const option = options[index];
        if (option === '--dry-run') continue;
        if (option === '--to-revision' && /^[1-9]\d{0,9}$/.test(options[index + 1] ?? '')) {
          index++;
          continue;
        }
        throw new UsageError(`Unexpected ${code(option ?? '')}.`, USAGE);
      }
      const decision = await authorizer.check('deployers', input.userId);
      if (!decision.allowed) return { text: refusalText(decision, 'Rolling back') };
      const target = modelDeployment ? `${modelDeployment.namespace}/${modelDeployment.name}` : subject;
      await context.audit.record({ actor: input.userId, action: 'command.rollback', subject: target, outcome: 'not available' });
      return { text: `:construction: Rolling back ${code(target)} from Slack is not available in this version yet; use \`kubectl rollout undo deployment/${target.split('/')[1] ?? ''} -n ${target.split('/')[0] ?? ''}\`.` };
    },
  };
}
