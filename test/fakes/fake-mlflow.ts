import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HeldAnswers, matchesRequest, type HeldAnswer, type RequestMatcher } from './request-faults.js';

/**
 * A local MLflow tracking server for the registry endpoints the bot uses (reference/mlflow.md): GET
 * parameters in the query string, JSON bodies otherwise (Content-Type enforced on POST), snake_case
 * responses with unset fields omitted and versions as strings, MLflow's error bodies and status codes,
 * basic-auth or bearer auth with its plain-text 401/403, stage transitions with archive_existing_versions,
 * and webhook deliveries signed exactly as MLflow signs them.
 */

interface Version {
  version: string;
  current_stage: string;
  status: string;
  run_id?: string;
  source: string;
  creation_timestamp: number;
}

/** One logged value of a metric, as MLflow stores every log_metric call. */
interface LoggedMetric {
  key: string;
  value: number;
  timestamp: number;
  step: number;
}

interface Model {
  name: string;
  aliases: Map<string, string>;
  versions: Map<string, Version>;
}

export interface FakeMlflowOptions {
  token?: string;
  basic?: { username: string; password: string };
  /** More basic-auth users, by name → password. */
  users?: Record<string, string>;
  /** Users (by token or username) who get 403 on writes. */
  readOnly?: string[];
}

export interface RecordedMlflowRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
  status: number;
  /** When the request arrived (epoch ms), for measuring the gaps between a client's retries. */
  at: number;
}

/** The path is the API path after `/api/2.0/mlflow`; `bodyIncludes` also searches the query string. */
export type MlflowMatcher = RequestMatcher;

export interface MlflowFailureOptions {
  method?: string;
  bodyIncludes?: string;
  /** Sent as a Retry-After header (seconds), as a proxy in front of MLflow does on 429. */
  retryAfterSeconds?: number;
}

const STAGES = ['None', 'Staging', 'Production', 'Archived'];

export class FakeMlflow {
  url = '';
  private readonly server: Server;
  private readonly models = new Map<string, Model>();
  private readonly runs = new Map<string, { experimentId: string; name: string; history: LoggedMetric[]; tags: Record<string, string>; status?: string; startTime?: number }>();
  private readonly log: RecordedMlflowRequest[] = [];
  private readonly failures: { matcher: MlflowMatcher; status: number; code: string; retryAfterSeconds: number | undefined }[] = [];
  private readonly held = new HeldAnswers<MlflowMatcher, { method: string; path: string; text: string }>();
  private readonly arrivals = new WeakMap<IncomingMessage, number>();
  /** While true every API call answers 503 TEMPORARILY_UNAVAILABLE, as a restarting server would. */
  down = false;

  private constructor(private readonly options: FakeMlflowOptions) {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => this.send(req, res, 500, { error_code: 'INTERNAL_ERROR', message: String(error) }, {}, undefined));
    });
  }

  static async start(options: FakeMlflowOptions = {}): Promise<FakeMlflow> {
    const fake = new FakeMlflow(options);
    await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
    fake.url = `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}`;
    return fake;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  requests(): RecordedMlflowRequest[] {
    return [...this.log];
  }

  /** The next `count` requests under `pathPrefix` (narrowed by `options`) answer `status` with MLflow's error body. */
  failNext(pathPrefix: string, status: number, code: string, count = 1, options: MlflowFailureOptions = {}): void {
    const matcher: MlflowMatcher = { pathPrefix, ...(options.method ? { method: options.method } : {}), ...(options.bodyIncludes ? { bodyIncludes: options.bodyIncludes } : {}) };
    for (let i = 0; i < count; i++) this.failures.push({ matcher, status, code, retryAfterSeconds: options.retryAfterSeconds });
  }

  /** The next matching request is performed (an alias set) but its answer is held until `release()`. */
  holdNext(matcher: MlflowMatcher): HeldAnswer<{ method: string; path: string; text: string }> {
    return this.held.hold(matcher);
  }

  /** The next `count` matching requests are performed but answered only after `delayMs`, past a client's timeout. */
  delayNext(matcher: MlflowMatcher, delayMs: number, count = 1): void {
    this.held.delay(matcher, delayMs, count);
  }

  /** A finished run with these metrics logged once each (timestamp 0, step 0) and these tags (a training script's `mlflow.set_tag`); MLflow adds `mlflow.runName` itself. */
  addRun(metrics: Record<string, number>, name = 'run', tags: Record<string, string> = {}): string {
    const id = randomBytes(16).toString('hex');
    this.runs.set(id, { experimentId: '3', name, history: Object.entries(metrics).map(([key, value]) => ({ key, value, timestamp: 0, step: 0 })), tags: { 'mlflow.runName': name, ...tags } });
    return id;
  }

  /** A tracked run with tags (e.g. mlops.run_key), its status and the step each latest metric was logged at. */
  addTaggedRun(fields: { metrics: Record<string, number>; tags: Record<string, string>; name?: string; status?: string; steps?: Record<string, number>; experimentId?: string }): string {
    const id = randomBytes(16).toString('hex');
    this.runs.set(id, { experimentId: fields.experimentId ?? '3', name: fields.name ?? 'run', history: Object.entries(fields.metrics).map(([key, value]) => ({ key, value, timestamp: Date.now(), step: fields.steps?.[key] ?? 0 })), tags: fields.tags, status: fields.status ?? 'FAILED', startTime: Date.now() });
    return id;
  }

  /** Logs one more value of a metric, as mlflow.log_metric does; runs/get reports the latest per key. */
  logMetric(runId: string, key: string, value: number, timestamp: number, step = 0): void {
    this.runs.get(runId)?.history.push({ key, value, timestamp, step });
  }

  /** The `data` of the model_version.created webhook MLflow sends for a version: the version's tags (a dict), not its run's. */
  versionCreatedData(name: string, version: string): Record<string, unknown> {
    const found = this.models.get(name)?.versions.get(version);
    if (!found) throw new Error(`fake MLflow has no version ${version} of ${name}`);
    return { name, version, source: found.source, run_id: found.run_id ?? null, tags: {}, description: null };
  }

  /** Registers a new version (creating the model on first use) and returns its number as a string. */
  addVersion(name: string, fields: { runId?: string; status?: string; stage?: string } = {}): string {
    const model = this.models.get(name) ?? { name, aliases: new Map(), versions: new Map() };
    this.models.set(name, model);
    const version = String(model.versions.size + 1);
    model.versions.set(version, {
      version,
      current_stage: fields.stage ?? 'None',
      status: fields.status ?? 'READY',
      ...(fields.runId ? { run_id: fields.runId } : {}),
      source: `models:/m-${randomBytes(6).toString('hex')}`,
      creation_timestamp: Date.now(),
    });
    return version;
  }

  alias(name: string, alias: string): string | undefined {
    return this.models.get(name)?.aliases.get(alias);
  }

  setAliasDirectly(name: string, alias: string, version: string): void {
    this.models.get(name)?.aliases.set(alias, version);
  }

  stage(name: string, version: string): string | undefined {
    return this.models.get(name)?.versions.get(version)?.current_stage;
  }

  /** Sends a webhook delivery to `url` the way MLflow does (json.dumps separators, v1 HMAC signature). */
  static async deliver(url: string, secret: string | undefined, entity: string, action: string, data: Record<string, unknown>, options: { deliveryId?: string; timestamp?: number } = {}): Promise<Response> {
    const payload = pythonJson({ entity, action, timestamp: new Date().toISOString(), data });
    const deliveryId = options.deliveryId ?? randomUUID();
    const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
    const headers: Record<string, string> = { 'content-type': 'application/json', 'x-mlflow-delivery-id': deliveryId, 'x-mlflow-timestamp': timestamp };
    if (secret) headers['x-mlflow-signature'] = `v1,${createHmac('sha256', secret).update(`${deliveryId}.${timestamp}.${payload}`).digest('base64')}`;
    return fetch(url, { method: 'POST', headers, body: payload });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.arrivals.set(req, Date.now());
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
    const raw = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://fake');
    const query = Object.fromEntries(url.searchParams.entries());
    const method = req.method ?? 'GET';
    let body: Record<string, unknown> = {};
    if (method !== 'GET' && raw !== '') {
      try {
        body = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        this.send(req, res, 400, { error_code: 'MALFORMED_REQUEST', message: 'Malformed JSON' }, query, raw);
        return;
      }
    }
    const who = this.authenticate(req);
    if (who === undefined) {
      res.setHeader('www-authenticate', 'Basic realm="mlflow"');
      this.sendText(req, res, 401, 'You are not authenticated. Please see https://www.mlflow.org/docs/latest/auth/index.html#authenticating-to-mlflow on how to authenticate.', query, body);
      return;
    }
    if (method !== 'GET' && this.options.readOnly?.includes(who)) {
      this.sendText(req, res, 403, 'Permission denied', query, body);
      return;
    }
    if (this.down) {
      this.send(req, res, 503, { error_code: 'TEMPORARILY_UNAVAILABLE', message: 'server restarting' }, query, body);
      return;
    }
    const path = url.pathname.replace(/^\/api\/2\.0\/mlflow/, '');
    const request = { method, path, text: `${url.search} ${raw}` };
    const failure = this.failures.findIndex((candidate) => matchesRequest(candidate.matcher, request));
    if (failure >= 0) {
      const [spec] = this.failures.splice(failure, 1);
      if (spec?.retryAfterSeconds !== undefined) res.setHeader('retry-after', String(spec.retryAfterSeconds));
      this.send(req, res, spec?.status ?? 500, { error_code: spec?.code ?? 'INTERNAL_ERROR', message: 'injected failure' }, query, body);
      return;
    }
    if (method === 'POST' && !(req.headers['content-type'] ?? '').includes('application/json')) {
      this.send(req, res, 400, { error_code: 'INVALID_PARAMETER_VALUE', message: 'Bad Request. Content-Type header is missing.' }, query, body);
      return;
    }
    const [status, answer] = this.route(method, path, method === 'GET' ? query : body);
    await this.held.before(request);
    this.send(req, res, status, answer, query, body);
  }

  private authenticate(req: IncomingMessage): string | undefined {
    const header = req.headers.authorization ?? '';
    if (this.options.token) return header === `Bearer ${this.options.token}` ? this.options.token : undefined;
    if (this.options.basic) {
      const match = /^Basic (.+)$/.exec(header);
      const [user, password] = Buffer.from(match?.[1] ?? '', 'base64').toString('utf8').split(':');
      if (user === this.options.basic.username && password === this.options.basic.password) return user;
      return user !== undefined && this.options.users?.[user] !== undefined && this.options.users[user] === password ? user : undefined;
    }
    return 'anonymous';
  }

  private route(method: string, path: string, input: Record<string, unknown>): [number, unknown] {
    const str = (key: string) => (typeof input[key] === 'string' ? input[key] : typeof input[key] === 'number' ? String(input[key]) : undefined);
    const missing = (key: string): [number, unknown] => [400, { error_code: 'INVALID_PARAMETER_VALUE', message: `Missing value for required parameter '${key}'. See the API docs for more information about request parameters.` }];
    const name = str('name');
    const model = name ? this.models.get(name) : undefined;
    const noModel: [number, unknown] = [404, { error_code: 'RESOURCE_DOES_NOT_EXIST', message: `Registered Model with name=${name ?? ''} not found` }];
    const versionOf = (version: string | undefined): [number, unknown] | Version => {
      if (!version) return missing('version');
      if (!/^\d+$/.test(version)) return [400, { error_code: 'INVALID_PARAMETER_VALUE', message: `Parameter 'version' must be an integer, got '${version}'.` }];
      const found = model?.versions.get(version);
      return found ?? [404, { error_code: 'RESOURCE_DOES_NOT_EXIST', message: `Model Version (name=${name ?? ''}, version=${version}) not found` }];
    };
    const versionJson = (version: Version) => {
      const aliases = [...(model?.aliases.entries() ?? [])].filter(([, v]) => v === version.version).map(([alias]) => alias);
      return { name, ...version, last_updated_timestamp: version.creation_timestamp, ...(aliases.length > 0 ? { aliases } : {}) };
    };

    if (method === 'GET' && path === '/registered-models/get') {
      if (!name) return missing('name');
      if (!model) return noModel;
      const latest = new Map<string, Version>();
      for (const version of model.versions.values()) latest.set(version.current_stage, version);
      const aliases = [...model.aliases.entries()].map(([alias, version]) => ({ alias, version }));
      return [200, { registered_model: { name, creation_timestamp: 0, last_updated_timestamp: 0, latest_versions: [...latest.values()].map((version) => ({ name, ...version })), ...(aliases.length > 0 ? { aliases } : {}) } }];
    }
    if (method === 'GET' && path === '/model-versions/get') {
      if (!name) return missing('name');
      if (!model) return [404, { error_code: 'RESOURCE_DOES_NOT_EXIST', message: `Model Version (name=${name}, version=${str('version') ?? ''}) not found` }];
      const found = versionOf(str('version'));
      return Array.isArray(found) ? found : [200, { model_version: versionJson(found) }];
    }
    if (path === '/registered-models/alias') {
      if (!name) return missing('name');
      const alias = str('alias');
      if (!alias) return missing('alias');
      if (!model) return noModel;
      if (method === 'GET') {
        const version = model.aliases.get(alias);
        if (!version) return [400, { error_code: 'INVALID_PARAMETER_VALUE', message: `Registered model alias ${alias} not found.` }];
        const found = model.versions.get(version);
        return found ? [200, { model_version: versionJson(found) }] : [400, { error_code: 'INVALID_PARAMETER_VALUE', message: `Registered model alias ${alias} not found.` }];
      }
      if (method === 'POST') {
        if (!/^[\w-]*$/.test(alias) || /^latest$/i.test(alias) || /^v\d+$/i.test(alias)) return [400, { error_code: 'INVALID_PARAMETER_VALUE', message: `Invalid alias name '${alias}'.` }];
        const found = versionOf(str('version'));
        if (Array.isArray(found)) return found;
        model.aliases.set(alias, found.version);
        return [200, {}];
      }
      if (method === 'DELETE') {
        model.aliases.delete(alias);
        return [200, {}];
      }
    }
    if (method === 'POST' && path === '/model-versions/transition-stage') {
      if (!name) return missing('name');
      if (!model) return noModel;
      const found = versionOf(str('version'));
      if (Array.isArray(found)) return found;
      const stage = STAGES.find((candidate) => candidate.toLowerCase() === (str('stage') ?? '').toLowerCase());
      if (!stage) return [400, { error_code: 'INVALID_PARAMETER_VALUE', message: `Invalid Model Version stage: ${str('stage') ?? ''}.` }];
      const archive = input.archive_existing_versions === true;
      if (archive && stage !== 'Staging' && stage !== 'Production') return [500, { error_code: 'INTERNAL_ERROR', message: `Model version transition cannot archive existing model versions because '${stage}' is not an Active stage.` }];
      if (archive) for (const other of model.versions.values()) if (other !== found && other.current_stage === stage) other.current_stage = 'Archived';
      found.current_stage = stage;
      return [200, { model_version: versionJson(found) }];
    }
    if (path === '/experiments/search' && (method === 'POST' || method === 'GET')) {
      const ids = [...new Set(['0', ...[...this.runs.values()].map((run) => run.experimentId)])];
      return [200, { experiments: ids.map((id) => ({ experiment_id: id, name: id === '0' ? 'Default' : `experiment-${id}`, lifecycle_stage: 'active' })) }];
    }
    if (method === 'POST' && path === '/runs/search') {
      const ids = Array.isArray(input.experiment_ids) ? input.experiment_ids.filter((id): id is string => typeof id === 'string') : [];
      if (ids.length === 0) return [400, { error_code: 'INVALID_PARAMETER_VALUE', message: 'experiment_ids must be a non-empty list' }];
      const filter = typeof input.filter === 'string' ? input.filter : '';
      // Only the filter the bot writes: tags.`<key>` = '<value>' (MLflow's backticked key, single-quoted value).
      const tagFilter = /^tags\.`([^`]+)`\s*=\s*'([^']*)'$/.exec(filter.trim());
      if (filter && !tagFilter) return [400, { error_code: 'INVALID_PARAMETER_VALUE', message: `Invalid filter '${filter}'` }];
      const found = [...this.runs.entries()]
        .filter(([, run]) => ids.includes(run.experimentId) && (!tagFilter || run.tags?.[tagFilter[1] ?? ''] === tagFilter[2]))
        .sort(([, a], [, b]) => (b.startTime ?? 0) - (a.startTime ?? 0))
        .slice(0, typeof input.max_results === 'number' ? input.max_results : 1000);
      if (found.length === 0) return [200, {}];
      return [
        200,
        {
          runs: found.map(([runId, run]) => ({
            info: { run_id: runId, run_uuid: runId, run_name: run.name, experiment_id: run.experimentId, status: run.status ?? 'FINISHED', lifecycle_stage: 'active' },
            data: {
              metrics: [...new Map(run.history.map((logged) => [logged.key, logged])).values()].map(({ key, value, timestamp, step }) => ({ key, value, timestamp, step })),
              tags: Object.entries(run.tags ?? {}).map(([key, value]) => ({ key, value })),
            },
          })),
        },
      ];
    }
    if (method === 'GET' && path === '/model-versions/search') {
      // Only the filter the bot sends (name='x'), MLflow's ordering keys and its offset page tokens.
      const filter = str('filter') ?? '';
      const byName = /^\s*name\s*=\s*'([^']*)'\s*$/.exec(filter);
      if (filter !== '' && !byName) return [400, { error_code: 'INVALID_PARAMETER_VALUE', message: `Invalid filter '${filter}'` }];
      const maxResults = Number(str('max_results') ?? '200000');
      if (!Number.isInteger(maxResults) || maxResults < 1 || maxResults > 200000) return [400, { error_code: 'INVALID_PARAMETER_VALUE', message: `Invalid value for max_results. It must be at most 200000, but got value ${str('max_results') ?? ''}` }];
      const orderBy = str('order_by') ?? 'last_updated_timestamp DESC';
      const order = /^(version_number|creation_timestamp|last_updated_timestamp)(?:\s+(ASC|DESC))?$/i.exec(orderBy.trim());
      if (!order) return [400, { error_code: 'INVALID_PARAMETER_VALUE', message: `Invalid order_by clause '${orderBy}'.` }];
      const sign = (order[2] ?? 'ASC').toUpperCase() === 'DESC' ? -1 : 1;
      const rows = [...this.models.values()]
        .filter((candidate) => !byName || candidate.name === byName[1])
        .flatMap((candidate) => [...candidate.versions.values()].map((version) => ({ name: candidate.name, ...version, last_updated_timestamp: version.creation_timestamp })))
        .sort((a, b) => sign * (order[1] === 'version_number' ? Number(a.version) - Number(b.version) : a.creation_timestamp - b.creation_timestamp || Number(a.version) - Number(b.version)));
      const token = str('page_token');
      const offset = token ? Number((JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as { offset?: number }).offset ?? 0) : 0;
      const page = rows.slice(offset, offset + maxResults);
      const next = offset + maxResults < rows.length ? Buffer.from(JSON.stringify({ offset: offset + maxResults })).toString('base64') : undefined;
      // Search never fills aliases (reference/mlflow.md §1.1); empty lists are omitted.
      return [200, { ...(page.length > 0 ? { model_versions: page } : {}), ...(next ? { next_page_token: next } : {}) }];
    }
    if (method === 'GET' && path === '/runs/get') {
      const runId = str('run_id');
      if (!runId) return missing('run_id');
      const run = this.runs.get(runId);
      if (!run) return [404, { error_code: 'RESOURCE_DOES_NOT_EXIST', message: `Run with id=${runId} not found` }];
      // "return only the value with the latest timestamp. If there are multiple values with the latest
      // timestamp, return the maximum of these values" (service.proto, GetRun).
      const latest = new Map<string, LoggedMetric>();
      for (const logged of run.history) {
        const seen = latest.get(logged.key);
        if (!seen || logged.timestamp > seen.timestamp || (logged.timestamp === seen.timestamp && logged.value > seen.value)) latest.set(logged.key, logged);
      }
      const metrics = [...latest.values()].map(({ key, value, timestamp, step }) => ({ key, value: Number.isFinite(value) ? value : String(value), timestamp, step }));
      const tags = Object.entries(run.tags).map(([key, value]) => ({ key, value }));
      // Empty lists are omitted, as MLflow's protobuf JSON does.
      return [200, { run: { info: { run_id: runId, run_uuid: runId, run_name: run.name, experiment_id: run.experimentId, status: 'FINISHED', lifecycle_stage: 'active' }, data: { ...(metrics.length > 0 ? { metrics } : {}), ...(tags.length > 0 ? { tags } : {}) } } }];
    }
    return [404, { error_code: 'ENDPOINT_NOT_FOUND', message: `No API endpoint for ${method} ${path}` }];
  }

  private send(req: IncomingMessage, res: ServerResponse, status: number, answer: unknown, query: Record<string, string>, body: unknown): void {
    this.log.push({ method: req.method ?? '', path: (req.url ?? '').split('?')[0] ?? '', query, body, status, at: this.arrivals.get(req) ?? Date.now() });
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(answer));
  }

  private sendText(req: IncomingMessage, res: ServerResponse, status: number, text: string, query: Record<string, string>, body: unknown): void {
    this.log.push({ method: req.method ?? '', path: (req.url ?? '').split('?')[0] ?? '', query, body, status, at: this.arrivals.get(req) ?? Date.now() });
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.end(text);
  }
}

/** Python's json.dumps layout (", " and ": " separators, ASCII escaping), which MLflow signs. */
function pythonJson(value: unknown): string {
  const ascii = (text: string) => JSON.stringify(text).replace(/[\u007f-\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return ascii(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `[${value.map(pythonJson).join(', ')}]`;
  return `{${Object.entries(value as Record<string, unknown>)
    .map(([key, item]) => `${ascii(key)}: ${pythonJson(item)}`)
    .join(', ')}}`;
}
