import { createHmac, randomBytes, randomInt } from 'node:crypto';

/**
 * Builds the HTTP requests Slack sends to the bot (slash commands, block_actions, view_submission), signed
 * with the v0 scheme. Shapes follow slack.md §2, §3 and §5 and captured real payloads. Defaults line up with
 * the test bot config (team T0FAKE, channel C0TRAIN, user U0DS1 in the trainers group) and FakeSlackApi's
 * bot identity (U0BOT / B0BOT / A0MLOPS).
 */

/** Exactly this: Bolt only form-parses this value, and `;charset=UTF-8` gets a 400. */
export const FORM_CONTENT_TYPE = 'application/x-www-form-urlencoded';

export interface SlackSignatureHeaders {
  'x-slack-signature': string;
  'x-slack-request-timestamp': string;
  'content-type': string;
}

const DEFAULTS = {
  teamId: 'T0FAKE',
  teamDomain: 'fake',
  apiAppId: 'A0MLOPS',
  verificationToken: 'deprecated-verification-token',
  userId: 'U0DS1',
  userName: 'data.scientist',
  channelId: 'C0TRAIN',
  channelName: 'ml-training',
  botUserId: 'U0BOT',
  botId: 'B0BOT',
} as const;

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** Slack's ts format: seconds and 6 digits of microseconds. */
const actionTs = (): string => (Date.now() / 1000).toFixed(6);

/** Looks like a real trigger_id: `<digits>.<digits>.<32 hex>`. */
export function fakeTriggerId(): string {
  return `${randomInt(1e9, 1e10)}.${randomInt(1e10, 1e11)}.${randomBytes(16).toString('hex')}`;
}

const responseUrl = (kind: 'commands' | 'actions', teamId: string): string =>
  `https://hooks.slack.com/${kind}/${teamId}/${randomInt(1e11, 1e12)}/${randomBytes(12).toString('base64url')}`;

/** HMAC-SHA256 of `v0:<timestamp>:<body>` keyed with the signing secret, as Slack signs every request. */
export function signSlackBody(secret: string, body: string, timestampSeconds: number = nowSeconds(), contentType: string = FORM_CONTENT_TYPE): SlackSignatureHeaders {
  const signature = createHmac('sha256', secret).update(`v0:${timestampSeconds}:${body}`).digest('hex');
  return {
    'x-slack-signature': `v0=${signature}`,
    'x-slack-request-timestamp': String(timestampSeconds),
    'content-type': contentType,
  };
}

export interface SlashCommandOptions {
  text?: string;
  userId?: string;
  userName?: string;
  channelId?: string;
  channelName?: string;
  teamId?: string;
  teamDomain?: string;
  enterpriseId?: string;
  enterpriseName?: string;
  command?: string;
  apiAppId?: string;
  token?: string;
  isEnterpriseInstall?: boolean;
  responseUrl?: string;
  triggerId?: string;
}

/** A slash command body: form-encoded, every field Slack sends, in Slack's order. */
export function slashCommandBody(options: SlashCommandOptions = {}): string {
  const teamId = options.teamId ?? DEFAULTS.teamId;
  const form = new URLSearchParams();
  form.set('token', options.token ?? DEFAULTS.verificationToken);
  form.set('team_id', teamId);
  form.set('team_domain', options.teamDomain ?? DEFAULTS.teamDomain);
  if (options.enterpriseId !== undefined) form.set('enterprise_id', options.enterpriseId);
  if (options.enterpriseName !== undefined) form.set('enterprise_name', options.enterpriseName);
  form.set('channel_id', options.channelId ?? DEFAULTS.channelId);
  form.set('channel_name', options.channelName ?? DEFAULTS.channelName);
  form.set('user_id', options.userId ?? DEFAULTS.userId);
  form.set('user_name', options.userName ?? DEFAULTS.userName);
  form.set('command', options.command ?? '/mlops');
  form.set('text', options.text ?? '');
  form.set('api_app_id', options.apiAppId ?? DEFAULTS.apiAppId);
  form.set('is_enterprise_install', String(options.isEnterpriseInstall ?? false));
  form.set('response_url', options.responseUrl ?? responseUrl('commands', teamId));
  form.set('trigger_id', options.triggerId ?? fakeTriggerId());
  return form.toString();
}

/** The message a button was clicked in; a `FakeMessage` from FakeSlackApi fits. */
export interface ClickedMessage {
  ts: string;
  text?: string;
  blocks?: readonly unknown[];
  threadTs?: string;
  user?: string;
  botId?: string;
}

export interface BlockActionsOptions {
  actionId: string;
  /** Required unless `message` is given. */
  messageTs?: string;
  /** The clicked message; its blocks supply block_id, button text and value unless given here. */
  message?: ClickedMessage;
  value?: string;
  blockId?: string;
  buttonText?: string;
  style?: 'primary' | 'danger';
  userId?: string;
  userName?: string;
  channelId?: string;
  channelName?: string;
  teamId?: string;
  teamDomain?: string;
  apiAppId?: string;
  token?: string;
  triggerId?: string;
  responseUrl?: string;
  actionTs?: string;
  isEphemeral?: boolean;
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Finds the interactive element with `actionId` in message blocks, and the block holding it. */
function findElement(blocks: readonly unknown[] | undefined, actionId: string): { blockId?: string; element: Record<string, unknown> } | undefined {
  for (const block of blocks ?? []) {
    if (!isRecord(block)) continue;
    const candidates: unknown[] = [...(Array.isArray(block.elements) ? (block.elements as unknown[]) : []), block.accessory, block.element];
    const element = candidates.find((candidate): candidate is Record<string, unknown> => isRecord(candidate) && candidate.action_id === actionId);
    if (element) return { ...(typeof block.block_id === 'string' ? { blockId: block.block_id } : {}), element };
  }
  return undefined;
}

/** A block_actions payload for a button clicked in a channel message, as Slack builds it. */
export function blockActionsPayload(options: BlockActionsOptions): Record<string, unknown> {
  const messageTs = options.message?.ts ?? options.messageTs;
  if (messageTs === undefined) throw new Error('blockActionsPayload needs messageTs or message');
  const teamId = options.teamId ?? DEFAULTS.teamId;
  const channelId = options.channelId ?? DEFAULTS.channelId;
  const userName = options.userName ?? 'someone';
  const found = findElement(options.message?.blocks, options.actionId);
  const label = options.buttonText ?? (isRecord(found?.element.text) && typeof found.element.text.text === 'string' ? found.element.text.text : 'Button');
  const value = options.value ?? (typeof found?.element.value === 'string' ? found.element.value : undefined);
  const style = options.style ?? (found?.element.style === 'primary' || found?.element.style === 'danger' ? found.element.style : undefined);
  const threadTs = options.message?.threadTs;
  return {
    type: 'block_actions',
    user: { id: options.userId ?? DEFAULTS.userId, username: userName, name: userName, team_id: teamId },
    api_app_id: options.apiAppId ?? DEFAULTS.apiAppId,
    token: options.token ?? DEFAULTS.verificationToken,
    container: {
      type: 'message',
      message_ts: messageTs,
      channel_id: channelId,
      is_ephemeral: options.isEphemeral ?? false,
      ...(threadTs ? { thread_ts: threadTs } : {}),
    },
    trigger_id: options.triggerId ?? fakeTriggerId(),
    team: { id: teamId, domain: options.teamDomain ?? DEFAULTS.teamDomain },
    enterprise: null,
    is_enterprise_install: false,
    channel: { id: channelId, name: options.channelName ?? DEFAULTS.channelName },
    message: {
      user: options.message?.user ?? DEFAULTS.botUserId,
      type: 'message',
      ts: messageTs,
      bot_id: options.message?.botId ?? DEFAULTS.botId,
      app_id: options.apiAppId ?? DEFAULTS.apiAppId,
      text: options.message?.text ?? '',
      team: teamId,
      ...(threadTs ? { thread_ts: threadTs } : {}),
      blocks: options.message?.blocks ?? [],
    },
    state: { values: {} },
    response_url: options.responseUrl ?? responseUrl('actions', teamId),
    actions: [
      {
        type: 'button',
        action_id: options.actionId,
        block_id: options.blockId ?? found?.blockId ?? 'actions',
        text: { type: 'plain_text', text: label, emoji: true },
        ...(value === undefined ? {} : { value }),
        ...(style === undefined ? {} : { style }),
        action_ts: options.actionTs ?? actionTs(),
      },
    ],
  };
}

/** Interactivity bodies are a single form field `payload` holding the JSON. */
export function encodeInteractionPayload(payload: unknown): string {
  return `payload=${encodeURIComponent(JSON.stringify(payload))}`;
}

export function blockActionsBody(options: BlockActionsOptions): string {
  return encodeInteractionPayload(blockActionsPayload(options));
}

export interface ViewSubmissionOptions {
  callbackId: string;
  /** `state.values`: block_id → action_id → element state, e.g. `{ type: 'plain_text_input', value: 'x' }`. */
  values?: Record<string, Record<string, unknown>>;
  privateMetadata?: string;
  viewId?: string;
  hash?: string;
  title?: string;
  blocks?: readonly unknown[];
  externalId?: string;
  responseUrls?: readonly unknown[];
  userId?: string;
  userName?: string;
  teamId?: string;
  teamDomain?: string;
  apiAppId?: string;
  token?: string;
  triggerId?: string;
}

/** A view_submission payload for a modal, as Slack builds it. */
export function viewSubmissionPayload(options: ViewSubmissionOptions): Record<string, unknown> {
  const teamId = options.teamId ?? DEFAULTS.teamId;
  const userName = options.userName ?? 'someone';
  const apiAppId = options.apiAppId ?? DEFAULTS.apiAppId;
  const viewId = options.viewId ?? `V${randomBytes(5).toString('hex').toUpperCase()}`;
  return {
    type: 'view_submission',
    team: { id: teamId, domain: options.teamDomain ?? DEFAULTS.teamDomain },
    user: { id: options.userId ?? DEFAULTS.userId, username: userName, name: userName, team_id: teamId },
    api_app_id: apiAppId,
    token: options.token ?? DEFAULTS.verificationToken,
    trigger_id: options.triggerId ?? fakeTriggerId(),
    view: {
      id: viewId,
      team_id: teamId,
      type: 'modal',
      blocks: options.blocks ?? [],
      private_metadata: options.privateMetadata ?? '',
      callback_id: options.callbackId,
      state: { values: options.values ?? {} },
      hash: options.hash ?? `${nowSeconds()}.${randomBytes(4).toString('hex')}`,
      title: { type: 'plain_text', text: options.title ?? 'MLOps', emoji: true },
      clear_on_close: false,
      notify_on_close: false,
      close: null,
      submit: { type: 'plain_text', text: 'Submit', emoji: true },
      previous_view_id: null,
      root_view_id: viewId,
      app_id: apiAppId,
      external_id: options.externalId ?? '',
      app_installed_team_id: teamId,
      bot_id: DEFAULTS.botId,
    },
    response_urls: options.responseUrls ?? [],
    is_enterprise_install: false,
    enterprise: null,
  };
}

export function viewSubmissionBody(options: ViewSubmissionOptions): string {
  return encodeInteractionPayload(viewSubmissionPayload(options));
}

export interface PostSignedOptions {
  /** Signing time; default now. */
  timestampSeconds?: number;
  /** Default FORM_CONTENT_TYPE; use 'application/json' for Events API bodies. */
  contentType?: string;
  /** Replaces the computed signature, for hostile requests. */
  signature?: string;
  /** Extra or overriding headers (e.g. x-slack-retry-num). */
  headers?: Record<string, string>;
  timeoutMs?: number;
}

export interface SignedResponse {
  status: number;
  text: string;
  /** The body parsed as JSON, when it is JSON. */
  json?: unknown;
  /** Wall time until the whole body arrived. */
  ms: number;
  headers: Headers;
}

/** POSTs `body` signed with `secret` exactly as Slack would (string body, exact content type). */
export async function postSigned(url: string, secret: string, body: string, options: PostSignedOptions = {}): Promise<SignedResponse> {
  const signed = signSlackBody(secret, body, options.timestampSeconds, options.contentType);
  const headers: Record<string, string> = { ...signed, ...(options.signature === undefined ? {} : { 'x-slack-signature': options.signature }), ...options.headers };
  const started = performance.now();
  const response = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(options.timeoutMs ?? 10_000) });
  const text = await response.text();
  const ms = performance.now() - started;
  let json: unknown;
  try {
    json = text.length > 0 ? (JSON.parse(text) as unknown) : undefined;
  } catch {
    json = undefined;
  }
  return { status: response.status, text, ms, headers: response.headers, ...(json === undefined ? {} : { json }) };
}

/** An Events API body for `subteam_members_changed`, as Slack sends it when a user group's members change. */
export function subteamMembersChangedEvent(options: { subteamId: string; addedUsers: string[]; eventId: string; teamId?: string }): Record<string, unknown> {
  const teamId = options.teamId ?? DEFAULTS.teamId;
  return {
    token: 'deprecated',
    team_id: teamId,
    api_app_id: DEFAULTS.apiAppId,
    type: 'event_callback',
    event_id: options.eventId,
    event_time: Math.floor(Date.now() / 1000),
    event: { type: 'subteam_members_changed', subteam_id: options.subteamId, team_id: teamId, added_users: options.addedUsers, added_users_count: options.addedUsers.length, event_ts: String(Date.now() / 1000) },
  };
}
