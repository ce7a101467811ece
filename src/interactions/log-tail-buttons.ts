import type { App, BlockAction } from '@slack/bolt';
import { z } from 'zod';
import type { Context } from '../context.js';
import { jobId } from '../queues.js';
import { INSIGHT_ACTIONS } from '../slack/insight-message.js';

const clickSchema = z.object({
  user: z.object({ id: z.string().regex(/^[UW][A-Z0-9]+$/) }),
  channel: z.object({ id: z.string().regex(/^[CGD][A-Z0-9]+$/) }).optional(),
  container: z.object({ channel_id: z.string().optional() }).loose().optional(),
  actions: z.array(z.object({ action_id: z.string(), value: z.string().regex(/^[0-9a-f]{40}$/), action_ts: z.string().max(40).optional() })).min(1),
});

/**
 * "More" under a log tail: acknowledged at once, then a job reads the next older page from OCI Logging
 * and shows it to the clicker alone. The lines are already in the thread's public tail's log, so anyone
 * who sees the thread may page it; no role is needed.
 */
export function registerLogTailButtons(app: App, context: Context): void {
  app.action<BlockAction>(INSIGHT_ACTIONS.moreLog, async ({ ack, body }) => {
    await ack();
    const click = clickSchema.safeParse(body);
    const channel = click.success ? (click.data.channel?.id ?? click.data.container?.channel_id) : undefined;
    const action = click.success ? click.data.actions[0] : undefined;
    if (!click.success || !channel || !action) {
      context.logger.warn({ action: INSIGHT_ACTIONS.moreLog }, 'malformed button click');
      return;
    }
    const user = click.data.user.id;
    // One job per click (a double click is one job); the page id says which page.
    await context.queues.explain.add('more-log', { kind: 'more-log', pageId: action.value, channel, user }, { jobId: jobId('more-log', action.value, user, action.action_ts ?? '') });
  });
}
