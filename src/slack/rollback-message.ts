import type { RevisionSummary } from '../domain/rollback.js';
import { mrkdwnText, plainText, type Block, type SlackMessage } from './blocks.js';
import { code, escapeMrkdwn, mention, plain } from './mrkdwn.js';
import type { AliasMove } from '../queues.js';

export const ROLLBACK_ACTIONS = { confirm: 'rollback.confirm', confirmWithAlias: 'rollback.confirm_alias', cancel: 'rollback.cancel', confirmModal: 'rollback.confirm_modal' } as const;

/** What else the confirm step says and offers beside the two revisions. */
export interface RollbackConfirmExtras {
  /** A GitOps controller manages the Deployment (who): the next sync would put the current template back. */
  gitops?: string | undefined;
  /** Move the environment's alias back to the version the target revision runs. */
  aliasOffer?: AliasMove | undefined;
  /** The environment whose name the confirmation asks to type. */
  typedEnvironment?: string | undefined;
}

export function describeRevision(summary: RevisionSummary): string {
  const images = summary.images.length > 0 ? summary.images.map((image) => code(image)).join(', ') : '_no images_';
  const cause = summary.changeCause ? ` · ${escapeMrkdwn(plain(summary.changeCause, 200))}` : '';
  return `revision ${summary.revision ?? '?'}: ${images}${cause}`;
}

function extraLines(current: RevisionSummary, goal: RevisionSummary, extras: RollbackConfirmExtras): string[] {
  const lines: string[] = [];
  const version = (summary: RevisionSummary) => (summary.modelVersion ? `v${escapeMrkdwn(summary.modelVersion)}` : `unknown (revision ${summary.revision ?? '?'} has no \`mlops.model-version\`)`);
  if (current.modelVersion || goal.modelVersion) lines.push(`*Model version:* ${version(current)} now, ${version(goal)} after`);
  const offer = extras.aliasOffer;
  if (offer) {
    lines.push(
      `${code(`@${offer.alias}`)} of ${code(offer.model)} is on ${offer.from ? `v${escapeMrkdwn(offer.from)}` : 'an unknown version'}: *Roll back + move @${escapeMrkdwn(offer.alias)}* also moves it to v${escapeMrkdwn(offer.version)} once the rollout succeeds, so the registry and what serves agree.`,
    );
  }
  if (extras.gitops) {
    lines.push(
      `:warning: *${escapeMrkdwn(extras.gitops)} manages this Deployment.* Its next sync puts the current template back and undoes this rollback. Revert the change in Git instead; roll back here only to stop the harm until then.`,
    );
  }
  if (extras.typedEnvironment) lines.push(`_${escapeMrkdwn(extras.typedEnvironment)} asks you to type its name to confirm._`);
  return lines;
}

/** The confirm step: what runs now and what comes back, before anything changes. */
export function renderRollbackConfirm(target: string, current: RevisionSummary, goal: RevisionSummary, confirmId: string | undefined, note?: string, extras: RollbackConfirmExtras = {}): SlackMessage {
  const lines = [`*Roll back ${code(target)}?*`, `*Now:* ${describeRevision(current)}`, `*After:* ${describeRevision(goal)}`, ...extraLines(current, goal, extras), ...(note ? [note] : [])];
  const text = lines.join('\n');
  const blocks: Block[] = [{ type: 'section', text: mrkdwnText(text) }];
  if (confirmId) {
    const anyway = extras.gitops ? ' anyway' : '';
    const offer = extras.aliasOffer;
    blocks.push({
      type: 'actions',
      block_id: `rollback-${confirmId}`,
      elements: [
        { type: 'button', action_id: ROLLBACK_ACTIONS.confirm, text: plainText(`Roll back${anyway}`), style: 'danger', value: confirmId },
        ...(offer ? [{ type: 'button' as const, action_id: ROLLBACK_ACTIONS.confirmWithAlias, text: plainText(plain(`Roll back${anyway} + move @${offer.alias} to v${offer.version}`, 75)), style: 'danger' as const, value: confirmId }] : []),
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
