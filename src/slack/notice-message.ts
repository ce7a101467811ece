import type { GenericNotification } from '../domain/oci-notification.js';
import { mrkdwnText, plainText, type SlackMessage } from './blocks.js';
import { code, escapeMrkdwn, plain } from './mrkdwn.js';

/** A one-off message for anything that is not a tracked run: shown as it came, escaped. */
export function renderNotice(notice: GenericNotification): SlackMessage {
  const body = escapeMrkdwn(plain(notice.text, 2900));
  return {
    text: `:information_source: ${escapeMrkdwn(notice.title)}`,
    blocks: [
      { type: 'header', text: plainText(plain(notice.title, 150)) },
      { type: 'section', text: mrkdwnText(body) },
      ...(notice.eventType ? [{ type: 'context' as const, elements: [mrkdwnText(code(notice.eventType))] }] : []),
    ],
  };
}

export function renderSubscriptionConfirmed(topicName: string | undefined): SlackMessage {
  const topic = topicName ? ` for topic ${code(topicName)}` : '';
  const text = `:satellite_antenna: OCI Notifications subscription${topic} is active: pipeline status will be posted here.`;
  return { text, blocks: [{ type: 'section', text: mrkdwnText(text) }] };
}
