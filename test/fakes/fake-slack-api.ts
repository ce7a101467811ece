import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local Slack Web API that speaks the real protocol closely enough for the real `@slack/web-api`
 * client: POST /api/<method>, form-urlencoded (JSON-string `blocks`) or JSON bodies, Bearer tokens,
 * `ok:false` platform errors, Block Kit limits, and rate limits enforced per method (and per channel for
 * chat.postMessage) with HTTP 429 + Retry-After. Shared by every integration test and the demo.
 */

export interface FakeSlackLimits {
  /** chat.postMessage: at most `count` posts to one channel in any rolling `windowMs`. */
  postMessagePerChannel: { count: number; windowMs: number };
  /** Per-method workspace limits (Tier 2 ~20/min, Tier 3 ~50/min, Tier 4 ~100/min). */
  methods: Record<string, { count: number; windowMs: number }>;
}

export const DEFAULT_LIMITS: FakeSlackLimits = {
  postMessagePerChannel: { count: 2, windowMs: 1_000 },
  methods: {
    'chat.update': { count: 50, windowMs: 60_000 },
    'chat.postEphemeral': { count: 100, windowMs: 60_000 },
    'usergroups.users.list': { count: 20, windowMs: 60_000 },
    'views.open': { count: 100, windowMs: 60_000 },
    'views.update': { count: 100, windowMs: 60_000 },
  },
};

export interface FakeSlackOptions {
  tokens?: string[];
  /** When set, only these channels exist (others answer channel_not_found). */
  channels?: string[];
  usergroups?: Record<string, string[]>;
  users?: Record<string, { name: string; real_name?: string }>;
  /** `false` disables rate limiting. */
  limits?: Partial<FakeSlackLimits> | false;
  botUserId?: string;
  botId?: string;
}

export interface RecordedCall {
  method: string;
  args: Record<string, unknown>;
  token: string | undefined;
  at: number;
  status: number;
  response: Record<string, unknown>;
}

export interface FakeMessage {
  channel: string;
  ts: string;
  threadTs?: string;
  text: string;
  blocks: unknown[];
  metadata?: unknown;
  replyBroadcast: boolean;
  edits: number;
  history: { text: string; blocks: unknown[] }[];
}

export interface Failure {
  status?: number;
  error?: string;
  count?: number;
  retryAfter?: number;
}

type Handler = (args: Record<string, unknown>, token: string) => Record<string, unknown>;

class PlatformError extends Error {}

export class FakeSlackApi {
  private readonly server: Server;
  private readonly recorded: RecordedCall[] = [];
  private readonly store = new Map<string, FakeMessage>();
  private readonly failures = new Map<string, Failure[]>();
  private readonly windows = new Map<string, number[]>();
  private readonly limits: FakeSlackLimits | false;
  private readonly handlers: Record<string, Handler>;
  private tsCounter = 0;
  private lastSecond = 0;
  private views = 0;
  rateLimitedCount = 0;
  url = '';

  private constructor(private readonly options: FakeSlackOptions) {
    this.limits = options.limits === false ? false : { ...DEFAULT_LIMITS, ...options.limits, methods: { ...DEFAULT_LIMITS.methods, ...(options.limits?.methods ?? {}) } };
    this.handlers = {
      'auth.test': () => ({ url: 'https://fake.slack.test/', team: 'Fake', user: 'mlops-bot', team_id: 'T0FAKE', user_id: this.options.botUserId ?? 'U0BOT', bot_id: this.options.botId ?? 'B0BOT' }),
      'chat.postMessage': (args) => this.postMessage(args),
      'chat.update': (args) => this.update(args),
      'chat.postEphemeral': (args) => {
        this.requireChannel(args);
        if (typeof args.user !== 'string') throw new PlatformError('user_not_found');
        this.requireText(args);
        return { message_ts: this.nextTs() };
      },
      'usergroups.users.list': (args) => {
        const members = this.options.usergroups?.[String(args.usergroup)];
        if (!members) throw new PlatformError('no_such_subteam');
        return { users: members };
      },
      'users.info': (args) => {
        const user = this.options.users?.[String(args.user)];
        if (!user) throw new PlatformError('user_not_found');
        return { user: { id: args.user, name: user.name, real_name: user.real_name ?? user.name } };
      },
      'views.open': (args) => {
        if (typeof args.trigger_id !== 'string' || args.trigger_id === '') throw new PlatformError('invalid_trigger_id');
        return { view: { id: `V${++this.views}`, ...(args.view as object) } };
      },
      'views.update': (args) => ({ view: { id: args.view_id ?? `V${++this.views}`, ...(args.view as object) } }),
      'conversations.info': (args) => {
        this.requireChannel(args);
        return { channel: { id: args.channel, name: String(args.channel).toLowerCase(), is_channel: true } };
      },
    };
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ok: false, error: 'fake_internal_error', detail: String(error) }));
      });
    });
  }

  static async start(options: FakeSlackOptions = {}): Promise<FakeSlackApi> {
    const fake = new FakeSlackApi(options);
    await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
    fake.url = `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}/api/`;
    return fake;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The next `count` (default 1) calls of `method` fail as described, with no effect. */
  failNext(method: string, failure: Failure): void {
    const list = this.failures.get(method) ?? [];
    for (let i = 0; i < (failure.count ?? 1); i++) list.push(failure);
    this.failures.set(method, list);
  }

  setUsergroup(id: string, members: string[]): void {
    this.options.usergroups = { ...this.options.usergroups, [id]: members };
  }

  calls(method?: string): RecordedCall[] {
    return method ? this.recorded.filter((call) => call.method === method) : [...this.recorded];
  }

  /** Successful calls of a method (what actually took effect). */
  effective(method: string): RecordedCall[] {
    return this.recorded.filter((call) => call.method === method && call.status === 200 && call.response.ok === true);
  }

  /** Root messages (not thread replies), optionally of one channel, oldest first. */
  messages(channel?: string): FakeMessage[] {
    return [...this.store.values()].filter((message) => !message.threadTs && (channel === undefined || message.channel === channel));
  }

  thread(channel: string, ts: string): FakeMessage[] {
    return [...this.store.values()].filter((message) => message.channel === channel && message.threadTs === ts);
  }

  message(channel: string, ts: string): FakeMessage | undefined {
    return this.store.get(`${channel}/${ts}`);
  }

  async waitFor<T>(check: () => T | undefined | false, timeoutMs = 10_000, what = 'fake Slack state'): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = check();
      if (value !== undefined && value !== false) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; calls: ${this.recorded.map((call) => `${call.method}:${call.status}`).join(', ')}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  reset(): void {
    this.recorded.length = 0;
    this.store.clear();
    this.failures.clear();
    this.windows.clear();
    this.rateLimitedCount = 0;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
    const raw = Buffer.concat(chunks).toString('utf8');
    const match = /^\/api\/([A-Za-z.]+)$/.exec((req.url ?? '').split('?')[0] ?? '');
    const method = match?.[1] ?? '';
    const args = this.parseArgs(raw, req.headers['content-type']);
    const bearer = /^Bearer\s+(\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    const token = bearer ?? (typeof args.token === 'string' ? args.token : undefined);
    const send = (status: number, body: Record<string, unknown>, headers: Record<string, string> = {}) => {
      this.recorded.push({ method, args, token, at: Date.now(), status, response: body });
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'POST' || !match) {
      send(404, { ok: false, error: 'unknown_method' });
      return;
    }
    const handler = this.handlers[method];
    if (!handler) {
      send(200, { ok: false, error: 'unknown_method' });
      return;
    }
    if (!token) {
      send(200, { ok: false, error: 'not_authed' });
      return;
    }
    if (!(this.options.tokens ?? ['xoxb-test']).includes(token)) {
      send(200, { ok: false, error: 'invalid_auth' });
      return;
    }
    const failure = this.failures.get(method)?.shift();
    if (failure) {
      if (failure.status === 429) this.rateLimitedCount++;
      if (failure.status) send(failure.status, { ok: false, error: failure.status === 429 ? 'ratelimited' : 'fake_failure' }, failure.retryAfter !== undefined ? { 'retry-after': String(failure.retryAfter) } : {});
      else send(200, { ok: false, error: failure.error ?? 'fatal_error' });
      return;
    }
    const retryAfter = this.checkLimit(method, args);
    if (retryAfter !== undefined) {
      this.rateLimitedCount++;
      send(429, { ok: false, error: 'ratelimited' }, { 'retry-after': String(retryAfter) });
      return;
    }
    try {
      send(200, { ok: true, ...handler(args, token) });
    } catch (error) {
      if (error instanceof PlatformError) send(200, { ok: false, error: error.message });
      else throw error;
    }
  }

  private parseArgs(raw: string, contentType: string | undefined): Record<string, unknown> {
    if ((contentType ?? '').includes('application/json')) {
      try {
        const parsed: unknown = JSON.parse(raw);
        return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
      } catch {
        return {};
      }
    }
    const args: Record<string, unknown> = {};
    for (const [key, value] of new URLSearchParams(raw)) {
      if (['blocks', 'metadata', 'view', 'attachments'].includes(key)) {
        try {
          args[key] = JSON.parse(value);
        } catch {
          args[key] = value;
        }
      } else {
        args[key] = value;
      }
    }
    return args;
  }

  /** Seconds until the window frees, when this call is over a limit; the call then has no effect. */
  private checkLimit(method: string, args: Record<string, unknown>): number | undefined {
    if (!this.limits) return undefined;
    const limit = method === 'chat.postMessage' ? this.limits.postMessagePerChannel : this.limits.methods[method];
    if (!limit) return undefined;
    const key = method === 'chat.postMessage' ? `${method}/${String(args.channel)}` : method;
    const now = Date.now();
    const window = (this.windows.get(key) ?? []).filter((at) => at > now - limit.windowMs);
    if (window.length >= limit.count) {
      this.windows.set(key, window);
      const oldest = window[0] ?? now;
      return Math.max(1, Math.ceil((oldest + limit.windowMs - now) / 1000));
    }
    window.push(now);
    this.windows.set(key, window);
    return undefined;
  }

  private nextTs(): string {
    const second = Math.max(Math.floor(Date.now() / 1000), this.lastSecond);
    if (second !== this.lastSecond) {
      this.lastSecond = second;
      this.tsCounter = 0;
    }
    this.tsCounter++;
    return `${second}.${String(this.tsCounter).padStart(6, '0')}`;
  }

  private requireChannel(args: Record<string, unknown>): string {
    const channel = args.channel;
    if (typeof channel !== 'string' || channel === '') throw new PlatformError('channel_not_found');
    if (this.options.channels && !this.options.channels.includes(channel)) throw new PlatformError('channel_not_found');
    return channel;
  }

  private requireText(args: Record<string, unknown>): void {
    const hasBlocks = Array.isArray(args.blocks) && args.blocks.length > 0;
    if (!hasBlocks && (typeof args.text !== 'string' || args.text === '')) throw new PlatformError('no_text');
    if (typeof args.text === 'string' && args.text.length > 40_000) throw new PlatformError('msg_too_long');
    if (args.blocks !== undefined) validateBlocks(args.blocks);
  }

  private postMessage(args: Record<string, unknown>): Record<string, unknown> {
    const channel = this.requireChannel(args);
    this.requireText(args);
    const threadTs = typeof args.thread_ts === 'string' && args.thread_ts !== '' ? args.thread_ts : undefined;
    if (threadTs && !this.store.has(`${channel}/${threadTs}`)) throw new PlatformError('thread_not_found');
    const ts = this.nextTs();
    const message: FakeMessage = {
      channel,
      ts,
      ...(threadTs ? { threadTs } : {}),
      text: typeof args.text === 'string' ? args.text : '',
      blocks: Array.isArray(args.blocks) ? args.blocks : [],
      ...(args.metadata !== undefined ? { metadata: args.metadata } : {}),
      replyBroadcast: args.reply_broadcast === true || args.reply_broadcast === 'true',
      edits: 0,
      history: [],
    };
    this.store.set(`${channel}/${ts}`, message);
    return { channel, ts, message: { type: 'message', text: message.text, ts, bot_id: this.options.botId ?? 'B0BOT' } };
  }

  private update(args: Record<string, unknown>): Record<string, unknown> {
    const channel = this.requireChannel(args);
    const message = this.store.get(`${channel}/${String(args.ts)}`);
    if (!message) throw new PlatformError('message_not_found');
    if (typeof args.text === 'string' && args.text.length > 4_000) throw new PlatformError('msg_too_long');
    if (args.blocks !== undefined) validateBlocks(args.blocks);
    message.history.push({ text: message.text, blocks: message.blocks });
    if (typeof args.text === 'string') message.text = args.text;
    // Slack: text without blocks removes the blocks.
    message.blocks = Array.isArray(args.blocks) ? args.blocks : [];
    message.edits++;
    return { channel, ts: message.ts, text: message.text };
  }
}

function textOf(value: unknown): string {
  return typeof value === 'object' && value !== null && typeof (value as { text?: unknown }).text === 'string' ? (value as { text: string }).text : '';
}

/** The Block Kit limits Slack enforces with `invalid_blocks`. */
function validateBlocks(blocks: unknown): void {
  if (!Array.isArray(blocks) || blocks.length > 50) throw new PlatformError('invalid_blocks');
  for (const block of blocks as unknown[]) {
    if (typeof block !== 'object' || block === null || typeof (block as { type?: unknown }).type !== 'string') throw new PlatformError('invalid_blocks');
    const b = block as Record<string, unknown>;
    if (typeof b.block_id === 'string' && b.block_id.length > 255) throw new PlatformError('invalid_blocks');
    switch (b.type) {
      case 'header':
        if (textOf(b).length === 0 && textOf(b.text).length === 0) throw new PlatformError('invalid_blocks');
        if (textOf(b.text).length > 150 || (b.text as { type?: string } | undefined)?.type !== 'plain_text') throw new PlatformError('invalid_blocks');
        break;
      case 'section': {
        if (b.text === undefined && b.fields === undefined) throw new PlatformError('invalid_blocks');
        if (textOf(b.text).length > 3_000) throw new PlatformError('invalid_blocks');
        if (b.fields !== undefined && (!Array.isArray(b.fields) || b.fields.length > 10 || (b.fields as unknown[]).some((field) => textOf(field).length > 2_000 || textOf(field).length === 0))) {
          throw new PlatformError('invalid_blocks');
        }
        break;
      }
      case 'context':
        if (!Array.isArray(b.elements) || b.elements.length === 0 || b.elements.length > 10) throw new PlatformError('invalid_blocks');
        break;
      case 'actions': {
        if (!Array.isArray(b.elements) || b.elements.length === 0 || b.elements.length > 25) throw new PlatformError('invalid_blocks');
        const ids = new Set<string>();
        for (const element of b.elements as Record<string, unknown>[]) {
          if (element.type === 'button') {
            if (textOf(element.text).length === 0 || textOf(element.text).length > 75) throw new PlatformError('invalid_blocks');
            if (typeof element.value === 'string' && element.value.length > 2_000) throw new PlatformError('invalid_blocks');
            if (typeof element.url === 'string' && element.url.length > 3_000) throw new PlatformError('invalid_blocks');
          }
          const id = typeof element.action_id === 'string' ? element.action_id : '';
          if (id && ids.has(id)) throw new PlatformError('invalid_blocks');
          ids.add(id);
        }
        break;
      }
      default:
        break;
    }
  }
}
