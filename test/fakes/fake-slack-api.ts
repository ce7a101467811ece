import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { FakeSocketMode } from './fake-socket-mode.js';
import { SlackAppDelivery, type AppEndpoint } from './fake-slack-delivery.js';

/**
 * A local Slack Web API that speaks the real wire protocol, so the real `WebClient` (and Bolt) can be
 * pointed at it with `slackApiUrl: fake.url`. It keeps the state Slack would keep (messages, threads,
 * edits, views), enforces Slack's rate limits and Block Kit limits, and records every call.
 *
 * Behaviour follows docs.slack.dev as summarised in /work/shared/reference/slack.md:
 * - every method is `POST /api/<method>`, form-encoded (non-scalars as JSON strings) or JSON;
 * - `ok:false` platform errors come with HTTP 200, rate limits with HTTP 429 + `Retry-After` seconds;
 * - a call that is rate limited, refused or failed by injection changes nothing.
 */

export type JsonObject = Record<string, unknown>;

/** At most `limit` calls in any rolling window of `windowMs`. */
export interface RateWindow {
  limit: number;
  windowMs: number;
}

export interface FakeSlackLimits {
  /** chat.postMessage per channel. Default: 2 per 1000 ms, so a third post within a second gets 429. */
  postMessagePerChannel?: RateWindow | false;
  /** Per method, across the workspace; merged over the defaults. `false` lifts one method's limit. */
  methods?: Record<string, RateWindow | false>;
}

export interface FakeSlackUser {
  name?: string;
  realName?: string;
  email?: string;
  isBot?: boolean;
  deleted?: boolean;
}

export interface FakeSlackApiOptions {
  /** Tokens that authenticate. Default `['xoxb-test']`. */
  tokens?: readonly string[];
  /** App-level tokens, the only ones `apps.connections.open` (Socket Mode) accepts. Default `['xapp-1-A0MLOPS-test']`. */
  appTokens?: readonly string[];
  /** Known channels, as IDs or as `{ id: name }`. When set, any other channel gets `channel_not_found`. */
  channels?: readonly string[] | Readonly<Record<string, string>>;
  /** User group ID → member user IDs, for `usergroups.users.list`. */
  usergroups?: Readonly<Record<string, readonly string[]>>;
  /** Users for `users.info`. When unset, any user ID resolves to a synthesized human user. */
  users?: Readonly<Record<string, FakeSlackUser>>;
  /** Rate limits, or `false` to turn them all off. */
  limits?: FakeSlackLimits | false;
  team?: { id?: string; name?: string; domain?: string };
  bot?: { userId?: string; botId?: string; appId?: string; name?: string };
  /** Clock in ms, used for ts values, rate windows and `at`. Default `Date.now`. */
  now?: () => number;
}

export interface FailureSpec {
  /** HTTP status to answer with (e.g. 500, 503, 429). Default 200 with `{ok:false,error}`. */
  status?: number;
  /** Platform error code for the body. Default `ratelimited` for 429, `internal_error` otherwise. */
  error?: string;
  /** How many consecutive calls fail. Default 1. */
  count?: number;
  /** Retry-After seconds on a 429 (default 1); `null` sends a 429 without the header. */
  retryAfter?: number | null;
}

export interface FakeSlackCall {
  method: string;
  /** Arguments as Slack parsed them: JSON fields (`blocks`, `metadata`, `view`...) as objects, the rest as sent. */
  args: JsonObject;
  token: string | undefined;
  /** Clock time (ms) the call was handled. */
  at: number;
  status: number;
  response: JsonObject;
  /** Set on 429 answers that carried `Retry-After`. */
  retryAfter?: number;
  /** True when the answer came from `failNext`. */
  injected: boolean;
}

export interface FakeMessageEdit {
  /** '' when the version had no text. */
  text: string;
  blocks: JsonObject[] | undefined;
  /** When this version was replaced. */
  at: number;
}

export interface FakeMessage {
  channel: string;
  ts: string;
  /** Set on thread replies: the root's ts. */
  threadTs: string | undefined;
  /** '' when the message has only blocks. */
  text: string;
  blocks: JsonObject[] | undefined;
  metadata: JsonObject | undefined;
  user: string;
  botId: string | undefined;
  replyBroadcast: boolean;
  /** Files shared by this message (files.completeUploadExternal), with their bytes. */
  files: FakeFile[];
  /** How many times chat.update changed it. */
  edits: number;
  /** Earlier versions, oldest first. */
  history: FakeMessageEdit[];
  /** Thread replies in order (always empty on replies themselves). */
  replies: FakeMessage[];
  postedAt: number;
  updatedAt: number | undefined;
}

/** A file uploaded with files.getUploadURLExternal + the upload URL + files.completeUploadExternal. */
export interface FakeFile {
  id: string;
  name: string;
  title: string | undefined;
  altText: string | undefined;
  /** Declared with getUploadURLExternal. */
  length: number;
  /** What was sent to the upload URL; undefined until then. */
  bytes: Buffer | undefined;
  /** Where completeUploadExternal shared it (undefined while private). */
  channel: string | undefined;
  threadTs: string | undefined;
  /** The ts of the message that shares it. */
  ts: string | undefined;
}

export interface FakeEphemeral {
  channel: string;
  user: string;
  ts: string;
  threadTs: string | undefined;
  text: string;
  blocks: JsonObject[] | undefined;
}

export interface FakeView {
  id: string;
  hash: string;
  externalId: string | undefined;
  triggerId: string | undefined;
  /** The view as last sent by the app (views.open, views.update or views.publish). */
  view: JsonObject;
  updates: number;
  /** Who sees it: the user whose trigger opened the modal, or whose Home tab it is. */
  user: string | undefined;
  /** What the user has entered so far, as `view.state.values` (block_id → action_id → element state). */
  values: Record<string, Record<string, JsonObject>>;
  /** Field errors from the app's last `response_action: errors`, by block_id. */
  errors: Record<string, string>;
}

interface StoredMessage {
  channel: string;
  ts: string;
  threadTs: string | undefined;
  text: string | undefined;
  blocks: JsonObject[] | undefined;
  metadata: JsonObject | undefined;
  user: string;
  botId: string | undefined;
  replyBroadcast: boolean;
  files?: string[];
  history: FakeMessageEdit[];
  replies: string[];
  postedAt: number;
  updatedAt: number | undefined;
}

interface ResolvedLimits {
  postMessagePerChannel: RateWindow | false;
  methods: Record<string, RateWindow | false>;
}

interface Answer {
  status: number;
  body: JsonObject;
  retryAfter?: number;
  injected: boolean;
}

type Handler = (args: JsonObject) => JsonObject;

const MINUTE = 60_000;
/** "Triggers expire in three seconds" (reference/slack.md, trigger_id). */
const TRIGGER_LIFETIME_MS = 3_000;
const TIER_2: RateWindow = { limit: 20, windowMs: MINUTE };
const TIER_3: RateWindow = { limit: 50, windowMs: MINUTE };
const TIER_4: RateWindow = { limit: 100, windowMs: MINUTE };

/** Slack's published tiers (docs.slack.dev rate-limits page and each method's page). */
export const DEFAULT_FAKE_SLACK_LIMITS = {
  postMessagePerChannel: { limit: 2, windowMs: 1_000 },
  methods: {
    // "Special": hundreds a minute.
    'auth.test': { limit: 600, windowMs: MINUTE },
    'chat.postMessage': { limit: 300, windowMs: MINUTE },
    'chat.update': TIER_3,
    'chat.postEphemeral': TIER_4,
    'usergroups.users.list': TIER_2,
    'users.info': TIER_4,
    'views.open': TIER_4,
    'views.update': TIER_4,
    'views.publish': TIER_4,
    'conversations.open': TIER_3,
    'conversations.info': TIER_3,
    'conversations.history': TIER_3,
    'conversations.replies': TIER_3,
    'files.getUploadURLExternal': TIER_4,
    'files.completeUploadExternal': TIER_4,
  },
} as const satisfies ResolvedLimits;

const DEFAULT_TOKEN = 'xoxb-test';
const DEFAULT_APP_TOKEN = 'xapp-1-A0MLOPS-test';
/** Fields Slack expects as JSON strings inside a form body. */
const JSON_FIELDS = new Set(['blocks', 'attachments', 'metadata', 'view', 'files']);
const MAX_TEXT = 40_000;
const MAX_UPDATE_TEXT = 4_000;
const MAX_MESSAGE_BLOCKS = 50;
const MAX_VIEW_BLOCKS = 100;
const BLOCK_TYPES = new Set([
  'actions',
  'context',
  'divider',
  'file',
  'header',
  'image',
  'input',
  'markdown',
  'rich_text',
  'section',
  'table',
  'video',
]);

const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);

const asString = (value: unknown): string | undefined => {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  return undefined;
};

const asBool = (value: unknown): boolean => value === true || value === 'true' || value === '1' || value === 1;

const charCount = (text: string): number => Array.from(text).length;

const fail = (error: string, messages?: string[]): JsonObject =>
  messages && messages.length > 0 ? { ok: false, error, errors: messages, response_metadata: { messages: messages.map((m) => `[ERROR] ${m}`) } } : { ok: false, error };

const readBody = (req: IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });

/** Parses a request the way Slack does; `error` is the platform error for an unreadable body. */
function parseArgs(contentType: string | undefined, raw: string, query: URLSearchParams): { args: JsonObject } | { error: string } {
  const args: JsonObject = Object.fromEntries(query.entries());
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (raw.length === 0) return { args };
  if (type === 'application/json') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      return { error: 'invalid_json' };
    }
    if (!isObject(parsed)) return { error: 'invalid_json' };
    return { args: { ...args, ...parsed } };
  }
  if (type === 'application/x-www-form-urlencoded') {
    for (const [key, value] of new URLSearchParams(raw)) {
      if (JSON_FIELDS.has(key)) {
        try {
          args[key] = JSON.parse(value) as unknown;
        } catch {
          // Left as the raw string; the method then answers with its format error.
          args[key] = value;
        }
      } else {
        args[key] = value;
      }
    }
    return { args };
  }
  return { error: type === '' ? 'missing_post_type' : 'invalid_post_type' };
}

// ---------------------------------------------------------------------------------------------------------
// Block Kit validation: the limits from @slack/types doc comments (slack.md §5). Each problem is reported the
// way Slack does: "<message> [json-pointer:/blocks/0/text/text]".

class Problems {
  readonly list: string[] = [];
  add(pointer: string, message: string): void {
    this.list.push(`${message} [json-pointer:${pointer}]`);
  }
}

interface TextRule {
  max: number;
  plainOnly?: boolean;
}

function checkText(value: unknown, at: string, rule: TextRule, problems: Problems): void {
  if (!isObject(value)) {
    problems.add(at, 'must be a text object');
    return;
  }
  if (value.type !== 'plain_text' && value.type !== 'mrkdwn') problems.add(`${at}/type`, 'must be plain_text or mrkdwn');
  else if (rule.plainOnly && value.type !== 'plain_text') problems.add(`${at}/type`, 'must be plain_text');
  if (typeof value.text !== 'string') problems.add(`${at}/text`, 'must be a string');
  else if (value.text.length === 0) problems.add(`${at}/text`, 'must be more than 0 characters');
  else if (charCount(value.text) > rule.max) problems.add(`${at}/text`, `must be less than ${rule.max + 1} characters`);
}

function checkMaxString(value: unknown, at: string, max: number, problems: Problems): void {
  if (value === undefined) return;
  if (typeof value !== 'string') problems.add(at, 'must be a string');
  else if (charCount(value) > max) problems.add(at, `must be less than ${max + 1} characters`);
}

function checkConfirm(value: unknown, at: string, problems: Problems): void {
  if (!isObject(value)) {
    problems.add(at, 'must be a confirm object');
    return;
  }
  checkText(value.title, `${at}/title`, { max: 100, plainOnly: true }, problems);
  checkText(value.text, `${at}/text`, { max: 300 }, problems);
  checkText(value.confirm, `${at}/confirm`, { max: 30, plainOnly: true }, problems);
  checkText(value.deny, `${at}/deny`, { max: 30, plainOnly: true }, problems);
  if (value.style !== undefined && value.style !== 'primary' && value.style !== 'danger') problems.add(`${at}/style`, 'must be primary or danger');
}

function checkElement(value: unknown, at: string, problems: Problems): void {
  if (!isObject(value) || typeof value.type !== 'string') {
    problems.add(at, 'must be an element object with a type');
    return;
  }
  checkMaxString(value.action_id, `${at}/action_id`, 255, problems);
  if (value.type === 'button') {
    checkText(value.text, `${at}/text`, { max: 75, plainOnly: true }, problems);
    checkMaxString(value.value, `${at}/value`, 2000, problems);
    checkMaxString(value.url, `${at}/url`, 3000, problems);
    checkMaxString(value.accessibility_label, `${at}/accessibility_label`, 75, problems);
    if (value.style !== undefined && value.style !== 'primary' && value.style !== 'danger') problems.add(`${at}/style`, 'must be primary or danger');
  }
  if (value.type === 'static_select' || value.type === 'external_select') {
    if (value.placeholder !== undefined) checkText(value.placeholder, `${at}/placeholder`, { max: 150, plainOnly: true }, problems);
    if (value.type === 'static_select') {
      const options = checkArray(value.options, `${at}/options`, 1, 100, problems);
      options?.forEach((option, i) => checkOption(option, `${at}/options/${i}`, problems));
    }
    if (value.initial_option !== undefined) checkOption(value.initial_option, `${at}/initial_option`, problems);
  }
  if (value.type === 'plain_text_input') {
    if (value.placeholder !== undefined) checkText(value.placeholder, `${at}/placeholder`, { max: 150, plainOnly: true }, problems);
    checkMaxString(value.initial_value, `${at}/initial_value`, 3000, problems);
  }
  if (value.confirm !== undefined) checkConfirm(value.confirm, `${at}/confirm`, problems);
}

/** An option object: text ≤ 75 characters, value ≤ 150 (@slack/types composition-objects Option). */
function checkOption(value: unknown, at: string, problems: Problems): void {
  if (!isObject(value)) {
    problems.add(at, 'must be an option object');
    return;
  }
  checkText(value.text, `${at}/text`, { max: 75 }, problems);
  if (typeof value.value !== 'string' || value.value.length === 0) problems.add(`${at}/value`, 'must be a string');
  else checkMaxString(value.value, `${at}/value`, 150, problems);
  if (value.description !== undefined) checkText(value.description, `${at}/description`, { max: 75, plainOnly: true }, problems);
}

/** Problems with the `options` an app answers a block_suggestion with (at most 100). */
export function optionsProblems(value: unknown): string[] {
  const problems = new Problems();
  checkArray(value, '/options', 0, 100, problems)?.forEach((option, i) => checkOption(option, `/options/${i}`, problems));
  return problems.list;
}

function checkArray(value: unknown, at: string, min: number, max: number, problems: Problems): unknown[] | undefined {
  if (!Array.isArray(value)) {
    problems.add(at, 'must be an array');
    return undefined;
  }
  const items: unknown[] = value;
  if (items.length < min) problems.add(at, `must provide at least ${min} items`);
  if (items.length > max) problems.add(at, `must provide no more than ${max} items`);
  return items;
}

function checkBlock(block: JsonObject, at: string, problems: Problems): void {
  switch (block.type) {
    case 'header':
      checkText(block.text, `${at}/text`, { max: 150, plainOnly: true }, problems);
      break;
    case 'section':
      if (block.text === undefined && block.fields === undefined) problems.add(at, 'must provide text or fields');
      if (block.text !== undefined) checkText(block.text, `${at}/text`, { max: 3000 }, problems);
      if (block.fields !== undefined) {
        const fields = checkArray(block.fields, `${at}/fields`, 1, 10, problems);
        fields?.forEach((field, i) => checkText(field, `${at}/fields/${i}`, { max: 2000 }, problems));
      }
      if (block.accessory !== undefined) checkElement(block.accessory, `${at}/accessory`, problems);
      break;
    case 'actions': {
      const elements = checkArray(block.elements, `${at}/elements`, 1, 25, problems);
      const actionIds = new Set<string>();
      elements?.forEach((element, i) => {
        checkElement(element, `${at}/elements/${i}`, problems);
        if (isObject(element) && typeof element.action_id === 'string') {
          if (actionIds.has(element.action_id)) problems.add(`${at}/elements/${i}/action_id`, 'duplicate action_id in block');
          actionIds.add(element.action_id);
        }
      });
      break;
    }
    case 'context': {
      const elements = checkArray(block.elements, `${at}/elements`, 1, 10, problems);
      elements?.forEach((element, i) => {
        if (isObject(element) && element.type === 'image') return;
        checkText(element, `${at}/elements/${i}`, { max: 3000 }, problems);
      });
      break;
    }
    case 'input':
      checkText(block.label, `${at}/label`, { max: 2000, plainOnly: true }, problems);
      checkElement(block.element, `${at}/element`, problems);
      break;
    default:
      break;
  }
}

/** Problems with a `blocks` argument; empty when valid. */
export function blockKitProblems(value: unknown, maxBlocks = MAX_MESSAGE_BLOCKS, base = '/blocks'): string[] {
  const problems = new Problems();
  const blocks = checkArray(value, base, 0, maxBlocks, problems);
  const blockIds = new Set<string>();
  blocks?.forEach((block, i) => {
    const at = `${base}/${i}`;
    if (!isObject(block)) return problems.add(at, 'must be an object');
    if (typeof block.type !== 'string') return problems.add(`${at}/type`, 'missing required field: type');
    if (!BLOCK_TYPES.has(block.type)) return problems.add(`${at}/type`, `unsupported block type: ${block.type}`);
    if (block.block_id !== undefined) {
      if (typeof block.block_id !== 'string' || block.block_id.length === 0 || block.block_id.length > 255) {
        problems.add(`${at}/block_id`, 'must be a string of 1 to 255 characters');
      } else if (blockIds.has(block.block_id)) {
        problems.add(`${at}/block_id`, 'duplicate block_id');
      } else {
        blockIds.add(block.block_id);
      }
    }
    checkBlock(block, at, problems);
  });
  return problems.list;
}

function viewProblems(view: JsonObject): string[] {
  const problems = new Problems();
  if (view.type !== 'modal' && view.type !== 'home') problems.add('/view/type', 'must be modal or home');
  if (view.type === 'modal') {
    checkText(view.title, '/view/title', { max: 24, plainOnly: true }, problems);
    if (view.submit !== undefined) checkText(view.submit, '/view/submit', { max: 24, plainOnly: true }, problems);
    if (view.close !== undefined) checkText(view.close, '/view/close', { max: 24, plainOnly: true }, problems);
  }
  checkMaxString(view.callback_id, '/view/callback_id', 255, problems);
  checkMaxString(view.private_metadata, '/view/private_metadata', 3000, problems);
  return [...problems.list, ...blockKitProblems(view.blocks, MAX_VIEW_BLOCKS, '/view/blocks')];
}

// ---------------------------------------------------------------------------------------------------------

export class FakeSlackApi {
  private readonly server: Server;
  private readonly events = new EventEmitter();
  private readonly now: () => number;
  private readonly tokens: Set<string>;
  private readonly appTokens: Set<string>;
  /** Socket Mode: connections opened through `apps.connections.open`, and envelopes delivered on them. */
  readonly socketMode: FakeSocketMode;
  private readonly channels: Map<string, string> | undefined;
  private readonly usergroups: Map<string, string[]>;
  private readonly users: Map<string, FakeSlackUser> | undefined;
  private readonly team: { id: string; name: string; domain: string };
  private readonly bot: { userId: string; botId: string; appId: string; name: string };
  private readonly handlers: Map<string, Handler>;
  private limits: ResolvedLimits | false;

  private recorded: FakeSlackCall[] = [];
  private stored = new Map<string, StoredMessage>();
  private order: string[] = [];
  private ephemeralMessages: FakeEphemeral[] = [];
  private uploads = new Map<string, FakeFile & { uploadToken: string }>();
  private openViews = new Map<string, FakeView>();
  private usedTriggers = new Set<string>();
  /** trigger_id → when it was issued (fake clock) and for whom; Slack honours one for 3 seconds, once. */
  private issuedTriggers = new Map<string, { at: number; user: string | undefined }>();
  /** Home tabs by user ID (views.publish). */
  private homes = new Map<string, FakeView>();
  /** Direct message channels (conversations.open) by user ID. */
  private ims = new Map<string, string>();
  private triggerCounter = 0;
  /** Delivers interactions and events to the app, signed over HTTP or over Socket Mode. */
  readonly app: SlackAppDelivery;
  private windows = new Map<string, number[]>();
  private failures = new Map<string, Array<{ spec: FailureSpec; remaining: number }>>();
  private holds: Array<{ method: string; match: (args: JsonObject) => boolean; arrived: (call: FakeSlackCall) => void; released: Promise<void> }> = [];
  private outages: Array<{ methods: ReadonlySet<string> | '*'; spec: FailureSpec; until: number }> = [];
  private lastMicros = 0;
  private viewCounter = 0;
  private port = 0;
  private stopped = false;

  private constructor(options: FakeSlackApiOptions) {
    this.now = options.now ?? Date.now;
    this.tokens = new Set(options.tokens ?? [DEFAULT_TOKEN]);
    this.appTokens = new Set(options.appTokens ?? [DEFAULT_APP_TOKEN]);
    this.channels = options.channels === undefined ? undefined : FakeSlackApi.channelMap(options.channels);
    this.usergroups = new Map(Object.entries(options.usergroups ?? {}).map(([id, members]) => [id, [...members]]));
    this.users = options.users === undefined ? undefined : new Map(Object.entries(options.users));
    this.team = { id: 'T0FAKE', name: 'Fake Workspace', domain: 'fake-workspace', ...options.team };
    this.bot = { userId: 'U0BOT', botId: 'B0BOT', appId: 'A0MLOPS', name: 'mlops-bot', ...options.bot };
    this.limits = FakeSlackApi.resolveLimits(options.limits);
    this.handlers = new Map<string, Handler>([
      ['auth.test', () => this.authTest()],
      ['chat.postMessage', (args) => this.postMessage(args)],
      ['chat.update', (args) => this.update(args)],
      ['chat.postEphemeral', (args) => this.postEphemeral(args)],
      ['usergroups.users.list', (args) => this.usergroupUsers(args)],
      ['users.info', (args) => this.userInfo(args)],
      ['conversations.info', (args) => this.conversationInfo(args)],
      ['conversations.history', (args) => this.conversationHistory(args)],
      ['conversations.replies', (args) => this.conversationReplies(args)],
      ['views.open', (args) => this.viewsOpen(args)],
      ['views.update', (args) => this.viewsUpdate(args)],
      ['views.publish', (args) => this.viewsPublish(args)],
      ['conversations.open', (args) => this.conversationOpen(args)],
      ['files.getUploadURLExternal', (args) => this.getUploadUrl(args)],
      ['files.completeUploadExternal', (args) => this.completeUpload(args)],
      ['apps.connections.open', () => this.socketMode.open()],
    ]);
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`fake slack failed: ${error instanceof Error ? error.message : String(error)}`);
      });
    });
    this.socketMode = new FakeSocketMode(this.server, () => this.url, this.bot.appId);
    this.app = new SlackAppDelivery(this.internals());
  }

  /** Starts a server on 127.0.0.1 with an ephemeral port. */
  static async start(options: FakeSlackApiOptions = {}): Promise<FakeSlackApi> {
    const api = new FakeSlackApi(options);
    await new Promise<void>((resolve, reject) => {
      api.server.once('error', reject);
      api.server.listen(0, '127.0.0.1', () => {
        api.server.off('error', reject);
        const address = api.server.address();
        api.port = typeof address === 'object' && address !== null ? address.port : 0;
        resolve();
      });
    });
    return api;
  }

  /** Base URL to pass as `slackApiUrl`, e.g. `http://127.0.0.1:PORT/api/`. */
  get url(): string {
    return `http://127.0.0.1:${this.port}/api/`;
  }

  /** The identity auth.test reports, for assertions and for Bolt's `botId` / `botUserId`. */
  get identity(): { teamId: string; teamDomain: string; botUserId: string; botId: string; appId: string } {
    return { teamId: this.team.id, teamDomain: this.team.domain, botUserId: this.bot.userId, botId: this.bot.botId, appId: this.bot.appId };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.socketMode.close();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    // Keep-alive sockets from fetch would otherwise hold close() open for seconds.
    this.server.closeAllConnections();
    await closed;
  }

  // -- failure injection and configuration -----------------------------------------------------------------

  /**
   * Answers the next `count` calls to `method` (or to any method with `'*'`) with an HTTP status or a
   * platform error instead of handling them. They are recorded but change nothing. Queued in call order.
   */
  failNext(method: string, spec: FailureSpec = {}): void {
    const queue = this.failures.get(method) ?? [];
    queue.push({ spec, remaining: spec.count ?? 1 });
    this.failures.set(method, queue);
  }

  /**
   * An outage: every call to one of `methods` (or to any method with `'*'`) is answered with `spec` (an
   * HTTP 5xx, or 429 with Retry-After) for `durationMs` from now, on the fake's clock. Nothing changes.
   */
  failFor(methods: readonly string[] | '*', spec: Omit<FailureSpec, 'count'>, durationMs: number): void {
    this.outages.push({ methods: methods === '*' ? '*' : new Set(methods), spec, until: this.now() + durationMs });
  }

  /**
   * The next call to `method` whose arguments satisfy `match` is handled (its effect happens) but its
   * answer is held back until `release()`: the moment to kill the caller, which then never learns that
   * Slack did what it asked. `arrived` resolves with the call once it is handled.
   */
  holdNext(method: string, match: (args: JsonObject) => boolean = () => true): { arrived: Promise<FakeSlackCall>; release: () => void } {
    let release = (): void => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    let arrived = (_call: FakeSlackCall): void => undefined;
    const arrival = new Promise<FakeSlackCall>((resolve) => (arrived = resolve));
    this.holds.push({ method, match, arrived, released });
    return { arrived: arrival, release };
  }

  /** Replaces the rate limits (same shape as the `limits` start option). Current windows are kept. */
  setLimits(limits: FakeSlackLimits | false): void {
    this.limits = FakeSlackApi.resolveLimits(limits);
  }

  setUsergroup(id: string, members: readonly string[]): void {
    this.usergroups.set(id, [...members]);
  }

  /** Adds a message a human wrote, e.g. to thread under it or to check `cant_update_message`. */
  seedMessage(message: { channel: string; text: string; user: string; threadTs?: string }): FakeMessage {
    const stored = this.store({
      channel: message.channel,
      threadTs: message.threadTs,
      text: message.text,
      blocks: undefined,
      metadata: undefined,
      user: message.user,
      botId: undefined,
      replyBroadcast: false,
    });
    this.changed();
    return this.snapshot(stored);
  }

  /** Forgets every call, message, view, rate window and pending failure; configuration stays. */
  reset(): void {
    this.recorded = [];
    this.stored = new Map();
    this.order = [];
    this.ephemeralMessages = [];
    this.uploads = new Map();
    this.openViews = new Map();
    this.usedTriggers = new Set();
    this.issuedTriggers = new Map();
    this.homes = new Map();
    this.ims = new Map();
    this.windows = new Map();
    this.failures = new Map();
    this.outages = [];
    this.changed();
  }

  // -- inspection ------------------------------------------------------------------------------------------

  calls(method?: string): FakeSlackCall[] {
    return this.recorded.filter((call) => method === undefined || call.method === method).map((call) => structuredClone(call));
  }

  /** Calls that took effect (answered `ok: true`), e.g. to check which messages were really updated. */
  effective(method?: string): FakeSlackCall[] {
    return this.calls(method).filter((call) => call.response.ok === true);
  }

  /** How many 429 answers were sent (including injected ones). */
  rateLimitedCount(method?: string): number {
    return this.recorded.filter((call) => call.status === 429 && (method === undefined || call.method === method)).length;
  }

  /** Root messages (not thread replies) in posting order, with their current state and replies. */
  messages(channel?: string): FakeMessage[] {
    return this.order
      .map((key) => this.stored.get(key))
      .filter((m): m is StoredMessage => m !== undefined && m.threadTs === undefined && (channel === undefined || m.channel === channel))
      .map((m) => this.snapshot(m));
  }

  /** Any message (root or reply) by channel and ts. */
  message(channel: string, ts: string): FakeMessage | undefined {
    const stored = this.stored.get(FakeSlackApi.key(channel, ts));
    return stored ? this.snapshot(stored) : undefined;
  }

  /** Replies under the root `ts`, in order; empty when there are none. */
  thread(channel: string, ts: string): FakeMessage[] {
    return this.message(channel, ts)?.replies ?? [];
  }

  ephemerals(channel?: string): FakeEphemeral[] {
    return this.ephemeralMessages.filter((m) => channel === undefined || m.channel === channel).map((m) => structuredClone(m));
  }

  /** Every file an upload was started for, oldest first, with its bytes once uploaded. */
  files(): FakeFile[] {
    return [...this.uploads.values()].map(({ uploadToken: _token, ...file }) => ({ ...file, bytes: file.bytes ? Buffer.from(file.bytes) : undefined }));
  }

  /**
   * A trigger_id as Slack puts in an interaction payload, issued `ageMs` ago: views.open answers
   * `expired_trigger_id` once it is more than 3 s old.
   */
  issueTrigger(ageMs = 0): string {
    const id = this.triggerId();
    this.issuedTriggers.set(id, { at: this.now() - ageMs, user: undefined });
    return id;
  }

  /** Closes a modal, as Slack does when the app acknowledges its submission without a response_action. */
  closeView(viewId: string): void {
    if (this.openViews.delete(viewId)) this.changed();
  }

  /** Open modals. */
  views(): FakeView[] {
    return [...this.openViews.values()].map((v) => structuredClone(v));
  }

  /** A user's Home tab as last published, if ever. */
  home(user: string): FakeView | undefined {
    const view = this.homes.get(user);
    return view ? structuredClone(view) : undefined;
  }

  /** The direct message channel conversations.open gave for a user, if any. */
  imChannel(user: string): string | undefined {
    return this.ims.get(user);
  }

  /** Messages the bot sent a user in their direct message channel, oldest first. */
  directMessages(user: string): FakeMessage[] {
    const channel = this.ims.get(user);
    return channel ? this.messages(channel) : [];
  }

  /**
   * A trigger_id as Slack puts in a slash command, button click, shortcut or view submission: good for one
   * views.open within 3 seconds (on this fake's clock).
   */
  triggerId(user?: string): string {
    this.triggerCounter += 1;
    const id = `${this.triggerCounter}${String(this.now()).slice(-6)}.${this.team.id.length}${this.triggerCounter}.${Math.random().toString(16).slice(2).padEnd(32, '0').slice(0, 32)}`;
    this.issuedTriggers.set(id, { at: this.now(), user });
    return id;
  }

  /** What SlackAppDelivery needs from the workspace's state. */
  private internals() {
    return {
      team: () => this.team,
      bot: () => this.bot,
      now: () => this.now(),
      triggerId: (user: string) => this.triggerId(user),
      view: (id: string) => this.openViews.get(id) ?? [...this.homes.values()].find((home) => home.id === id),
      home: (user: string) => this.homes.get(user),
      imChannel: (user: string) => this.openIm(user),
      closeView: (id: string) => {
        this.openViews.delete(id);
        this.changed();
      },
      closeViewsOf: (user: string) => {
        for (const [id, view] of this.openViews) if (view.user === user) this.openViews.delete(id);
        this.changed();
      },
      replaceView: (id: string, view: JsonObject): string[] => {
        const stored = this.openViews.get(id);
        if (!stored) return ['view is closed'];
        const problems = viewProblems(view);
        if (problems.length > 0) return problems;
        stored.view = view;
        stored.hash = this.hash();
        stored.updates += 1;
        stored.errors = {};
        stored.values = {};
        this.changed();
        return [];
      },
      changed: () => this.changed(),
      wire: (view: FakeView) => this.wireView(view),
      optionsProblems,
      socketMode: this.socketMode,
    };
  }

  /** Where the app receives Slack's requests: its Request URL and signing secret, or Socket Mode. */
  connectApp(endpoint: AppEndpoint): void {
    this.app.connect(endpoint);
  }

  /**
   * Resolves with the first truthy value `predicate` returns, checking after every call and every 20 ms.
   * A throwing predicate counts as "not yet". On timeout it rejects with the recent calls and messages.
   */
  waitFor<T>(predicate: (api: FakeSlackApi) => T | undefined | null | false, timeoutMs = 5_000, description = 'condition'): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let lastError: unknown;
      const check = (): boolean => {
        try {
          const value = predicate(this);
          if (value !== undefined && value !== null && value !== false) {
            cleanup();
            resolve(value);
            return true;
          }
        } catch (error) {
          lastError = error;
        }
        return false;
      };
      const onChange = () => void check();
      const interval = setInterval(onChange, 20);
      const timer = setTimeout(() => {
        if (check()) return;
        cleanup();
        const cause = lastError instanceof Error ? `\nlast predicate error: ${lastError.message}` : '';
        reject(new Error(`FakeSlackApi.waitFor timed out after ${timeoutMs} ms waiting for ${description}${cause}\n${this.describe()}`));
      }, timeoutMs);
      const cleanup = () => {
        clearInterval(interval);
        clearTimeout(timer);
        this.events.off('change', onChange);
      };
      this.events.on('change', onChange);
      check();
    });
  }

  /** Calls `listener` after every call handled (messages, edits, ephemerals, views, the call log), e.g. to keep a live view; returns the unsubscribe. */
  onChange(listener: () => void): () => void {
    this.events.on('change', listener);
    return () => this.events.off('change', listener);
  }

  /** A short human-readable summary of recent calls and current messages, for failure messages. */
  describe(lastCalls = 15): string {
    const calls = this.recorded.slice(-lastCalls).map((call) => {
      const outcome = call.response.ok === true ? 'ok' : String(call.response.error);
      const target = [asString(call.args.channel), asString(call.args.ts) ?? asString(call.args.thread_ts)].filter(Boolean).join(' ');
      return `  ${call.method} ${target} -> ${call.status} ${outcome}`;
    });
    const messages = this.messages().map((m) => {
      const text = m.text.replace(/\s+/g, ' ').slice(0, 80);
      return `  ${m.channel} ${m.ts} edits=${m.edits} replies=${m.replies.length} blocks=${m.blocks?.length ?? 0} "${text}"`;
    });
    return [
      `calls (${this.recorded.length}, last ${calls.length}):`,
      ...(calls.length > 0 ? calls : ['  (none)']),
      `root messages (${messages.length}):`,
      ...(messages.length > 0 ? messages : ['  (none)']),
    ].join('\n');
  }

  // -- protocol --------------------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake.slack');
    if (url.pathname.startsWith('/upload/v1/')) {
      await this.receiveUpload(req, res, url.pathname.slice('/upload/v1/'.length));
      return;
    }
    if (!url.pathname.startsWith('/api/') || url.pathname.length <= '/api/'.length) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    if (req.method !== 'POST' && req.method !== 'GET') {
      res.writeHead(405, { 'content-type': 'text/plain', allow: 'POST' }).end('method not allowed');
      return;
    }
    const method = decodeURIComponent(url.pathname.slice('/api/'.length));
    const raw = await readBody(req);
    const parsed = parseArgs(req.headers['content-type'], raw, url.searchParams);
    const args = 'args' in parsed ? parsed.args : {};
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const token = bearer ?? asString(args.token);
    delete args.token;

    const answer = 'error' in parsed ? this.platform(fail(parsed.error)) : this.answer(method, args, token);
    const call: FakeSlackCall = {
      method,
      args,
      token,
      at: this.now(),
      status: answer.status,
      response: answer.body,
      injected: answer.injected,
      ...(answer.retryAfter !== undefined ? { retryAfter: answer.retryAfter } : {}),
    };
    this.recorded.push(call);
    this.changed();

    const hold = this.holds.findIndex((candidate) => candidate.method === method && answer.body.ok === true && candidate.match(args));
    if (hold >= 0) {
      const [held] = this.holds.splice(hold, 1);
      held?.arrived(structuredClone(call));
      await held?.released;
    }
    if (res.destroyed) return;
    const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8' };
    if (answer.retryAfter !== undefined) headers['retry-after'] = String(answer.retryAfter);
    res.writeHead(answer.status, headers).end(JSON.stringify(answer.body));
  }

  private answer(method: string, args: JsonObject, token: string | undefined): Answer {
    const handler = this.handlers.get(method);
    if (!handler) return this.platform(fail('unknown_method'));
    const injected = this.takeFailure(method);
    if (injected) return injected;
    if (token === undefined || token === '') return this.platform(fail('not_authed'));
    // apps.connections.open takes only an app-level token, and an app-level token nothing else.
    const appLevel = method === 'apps.connections.open';
    if ((appLevel ? this.tokens : this.appTokens).has(token)) return this.platform(fail('not_allowed_token_type'));
    if (!(appLevel ? this.appTokens : this.tokens).has(token)) return this.platform(fail('invalid_auth'));
    const retryAfter = this.consumeRate(method, args);
    if (retryAfter !== undefined) return { status: 429, body: fail('ratelimited'), retryAfter, injected: false };
    const body = handler(args);
    if (method === 'chat.postMessage' && body.ok === true) this.countChannelPost(asString(body.channel) ?? '');
    return this.platform(body);
  }

  private platform(body: JsonObject): Answer {
    return { status: 200, body, injected: false };
  }

  private takeFailure(method: string): Answer | undefined {
    const now = this.now();
    this.outages = this.outages.filter((outage) => outage.until > now);
    const outage = this.outages.find(({ methods }) => methods === '*' || methods.has(method));
    if (outage) return FakeSlackApi.failure(outage.spec);
    for (const key of [method, '*']) {
      const queue = this.failures.get(key);
      const next = queue?.[0];
      if (!queue || !next) continue;
      next.remaining -= 1;
      if (next.remaining <= 0) queue.shift();
      return FakeSlackApi.failure(next.spec);
    }
    return undefined;
  }

  private static failure(spec: FailureSpec): Answer {
    const status = spec.status ?? 200;
    const body = fail(spec.error ?? (status === 429 ? 'ratelimited' : 'internal_error'));
    if (status === 429 && spec.retryAfter !== null) {
      return { status, body, retryAfter: Math.max(0, Math.ceil(spec.retryAfter ?? 1)), injected: true };
    }
    return { status, body, injected: true };
  }

  /**
   * Checks every window the call falls under; on refusal returns Retry-After seconds and counts nothing.
   * The method tier counts every authenticated request, as Slack's tiers do; the per-channel window of
   * chat.postMessage counts only messages really posted (see countChannelPost).
   */
  private consumeRate(method: string, args: JsonObject): number | undefined {
    const limits = this.limits;
    if (limits === false) return undefined;
    const buckets: Array<{ key: string; window: RateWindow }> = [];
    const methodWindow = limits.methods[method];
    if (methodWindow) buckets.push({ key: method, window: methodWindow });
    if (method === 'chat.postMessage' && limits.postMessagePerChannel) {
      buckets.push({ key: FakeSlackApi.channelBucket(asString(args.channel) ?? ''), window: limits.postMessagePerChannel });
    }
    const now = this.now();
    let retryAfterMs = 0;
    for (const { key, window } of buckets) {
      const hits = (this.windows.get(key) ?? []).filter((at) => at > now - window.windowMs);
      this.windows.set(key, hits);
      if (hits.length >= window.limit) {
        // The window frees when the hit that makes it full ages out.
        const freeing = hits[hits.length - window.limit] ?? now;
        retryAfterMs = Math.max(retryAfterMs, freeing + window.windowMs - now, 1);
      }
    }
    if (retryAfterMs > 0) return Math.max(1, Math.ceil(retryAfterMs / 1000));
    if (methodWindow) this.windows.get(method)?.push(now);
    return undefined;
  }

  private countChannelPost(channel: string): void {
    const key = FakeSlackApi.channelBucket(channel);
    this.windows.set(key, [...(this.windows.get(key) ?? []), this.now()]);
  }

  // -- methods ---------------------------------------------------------------------------------------------

  private authTest(): JsonObject {
    return {
      ok: true,
      url: `https://${this.team.domain}.slack.com/`,
      team: this.team.name,
      user: this.bot.name,
      team_id: this.team.id,
      user_id: this.bot.userId,
      bot_id: this.bot.botId,
      is_enterprise_install: false,
    };
  }

  private postMessage(args: JsonObject): JsonObject {
    const channel = asString(args.channel);
    if (!channel || !this.knowsChannel(channel)) return fail('channel_not_found');
    const content = this.content(args, MAX_TEXT);
    if ('error' in content) return content.error;
    if (content.text === undefined || content.text === '') {
      if ((content.blocks?.length ?? 0) === 0 && args.attachments === undefined) return fail('no_text');
    }
    const metadata = this.metadata(args);
    if (metadata === null) return fail('invalid_metadata_format');
    let threadTs: string | undefined;
    const requestedThread = asString(args.thread_ts);
    if (requestedThread) {
      const parent = this.stored.get(FakeSlackApi.key(channel, requestedThread));
      if (!parent) return fail('thread_not_found');
      // Replying to a reply lands in the same thread, under its root.
      threadTs = parent.threadTs ?? parent.ts;
    }
    const stored = this.store({
      channel,
      threadTs,
      text: content.text,
      blocks: content.blocks?.length ? content.blocks : undefined,
      metadata,
      user: this.bot.userId,
      botId: this.bot.botId,
      replyBroadcast: threadTs !== undefined && asBool(args.reply_broadcast),
    });
    return { ok: true, channel, ts: stored.ts, message: this.wire(stored) };
  }

  private update(args: JsonObject): JsonObject {
    const channel = asString(args.channel);
    if (!channel || !this.knowsChannel(channel)) return fail('channel_not_found');
    const ts = asString(args.ts);
    const stored = ts ? this.stored.get(FakeSlackApi.key(channel, ts)) : undefined;
    if (!stored) return fail('message_not_found');
    if (stored.botId !== this.bot.botId) return fail('cant_update_message');
    const content = this.content(args, MAX_UPDATE_TEXT);
    if ('error' in content) return content.error;
    if (content.text === undefined && content.blocks === undefined && args.attachments === undefined) return fail('no_text');
    const metadata = this.metadata(args);
    if (metadata === null) return fail('invalid_metadata_format');
    const now = this.now();
    stored.history.push({ text: stored.text ?? '', blocks: stored.blocks, at: now });
    // Slack: "If the text argument is provided and blocks are not provided, the blocks will be removed."
    if (content.blocks !== undefined) stored.blocks = content.blocks.length > 0 ? content.blocks : undefined;
    else if (content.text !== undefined) stored.blocks = undefined;
    if (content.text !== undefined) stored.text = content.text;
    // Metadata is kept unless overwritten.
    if (metadata !== undefined) stored.metadata = metadata;
    stored.updatedAt = now;
    return { ok: true, channel, ts: stored.ts, text: stored.text ?? '', message: this.wire(stored) };
  }

  private postEphemeral(args: JsonObject): JsonObject {
    const channel = asString(args.channel);
    if (!channel || !this.knowsChannel(channel)) return fail('channel_not_found');
    const user = asString(args.user);
    if (!user || (this.users !== undefined && !this.users.has(user))) return fail('user_not_found');
    const content = this.content(args, MAX_TEXT);
    if ('error' in content) return content.error;
    if (!content.text && (content.blocks?.length ?? 0) === 0 && args.attachments === undefined) return fail('no_text');
    const ts = this.nextTs();
    this.ephemeralMessages.push({ channel, user, ts, threadTs: asString(args.thread_ts), text: content.text ?? '', blocks: content.blocks });
    return { ok: true, message_ts: ts };
  }

  private usergroupUsers(args: JsonObject): JsonObject {
    const members = this.usergroups.get(asString(args.usergroup) ?? '');
    return members ? { ok: true, users: [...members] } : fail('no_such_subteam');
  }

  private userInfo(args: JsonObject): JsonObject {
    const id = asString(args.user);
    if (!id) return fail('user_not_found');
    const known = this.users === undefined ? {} : this.users.get(id);
    if (!known) return fail('user_not_found');
    const name = known.name ?? id.toLowerCase();
    const realName = known.realName ?? name;
    return {
      ok: true,
      user: {
        id,
        team_id: this.team.id,
        name,
        deleted: known.deleted ?? false,
        real_name: realName,
        tz: 'Etc/UTC',
        is_admin: false,
        is_bot: known.isBot ?? false,
        profile: { real_name: realName, display_name: name, ...(known.email ? { email: known.email } : {}) },
      },
    };
  }

  private conversationInfo(args: JsonObject): JsonObject {
    const id = asString(args.channel);
    if (!id || !this.knowsChannel(id)) return fail('channel_not_found');
    return {
      ok: true,
      channel: {
        id,
        name: this.channels?.get(id) ?? id.toLowerCase(),
        is_channel: id.startsWith('C'),
        is_group: id.startsWith('G'),
        is_im: id.startsWith('D'),
        is_private: id.startsWith('G'),
        is_archived: false,
        is_member: true,
        created: Math.floor(this.now() / 1000),
      },
    };
  }

  /**
   * conversations.history: the channel's top-level messages (and broadcast thread replies), newest first,
   * between `oldest` and `latest` (exclusive unless `inclusive`), `limit` per page (default 100, at most
   * 999) with a cursor. Message metadata is only returned with `include_all_metadata`.
   */
  private conversationHistory(args: JsonObject): JsonObject {
    const channel = asString(args.channel);
    if (!channel || !this.knowsChannel(channel)) return fail('channel_not_found');
    const listed = this.order
      .map((key) => this.stored.get(key))
      .filter((m): m is StoredMessage => m !== undefined && m.channel === channel && (m.threadTs === undefined || m.replyBroadcast));
    return this.page(listed.reverse(), args);
  }

  /** conversations.replies: the root at `ts` then its replies, oldest first, paged like history. */
  private conversationReplies(args: JsonObject): JsonObject {
    const channel = asString(args.channel);
    if (!channel || !this.knowsChannel(channel)) return fail('channel_not_found');
    const ts = asString(args.ts);
    const root = ts ? this.stored.get(FakeSlackApi.key(channel, ts)) : undefined;
    if (!root) return fail('thread_not_found');
    const top = root.threadTs === undefined ? root : this.stored.get(FakeSlackApi.key(channel, root.threadTs));
    if (!top) return fail('thread_not_found');
    const replies = top.replies.map((replyTs) => this.stored.get(FakeSlackApi.key(channel, replyTs))).filter((m): m is StoredMessage => m !== undefined);
    return this.page([top, ...replies], args);
  }

  private page(messages: StoredMessage[], args: JsonObject): JsonObject {
    const inclusive = asBool(args.inclusive);
    const oldest = Number(asString(args.oldest) ?? '0');
    const latest = asString(args.latest) === undefined ? Infinity : Number(asString(args.latest));
    if (!Number.isFinite(oldest) || Number.isNaN(latest)) return fail('invalid_arguments', ['invalid `oldest` or `latest`']);
    const inRange = messages.filter((m) => {
      const at = Number(m.ts);
      return inclusive ? at >= oldest && at <= latest : at > oldest && at < latest;
    });
    const limit = Math.min(999, Math.max(1, Number(asString(args.limit) ?? '100') || 100));
    const cursor = asString(args.cursor);
    const start = cursor ? Number(Buffer.from(cursor, 'base64').toString('utf8').replace(/^offset:/, '')) || 0 : 0;
    const slice = inRange.slice(start, start + limit);
    const hasMore = start + limit < inRange.length;
    const withMetadata = asBool(args.include_all_metadata);
    return {
      ok: true,
      messages: slice.map((m) => {
        const wire = this.wire(m);
        if (!withMetadata) delete wire.metadata;
        return wire;
      }),
      has_more: hasMore,
      response_metadata: { next_cursor: hasMore ? Buffer.from(`offset:${start + limit}`).toString('base64') : '' },
    };
  }

  /** files.getUploadURLExternal: a file id and a one-off URL on this server that takes the bytes. */
  private getUploadUrl(args: JsonObject): JsonObject {
    const name = asString(args.filename);
    if (!name) return fail('invalid_arguments', ['missing required field: filename']);
    const length = Number(asString(args.length));
    if (!Number.isInteger(length) || length <= 0) return fail('invalid_arguments', ['missing required field: length']);
    const id = `F${String(this.uploads.size + 1).padStart(10, '0')}`;
    const uploadToken = Math.random().toString(36).slice(2, 12);
    this.uploads.set(id, { id, name, title: undefined, altText: asString(args.alt_text), length, bytes: undefined, channel: undefined, threadTs: undefined, ts: undefined, uploadToken });
    return { ok: true, upload_url: `http://127.0.0.1:${this.port}/upload/v1/${id}/${uploadToken}`, file_id: id };
  }

  /** The upload URL: a POST of the raw bytes (or a multipart form with one file) answered `OK - <bytes>`. */
  private async receiveUpload(req: IncomingMessage, res: ServerResponse, rest: string): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
    const [id, token] = rest.split('/');
    const upload = id ? this.uploads.get(id) : undefined;
    if (req.method !== 'POST' || !upload || upload.uploadToken !== token || upload.channel !== undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    let bytes = Buffer.concat(chunks);
    const boundary = /boundary=(?:"([^"]+)"|([^;]+))/.exec(req.headers['content-type'] ?? '');
    if (boundary) {
      const marker = `--${boundary[1] ?? boundary[2] ?? ''}`;
      const start = bytes.indexOf('\r\n\r\n', bytes.indexOf(marker)) + 4;
      const end = bytes.indexOf(`\r\n${marker}`, start);
      bytes = bytes.subarray(start, end < 0 ? undefined : end);
    }
    upload.bytes = Buffer.from(bytes);
    this.changed();
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`OK - ${bytes.length}`);
  }

  /** files.completeUploadExternal: shares uploaded files in the channel, or as a reply in the thread. */
  private completeUpload(args: JsonObject): JsonObject {
    const listed = Array.isArray(args.files) ? args.files.filter(isObject) : undefined;
    if (!listed || listed.length === 0) return fail('invalid_arguments', ['missing required field: files']);
    const files = listed.map((entry) => ({ upload: this.uploads.get(asString(entry.id) ?? ''), title: asString(entry.title) }));
    if (files.some(({ upload }) => !upload || upload.bytes === undefined || upload.channel !== undefined)) return fail('file_not_found');
    const channel = asString(args.channel_id);
    const requestedThread = asString(args.thread_ts);
    if (requestedThread && !channel) return fail('invalid_arguments', ['thread_ts requires channel_id']);
    if (channel && !this.knowsChannel(channel)) return fail('channel_not_found');
    let threadTs: string | undefined;
    if (channel && requestedThread) {
      const parent = this.stored.get(FakeSlackApi.key(channel, requestedThread));
      if (!parent) return fail('thread_not_found');
      threadTs = parent.threadTs ?? parent.ts;
    }
    let ts: string | undefined;
    if (channel) {
      const stored = this.store({ channel, threadTs, text: asString(args.initial_comment) ?? '', blocks: undefined, metadata: undefined, user: this.bot.userId, botId: this.bot.botId, replyBroadcast: false });
      stored.files = files.map(({ upload }) => upload?.id ?? '');
      ts = stored.ts;
    }
    for (const { upload, title } of files) {
      if (!upload) continue;
      upload.title = title ?? upload.name;
      upload.channel = channel;
      upload.threadTs = threadTs;
      upload.ts = ts;
    }
    return { ok: true, files: files.map(({ upload }) => ({ id: upload?.id, name: upload?.name, title: upload?.title, mimetype: upload?.name.endsWith('.png') ? 'image/png' : 'application/octet-stream', size: upload?.length })) };
  }

  private viewsOpen(args: JsonObject): JsonObject {
    const triggerId = asString(args.trigger_id);
    const issued = triggerId ? this.issuedTriggers.get(triggerId) : undefined;
    if (!triggerId || !issued) return fail('invalid_arguments', ['invalid `trigger_id`']);
    if (this.usedTriggers.has(triggerId)) return fail('exchanged_trigger_id');
    if (this.now() - issued.at > TRIGGER_LIFETIME_MS) return fail('expired_trigger_id');
    const view = args.view;
    if (!isObject(view)) return fail('invalid_arguments', ['invalid `view`']);
    const problems = viewProblems(view);
    if (problems.length > 0) return fail('invalid_arguments', problems);
    const externalId = asString(view.external_id);
    if (view.type !== 'modal') return fail('invalid_arguments', ['must be modal [json-pointer:/view/type]']);
    if (externalId && [...this.openViews.values()].some((v) => v.externalId === externalId)) return fail('duplicate_external_id');
    this.usedTriggers.add(triggerId);
    const stored: FakeView = { id: this.nextViewId(), hash: this.hash(), externalId, triggerId, view, updates: 0, user: issued.user, values: {}, errors: {} };
    this.openViews.set(stored.id, stored);
    return { ok: true, view: this.wireView(stored) };
  }

  private viewsUpdate(args: JsonObject): JsonObject {
    const viewId = asString(args.view_id);
    const externalId = asString(args.external_id);
    if (!viewId && !externalId) return fail('invalid_arguments', ['must provide view_id or external_id']);
    const stored = viewId ? this.openViews.get(viewId) : [...this.openViews.values()].find((v) => v.externalId === externalId);
    if (!stored) return fail('not_found');
    const hash = asString(args.hash);
    if (hash && hash !== stored.hash) return fail('hash_conflict');
    const view = args.view;
    if (!isObject(view)) return fail('invalid_arguments', ['invalid `view`']);
    const problems = viewProblems(view);
    if (problems.length > 0) return fail('invalid_arguments', problems);
    stored.view = view;
    stored.hash = this.hash();
    stored.updates += 1;
    stored.errors = {};
    return { ok: true, view: this.wireView(stored) };
  }

  /**
   * views.publish: a user's Home tab (type `home`), replaced whole each time; with `hash`, only if it is the
   * hash of the Home as last published (hash_conflict otherwise).
   */
  private viewsPublish(args: JsonObject): JsonObject {
    const user = asString(args.user_id);
    if (!user) return fail('invalid_arguments', ['missing required field: user_id']);
    if (this.users !== undefined && !this.users.has(user)) return fail('user_not_found');
    const view = args.view;
    if (!isObject(view)) return fail('invalid_arguments', ['invalid `view`']);
    if (view.type !== 'home') return fail('invalid_arguments', ['must be home [json-pointer:/view/type]']);
    const problems = viewProblems(view);
    if (problems.length > 0) return fail('invalid_arguments', problems);
    const existing = this.homes.get(user);
    const hash = asString(args.hash);
    if (hash && existing && hash !== existing.hash) return fail('hash_conflict');
    const stored: FakeView = existing ?? { id: this.nextViewId(), hash: '', externalId: undefined, triggerId: undefined, view, updates: -1, user, values: {}, errors: {} };
    stored.view = view;
    stored.hash = this.hash();
    stored.updates += 1;
    this.homes.set(user, stored);
    return { ok: true, view: this.wireView(stored) };
  }

  /** conversations.open with one user: the app's direct message channel with them (the same D… ID every time). */
  private conversationOpen(args: JsonObject): JsonObject {
    const users = (asString(args.users) ?? '').split(',').map((user) => user.trim()).filter(Boolean);
    if (users.length === 0) return fail('users_list_not_supplied');
    // Group DMs (2–8 users) exist in Slack but the bot never opens one; this fake does not model them.
    if (users.length > 1) return fail('not_implemented');
    const [user = ''] = users;
    if (!/^[UW][A-Z0-9]+$/.test(user) || (this.users !== undefined && !this.users.has(user))) return fail('user_not_found');
    if (this.users?.get(user)?.deleted) return fail('user_disabled');
    const channel = this.openIm(user);
    return { ok: true, channel: { id: channel } };
  }

  private openIm(user: string): string {
    let channel = this.ims.get(user);
    if (!channel) {
      channel = `D${user.slice(1)}`;
      this.ims.set(user, channel);
    }
    return channel;
  }

  private nextViewId(): string {
    this.viewCounter += 1;
    return `V${String(this.viewCounter).padStart(8, '0')}`;
  }

  // -- state helpers ---------------------------------------------------------------------------------------

  /** Validated text and blocks of a post or update. */
  private content(args: JsonObject, maxText: number): { text: string | undefined; blocks: JsonObject[] | undefined } | { error: JsonObject } {
    const text = asString(args.text);
    if (text !== undefined && charCount(text) > maxText) return { error: fail('msg_too_long') };
    if (args.blocks === undefined) return { text, blocks: undefined };
    if (typeof args.blocks === 'string') return { error: fail('invalid_blocks_format') };
    const problems = blockKitProblems(args.blocks);
    if (problems.length > 0 || !Array.isArray(args.blocks)) return { error: fail('invalid_blocks', problems) };
    return { text, blocks: args.blocks.filter(isObject) };
  }

  /** `undefined` when absent, `null` when malformed. */
  private metadata(args: JsonObject): JsonObject | undefined | null {
    if (args.metadata === undefined) return undefined;
    const value = args.metadata;
    if (!isObject(value) || typeof value.event_type !== 'string' || (value.event_payload !== undefined && !isObject(value.event_payload))) return null;
    return value;
  }

  private knowsChannel(channel: string): boolean {
    return this.channels === undefined || this.channels.has(channel) || [...this.ims.values()].includes(channel);
  }

  private store(message: Omit<StoredMessage, 'ts' | 'history' | 'replies' | 'postedAt' | 'updatedAt'>): StoredMessage {
    const stored: StoredMessage = { ...message, ts: this.nextTs(), history: [], replies: [], postedAt: this.now(), updatedAt: undefined };
    const key = FakeSlackApi.key(stored.channel, stored.ts);
    this.stored.set(key, stored);
    this.order.push(key);
    if (stored.threadTs !== undefined) this.stored.get(FakeSlackApi.key(stored.channel, stored.threadTs))?.replies.push(stored.ts);
    return stored;
  }

  /** Slack ts: seconds + 6 digits of microseconds; strictly increasing even within one millisecond. */
  private nextTs(): string {
    this.lastMicros = Math.max(this.now() * 1000, this.lastMicros + 1);
    const seconds = Math.floor(this.lastMicros / 1_000_000);
    const micros = this.lastMicros % 1_000_000;
    return `${seconds}.${String(micros).padStart(6, '0')}`;
  }

  private hash(): string {
    return `${Math.floor(this.now() / 1000)}.${Math.random().toString(36).slice(2, 10)}`;
  }

  private snapshot(stored: StoredMessage): FakeMessage {
    return {
      channel: stored.channel,
      ts: stored.ts,
      threadTs: stored.threadTs,
      text: stored.text ?? '',
      blocks: structuredClone(stored.blocks),
      metadata: structuredClone(stored.metadata),
      user: stored.user,
      botId: stored.botId,
      replyBroadcast: stored.replyBroadcast,
      files: (stored.files ?? []).map((id) => this.uploads.get(id)).filter((file): file is FakeFile & { uploadToken: string } => file !== undefined).map(({ uploadToken: _token, ...file }) => ({ ...file, bytes: file.bytes ? Buffer.from(file.bytes) : undefined })),
      edits: stored.history.length,
      history: structuredClone(stored.history),
      replies: stored.replies.map((ts) => this.stored.get(FakeSlackApi.key(stored.channel, ts))).filter((m): m is StoredMessage => m !== undefined).map((m) => this.snapshot(m)),
      postedAt: stored.postedAt,
      updatedAt: stored.updatedAt,
    };
  }

  /** The `message` object as Slack returns it from chat.postMessage / chat.update. */
  private wire(stored: StoredMessage): JsonObject {
    return {
      type: 'message',
      user: stored.user,
      ...(stored.botId ? { bot_id: stored.botId, app_id: this.bot.appId } : {}),
      text: stored.text ?? '',
      ts: stored.ts,
      team: this.team.id,
      ...(stored.blocks ? { blocks: stored.blocks } : {}),
      ...(stored.files?.length ? { files: stored.files.map((id) => ({ id, name: this.uploads.get(id)?.name, title: this.uploads.get(id)?.title })) } : {}),
      ...(stored.threadTs ? { thread_ts: stored.threadTs, parent_user_id: this.stored.get(FakeSlackApi.key(stored.channel, stored.threadTs))?.user } : {}),
      ...(stored.metadata ? { metadata: stored.metadata } : {}),
      ...(stored.updatedAt !== undefined ? { edited: { user: stored.user, ts: stored.ts } } : {}),
    };
  }

  private wireView(stored: FakeView): JsonObject {
    return {
      id: stored.id,
      team_id: this.team.id,
      type: stored.view.type,
      blocks: stored.view.blocks ?? [],
      private_metadata: stored.view.private_metadata ?? '',
      callback_id: stored.view.callback_id ?? '',
      external_id: stored.externalId ?? '',
      state: { values: stored.values },
      hash: stored.hash,
      title: stored.view.title,
      ...(stored.view.submit !== undefined ? { submit: stored.view.submit } : {}),
      ...(stored.view.close !== undefined ? { close: stored.view.close } : {}),
      clear_on_close: asBool(stored.view.clear_on_close),
      notify_on_close: asBool(stored.view.notify_on_close),
      root_view_id: stored.id,
      previous_view_id: null,
      app_id: this.bot.appId,
      bot_id: this.bot.botId,
    };
  }

  private changed(): void {
    this.events.emit('change');
  }

  private static channelBucket(channel: string): string {
    return `chat.postMessage#${channel}`;
  }

  private static key(channel: string, ts: string): string {
    return `${channel}/${ts}`;
  }

  private static channelMap(channels: readonly string[] | Readonly<Record<string, string>>): Map<string, string> {
    if (Array.isArray(channels)) return new Map(channels.map((id: string) => [id, id.toLowerCase()]));
    return new Map(Object.entries(channels));
  }

  private static resolveLimits(limits: FakeSlackLimits | false | undefined): ResolvedLimits | false {
    if (limits === false) return false;
    return {
      postMessagePerChannel: limits?.postMessagePerChannel ?? DEFAULT_FAKE_SLACK_LIMITS.postMessagePerChannel,
      methods: { ...DEFAULT_FAKE_SLACK_LIMITS.methods, ...limits?.methods },
    };
  }
}
