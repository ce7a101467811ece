import { createHmac } from 'node:crypto';

/** Headers Slack sends with a signed request (v0 scheme). */
export function signSlackBody(secret: string, body: string, timestampSeconds = Math.floor(Date.now() / 1000)): Record<string, string> {
  const signature = createHmac('sha256', secret).update(`v0:${timestampSeconds}:${body}`).digest('hex');
  return {
    'x-slack-signature': `v0=${signature}`,
    'x-slack-request-timestamp': String(timestampSeconds),
    // Exactly this: Bolt and Slack use no charset parameter.
    'content-type': 'application/x-www-form-urlencoded',
  };
}

export interface SlashCommand {
  text: string;
  userId?: string;
  userName?: string;
  channelId?: string;
  teamId?: string;
  responseUrl?: string;
  triggerId?: string;
}

/** A slash command body with every field Slack sends. */
export function slashCommandBody(command: SlashCommand): string {
  return new URLSearchParams({
    token: 'deprecated-verification-token',
    team_id: command.teamId ?? 'T0FAKE',
    team_domain: 'fake',
    channel_id: command.channelId ?? 'C0TRAIN',
    channel_name: 'ml-training',
    user_id: command.userId ?? 'U0DS1',
    user_name: command.userName ?? 'data.scientist',
    command: '/mlops',
    text: command.text,
    api_app_id: 'A0MLOPS',
    is_enterprise_install: 'false',
    response_url: command.responseUrl ?? 'https://hooks.slack.com/commands/T0FAKE/1/abc',
    trigger_id: command.triggerId ?? '1234.5678.abcdef',
  }).toString();
}

export interface BlockActionClick {
  userId: string;
  userName?: string;
  channelId: string;
  messageTs: string;
  actionId: string;
  value?: string;
  blockId?: string;
  responseUrl?: string;
}

/** A block_actions payload shaped like the ones Slack posts for a button in a message. */
export function blockActionsBody(click: BlockActionClick): string {
  const payload = {
    type: 'block_actions',
    user: { id: click.userId, username: click.userName ?? 'someone', name: click.userName ?? 'someone', team_id: 'T0FAKE' },
    api_app_id: 'A0MLOPS',
    token: 'deprecated-verification-token',
    container: { type: 'message', message_ts: click.messageTs, channel_id: click.channelId, is_ephemeral: false },
    trigger_id: '1234.5678.trigger',
    team: { id: 'T0FAKE', domain: 'fake' },
    enterprise: null,
    is_enterprise_install: false,
    channel: { id: click.channelId, name: 'channel' },
    message: { type: 'message', ts: click.messageTs, text: 'status', bot_id: 'B0BOT', blocks: [] },
    state: { values: {} },
    response_url: click.responseUrl ?? 'https://hooks.slack.com/actions/T0FAKE/1/xyz',
    actions: [
      {
        type: 'button',
        action_id: click.actionId,
        block_id: click.blockId ?? 'run-actions-1',
        text: { type: 'plain_text', text: 'Button', emoji: true },
        ...(click.value === undefined ? {} : { value: click.value }),
        action_ts: `${Date.now() / 1000}`,
      },
    ],
  };
  return `payload=${encodeURIComponent(JSON.stringify(payload))}`;
}

export interface SignedResponse {
  status: number;
  text: string;
  json: unknown;
  ms: number;
}

export async function postSigned(url: string, secret: string, body: string, options: { timestampSeconds?: number; headers?: Record<string, string> } = {}): Promise<SignedResponse> {
  const started = performance.now();
  const response = await fetch(url, { method: 'POST', headers: { ...signSlackBody(secret, body, options.timestampSeconds), ...options.headers }, body });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, text, json, ms: performance.now() - started };
}
