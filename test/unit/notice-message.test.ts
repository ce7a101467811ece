import { describe, expect, it } from 'vitest';
import { parseOciNotification, type GenericNotification } from '../../src/domain/oci-notification.js';
import type { SlackMessage } from '../../src/slack/blocks.js';
import { renderNotice, renderSubscriptionConfirmed } from '../../src/slack/notice-message.js';
import { deliveryHeaders, ociFixture } from '../helpers/oci-fixtures.js';

function notice(overrides: Partial<GenericNotification> = {}): GenericNotification {
  return { type: 'generic', dedupeKey: 'message:m1', title: 'Maintenance', text: 'Redis restarts at 18:00', ...overrides };
}

function mrkdwnTexts(message: SlackMessage): string[] {
  const texts = [message.text];
  for (const block of message.blocks) {
    if (block.type === 'section' && block.text?.type === 'mrkdwn') texts.push(block.text.text);
    if (block.type === 'context') texts.push(...block.elements.filter((element) => element.type === 'mrkdwn').map((element) => element.text));
  }
  return texts;
}

describe('renderNotice', () => {
  it('shows a notice with a header, its text and no context without an event type', () => {
    expect(renderNotice(notice())).toEqual({
      text: ':information_source: Maintenance',
      blocks: [
        { type: 'header', text: { type: 'plain_text', text: 'Maintenance', emoji: true } },
        { type: 'section', text: { type: 'mrkdwn', text: 'Redis restarts at 18:00' } },
      ],
    });
  });

  it('names the event type of an event of another service, as code', () => {
    const parsed = parseOciNotification(ociFixture('objectstorage-createbucket.json'), deliveryHeaders());
    if (!parsed.ok || parsed.notification.type !== 'generic') throw new Error('expected a generic notice');
    const message = renderNotice(parsed.notification);
    expect(message.blocks.at(-1)).toEqual({ type: 'context', elements: [{ type: 'mrkdwn', text: '`com.oraclecloud.objectstorage.createbucket`' }] });
    expect(message.text).toBe(':information_source: objectstorage.createbucket: bucket-20191212-1425');
  });

  it('escapes mentions and links in the title, text and event type', () => {
    const message = renderNotice(
      notice({ title: '<!channel> look', text: '@here <@U123> <https://evil.example|click> & more', eventType: 'com.evil.<!everyone>' }),
    );
    for (const text of mrkdwnTexts(message)) {
      expect(text).not.toContain('<');
      expect(text).not.toMatch(/@(channel|here|everyone)\b/);
    }
    expect(message.text).toBe(':information_source: &lt;!channel&gt; look');
  });

  it('escapes an alarm of unknown type and a hostile alarm fixture shown as a notice', () => {
    const parsed = parseOciNotification(ociFixture('malformed/alarm-unknown-type.json'), { contentType: 'application/json', messageId: 'm1' });
    if (!parsed.ok || parsed.notification.type !== 'generic') throw new Error('expected a generic notice');
    expect(renderNotice(parsed.notification).blocks[1]).toEqual({ type: 'section', text: { type: 'mrkdwn', text: 'Follow runbook at http://example.com/runbooks' } });
  });

  it('stays within Slack’s limits for huge titles and texts', () => {
    const message = renderNotice(notice({ title: 't'.repeat(1_000), text: '<'.repeat(10_000), eventType: 'e'.repeat(1_000) }));
    const [header, section] = message.blocks;
    expect(header?.type === 'header' && header.text.text.length).toBe(150);
    expect(section?.type === 'section' && (section.text?.text.length ?? 0)).toBeLessThanOrEqual(3000);
    expect(message.blocks.length).toBeLessThanOrEqual(50);
  });
});

describe('renderSubscriptionConfirmed', () => {
  it('announces the active subscription with the topic name as code', () => {
    const message = renderSubscriptionConfirmed('mlops-events');
    expect(message.text).toBe(':satellite_antenna: OCI Notifications subscription for topic `mlops-events` is active: pipeline status will be posted here.');
    expect(message.blocks).toEqual([{ type: 'section', text: { type: 'mrkdwn', text: message.text } }]);
  });

  it('omits the topic when unknown and escapes a hostile one', () => {
    expect(renderSubscriptionConfirmed(undefined).text).toBe(':satellite_antenna: OCI Notifications subscription is active: pipeline status will be posted here.');
    expect(renderSubscriptionConfirmed('<!channel>').text).toContain('`&lt;!channel&gt;`');
  });
});
