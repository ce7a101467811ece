import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { FakeSlackCall } from '../fakes/fake-slack-api.js';
import { anyText, wellFormed } from '../helpers/arbitraries.js';
import { baseConfigFile } from '../helpers/bot-harness.js';
import { recordReliability } from './reliability.js';
import { OCI_PASSWORD, OCI_USER, startFaultStack, type FaultStack } from './stack.js';

const basic = `Basic ${Buffer.from(`${OCI_USER}:${OCI_PASSWORD}`).toString('base64')}`;

/** What an outsider puts in a resource name, an alarm or a command argument to ping people or forge links. */
const HOSTILE = [
  '<!channel>',
  '<!here>',
  '<!everyone>',
  '<!here|here>',
  '<@UEVIL1>',
  '<@WEVIL2|boss>',
  '<!subteam^SEVIL1>',
  '<!subteam^SEVIL2|@leads>',
  '<#CEVIL1>',
  '<http://evil.example|click>',
  '<https://evil.example/login|Open the console>',
  '<mailto:evil@evil.example|mail>',
  '<!date^1700000000^{date}|evil>',
  '@channel @here @everyone',
  '*bold* _italic_ ~strike~ >quote',
  '`code` ```block``` ` <!channel> `',
  '&lt;!channel&gt; &amp;lt;@UEVIL3&amp;gt;',
  'a > b < c & d',
  '\u202egnp.exe <!channel>',
  '<\u200b!channel> <!chan\u200bnel> \u2060<!here>',
  'x\n<!channel>\n>quoted <@UEVIL4>',
  `${'A'.repeat(3000)}<!channel>`,
  '<<!channel>> <<@UEVIL5>|x>',
];

/** Fragments recombined with arbitrary text by fast-check. */
const hostileText = fc
  .array(fc.oneof(fc.constantFrom(...HOSTILE.filter((text) => text.length < 200)), anyText(12), fc.constantFrom('<', '>', '|', '!', '@', '^', '&', ' ')), { minLength: 1, maxLength: 8 })
  .map((parts) => wellFormed(parts.join('')));

/** Every string Slack renders as mrkdwn in a call: top-level `text` and every text object not marked plain_text. */
function mrkdwnStrings(value: unknown, out: string[] = [], inPlain = false): string[] {
  if (typeof value === 'string') {
    if (!inPlain) out.push(value);
  } else if (Array.isArray(value)) {
    for (const item of value) mrkdwnStrings(item, out, inPlain);
  } else if (typeof value === 'object' && value !== null) {
    const record = value as Record<string, unknown>;
    const plain = record.type === 'plain_text';
    for (const [key, item] of Object.entries(record)) {
      // Identifiers and URLs of the bot's own buttons are not rendered text.
      if (['action_id', 'block_id', 'value', 'url', 'type', 'style', 'channel', 'ts', 'thread_ts', 'metadata', 'private_metadata', 'callback_id', 'image_url'].includes(key)) continue;
      mrkdwnStrings(item, out, inPlain || plain);
    }
  }
  return out;
}

/**
 * Active Slack syntax in rendered text that the input smuggled in: any `<…>` control sequence naming an
 * EVIL principal, an evil host or a broadcast, or a bare @channel/@here/@everyone word.
 */
function smuggled(texts: readonly string[]): string[] {
  const found: string[] = [];
  for (const text of texts) {
    for (const match of text.matchAll(/<([^<>]*)>/g)) {
      const inner = match[1] ?? '';
      if (/evil/i.test(inner) || /^!(channel|here|everyone)/.test(inner.replace(/[\u200b\u2060]/g, ''))) found.push(match[0]);
    }
    for (const match of text.matchAll(/@(channel|here|everyone)\b/gi)) found.push(match[0]);
  }
  return found;
}

describe('mrkdwn and mention injection', () => {
  let stack: FaultStack;

  const notify = async (body: unknown) => {
    const response = await fetch(`${stack.bot.url}/oci/notifications`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: basic, 'x-oci-ns-messagetype': 'Notification' },
      body: JSON.stringify(body),
    });
    expect(response.status).toBe(200);
  };
  /** Waits until every marker shows in something the bot sent to Slack, then returns all Slack calls. */
  const slackCallsShowing = (markers: readonly string[]): Promise<FakeSlackCall[]> =>
    stack.slack.waitFor(
      () => {
        const calls = stack.slack.calls().filter((call) => call.method.startsWith('chat.'));
        const seen = JSON.stringify(calls.map((call) => call.args));
        return markers.every((marker) => seen.includes(marker)) ? calls : undefined;
      },
      60_000,
      `${markers.length} markers in Slack calls`,
    );

  beforeAll(async () => {
    // Slack allows about one message a second per channel and the bot keeps to it: spread runs over ten channels.
    const spread = Array.from({ length: 10 }, (_, digit) => ({ match: { resourceName: `MK${digit}*` }, channel: `C0INJ${digit}` }));
    stack = await startFaultStack({ slack: { limits: false }, file: baseConfigFile({ routes: [...spread, { match: { kind: 'alarm', severity: 'CRITICAL' }, channel: 'C0ONCALL' }] }) });
  });

  afterAll(async () => {
    await stack.stop();
  });

  test('OCI event, alarm and generic notification fields never reach Slack as active mentions or links', async (ctx) => {
    // The detector itself: every hostile string, unescaped, is caught.
    expect(HOSTILE.filter((text) => smuggled([text]).length === 0).filter((text) => !/^\*bold|^`code|^&lt;|^a > b/.test(text))).toEqual([]);
    const generated = fc.sample(hostileText, 17);
    const payloads = [...HOSTILE, ...generated];
    const markers: string[] = [];
    let sent = 0;
    for (let start = 0; start < payloads.length; start += 6) {
      await Promise.all(
        payloads.slice(start, start + 6).map(async (payload, offset) => {
          const index = start + offset;
          const marker = `MK${index}X`;
          markers.push(marker);
          const text = `${marker} ${payload}`;
          const kind = index % 4;
          if (kind === 0 || kind === 3) {
            await notify({
              eventType: 'com.oraclecloud.datascience.failedjobrun',
              cloudEventsVersion: '0.1',
              source: text,
              eventTime: new Date().toISOString(),
              eventID: `inj-${index}`,
              data: { compartmentId: 'ocid1.compartment.oc1..ml', compartmentName: text, resourceName: text, resourceId: `ocid1.datasciencejobrun.oc1.iad.inj${index}`, additionalDetails: { lifecycleDetails: text, message: text } },
            });
          } else if (kind === 1) {
            await notify({
              dedupeKey: `inj-alarm-${index}`,
              title: text,
              body: text,
              type: 'OK_TO_FIRING',
              severity: 'CRITICAL',
              timestampEpochMillis: Date.now(),
              alarmMetaData: [{ id: `ocid1.alarm.oc1..inj${index}`, namespace: text, query: text, alarmSummary: text, dimensions: [{ resourceDisplayName: text, [text.slice(0, 60)]: text }], metricValues: [{ [text.slice(0, 60)]: text }] }],
            });
          } else if (index % 8 === 2) {
            await notify({ title: text, body: text });
          } else {
            await notify({ eventType: 'com.oraclecloud.objectstorage.createobject', cloudEventsVersion: '0.1', source: text, eventID: `inj-generic-${index}`, data: { resourceName: text, resourceId: text, additionalDetails: { message: text } } });
          }
          sent++;
        }),
      );
    }
    const calls = await slackCallsShowing(markers);
    const texts = calls.flatMap((call) => mrkdwnStrings({ text: call.args.text, blocks: call.args.blocks, attachments: call.args.attachments }));
    const found = smuggled(texts);
    expect(found.slice(0, 10)).toEqual([]);
    expect(calls.every((call) => call.status === 200 && call.response.ok === true), 'every message accepted by Slack').toBe(true);
    expect((await fetch(`${stack.bot.url}/healthz`)).status).toBe(200);
    recordReliability(ctx, {
      area: 'Injection',
      fault: 'mentions (<!channel>, <@U…>, <!subteam^…>), links (<http…|…>), mrkdwn, backticks, &<>, RLO, zero-width, 3,000-char strings in job run, alarm and generic notification fields',
      cases: sent,
      outcome: `${sent} notifications rendered in ${calls.length} Slack calls (${texts.length} mrkdwn strings); ${found.length} active mentions or links smuggled; every call ok`,
    });
  });

  test('command arguments never come back as active mentions or links, in the reply or in the run message', async (ctx) => {
    const quoted = (text: string) => `"${text.replace(/[\\"\u201c\u201d]/g, (char) => `\\${char}`)}"`;
    const payloads = [...HOSTILE.filter((text) => text.length < 500), ...fc.sample(hostileText.filter((text) => text.length < 300), 6)];
    const replies: string[] = [];
    const markers: string[] = [];
    let commands = 0;
    for (const [index, payload] of payloads.entries()) {
      const marker = `CM${index}X`;
      const text = `${marker} ${payload}`;
      // Each run message is a Slack post in the one build channel (about one a second): every third payload trains.
      const lines = [...(index % 3 === 0 ? [`train churn-model NOTE=${quoted(text)}`] : []), `train ${quoted(text)}`, `promote ${quoted(text)} 1`, `status ${quoted(text)}`, quoted(text), `rollback ${quoted(text)} 1`];
      const answers = await Promise.all(lines.map((line) => stack.command(line, 'U0DS1')));
      commands += lines.length;
      for (const answer of answers) {
        expect(answer.status).toBe(200);
        const reply = answer.text.length > 0 ? answer.json : await stack.hooks.waitFor(answer.responseUrl, 15_000);
        replies.push(...mrkdwnStrings(reply));
      }
      if (index % 3 === 0) markers.push(marker);
    }
    const calls = await slackCallsShowing(markers);
    const texts = [...replies, ...calls.flatMap((call) => mrkdwnStrings({ text: call.args.text, blocks: call.args.blocks }))];
    const found = smuggled(texts);
    expect(found.slice(0, 10)).toEqual([]);
    expect((await fetch(`${stack.bot.url}/healthz`)).status).toBe(200);
    recordReliability(ctx, {
      area: 'Injection',
      fault: 'the same hostile strings as train, promote, status, rollback and unknown-subcommand arguments',
      cases: commands,
      outcome: `${commands} commands answered 200; ${replies.length} reply strings and ${calls.length} Slack calls checked; ${found.length} active mentions or links smuggled`,
    });
  });
});
