import type { App } from '@slack/bolt';
import { z } from 'zod';
import { rememberHomeViewer, scheduleHomeRefresh } from '../../jobs/app-home.js';
import type { Context } from '../context.js';

const homeOpened = z.object({ user: z.string().regex(/^[UW][A-Z0-9]+$/), tab: z.string().optional() });

/**
 * `app_home_opened` (Events API, acknowledged by Bolt before this runs): the viewer is remembered, so later
 * changes refresh their Home, and their Home is published now, through the queue like every other Slack
 * call. The Messages tab opens the same event with `tab: messages`; nothing to publish then.
 */
export function registerAppHome(app: App, context: Context): void {
  app.event('app_home_opened', async ({ event }) => {
    const parsed = homeOpened.safeParse(event);
    if (!parsed.success || parsed.data.tab !== 'home') return;
    await rememberHomeViewer(context, parsed.data.user);
    await scheduleHomeRefresh(context, [parsed.data.user], { now: true });
  });
}
