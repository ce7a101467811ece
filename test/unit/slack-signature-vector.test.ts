import { isValidSlackRequest } from '@slack/bolt';
import { describe, expect, it } from 'vitest';
import { blockActionsBody, signSlackBody, slashCommandBody } from '../helpers/slack-request.js';

// Slack's worked example from "Verifying requests from Slack" (slack.md §1).
const SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const TIMESTAMP = 1531420618;
const BODY =
  'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
const EXPECTED = 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503';

const boltAccepts = (body: string, headers: { 'x-slack-signature': string; 'x-slack-request-timestamp': string }, nowSeconds: number) =>
  isValidSlackRequest({
    signingSecret: SECRET,
    body,
    headers: { 'x-slack-signature': headers['x-slack-signature'], 'x-slack-request-timestamp': Number(headers['x-slack-request-timestamp']) },
    nowMilliseconds: nowSeconds * 1000,
  });

describe('signSlackBody', () => {
  it("reproduces Slack's known-answer signature", () => {
    expect(BODY).toHaveLength(362);
    expect(signSlackBody(SECRET, BODY, TIMESTAMP)).toEqual({
      'x-slack-signature': EXPECTED,
      'x-slack-request-timestamp': '1531420618',
      'content-type': 'application/x-www-form-urlencoded',
    });
  });

  it("is accepted by Bolt's verifier with the clock frozen at the vector's time", () => {
    expect(boltAccepts(BODY, signSlackBody(SECRET, BODY, TIMESTAMP), TIMESTAMP)).toBe(true);
  });

  it('changes with any byte of the body, the timestamp or the secret', () => {
    expect(signSlackBody(SECRET, `${BODY} `, TIMESTAMP)['x-slack-signature']).not.toBe(EXPECTED);
    expect(signSlackBody(SECRET, BODY, TIMESTAMP + 1)['x-slack-signature']).not.toBe(EXPECTED);
    expect(signSlackBody(`${SECRET}x`, BODY, TIMESTAMP)['x-slack-signature']).not.toBe(EXPECTED);
  });

  it('signs built command and action bodies in a way Bolt accepts', () => {
    const now = 1_800_000_000;
    for (const body of [slashCommandBody({ text: 'train fraud-model --epochs 5' }), blockActionsBody({ messageTs: '1800000000.000100', actionId: 'approve', value: 'run-1' })]) {
      expect(boltAccepts(body, signSlackBody(SECRET, body, now), now)).toBe(true);
      expect(boltAccepts(body, signSlackBody(SECRET, body, now - 301), now)).toBe(false);
    }
  });
});

describe('request bodies', () => {
  it('a slash command carries every field Slack sends, form-encoded like the vector', () => {
    const form = new URLSearchParams(slashCommandBody({ text: 'status run-1', userId: 'U1', channelId: 'C1' }));
    expect([...form.keys()]).toEqual([
      'token',
      'team_id',
      'team_domain',
      'channel_id',
      'channel_name',
      'user_id',
      'user_name',
      'command',
      'text',
      'api_app_id',
      'is_enterprise_install',
      'response_url',
      'trigger_id',
    ]);
    expect(form.get('command')).toBe('/mlops');
    expect(form.get('text')).toBe('status run-1');
    expect(slashCommandBody({ text: 'a b' })).toContain('command=%2Fmlops&text=a+b&');
  });

  it('a button click takes block_id, label and value from the clicked message', () => {
    const body = blockActionsBody({
      actionId: 'approve',
      userId: 'U0LEAD1',
      message: {
        ts: '1800000000.000100',
        text: 'Deploy?',
        blocks: [{ type: 'actions', block_id: 'run-actions-1', elements: [{ type: 'button', action_id: 'approve', text: { type: 'plain_text', text: 'Approve' }, value: 'run-1', style: 'primary' }] }],
      },
    });
    expect(body.startsWith('payload=')).toBe(true);
    const payload: unknown = JSON.parse(new URLSearchParams(body).get('payload') ?? '');
    expect(payload).toMatchObject({
      type: 'block_actions',
      user: { id: 'U0LEAD1' },
      container: { type: 'message', message_ts: '1800000000.000100', channel_id: 'C0TRAIN', is_ephemeral: false },
      message: { ts: '1800000000.000100', text: 'Deploy?' },
      actions: [{ type: 'button', action_id: 'approve', block_id: 'run-actions-1', value: 'run-1', style: 'primary', text: { type: 'plain_text', text: 'Approve' } }],
    });
  });
});
