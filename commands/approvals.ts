import { approvalTargetLabel, gateBlocked } from '../src/domain/approval.js';
import { code, link, mention, slackDate } from '../src/slack/mrkdwn.js';
import { messageLink } from '../src/slack/permalink.js';
import { UsageError, type Subcommand } from './command.js';

/** `/mlops approvals`: pending promotion requests, with who asked, progress, expiry and a link. */
export function createApprovalsCommand(): Subcommand {
  return {
    name: 'approvals',
    usage: 'approvals',
    summary: 'Pending approval requests with links.',
    who: 'anyone',
    async run(input, { context }) {
      if (input.args.length > 0) throw new UsageError('`approvals` takes no arguments.', 'approvals');
      const pending = await context.approvals.pending(context.now());
      if (pending.length === 0) return { text: 'No approval requests are pending.' };
      const lines = pending.map(
        (approval) =>
          `• ${code(approval.model)} version ${code(approval.version)} → ${code(approvalTargetLabel(approval))} · asked by ${mention(approval.requestedBy)} · ${gateBlocked(approval) ? ':no_entry: blocked by a failed quality gate' : `${approval.approvers.length}/${approval.required} approvals`} · expires ${slackDate(approval.expiresAt)} · ${link(messageLink(approval.channel, approval.ts), 'open request')}`,
      );
      return { text: `*Pending approval requests*\n${lines.join('\n')}` };
    },
  };
}
