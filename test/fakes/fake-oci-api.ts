import { createHash, createPublicKey, generateKeyPairSync, randomBytes, verify } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local OCI API for Data Science job runs and DevOps build runs and deployments that checks every
 * request's signature the way OCI does (draft-cavage HTTP signatures, reference/oci.md §4f): keyId,
 * signed headers (x-date, (request-target), host, and for bodies content-type, content-length,
 * x-content-sha256 which must match the body), RSA-SHA256 against the test key's public half, 5 minutes
 * of clock skew. Resources live in memory and tests move them through states.
 */

export interface TestKey {
  privateKeyPem: string;
  publicKeyPem: string;
  fingerprint: string;
  tenancy: string;
  user: string;
  keyId: string;
}

export function generateTestKey(): TestKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const der = publicKey.export({ type: 'spki', format: 'der' });
  const fingerprint = (createHash('md5').update(der).digest('hex').match(/../g) ?? []).join(':');
  const tenancy = 'ocid1.tenancy.oc1..faketenancy';
  const user = 'ocid1.user.oc1..fakeuser';
  return { privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicKeyPem, fingerprint, tenancy, user, keyId: `${tenancy}/${user}/${fingerprint}` };
}

export interface RecordedOciRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: unknown;
  status: number;
}

export interface OciFailure {
  status: number;
  code: string;
  message?: string;
  count?: number;
}

type Resource = Record<string, unknown> & { id: string; lifecycleState: string };

const DS = '/20190101';
const DEVOPS = '/20210630';

function ocid(kind: string): string {
  return `ocid1.${kind}.oc1.iad.${randomBytes(12).toString('hex')}`;
}

export class FakeOciApi {
  url = '';
  private readonly server: Server;
  private readonly resources = new Map<string, Resource>();
  private readonly retryTokens = new Map<string, string>();
  private readonly failures: { match: { method?: string; pathPrefix?: string }; failure: OciFailure }[] = [];
  private readonly log: RecordedOciRequest[] = [];
  private readonly publicKey;
  /** Build and deploy pipelines the fake knows, with the project and compartment their runs report. */
  readonly pipelines = new Map<string, { projectId: string; compartmentId: string }>();

  private constructor(private readonly key: { publicKeyPem: string; keyId: string }) {
    this.publicKey = createPublicKey(key.publicKeyPem);
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => this.reply(req, res, 500, { code: 'InternalServerError', message: String(error) }, undefined, ''));
    });
  }

  static async start(key: { publicKeyPem: string; keyId: string }): Promise<FakeOciApi> {
    const fake = new FakeOciApi(key);
    await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
    fake.url = `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}`;
    return fake;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  requests(): RecordedOciRequest[] {
    return [...this.log];
  }

  resource(id: string): Resource | undefined {
    return this.resources.get(id);
  }

  failNext(match: { method?: string; pathPrefix?: string }, failure: OciFailure): void {
    for (let i = 0; i < (failure.count ?? 1); i++) this.failures.push({ match, failure });
  }

  seed(resource: Resource): Resource {
    this.resources.set(resource.id, resource);
    return resource;
  }

  seedBuildRun(fields: Partial<Resource> & { lifecycleState: string }): Resource {
    const buildPipelineId = typeof fields.buildPipelineId === 'string' ? fields.buildPipelineId : 'ocid1.devopsbuildpipeline.oc1.iad.seeded';
    const pipeline = this.pipelines.get(buildPipelineId) ?? { projectId: 'ocid1.devopsproject.oc1.iad.proj', compartmentId: 'ocid1.compartment.oc1..ml' };
    return this.seed({ displayName: 'build-run', buildPipelineId, ...pipeline, timeCreated: new Date().toISOString(), ...fields, id: fields.id ?? ocid('devopsbuildrun') });
  }

  seedDeployment(fields: Partial<Resource> & { lifecycleState: string }): Resource {
    return this.seed({
      displayName: 'deployment',
      deploymentType: 'PIPELINE_DEPLOYMENT',
      deployPipelineId: 'ocid1.devopsdeploypipeline.oc1.iad.seeded',
      projectId: 'ocid1.devopsproject.oc1.iad.proj',
      compartmentId: 'ocid1.compartment.oc1..ml',
      timeCreated: new Date().toISOString(),
      ...fields,
      id: fields.id ?? ocid('devopsdeployment'),
    });
  }

  /** Moves a resource to a state, stamping start and finish times as OCI does. */
  setState(id: string, lifecycleState: string, extra: Record<string, unknown> = {}): Resource {
    const resource = this.resources.get(id);
    if (!resource) throw new Error(`fake OCI has no resource ${id}`);
    const now = new Date().toISOString();
    resource.lifecycleState = lifecycleState;
    resource.timeUpdated = now;
    const terminal = ['SUCCEEDED', 'FAILED', 'CANCELED'].includes(lifecycleState);
    if (lifecycleState === 'IN_PROGRESS') resource.timeStarted ??= now;
    if (terminal) resource.timeFinished = now;
    const progressKey = 'buildPipelineId' in resource ? 'buildRunProgress' : 'deployPipelineId' in resource ? 'deploymentExecutionProgress' : undefined;
    if (progressKey) {
      const progress = (resource[progressKey] as Record<string, unknown> | undefined) ?? {};
      if (lifecycleState === 'IN_PROGRESS') progress.timeStarted ??= now;
      if (terminal) progress.timeFinished = now;
      resource[progressKey] = progress;
    }
    Object.assign(resource, extra);
    return resource;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
    const raw = Buffer.concat(chunks);
    const requestId = `${randomBytes(8).toString('hex').toUpperCase()}/${randomBytes(8).toString('hex').toUpperCase()}`;
    const problem = this.verifySignature(req, raw);
    if (problem) {
      this.reply(req, res, 401, { code: 'NotAuthenticated', message: problem }, undefined, requestId);
      return;
    }
    let body: unknown;
    try {
      body = raw.length > 0 ? JSON.parse(raw.toString('utf8')) : undefined;
    } catch {
      this.reply(req, res, 400, { code: 'InvalidParameter', message: 'body is not JSON' }, undefined, requestId);
      return;
    }
    const method = req.method ?? 'GET';
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const failureIndex = this.failures.findIndex(({ match }) => (!match.method || match.method === method) && (!match.pathPrefix || path.startsWith(match.pathPrefix)));
    if (failureIndex >= 0) {
      const failure = this.failures.splice(failureIndex, 1)[0]?.failure ?? { status: 500, code: 'InternalServerError' };
      this.reply(req, res, failure.status, { code: failure.code, message: failure.message ?? failure.code }, body, requestId);
      return;
    }
    const [status, answer] = this.route(method, path, body, req.headers['opc-retry-token']);
    this.reply(req, res, status, answer, body, requestId);
  }

  private route(method: string, path: string, body: unknown, retryToken: string | string[] | undefined): [number, unknown] {
    const input = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
    const token = typeof retryToken === 'string' ? `${path}:${retryToken}` : undefined;
    const replay = token ? this.retryTokens.get(token) : undefined;
    if (method === 'POST' && replay) return [200, this.resources.get(replay)];
    const create = (resource: Resource): [number, unknown] => {
      this.resources.set(resource.id, resource);
      if (token) this.retryTokens.set(token, resource.id);
      return [200, resource];
    };
    const missing = (fields: string[]) => fields.filter((field) => typeof input[field] !== 'string' || input[field] === '');
    const now = new Date().toISOString();

    if (method === 'POST' && path === `${DS}/jobRuns`) {
      const absent = missing(['projectId', 'compartmentId', 'jobId']);
      if (absent.length > 0) return [400, { code: 'InvalidParameter', message: `missing ${absent.join(', ')}` }];
      const override = input.jobConfigurationOverrideDetails as Record<string, unknown> | undefined;
      if (override && override.jobType !== 'DEFAULT') return [400, { code: 'InvalidParameter', message: 'jobConfigurationOverrideDetails.jobType must be DEFAULT' }];
      return create({ ...input, id: ocid('datasciencejobrun'), lifecycleState: 'ACCEPTED', timeAccepted: now, createdBy: 'ocid1.user.oc1..fakeuser' });
    }
    if (method === 'POST' && path === `${DS}/pipelineRuns`) {
      const absent = missing(['compartmentId', 'pipelineId']);
      if (absent.length > 0) return [400, { code: 'InvalidParameter', message: `missing ${absent.join(', ')}` }];
      return create({ ...input, id: ocid('datasciencepipelinerun'), lifecycleState: 'ACCEPTED', timeAccepted: now });
    }
    if (method === 'POST' && path === `${DEVOPS}/buildRuns`) {
      const absent = missing(['buildPipelineId']);
      if (absent.length > 0) return [400, { code: 'InvalidParameter', message: `missing ${absent.join(', ')}` }];
      const pipeline = this.pipelines.get(String(input.buildPipelineId)) ?? { projectId: 'ocid1.devopsproject.oc1.iad.proj', compartmentId: 'ocid1.compartment.oc1..ml' };
      return create({ ...input, ...pipeline, id: ocid('devopsbuildrun'), lifecycleState: 'ACCEPTED', timeCreated: now, buildRunSource: { sourceType: 'MANUAL' } });
    }
    if (method === 'POST' && path === `${DEVOPS}/deployments`) {
      if (input.deploymentType !== 'PIPELINE_DEPLOYMENT') return [400, { code: 'InvalidParameter', message: 'deploymentType must be PIPELINE_DEPLOYMENT' }];
      const absent = missing(['deployPipelineId']);
      if (absent.length > 0) return [400, { code: 'InvalidParameter', message: `missing ${absent.join(', ')}` }];
      const pipeline = this.pipelines.get(String(input.deployPipelineId)) ?? { projectId: 'ocid1.devopsproject.oc1.iad.proj', compartmentId: 'ocid1.compartment.oc1..ml' };
      return create({ ...input, ...pipeline, id: ocid('devopsdeployment'), lifecycleState: 'ACCEPTED', timeCreated: now });
    }
    const get = /^\/(20190101|20210630)\/(jobRuns|pipelineRuns|jobs|buildRuns|deployments)\/([^/]+)$/.exec(path);
    if (method === 'GET' && get?.[3]) {
      const resource = this.resources.get(decodeURIComponent(get[3]));
      if (!resource) return [404, { code: 'NotAuthorizedOrNotFound', message: 'Authorization failed or requested resource not found.' }];
      return [200, resource];
    }
    return [404, { code: 'NotAuthorizedOrNotFound', message: `no route ${method} ${path}` }];
  }

  private reply(req: IncomingMessage, res: ServerResponse, status: number, answer: unknown, body: unknown, requestId: string): void {
    this.log.push({
      method: req.method ?? '',
      path: req.url ?? '',
      headers: Object.fromEntries(Object.entries(req.headers).map(([key, value]) => [key, Array.isArray(value) ? value.join(',') : (value ?? '')])),
      body,
      status,
    });
    const text = JSON.stringify(answer ?? {});
    res.writeHead(status, { 'content-type': 'application/json', 'opc-request-id': requestId, ...(status === 200 ? { etag: randomBytes(8).toString('hex') } : {}) });
    res.end(text);
  }

  /** Returns why the signature is refused, or undefined when it verifies. */
  private verifySignature(req: IncomingMessage, body: Buffer): string | undefined {
    const authorization = req.headers.authorization ?? '';
    if (!authorization.startsWith('Signature ')) return 'missing Signature authorization';
    const params: Record<string, string> = {};
    for (const match of authorization.slice('Signature '.length).matchAll(/(\w+)="([^"]*)"/g)) params[match[1] ?? ''] = match[2] ?? '';
    if (params.version !== '1') return 'signature version must be 1';
    if (params.algorithm !== 'rsa-sha256') return 'algorithm must be rsa-sha256';
    if (params.keyId !== this.key.keyId) return `unknown keyId ${params.keyId ?? ''}`;
    const names = (params.headers ?? '').split(' ').map((name) => name.toLowerCase());
    const method = (req.method ?? 'GET').toLowerCase();
    const required = ['(request-target)', 'host', 'x-date'];
    if (['post', 'put', 'patch'].includes(method)) required.push('content-type', 'content-length', 'x-content-sha256');
    const unsigned = required.filter((name) => !names.includes(name) && !(name === 'x-date' && names.includes('date')));
    if (unsigned.length > 0) return `headers not signed: ${unsigned.join(', ')}`;
    const dateHeader = req.headers['x-date'] ?? req.headers.date;
    const date = Date.parse(String(dateHeader));
    if (!Number.isFinite(date) || Math.abs(Date.now() - date) > 5 * 60_000) return 'date outside the 5 minute window';
    if (names.includes('x-content-sha256')) {
      const digest = createHash('sha256').update(body).digest('base64');
      if (req.headers['x-content-sha256'] !== digest) return 'x-content-sha256 does not match the body';
      if (Number(req.headers['content-length']) !== body.length) return 'content-length does not match the body';
    }
    const lines = names.map((name) => {
      if (name === '(request-target)') return `(request-target): ${method} ${req.url ?? '/'}`;
      const value = req.headers[name];
      return `${name}: ${Array.isArray(value) ? value.join(', ') : (value ?? '')}`;
    });
    const ok = verify('sha256', Buffer.from(lines.join('\n')), this.publicKey, Buffer.from(params.signature ?? '', 'base64'));
    return ok ? undefined : 'signature does not verify';
  }
}
