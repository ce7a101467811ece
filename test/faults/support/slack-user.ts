import type { FakeMessage } from '../../fakes/fake-slack-api.js';
import { SIGNING_SECRET } from '../../helpers/bot-harness.js';
import type { ResponseUrlServer } from '../../helpers/response-url-server.js';
import { blockActionsBody, postSigned, slashCommandBody } from '../../helpers/slack-request.js';

/** What a person does in Slack against a running bot: slash commands, button clicks, the rollback confirm. */
export interface SlackUser {
  /** Sends `/mlops <text>` and returns the bot's reply (posted to the command's response_url). */
  command(text: string, userId: string, channelId: string): Promise<Record<string, unknown>>;
  /** Clicks a button of a message the bot posted, e.g. approval.approve. */
  click(message: FakeMessage, actionId: string, userId: string): Promise<void>;
  /** Clicks "Roll back" on the confirm step a `/mlops rollback` reply showed. */
  confirmRollback(reply: Record<string, unknown>, userId: string, channelId: string): Promise<void>;
}

/** The rollback.confirm button's value in a `/mlops rollback` reply. */
function confirmValue(reply: Record<string, unknown>): string {
  const blocks = (Array.isArray(reply.blocks) ? reply.blocks : []) as { elements?: { action_id?: string; value?: string }[] }[];
  const value = blocks.flatMap((block) => block.elements ?? []).find((element) => element.action_id === 'rollback.confirm')?.value;
  if (!value) throw new Error(`no rollback confirm step in the reply: ${JSON.stringify(reply).slice(0, 500)}`);
  return value;
}

/** `webUrl` is read on every request, so a test can point the user at a replacement web process. */
export function slackUser(webUrl: () => string, hooks: ResponseUrlServer): SlackUser {
  const events = () => `${webUrl()}/slack/events`;
  const accepted = (response: { status: number }, what: string) => {
    if (response.status !== 200) throw new Error(`${what} answered ${response.status}`);
  };
  return {
    async command(text, userId, channelId) {
      const responseUrl = hooks.url();
      accepted(await postSigned(events(), SIGNING_SECRET, slashCommandBody({ text, userId, channelId, responseUrl })), `/mlops ${text}`);
      return hooks.waitFor(responseUrl, 30_000);
    },
    async click(message, actionId, userId) {
      accepted(await postSigned(events(), SIGNING_SECRET, blockActionsBody({ actionId, userId, channelId: message.channel, message })), actionId);
    },
    async confirmRollback(reply, userId, channelId) {
      const body = blockActionsBody({ actionId: 'rollback.confirm', value: confirmValue(reply), userId, channelId, messageTs: '1.000001', responseUrl: hooks.url() });
      accepted(await postSigned(events(), SIGNING_SECRET, body), 'rollback.confirm');
    },
  };
}
