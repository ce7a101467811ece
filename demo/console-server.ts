import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import type { FakeKubeApi } from '../test/fakes/fake-kube-api.js';
import type { FakeMlflow } from '../test/fakes/fake-mlflow.js';
import type { FakeMessage, FakeSlackApi, JsonObject } from '../test/fakes/fake-slack-api.js';
import type { Inputs } from '../test/fakes/fake-slack-delivery.js';
import { blockActionsBody, postSigned, slashCommandBody } from '../test/helpers/slack-request.js';
import { DEMO_EVENTS, type DemoCloud, type DemoEventName } from './oci-events.js';
import { CHANNELS, CHURN, CHURN_PATH, CLUSTERS, FRAUD, NAMESPACE, SAMPLE_USERS, USERGROUP_HANDLES, type DemoClusters } from './sample-project.js';

/**
 * The demo's web console: shows the fake Slack workspace's channels live (Server-Sent Events), and turns
 * what the visitor types and clicks into the signed HTTP requests Slack would send the bot. Replies the
 * bot posts to a response_url come back here and show as "only visible to you".
 */

export interface ConsoleOptions {
  slack: FakeSlackApi;
  mlflow: FakeMlflow;
  clusters: DemoClusters;
  cloud: DemoCloud;
  botUrl: string;
  signingSecret: string;
  publicDir: string;
  host: string;
  port: number;
}

interface Ephemeral {
  id: string;
  channel: string;
  user: string;
  text: string;
  blocks: JsonObject[] | undefined;
  at: number;
  threadTs?: string | undefined;
}

const commandInput = z.object({ user: z.string(), channel: z.string(), text: z.string().max(3000) });
const clickInput = z.object({
  user: z.string(),
  channel: z.string(),
  actionId: z.string(),
  /** A channel message (root or reply) by ts, or an ephemeral by id. */
  ts: z.string().optional(),
  ephemeralId: z.string().optional(),
});
const userInput = z.object({ user: z.string() });
const entered = z.union([z.string().max(3000), z.object({ value: z.string().max(150), label: z.string().max(200) }), z.null()]);
const viewInput = z.object({
  user: z.string(),
  viewId: z.string().regex(/^V[0-9A-Z]+$/),
  /** What the visitor entered, by block_id (null: cleared). */
  inputs: z.record(z.string(), entered).default({}),
});
const suggestInput = viewInput.extend({ actionId: z.string().max(255), query: z.string().max(200).default('') });
const viewClickInput = z.object({ user: z.string(), viewId: z.string().regex(/^V[0-9A-Z]+$/), actionId: z.string().max(255), value: z.string().max(2000).optional() });
const eventInput = z.object({ name: z.enum(Object.keys(DEMO_EVENTS) as [DemoEventName, ...DemoEventName[]]) });

const CONTENT_TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };
const MAX_BODY = 64 * 1024;

class BadRequest extends Error {}

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) reject(new BadRequest('body too large'));
      else chunks.push(chunk);
    });
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      try {
        resolve(text === '' ? {} : (JSON.parse(text) as unknown));
      } catch {
        reject(new BadRequest('body is not JSON'));
      }
    });
    req.on('error', reject);
  });
}

const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);

export class ConsoleServer {
  private readonly server: Server;
  private readonly streams = new Set<ServerResponse>();
  /** response_url replies, and which ephemeral a response_url may replace. */
  private readonly replies: Ephemeral[] = [];
  private readonly responseUrls = new Map<string, { user: string; channel: string; replaces?: string | undefined }>();
  /** Ephemerals the bot posted through chat.postEphemeral and later replaced (or deleted: null) through a response_url, as Slack does. */
  private readonly apiEphemeralChanges = new Map<string, { text: string; blocks: JsonObject[] | undefined } | null>();
  private readonly activity: { at: number; text: string }[] = [];
  private counter = 0;
  private lastState = '';
  private readonly poll: NodeJS.Timeout;
  private readonly unsubscribe: () => void;
  url = '';

  private constructor(private readonly options: ConsoleOptions) {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        const status = error instanceof BadRequest || error instanceof z.ZodError ? 400 : 500;
        if (!res.headersSent) res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: error instanceof z.ZodError ? z.prettifyError(error) : error instanceof Error ? error.message : String(error) }));
      });
    });
    this.unsubscribe = options.slack.onChange(() => this.push());
    // Slack sends the bot what visitors do in the Home tab and in forms: signed, to the bot's Request URL.
    options.slack.connectApp({ transport: 'http', requestUrl: `${options.botUrl}/slack/events`, signingSecret: options.signingSecret });
    // MLflow aliases and Kubernetes rollouts change without a Slack call; look every half second.
    this.poll = setInterval(() => this.push(), 500);
  }

  static async start(options: ConsoleOptions): Promise<ConsoleServer> {
    const console = new ConsoleServer(options);
    await new Promise<void>((resolve, reject) => {
      console.server.once('error', reject);
      console.server.listen(options.port, options.host, () => resolve());
    });
    console.url = `http://${options.host}:${(console.server.address() as AddressInfo).port}`;
    return console;
  }

  async stop(): Promise<void> {
    clearInterval(this.poll);
    this.unsubscribe();
    for (const stream of this.streams) stream.end();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  note(text: string): void {
    this.activity.push({ at: Date.now(), text });
    if (this.activity.length > 50) this.activity.shift();
    this.push();
  }

  // -- what the page shows ------------------------------------------------------------------------------

  private state(): JsonObject {
    const { slack, mlflow, clusters } = this.options;
    const message = (m: FakeMessage): JsonObject => ({
      ts: m.ts,
      threadTs: m.threadTs,
      user: m.user,
      bot: m.botId !== undefined,
      text: m.text,
      blocks: m.blocks,
      edited: m.edits > 0,
      files: m.files.filter((file) => file.bytes !== undefined).map((file) => ({ id: file.id, title: file.title ?? file.name, alt: file.altText ?? '', url: `/files/${file.id}` })),
      replies: m.replies.map(message),
    });
    const ephemerals: Ephemeral[] = [
      ...slack.ephemerals().flatMap((e, index): Ephemeral[] => {
        const id = `api-${index}`;
        const change = this.apiEphemeralChanges.get(id);
        if (change === null) return [];
        return [{ id, channel: e.channel, user: e.user, text: change?.text ?? e.text, blocks: change ? change.blocks : e.blocks, at: Number(e.ts) * 1000, threadTs: e.threadTs }];
      }),
      ...this.replies,
    ].sort((a, b) => a.at - b.at);
    const rollout = (kube: FakeKubeApi, name: string) => {
      const deployment = kube.deployment(NAMESPACE, name);
      const status = isObject(deployment?.status) ? deployment.status : {};
      const current = kube.revisions(NAMESPACE, name).at(-1);
      return {
        revision: current?.revision ?? null,
        image: current?.image ?? null,
        ready: `${Number(status.updatedReplicas ?? 0)}/${Number(status.replicas ?? 0)} updated, ${Number(status.availableReplicas ?? 0)} available`,
      };
    };
    const models = [
      { name: FRAUD.model, champion: mlflow.alias(FRAUD.model, 'champion') ?? null, ...rollout(clusters.prod, FRAUD.model) },
      {
        name: CHURN.model,
        // The promotion path: the version each environment serves, and its Deployment in its cluster.
        path: CHURN_PATH.map((environment) => ({ name: environment.name, version: mlflow.alias(CHURN.model, environment.alias) ?? null })),
        deployments: [
          { environment: 'dev', context: CLUSTERS.dev, ...rollout(clusters.dev, CHURN.model) },
          { environment: 'prod', context: CLUSTERS.prod, ...rollout(clusters.prod, CHURN.model) },
        ],
      },
    ];
    const homes = Object.fromEntries(SAMPLE_USERS.flatMap((user) => {
      const home = slack.home(user.id);
      return home ? [[user.id, { id: home.id, blocks: home.view.blocks ?? [] }]] : [];
    }));
    const modals = slack.views().map((view) => ({ id: view.id, user: view.user, view: view.view, errors: view.errors }));
    return {
      homes,
      modals,
      users: SAMPLE_USERS,
      groups: USERGROUP_HANDLES,
      channels: Object.entries(CHANNELS).map(([id, name]) => ({ id, name, messages: slack.messages(id).map(message) })),
      ephemerals,
      models,
      events: Object.entries(DEMO_EVENTS).map(([name, label]) => ({ name, label })),
      activity: this.activity,
    };
  }

  private push(): void {
    const state = JSON.stringify(this.state());
    if (state === this.lastState) return;
    this.lastState = state;
    for (const stream of this.streams) stream.write(`data: ${state}\n\n`);
  }

  // -- requests ---------------------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://console');
    const route = `${req.method ?? 'GET'} ${url.pathname}`;
    if (route === 'GET /' || route === 'GET /console.js' || route === 'GET /console.css') {
      const file = url.pathname === '/' ? 'index.html' : url.pathname.slice(1);
      const body = await readFile(`${this.options.publicDir}/${file}`);
      res.writeHead(200, { 'content-type': CONTENT_TYPES[file.slice(file.lastIndexOf('.'))] ?? 'application/octet-stream', 'cache-control': 'no-store' }).end(body);
      return;
    }
    if (route === 'GET /api/state') return this.json(res, 200, this.state());
    if (req.method === 'GET' && url.pathname.startsWith('/files/')) {
      // A file the bot shared in the fake workspace (alarm charts), served as Slack's file viewer would.
      const file = this.options.slack.files().find((candidate) => candidate.id === url.pathname.slice('/files/'.length) && candidate.channel !== undefined);
      if (!file?.bytes) return this.json(res, 404, { error: 'no such file' });
      res.writeHead(200, { 'content-type': file.name.endsWith('.png') ? 'image/png' : 'application/octet-stream', 'cache-control': 'no-store' }).end(file.bytes);
      return;
    }
    if (route === 'GET /api/stream') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
      res.write(`data: ${JSON.stringify(this.state())}\n\n`);
      this.streams.add(res);
      req.on('close', () => this.streams.delete(res));
      return;
    }
    if (req.method === 'POST' && url.pathname.startsWith('/hooks/')) return this.responseUrlReply(url.pathname, await readJson(req), res);
    if (route === 'POST /api/command') return this.json(res, 200, await this.command(commandInput.parse(await readJson(req))));
    if (route === 'POST /api/click') return this.json(res, 200, await this.click(clickInput.parse(await readJson(req))));
    if (route === 'POST /api/home') {
      const { user } = userInput.parse(await readJson(req));
      this.knownUser(user);
      return this.json(res, 200, await this.options.slack.app.openHome(user));
    }
    if (route === 'POST /api/shortcut') {
      const { user } = userInput.parse(await readJson(req));
      this.knownUser(user);
      return this.json(res, 200, await this.options.slack.app.shortcut(user, 'shortcut.train'));
    }
    if (route === 'POST /api/view/submit') {
      const input = viewInput.parse(await readJson(req));
      this.knownUser(input.user);
      return this.json(res, 200, await this.options.slack.app.submit(this.ownView(input), input.user, this.inputs(input.inputs)));
    }
    if (route === 'POST /api/view/suggest') {
      const input = suggestInput.parse(await readJson(req));
      this.knownUser(input.user);
      const answer = await this.options.slack.app.suggest(this.ownView(input), input.user, input.actionId, input.query, this.inputs(input.inputs));
      return this.json(res, 200, { options: answer.options });
    }
    if (route === 'POST /api/view/click') {
      const input = viewClickInput.parse(await readJson(req));
      this.knownUser(input.user);
      const home = this.options.slack.home(input.user);
      if (home?.id !== input.viewId && !this.options.slack.views().some((view) => view.id === input.viewId && view.user === input.user)) throw new BadRequest('that view is gone');
      return this.json(res, 200, await this.options.slack.app.click(input.viewId, input.user, input.actionId, input.value));
    }
    if (route === 'POST /api/event') {
      const { name } = eventInput.parse(await readJson(req));
      this.note(`OCI event fired: ${DEMO_EVENTS[name]}`);
      await this.options.cloud.fire(name);
      return this.json(res, 200, { ok: true });
    }
    if (route === 'POST /api/play') {
      this.note('Playing a pipeline run: build, training, deployment');
      this.options.cloud.playPipeline().then(
        () => this.note('Pipeline run finished'),
        (error: unknown) => this.note(`Pipeline run stopped: ${error instanceof Error ? error.message : String(error)}`),
      );
      return this.json(res, 200, { ok: true });
    }
    this.json(res, 404, { error: `no route for ${route}` });
  }

  private json(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  }

  private newResponseUrl(user: string, channel: string, replaces?: string): string {
    const path = `/hooks/${++this.counter}`;
    this.responseUrls.set(path, { user, channel, replaces });
    return `${this.url}${path}`;
  }

  /** A modal this user has open (Slack delivers nothing for a view someone else sees). */
  private ownView(input: { user: string; viewId: string }): string {
    if (!this.options.slack.views().some((view) => view.id === input.viewId && view.user === input.user)) throw new BadRequest('that form is closed');
    return input.viewId;
  }

  private inputs(inputs: Record<string, z.infer<typeof entered>>): Inputs {
    return Object.fromEntries(Object.entries(inputs).map(([block, value]) => [block, value ?? undefined]));
  }

  private knownUser(id: string): string {
    const user = SAMPLE_USERS.find((candidate) => candidate.id === id);
    if (!user) throw new BadRequest(`unknown user ${id}`);
    return user.name;
  }

  private knownChannel(id: string): string {
    const name = CHANNELS[id];
    if (!name) throw new BadRequest(`unknown channel ${id}`);
    return name;
  }

  /** `/mlops ...` typed in a channel: a signed slash command, exactly as Slack posts it. */
  private async command(input: z.infer<typeof commandInput>): Promise<JsonObject> {
    const userName = this.knownUser(input.user);
    const channelName = this.knownChannel(input.channel);
    const text = input.text.replace(/^\s*\/mlops\b\s*/, '');
    const responseUrl = this.newResponseUrl(input.user, input.channel);
    const body = slashCommandBody({ text, userId: input.user, userName, channelId: input.channel, channelName, teamId: 'T0FAKE', teamDomain: 'fake-workspace', responseUrl, triggerId: this.options.slack.triggerId(input.user) });
    const answer = await postSigned(`${this.options.botUrl}/slack/events`, this.options.signingSecret, body, { timeoutMs: 5_000 });
    if (isObject(answer.json) && (typeof answer.json.text === 'string' || Array.isArray(answer.json.blocks))) this.addReply(input.user, input.channel, answer.json);
    return { status: answer.status };
  }

  /** A button click: a signed block_actions payload naming the message the button was in. */
  private async click(input: z.infer<typeof clickInput>): Promise<JsonObject> {
    const userName = this.knownUser(input.user);
    const channelName = this.knownChannel(input.channel);
    let message: { ts: string; text: string; blocks: JsonObject[] | undefined; threadTs?: string | undefined; botId?: string | undefined };
    let isEphemeral = false;
    if (input.ephemeralId !== undefined) {
      const ephemeral = (this.state().ephemerals as Ephemeral[]).find((candidate) => candidate.id === input.ephemeralId && candidate.user === input.user);
      if (!ephemeral) throw new BadRequest('that message is gone');
      message = { ts: (ephemeral.at / 1000).toFixed(6), text: ephemeral.text, blocks: ephemeral.blocks, threadTs: ephemeral.threadTs };
      isEphemeral = true;
    } else {
      const found = input.ts === undefined ? undefined : this.options.slack.message(input.channel, input.ts);
      if (!found) throw new BadRequest('that message is gone');
      message = found;
    }
    const responseUrl = this.newResponseUrl(input.user, input.channel, input.ephemeralId);
    const body = blockActionsBody({ actionId: input.actionId, userId: input.user, userName, channelId: input.channel, channelName, teamId: 'T0FAKE', teamDomain: 'fake-workspace', message, isEphemeral, responseUrl, triggerId: this.options.slack.triggerId(input.user) });
    const answer = await postSigned(`${this.options.botUrl}/slack/events`, this.options.signingSecret, body, { timeoutMs: 5_000 });
    return { status: answer.status };
  }

  /** What the bot posts to a response_url: an ephemeral reply, or a change to the message clicked. */
  private responseUrlReply(path: string, body: unknown, res: ServerResponse): void {
    const origin = this.responseUrls.get(path);
    if (!origin) return this.json(res, 404, { ok: false, error: 'expired_url' });
    if (!isObject(body)) return this.json(res, 400, { ok: false, error: 'invalid_payload' });
    const index = origin.replaces === undefined ? -1 : this.replies.findIndex((reply) => reply.id === origin.replaces);
    const apiEphemeral = origin.replaces?.startsWith('api-') === true && (body.delete_original === true || body.replace_original === true) ? origin.replaces : undefined;
    if (apiEphemeral !== undefined) {
      const replacement = { text: typeof body.text === 'string' ? body.text : '', blocks: Array.isArray(body.blocks) ? (body.blocks as JsonObject[]) : undefined };
      this.apiEphemeralChanges.set(apiEphemeral, body.delete_original === true ? null : replacement);
    } else if (body.delete_original === true && index >= 0) this.replies.splice(index, 1);
    else if (body.replace_original === true && index >= 0) {
      const replaced = this.replies[index];
      if (replaced) Object.assign(replaced, { text: typeof body.text === 'string' ? body.text : '', blocks: Array.isArray(body.blocks) ? (body.blocks as JsonObject[]) : undefined });
    } else this.addReply(origin.user, origin.channel, body);
    this.push();
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  }

  private addReply(user: string, channel: string, body: JsonObject): void {
    this.replies.push({
      id: `hook-${++this.counter}`,
      channel,
      user,
      text: typeof body.text === 'string' ? body.text : '',
      blocks: Array.isArray(body.blocks) ? (body.blocks as JsonObject[]) : undefined,
      at: Date.now(),
    });
    this.push();
  }
}
