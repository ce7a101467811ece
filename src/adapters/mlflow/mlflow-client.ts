import axios, { type AxiosInstance, isAxiosError } from 'axios';
import { z } from 'zod';
import type { Env } from '../../config/env.js';
import { MlopsError } from '../../errors.js';
import { parseRetryAfter } from '../../http/retry-after.js';

const tag = z.object({ key: z.string(), value: z.string().optional() });
const modelVersionSchema = z.object({
  name: z.string(),
  version: z.union([z.string(), z.number()]).transform(String),
  current_stage: z.string().optional(),
  status: z.string().optional(),
  status_message: z.string().optional(),
  run_id: z.string().optional(),
  source: z.string().optional(),
  aliases: z.array(z.string()).optional(),
  tags: z.array(tag).optional(),
  creation_timestamp: z.number().optional(),
});
const registeredModelSchema = z.object({
  name: z.string(),
  latest_versions: z.array(modelVersionSchema).optional(),
  aliases: z.array(z.object({ alias: z.string(), version: z.union([z.string(), z.number()]).transform(String) })).optional(),
});
const metricValue = z.union([z.number(), z.enum(['NaN', 'Infinity', '-Infinity']).transform(Number)]);
const runSchema = z.object({
  info: z.object({ run_id: z.string(), run_name: z.string().optional(), experiment_id: z.string().optional(), status: z.string().optional() }),
  data: z.object({ metrics: z.array(z.object({ key: z.string(), value: metricValue })).optional(), tags: z.array(tag).optional() }).optional(),
});
const searchedRunSchema = z.object({
  info: z.object({ run_id: z.string(), run_name: z.string().optional(), experiment_id: z.string().optional(), status: z.string().optional() }),
  data: z.object({ metrics: z.array(z.object({ key: z.string(), value: metricValue, step: z.union([z.number(), z.string().regex(/^-?\d+$/).transform(Number)]).optional() })).optional() }).optional(),
});
/** Experiments searched for a tagged run: runs/search needs experiment ids, and a bot's runs sit in a few. */
const MAX_EXPERIMENTS = 200;

/** How long one MLflow call may take before it fails as retryable (UPSTREAM_UNAVAILABLE). */
export const MLFLOW_TIMEOUT_MS = 10_000;

const errorBody = z.object({ error_code: z.string(), message: z.string().optional() });

export interface ModelVersion {
  name: string;
  version: string;
  stage: string | undefined;
  status: string | undefined;
  runId: string | undefined;
  source: string | undefined;
}

export interface RegisteredModel {
  name: string;
  aliases: Record<string, string>;
  /** Latest version per stage (MLflow's `latest_versions`). */
  stages: Record<string, string>;
  latestVersions: ModelVersion[];
}

/** A run found by tag, with the latest value of each metric and the step it was logged at. */
export interface TaggedRun {
  runId: string;
  runName: string | undefined;
  experimentId: string | undefined;
  status: string | undefined;
  metrics: { key: string; value: number; step: number }[];
}

export interface RunSummary {
  runId: string;
  runName: string | undefined;
  experimentId: string | undefined;
  metrics: Record<string, number>;
  /** The run's tags (the training script's mlops.run_key among them). */
  tags: Record<string, string>;
}

const toVersion = (version: z.output<typeof modelVersionSchema>): ModelVersion => ({
  name: version.name,
  version: version.version,
  stage: version.current_stage,
  status: version.status,
  runId: version.run_id,
  source: version.source,
});

/**
 * MLflow's REST API (reference/mlflow.md) over axios: GET parameters in the query string, everything else a
 * JSON body; responses parsed with zod (fields are often omitted); errors mapped into the catalogue, with
 * 429/5xx/network retryable and MLflow's own error code in the message.
 */
export class MlflowClient {
  private readonly http: AxiosInstance;
  readonly baseUrl: string;

  constructor(env: Pick<Env, 'MLFLOW_TRACKING_URI' | 'MLFLOW_TRACKING_TOKEN' | 'MLFLOW_TRACKING_USERNAME' | 'MLFLOW_TRACKING_PASSWORD'>) {
    if (!env.MLFLOW_TRACKING_URI) throw new MlopsError('CONFIG_INVALID', 'MLFLOW_TRACKING_URI is not set');
    this.baseUrl = env.MLFLOW_TRACKING_URI.replace(/\/+$/, '');
    const headers: Record<string, string> = {};
    if (env.MLFLOW_TRACKING_TOKEN) headers.authorization = `Bearer ${env.MLFLOW_TRACKING_TOKEN}`;
    this.http = axios.create({
      baseURL: `${this.baseUrl}/api/2.0/mlflow`,
      timeout: MLFLOW_TIMEOUT_MS,
      headers,
      ...(env.MLFLOW_TRACKING_USERNAME && env.MLFLOW_TRACKING_PASSWORD && !env.MLFLOW_TRACKING_TOKEN
        ? { auth: { username: env.MLFLOW_TRACKING_USERNAME, password: env.MLFLOW_TRACKING_PASSWORD } }
        : {}),
      // Repeated query fields must be `k=a&k=b`, not axios' default `k[]=a`.
      paramsSerializer: { indexes: null },
      // Redirects would resend credentials elsewhere; MLflow's API never redirects.
      maxRedirects: 0,
    });
  }

  async getRegisteredModel(name: string): Promise<RegisteredModel> {
    const body = await this.request('registered-models/get', () => this.http.get('/registered-models/get', { params: { name } }));
    const model = z.object({ registered_model: registeredModelSchema }).parse(body).registered_model;
    const latestVersions = (model.latest_versions ?? []).map(toVersion);
    return {
      name: model.name,
      aliases: Object.fromEntries((model.aliases ?? []).map((alias) => [alias.alias, alias.version])),
      stages: Object.fromEntries(latestVersions.filter((version) => version.stage && version.stage !== 'None').map((version) => [version.stage ?? '', version.version])),
      latestVersions,
    };
  }

  async getModelVersion(name: string, version: string): Promise<ModelVersion> {
    const body = await this.request('model-versions/get', () => this.http.get('/model-versions/get', { params: { name, version } }));
    return toVersion(z.object({ model_version: modelVersionSchema }).parse(body).model_version);
  }

  /** A model's versions, highest version number first (one page of at most `max`; search results carry no aliases). */
  async searchVersions(name: string, max: number): Promise<ModelVersion[]> {
    const filter = `name='${name.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
    const body = await this.request('model-versions/search', () => this.http.get('/model-versions/search', { params: { filter, max_results: max, order_by: ['version_number DESC'] } }));
    return (z.object({ model_versions: z.array(modelVersionSchema).optional() }).parse(body).model_versions ?? []).map(toVersion);
  }

  /** The version an alias points to, or undefined when the alias is not set (MLflow answers 400 then). */
  async getVersionByAlias(name: string, alias: string): Promise<ModelVersion | undefined> {
    try {
      const body = await this.request('registered-models/alias', () => this.http.get('/registered-models/alias', { params: { name, alias } }));
      return toVersion(z.object({ model_version: modelVersionSchema }).parse(body).model_version);
    } catch (error) {
      if (error instanceof MlopsError && error.details.mlflowError === 'INVALID_PARAMETER_VALUE' && /alias/i.test(error.message)) return undefined;
      throw error;
    }
  }

  /**
   * The model's newest versions by number, newest first (model-versions/search; one page is enough: the
   * missed-webhook sweep only looks at the latest few). Search leaves out aliases, which are not needed here.
   */
  async newestVersions(name: string, count: number): Promise<ModelVersion[]> {
    const body = await this.request('model-versions/search', () =>
      this.http.get('/model-versions/search', { params: { filter: `name='${name.replace(/'/g, "\\'")}'`, order_by: 'version_number DESC', max_results: count } }),
    );
    return (z.object({ model_versions: z.array(modelVersionSchema).optional() }).parse(body).model_versions ?? []).map(toVersion);
  }

  async getRun(runId: string): Promise<RunSummary> {
    const body = await this.request('runs/get', () => this.http.get('/runs/get', { params: { run_id: runId } }));
    const run = z.object({ run: runSchema }).parse(body).run;
    const metrics: Record<string, number> = {};
    for (const metric of run.data?.metrics ?? []) metrics[metric.key] = metric.value;
    const tags = Object.fromEntries((run.data?.tags ?? []).map((entry) => [entry.key, entry.value ?? '']));
    return { runId: run.info.run_id, runName: run.info.run_name, experimentId: run.info.experiment_id, metrics, tags };
  }

  /**
   * The newest run tagged `tag` = `value` (e.g. mlops.run_key), across the active experiments. Tag values
   * are quoted in the filter; the value is refused unless it is a plain key, so it cannot change the filter.
   */
  async findRunByTag(tag: string, value: string): Promise<TaggedRun | undefined> {
    if (!/^[A-Za-z0-9._-]{1,250}$/.test(tag) || !/^[A-Za-z0-9._:#-]{1,250}$/.test(value)) throw new MlopsError('BAD_REQUEST', `not a searchable tag: ${tag}=${value}`);
    const experiments = z
      .object({ experiments: z.array(z.object({ experiment_id: z.string() })).optional() })
      .parse(await this.request('experiments/search', () => this.http.post('/experiments/search', { max_results: MAX_EXPERIMENTS })));
    const experimentIds = (experiments.experiments ?? []).map((experiment) => experiment.experiment_id);
    if (experimentIds.length === 0) return undefined;
    const body = await this.request('runs/search', () =>
      this.http.post('/runs/search', { experiment_ids: experimentIds, filter: `tags.\`${tag}\` = '${value}'`, max_results: 1, order_by: ['attributes.start_time DESC'] }),
    );
    const run = z.object({ runs: z.array(searchedRunSchema).optional() }).parse(body).runs?.[0];
    if (!run) return undefined;
    return {
      runId: run.info.run_id,
      runName: run.info.run_name,
      experimentId: run.info.experiment_id,
      status: run.info.status,
      metrics: (run.data?.metrics ?? []).map((metric) => ({ key: metric.key, value: metric.value, step: metric.step ?? 0 })),
    };
  }

  async setAlias(name: string, alias: string, version: string): Promise<void> {
    await this.request('registered-models/alias', () => this.http.post('/registered-models/alias', { name, alias, version }));
  }

  async transitionStage(name: string, version: string, stage: string, archiveExistingVersions: boolean): Promise<ModelVersion> {
    const body = await this.request('model-versions/transition-stage', () =>
      this.http.post('/model-versions/transition-stage', { name, version, stage, archive_existing_versions: archiveExistingVersions }),
    );
    return toVersion(z.object({ model_version: modelVersionSchema }).parse(body).model_version);
  }

  modelVersionUrl(name: string, version: string): string {
    return `${this.baseUrl}/#/models/${encodeURIComponent(name)}/versions/${encodeURIComponent(version)}`;
  }

  runUrl(experimentId: string | undefined, runId: string): string {
    return experimentId ? `${this.baseUrl}/#/experiments/${encodeURIComponent(experimentId)}/runs/${encodeURIComponent(runId)}` : `${this.baseUrl}/#/runs/${encodeURIComponent(runId)}`;
  }

  private async request(endpoint: string, send: () => Promise<{ data: unknown }>): Promise<unknown> {
    try {
      return (await send()).data;
    } catch (error) {
      throw toMlflowError(endpoint, error);
    }
  }
}

function toMlflowError(endpoint: string, error: unknown): MlopsError {
  if (!isAxiosError(error) || !error.response) {
    const reason = error instanceof Error ? error.message : String(error);
    return new MlopsError('UPSTREAM_UNAVAILABLE', `MLflow ${endpoint} unreachable: ${reason}`, { userMessage: `MLflow could not be reached (${reason}).`, details: { endpoint }, cause: error });
  }
  const status = error.response.status;
  const parsed = errorBody.safeParse(error.response.data);
  const code = parsed.success ? parsed.data.error_code : `HTTP ${status}`;
  const message = parsed.success ? (parsed.data.message ?? '') : typeof error.response.data === 'string' ? error.response.data.slice(0, 200) : '';
  const details = { endpoint, status, mlflowError: code };
  const reference = `${code}${message ? ` (${message})` : ''}`;
  // Throttling and outages are said as such: the user retries later, rather than fixing a refusal.
  if (status === 429 || status >= 500) {
    const header: unknown = error.response.headers['retry-after'];
    const retryAfterMs = parseRetryAfter(typeof header === 'string' ? header : undefined);
    return new MlopsError(status === 429 ? 'RATE_LIMITED' : 'UPSTREAM_UNAVAILABLE', `MLflow ${endpoint} answered ${status}`, {
      userMessage: `MLflow ${status === 429 ? 'throttled' : 'failed'} ${endpoint}: ${reference}`,
      details,
      cause: error,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    });
  }
  const userMessage = `MLflow refused ${endpoint}: ${reference}`;
  const catalogue = status === 404 ? 'NOT_FOUND' : status === 401 ? 'UNAUTHORIZED' : status === 403 ? 'FORBIDDEN' : 'UPSTREAM_REJECTED';
  return new MlopsError(catalogue, `MLflow ${endpoint} answered ${status} ${code}: ${message}`, { userMessage, details, retryable: false, cause: error });
}
