import type { RevisionSummary } from '../domain/rollback.js';
import { mrkdwnText, plainText, type Block, type SlackMessage } from './blocks.js';
import { code, escapeMrkdwn, mention, plain } from './mrkdwn.js';

export const ROLLBACK_ACTIONS = { confirm: 'rollback.confirm', cancel: 'rollback.cancel' } as const;

export function describeRevision(summary: RevisionSummary): string {
  const images = summary.images.length > 0 ? summary.images.map((image) => code(image)).join(', ') : '_no images_';
  const cause = summary.changeCause ? ` · ${escapeMrkdwn(plain(summary.changeCause, 200))}` : '';
  return `revision ${summary.revision ?? '?'}: ${images}${cause}`;
}

/** The confirm step: what runs now and what comes back, before anything changes. */
export function renderRollbackConfirm(target: string, current: RevisionSummary, goal: RevisionSummary, confirmId: string | undefined, note?: string): SlackMessage {
  const text = `*Roll back ${code(target)}?*\n*Now:* ${describeRevision(current)}\n*After:* ${describeRevision(goal)}${note ? `\n${note}` : ''}`;
  const blocks: Block[] = [{ type: 'section', text: mrkdwnText(text) }];
  if (confirmId) {
    blocks.push({
      type: 'actions',
      block_id: `rollback-${confirmId}`,
      elements: [
        { type: 'button', action_id: ROLLBACK_ACTIONS.confirm, text: plainText('Roll back'), style: 'danger', value: confirmId },
        { type: 'button', action_id: ROLLBACK_ACTIONS.cancel, text: plainText('Cancel'), value: confirmId },
      ],
    });
  }
  return { text, blocks };
}

export type RollbackState = 'running' | 'succeeded' | 'failed' | 'timed out' | 'skipped';

const EMOJI: Record<RollbackState, string> = {
  running: ':rewind:',
  succeeded: ':white_check_mark:',
  failed: ':x:',
  'timed out': ':alarm_clock:',
  skipped: ':white_check_mark:',
};

/** The rollback's own message in the channel; progress goes to its thread. */
export function renderRollbackStatus(target: string, requestedBy: string, goal: RevisionSummary, state: RollbackState, detail?: string): SlackMessage {
  const head = `${EMOJI[state]} Rollback of ${code(target)} to ${describeRevision(goal)} · ${state} · requested by ${mention(requestedBy)}`;
  const text = detail ? `${head}\n>${escapeMrkdwn(plain(detail, 1500))}` : head;
  return { text, blocks: [{ type: 'section', text: mrkdwnText(text) }] };
}
