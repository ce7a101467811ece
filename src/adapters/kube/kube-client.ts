import { request as httpRequest, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { KubeConfig, Watch } from '@kubernetes/client-node';
import { z } from 'zod';
import type { Env } from '../../config/env.js';
import type { JsonObject, KubeObject } from '../../domain/rollback.js';
import { MlopsError } from '../../errors.js';
import { parseRetryAfter } from '../../http/retry-after.js';
import { missingContextMessage, noKubeconfigMessage } from './kubeconfig-contexts.js';

const objectSchema = z
  .object({
    metadata: z
      .object({
        name: z.string().optional(),
        namespace: z.string().optional(),
        uid: z.string().optional(),
        generation: z.number().optional(),
        annotations: z.record(z.string(), z.string()).optional(),
        labels: z.record(z.string(), z.string()).optional(),
        ownerReferences: z.array(z.object({ uid: z.string().optional(), controller: z.boolean().optional(), kind: z.string().optional(), name: z.string().optional() }).loose()).optional(),
        creationTimestamp: z.string().optional(),
      })
      .loose()
      .optional(),
    spec: z.record(z.string(), z.json()).optional(),
    status: z.record(z.string(), z.json()).optional(),
  })
  .loose();
const listSchema = z.object({ items: z.array(objectSchema).default([]), metadata: z.object({ continue: z.string().optional() }).loose().optional() });
const statusSchema = z.object({ message: z.string().optional(), reason: z.string().optional() }).loose();

/** How long one Kubernetes request (not a watch) may take before it fails as retryable. */
export const KUBE_REQUEST_TIMEOUT_MS = 15_000;

const toKubeObject = (value: z.output<typeof objectSchema>): KubeObject => value;

/**
 * The Kubernetes calls a rollback makes, as kubectl makes them: GET the Deployment, LIST its ReplicaSets
 * by label selector (following `continue`), PATCH with `application/json-patch+json`, and a WATCH with a
 * field selector on the name. client-node provides the configuration, authentication (in-cluster token,
 * KUBECONFIG including exec plugins) and the watch; requests carry plain JSON so no pod template field is
 * lost to a typed model.
 */
export class KubeClient {
  private constructor(
    private readonly kc: KubeConfig,
    private readonly WatchClass: typeof Watch,
  ) {}

  /**
   * client-node is loaded on first use: it costs ~90 MB of memory that only rollbacks need.
   * `context` names a context of KUBECONFIG (one client per cluster); without it, KUBECONFIG's current
   * context, or in-cluster when KUBECONFIG is unset. `key` is the config key that named the context, for
   * the error when KUBECONFIG has no such context.
   */
  static async create(env: Pick<Env, 'KUBECONFIG'>, context?: string, key = 'deployment.context'): Promise<KubeClient> {
    const client = await import('@kubernetes/client-node');
    const kc = new client.KubeConfig();
    if (context !== undefined && !env.KUBECONFIG) {
      throw new MlopsError('CONFIG_INVALID', noKubeconfigMessage(key, context), {
        userMessage: `${key} names the kubeconfig context "${context}", but KUBECONFIG is not set: mount a kubeconfig with that context and point KUBECONFIG at it.`,
      });
    }
    try {
      if (env.KUBECONFIG) kc.loadFromFile(env.KUBECONFIG);
      else kc.loadFromCluster();
    } catch (error) {
      throw new MlopsError('CONFIG_INVALID', `Kubernetes configuration unusable: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    if (context !== undefined) {
      const known = kc.getContexts().map((entry) => entry.name);
      if (!known.includes(context)) {
        const message = missingContextMessage(key, context, env.KUBECONFIG ?? '', known);
        throw new MlopsError('CONFIG_INVALID', message, { userMessage: `${message}.` });
      }
      kc.setCurrentContext(context);
    }
    return new KubeClient(kc, client.Watch);
  }

  async getDeployment(namespace: string, name: string): Promise<KubeObject> {
    return toKubeObject(objectSchema.parse(await this.request('GET', `/apis/apps/v1/namespaces/${enc(namespace)}/deployments/${enc(name)}`, 'get deployment')));
  }

  async listReplicaSets(namespace: string, labelSelector: string): Promise<KubeObject[]> {
    const items: KubeObject[] = [];
    let next: string | undefined;
    for (let page = 0; page < 100; page++) {
      const query = new URLSearchParams({ labelSelector, limit: '500', ...(next ? { continue: next } : {}) });
      const list = listSchema.parse(await this.request('GET', `/apis/apps/v1/namespaces/${enc(namespace)}/replicasets?${query.toString()}`, 'list replicasets'));
      items.push(...list.items.map(toKubeObject));
      next = list.metadata?.continue || undefined;
      if (!next) break;
    }
    return items;
  }

  async patchDeployment(namespace: string, name: string, patch: JsonObject[], dryRun = false): Promise<KubeObject> {
    const path = `/apis/apps/v1/namespaces/${enc(namespace)}/deployments/${enc(name)}${dryRun ? '?dryRun=All' : ''}`;
    return toKubeObject(objectSchema.parse(await this.request('PATCH', path, 'patch deployment', patch, 'application/json-patch+json')));
  }

  /**
   * Calls `onChange` with the Deployment on every watch event until it returns true, the Deployment is
   * deleted, or `signal` aborts. A watch that ends early is started again, as kubectl's watch tools do.
   */
  async watchDeployment(namespace: string, name: string, onChange: (deployment: KubeObject) => boolean, signal: AbortSignal): Promise<'done' | 'deleted' | 'aborted'> {
    const watch = new this.WatchClass(this.kc);
    while (!signal.aborted) {
      const outcome = await new Promise<'done' | 'deleted' | 'restart'>((resolve, reject) => {
        let settled = false;
        const finish = (value: 'done' | 'deleted' | 'restart') => {
          if (settled) return;
          settled = true;
          signal.removeEventListener('abort', onAbort);
          controller?.abort();
          resolve(value);
        };
        let controller: AbortController | undefined;
        const onAbort = () => finish('restart');
        signal.addEventListener('abort', onAbort);
        watch
          .watch(
            `/apis/apps/v1/namespaces/${enc(namespace)}/deployments`,
            { fieldSelector: `metadata.name=${name}` },
            (type: string, object: unknown) => {
              if (type === 'DELETED') finish('deleted');
              else if ((type === 'ADDED' || type === 'MODIFIED') && onChange(toKubeObject(objectSchema.parse(object)))) finish('done');
            },
            (error: unknown) => {
              if (!settled && error && !signal.aborted && !(error instanceof Error && error.name === 'TimeoutError') && !(error instanceof Error && error.name === 'AbortError')) {
                settled = true;
                signal.removeEventListener('abort', onAbort);
                reject(toKubeError('watch deployment', error));
                return;
              }
              finish('restart');
            },
          )
          .then((abort) => {
            controller = abort;
            if (settled) abort.abort();
          }, (error: unknown) => {
            if (settled) return;
            settled = true;
            signal.removeEventListener('abort', onAbort);
            reject(toKubeError('watch deployment', error));
          });
      });
      if (outcome !== 'restart') return outcome;
    }
    return 'aborted';
  }

  private async request(method: string, path: string, operation: string, body?: unknown, contentType = 'application/json'): Promise<unknown> {
    const cluster = this.kc.getCurrentCluster();
    if (!cluster) throw new MlopsError('CONFIG_INVALID', 'Kubernetes configuration has no current cluster');
    const url = new URL(`${cluster.server.replace(/\/+$/, '')}${path}`);
    const options: RequestOptions & { headers: Record<string, string> } = { method, headers: { accept: 'application/json' }, timeout: KUBE_REQUEST_TIMEOUT_MS };
    await this.kc.applyToHTTPSOptions(options);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    if (payload !== undefined) {
      options.headers['content-type'] = contentType;
      options.headers['content-length'] = String(Buffer.byteLength(payload));
    }
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const { status, text, retryAfter } = await new Promise<{ status: number; text: string; retryAfter: string | undefined }>((resolve, reject) => {
      const req = send(url, options, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), retryAfter: res.headers['retry-after'] }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('request timed out')));
      req.on('error', reject);
      req.end(payload);
    }).catch((error: unknown) => {
      throw toKubeError(operation, error);
    });
    let json: unknown;
    try {
      json = text === '' ? {} : JSON.parse(text);
    } catch {
      json = { message: text.slice(0, 200) };
    }
    if (status >= 200 && status < 300) return json;
    const detail = statusSchema.safeParse(json);
    const message = detail.success ? (detail.data.message ?? detail.data.reason ?? '') : '';
    const details = { operation, status, reason: detail.success ? detail.data.reason : undefined };
    const reason = message || `HTTP ${status}`;
    if (status === 429 || status >= 500 || status === 409) {
      const userMessage = status === 429 ? `Kubernetes throttled the request to ${operation}: ${reason}` : `Kubernetes failed to ${operation}: ${reason}`;
      // The API server's priority and fairness answers 429 with Retry-After; the job's next attempt waits at least that long.
      const retryAfterMs = parseRetryAfter(retryAfter);
      return Promise.reject(
        new MlopsError(status === 429 ? 'RATE_LIMITED' : 'UPSTREAM_UNAVAILABLE', `${operation} answered ${status}`, { userMessage, details, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) }),
      );
    }
    const userMessage = `Kubernetes refused to ${operation}: ${reason}`;
    const code = status === 404 ? 'NOT_FOUND' : status === 403 ? 'FORBIDDEN' : status === 401 ? 'UNAUTHORIZED' : 'UPSTREAM_REJECTED';
    return Promise.reject(new MlopsError(code, `${operation} answered ${status}: ${message}`, { userMessage, details, retryable: false }));
  }
}

function enc(segment: string): string {
  return encodeURIComponent(segment);
}

function toKubeError(operation: string, error: unknown): MlopsError {
  if (error instanceof MlopsError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new MlopsError('UPSTREAM_UNAVAILABLE', `Kubernetes ${operation} failed: ${message}`, { userMessage: `Kubernetes could not be reached (${message}).`, details: { operation }, cause: error });
}
