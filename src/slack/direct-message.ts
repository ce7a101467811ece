import { approvalTargetLabel, type Approval } from '../domain/approval.js';
import { formatDuration, runDurationMs, type Run } from '../domain/run.js';
import { mrkdwnText, type SlackMessage } from './blocks.js';
import { code, escapeMrkdwn, link, mention } from './mrkdwn.js';
import { stateLabel } from './run-message.js';

/** The requester of a training run hears how it ended: state, duration, links to its message and the console. */
export function renderRunEndDm(run: Run, messageUrl: string | undefined, now: Date): SlackMessage {
  const duration = runDurationMs(run, now);
  const took = duration === undefined ? '' : ` after ${formatDuration(duration)}`;
  const what = run.target ? `${code(run.target)} (${escapeMrkdwn(run.name)})` : escapeMrkdwn(run.name);
  const links = [link(messageUrl, 'Open its message'), link(run.details.consoleUrl, 'OCI console')].filter((item) => item.startsWith('<'));
  const detail = run.details.lifecycleDetails ? `\n>${escapeMrkdwn(run.details.lifecycleDetails.slice(0, 500))}` : '';
  const text = `Your training run ${what} ended: ${stateLabel(run.state)}${took}.${links.length > 0 ? ` ${links.join(' · ')}` : ''}${detail}`;
  return { text, blocks: [{ type: 'section', text: mrkdwnText(text) }] };
}

export type PromotionDecision = 'approved' | 'rejected' | 'expired' | 'superseded';

/** The decision a request's state shows; a promoted (or failed) request was approved first. */
export function decisionOf(approval: Approval): PromotionDecision | undefined {
  switch (approval.state) {
    case 'approved':
    case 'promoted':
    case 'failed':
      return 'approved';
    case 'rejected':
    case 'expired':
    case 'superseded':
      return approval.state;
    default:
      return undefined;
  }
}

const DECIDED: Record<PromotionDecision, string> = {
  approved: ':white_check_mark: was *approved*',
  rejected: ':no_entry: was *rejected*',
  expired: ':alarm_clock: *expired* before enough approvals',
  superseded: ':fast_forward: was *superseded* by a newer request',
};

/** The requester of a promotion hears the decision; undefined while there is none. */
export function renderDecisionDm(approval: Approval, messageUrl: string | undefined): SlackMessage | undefined {
  const decision = decisionOf(approval);
  if (!decision) return undefined;
  const decided = DECIDED[decision];
  const by = approval.decidedBy && (decision === 'approved' || decision === 'rejected') ? ` by ${mention(approval.decidedBy)}` : '';
  const reason = approval.reason ? `: _${escapeMrkdwn(approval.reason.slice(0, 500))}_` : '';
  const open = messageUrl ? ` ${link(messageUrl, 'Open the request')}` : '';
  const text = `Your promotion request ${code(approval.model)} v${escapeMrkdwn(approval.version)} → ${code(approvalTargetLabel(approval))} ${decided}${by}${reason}.${open}`;
  return { text, blocks: [{ type: 'section', text: mrkdwnText(text) }] };
}
