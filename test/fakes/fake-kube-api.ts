import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HeldAnswers, matchesRequest, type HeldAnswer } from './request-faults.js';

/**
 * A local Kubernetes API server plus deployment controller, for what `kubectl rollout undo` and
 * `kubectl rollout status` need (reference/k8s.md §1, §2, §5): GET/LIST/WATCH/PATCH Deployments and
 * GET/LIST ReplicaSets under `/apis/apps/v1`, with bearer-token authentication and `Status` errors.
 * Objects are plain JSON, never typed models, so nothing a real server would send is lost.
 *
 * The controller follows kubernetes/kubernetes `pkg/controller/deployment`: a template change either
 * reuses an owned ReplicaSet whose template is equal ignoring `pod-template-hash` (renumbering it to
 * max+1 and recording the old number in `revision-history`, which is what a rollback looks like) or
 * creates `<deployment>-<hash>`; Deployment annotations other than the skip list travel to the new
 * ReplicaSet; a paused Deployment rolls nothing out. How fast pods become available is up to the test
 * (`setRolloutMode`), so every status a watcher sees is deterministic.
 *
 * Not modelled: admission, adoption of orphans, revisionHistoryLimit clean-up, Recreate strategy,
 * server-side apply, pods.
 */

export type JsonObject = Record<string, unknown>;
export type KubeResource = 'deployments' | 'replicasets';
export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/**
 * How a Deployment's pods come up after a change:
 * - `instant` (default): the rollout completes at once, in the status write that follows the change;
 * - `stepwise`: nothing happens until `tick()` (or every `stepMs`): the first tick observes the new
 *   generation (until then watchers see `observedGeneration` lag), then each tick starts one new pod
 *   or makes one available and retires an old one, each a MODIFIED event;
 * - `stuck`: the rollout never completes: one new pod starts and never becomes available, and old
 *   pods never finish terminating (so a rollback to a ReplicaSet that still runs stays incomplete too);
 * - `deadline`: like `stuck`, and after `deadlineMs` (or at `tick()`) Progressing turns
 *   `False`/`ProgressDeadlineExceeded`.
 */
export type RolloutMode = 'instant' | 'stepwise' | 'stuck' | 'deadline';

export interface RolloutModeOptions {
  /** `stepwise`: take a step every `stepMs` on a timer instead of waiting for `tick()`. */
  stepMs?: number;
  /** `deadline`: how long until the progress deadline passes. Default 100 ms. */
  deadlineMs?: number;
}

export interface FakeKubeApiOptions {
  /** Bearer token every request must carry. Default `fake-kube-token`; `null` accepts anyone. */
  token?: string | null;
  /** The identity named in Forbidden messages. */
  user?: string;
}

export interface RecordedKubeRequest {
  method: string;
  /** Path without the query, e.g. `/apis/apps/v1/namespaces/ml/deployments/web`. */
  path: string;
  query: Record<string, string>;
  contentType: string | undefined;
  /** The body, parsed as JSON when it is JSON; undefined without one. */
  body: unknown;
  status: number;
  watch: boolean;
  /** When the request arrived (epoch ms), for measuring the gaps between a client's retries. */
  at: number;
}

export interface KubeFailureMatcher {
  method?: string;
  /** Compared with the path without its query. */
  pathPrefix?: string;
}

export interface KubeFailure {
  /** 429, 500, 503, … */
  code: number;
  /** Status reason; default from the code (TooManyRequests, InternalError, ServiceUnavailable). */
  reason?: string;
  message?: string;
  /** How many matching requests fail; 1 by default. */
  count?: number;
  /** Sent as Retry-After (seconds); 429 gets 1 unless told. */
  retryAfterSeconds?: number;
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[];
}

export interface CreateDeploymentOptions {
  namespace: string;
  name: string;
  /** Labels on the Deployment itself. */
  labels?: Record<string, string>;
  /** Default `{ matchLabels: { app: name } }`. */
  selector?: LabelSelector;
  /** A PodTemplateSpec as JSON. Default: one container `name` running `image`, labelled for the selector. */
  template?: JsonObject;
  /** Used by the default template. Default `registry.example.com/<name>:1`. */
  image?: string;
  /** Default 3. */
  replicas?: number;
  annotations?: Record<string, string>;
  /** Sets `kubernetes.io/change-cause`, which travels to the ReplicaSet. */
  changeCause?: string;
  paused?: boolean;
  progressDeadlineSeconds?: number;
  rolloutMode?: RolloutMode;
}

export interface AddReplicaSetOptions {
  /** Who controls it. `another-uid`: a Deployment of the same name but a different uid (must not count). Default `deployment`. */
  owner?: 'deployment' | 'another-uid' | 'none';
  /** The `deployment.kubernetes.io/revision` annotation exactly as given, e.g. `'12'` or `'not-a-number'`. */
  revision?: string;
  /** Image of the first container; default `<image>-<owner>`, so its template differs from the Deployment's. */
  image?: string;
  changeCause?: string;
  replicas?: number;
}

export interface RevisionSummary {
  revision: number;
  name: string;
  image?: string;
  changeCause?: string;
}

export interface FakeKubeConfigOptions {
  clusters: { name: string; server: string; skipTLSVerify: boolean }[];
  users: { name: string; token?: string }[];
  contexts: { name: string; cluster: string; user: string; namespace?: string }[];
  currentContext: string;
}

const GROUP = 'apps';
const HASH_LABEL = 'pod-template-hash';
const REVISION = 'deployment.kubernetes.io/revision';
const REVISION_HISTORY = 'deployment.kubernetes.io/revision-history';
const DESIRED_REPLICAS = 'deployment.kubernetes.io/desired-replicas';
const MAX_REPLICAS = 'deployment.kubernetes.io/max-replicas';
const CHANGE_CAUSE = 'kubernetes.io/change-cause';
/** Never copied from a Deployment to its ReplicaSet (deployment_util.go `annotationsToSkip`). */
const ANNOTATIONS_TO_SKIP = new Set([
  'kubectl.kubernetes.io/last-applied-configuration',
  REVISION,
  REVISION_HISTORY,
  DESIRED_REPLICAS,
  MAX_REPLICAS,
  'deprecated.deployment.rollback.to',
]);
/** The alphabet of `rand.SafeEncodeString`, which the controller uses for pod-template-hash. */
const SAFE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
/** List fields a strategic-merge patch merges by key (the patchMergeKey tags of k8s.io/api). */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  env: 'name',
  ports: 'containerPort',
  volumes: 'name',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  imagePullSecrets: 'name',
  hostAliases: 'ip',
  topologySpreadConstraints: 'topologyKey',
  resourceClaims: 'name',
  ownerReferences: 'uid',
};
const KIND: Record<KubeResource, string> = { deployments: 'Deployment', replicasets: 'ReplicaSet' };
const DEFAULT_REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  410: 'Expired',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};
const ROUTE = /^\/apis\/apps\/v1\/(?:namespaces\/([^/]+)\/)?(deployments|replicasets)(?:\/([^/]+)(\/status)?)?$/;

const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);
const clone = <T>(value: T): T => structuredClone(value);

/** The object under `key`, created empty when absent or not an object. */
function child(parent: JsonObject, key: string): JsonObject {
  const value = parent[key];
  if (isObject(value)) return value;
  const created: JsonObject = {};
  parent[key] = created;
  return created;
}

const metadata = (object: JsonObject): JsonObject => child(object, 'metadata');
const spec = (object: JsonObject): JsonObject => child(object, 'spec');
const status = (object: JsonObject): JsonObject => child(object, 'status');
const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
const count = (value: unknown): number => (typeof value === 'number' && Number.isFinite(value) ? value : 0);
const nameOf = (object: JsonObject): string => text(metadata(object).name) ?? '';
const namespaceOf = (object: JsonObject): string => text(metadata(object).namespace) ?? '';

function stringMap(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (isObject(value)) for (const [key, entry] of Object.entries(value)) if (typeof entry === 'string') out[key] = entry;
  return out;
}

const annotations = (object: JsonObject): JsonObject => child(metadata(object), 'annotations');

/** Reads a nested value without creating anything on the way. */
function at(object: unknown, ...path: string[]): unknown {
  let current = object;
  for (const step of path) current = isObject(current) ? current[step] : undefined;
  return current;
}

/** JSON with sorted keys, so equal values give equal strings. */
function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  if (isObject(value)) {
    const keys = Object.keys(value)
      .filter((key) => value[key] !== undefined)
      .sort();
    return `{${keys.map((key) => `${JSON.stringify(key)}:${stableStringify(value[key])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** Drops null, empty maps and empty lists: apimachinery's Semantic.DeepEqual treats them as absent. */
function semantic(value: unknown): unknown {
  if (Array.isArray(value)) {
    return value.length === 0 ? undefined : value.map((item) => semantic(item) ?? null);
  }
  if (isObject(value)) {
    const out: JsonObject = {};
    for (const [key, entry] of Object.entries(value)) {
      const kept = semantic(entry);
      if (kept !== undefined) out[key] = kept;
    }
    return Object.keys(out).length === 0 ? undefined : out;
  }
  return value === null ? undefined : value;
}

function withoutHash(template: unknown): unknown {
  const copy = clone(isObject(template) ? template : {});
  const labels = metadata(copy).labels;
  if (isObject(labels)) delete labels[HASH_LABEL];
  return copy;
}

/** `equalIgnoreHash` of kubectl and the controller. */
function templatesEqual(a: unknown, b: unknown): boolean {
  return stableStringify(semantic(withoutHash(a))) === stableStringify(semantic(withoutHash(b)));
}

/** A short stable hash of the template without its hash label, spelt like the controller's (`ComputeHash`). */
function templateHash(template: unknown, collisionCount: number): string {
  const digest = createHash('sha256')
    .update(stableStringify(semantic(withoutHash(template))))
    .update(collisionCount > 0 ? String(collisionCount) : '')
    .digest();
  return Array.from(String(digest.readUInt32BE(0)), (char) => SAFE_ALPHABET[char.charCodeAt(0) % SAFE_ALPHABET.length] ?? 'b').join('');
}

/** `deploymentutil.Revision`: 0 when absent, undefined when it does not parse (callers skip those). */
function revisionOf(object: JsonObject): number | undefined {
  const value = stringMap(metadata(object).annotations)[REVISION];
  if (value === undefined) return 0;
  return /^[+-]?\d+$/.test(value) ? Number.parseInt(value, 10) : undefined;
}

/** maxSurge / maxUnavailable: an int or a percentage of the desired replicas. */
function scaledValue(value: unknown, replicas: number, fallback: string, roundUp: boolean): number {
  const raw = typeof value === 'number' || typeof value === 'string' ? value : fallback;
  if (typeof raw === 'number') return raw;
  const percent = /^(\d+)%$/.exec(raw);
  if (!percent) return Number.parseInt(raw, 10) || 0;
  const exact = (replicas * Number(percent[1])) / 100;
  return roundUp ? Math.ceil(exact) : Math.floor(exact);
}

function imageOf(template: unknown): string | undefined {
  const containers = at(template, 'spec', 'containers');
  return Array.isArray(containers) ? text(at(containers[0], 'image')) : undefined;
}

// ---------------------------------------------------------------------------------------------------
// Selectors

interface Requirement {
  key: string;
  op: 'in' | 'notin' | 'exists' | 'doesnotexist';
  values: string[];
}

class BadRequest extends Error {}

const LABEL_KEY = '[A-Za-z0-9][-A-Za-z0-9_./]*';
const LABEL_VALUE = '[-A-Za-z0-9_.]*';

/** The label selector string syntax: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`, comma-joined. */
function parseLabelSelector(selector: string): Requirement[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const char of selector) {
    if (char === '(') depth++;
    if (char === ')') depth--;
    if (char === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else current += char;
  }
  parts.push(current);
  if (selector.trim() === '') return [];
  const requirements: Requirement[] = [];
  for (const raw of parts) {
    const part = raw.trim();
    if (part === '') throw new BadRequest(`unable to parse requirement: found '', expected: identifier`);
    let match: RegExpExecArray | null;
    if ((match = new RegExp(`^!\\s*(${LABEL_KEY})$`).exec(part))) requirements.push({ key: match[1] ?? '', op: 'doesnotexist', values: [] });
    else if ((match = new RegExp(`^(${LABEL_KEY})\\s+(in|notin)\\s*\\(([^)]*)\\)$`).exec(part))) {
      const values = (match[3] ?? '').split(',').map((value) => value.trim());
      if (values.some((value) => !new RegExp(`^${LABEL_VALUE}$`).test(value))) throw new BadRequest(`unable to parse requirement: ${part}`);
      requirements.push({ key: match[1] ?? '', op: match[2] === 'in' ? 'in' : 'notin', values });
    } else if ((match = new RegExp(`^(${LABEL_KEY})\\s*(==|=|!=)\\s*(${LABEL_VALUE})$`).exec(part))) {
      requirements.push({ key: match[1] ?? '', op: match[2] === '!=' ? 'notin' : 'in', values: [match[3] ?? ''] });
    } else if ((match = new RegExp(`^(${LABEL_KEY})$`).exec(part))) requirements.push({ key: match[1] ?? '', op: 'exists', values: [] });
    else throw new BadRequest(`unable to parse requirement: found '${part}', expected: identifier, !, in, notin, =, ==, !=`);
  }
  return requirements;
}

const OPERATORS: Record<string, Requirement['op']> = { In: 'in', NotIn: 'notin', Exists: 'exists', DoesNotExist: 'doesnotexist' };

/** `metav1.LabelSelectorAsSelector`. */
function selectorRequirements(selector: unknown): Requirement[] {
  if (!isObject(selector)) return [];
  const requirements: Requirement[] = Object.entries(stringMap(selector.matchLabels)).map(([key, value]) => ({ key, op: 'in', values: [value] }));
  for (const expression of Array.isArray(selector.matchExpressions) ? selector.matchExpressions : []) {
    if (!isObject(expression)) continue;
    const op = OPERATORS[text(expression.operator) ?? ''];
    if (!op) continue;
    requirements.push({ key: text(expression.key) ?? '', op, values: Array.isArray(expression.values) ? expression.values.filter((v): v is string => typeof v === 'string') : [] });
  }
  return requirements;
}

function labelsMatch(requirements: Requirement[], labels: Record<string, string>): boolean {
  return requirements.every(({ key, op, values }) => {
    const value = labels[key];
    switch (op) {
      case 'in':
        return value !== undefined && values.includes(value);
      case 'notin':
        return value === undefined || !values.includes(value);
      case 'exists':
        return value !== undefined;
      case 'doesnotexist':
        return value === undefined;
    }
  });
}

interface FieldRequirement {
  field: 'metadata.name' | 'metadata.namespace';
  value: string;
  equal: boolean;
}

function parseFieldSelector(selector: string): FieldRequirement[] {
  return selector
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const match = /^(metadata\.name|metadata\.namespace)\s*(==|=|!=)\s*(.*)$/.exec(part);
      if (!match) throw new BadRequest(`"${part.split(/[=!]/)[0] ?? part}" is not a known field selector: only "metadata.name", "metadata.namespace"`);
      return { field: match[1] as FieldRequirement['field'], value: match[3] ?? '', equal: match[2] !== '!=' };
    });
}

function fieldsMatch(requirements: FieldRequirement[], object: JsonObject): boolean {
  return requirements.every(({ field, value, equal }) => ((field === 'metadata.name' ? nameOf(object) : namespaceOf(object)) === value) === equal);
}

// ---------------------------------------------------------------------------------------------------
// Patches

class PatchFailure extends Error {}

function parsePointer(pointer: unknown): string[] {
  if (typeof pointer !== 'string') throw new PatchFailure('path is not a string');
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new PatchFailure(`JSON pointer must be empty or start with a "/": ${pointer}`);
  return pointer
    .slice(1)
    .split('/')
    .map((token) => token.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function arrayIndex(token: string, length: number, allowEnd: boolean): number | undefined {
  if (allowEnd && token === '-') return length;
  if (!/^(0|[1-9]\d*)$/.test(token)) return undefined;
  const index = Number(token);
  return index < length || (allowEnd && index === length) ? index : undefined;
}

function lookup(doc: unknown, tokens: string[]): { found: boolean; value: unknown } {
  let current = doc;
  for (const token of tokens) {
    if (Array.isArray(current)) {
      const index = arrayIndex(token, current.length, false);
      if (index === undefined) return { found: false, value: undefined };
      current = current[index];
    } else if (isObject(current) && Object.hasOwn(current, token)) current = current[token];
    else return { found: false, value: undefined };
  }
  return { found: true, value: current };
}

/** The container holding the last token, which must exist (RFC 6902 §4: the parent always must). */
function parentOf(doc: unknown, tokens: string[], op: string, pointer: string): { parent: JsonObject | unknown[]; key: string } {
  const { found, value } = lookup(doc, tokens.slice(0, -1));
  if (!found || !(Array.isArray(value) || isObject(value))) throw new PatchFailure(`${op} operation does not apply: doc is missing path: "${pointer}": missing value`);
  return { parent: value, key: tokens[tokens.length - 1] ?? '' };
}

function addAt(doc: unknown, tokens: string[], value: unknown, pointer: string, op = 'add'): unknown {
  if (tokens.length === 0) return value;
  const { parent, key } = parentOf(doc, tokens, op, pointer);
  if (Array.isArray(parent)) {
    const index = arrayIndex(key, parent.length, true);
    if (index === undefined) throw new PatchFailure(`${op} operation does not apply: index out of bounds: "${pointer}"`);
    parent.splice(index, 0, value);
  } else parent[key] = value;
  return doc;
}

function removeAt(doc: unknown, tokens: string[], pointer: string, op = 'remove'): unknown {
  if (tokens.length === 0) throw new PatchFailure(`${op} operation does not apply: cannot remove the whole document`);
  const { parent, key } = parentOf(doc, tokens, op, pointer);
  if (Array.isArray(parent)) {
    const index = arrayIndex(key, parent.length, false);
    if (index === undefined) throw new PatchFailure(`${op} operation does not apply: doc is missing key: ${pointer}: missing value`);
    parent.splice(index, 1);
  } else {
    if (!Object.hasOwn(parent, key)) throw new PatchFailure(`${op} operation does not apply: doc is missing key: ${pointer}: missing value`);
    delete parent[key];
  }
  return doc;
}

/** RFC 6902 on a copy of `target`. */
function applyJsonPatch(target: unknown, operations: unknown): unknown {
  if (!Array.isArray(operations)) throw new BadRequest('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  let doc = clone(target);
  for (const operation of operations) {
    if (!isObject(operation)) throw new BadRequest('json: cannot unmarshal a patch operation that is not an object');
    const op = text(operation.op);
    const pointer = text(operation.path) ?? '';
    const tokens = parsePointer(operation.path);
    switch (op) {
      case 'add':
        doc = addAt(doc, tokens, clone(operation.value), pointer);
        break;
      case 'remove':
        doc = removeAt(doc, tokens, pointer);
        break;
      case 'replace':
        if (!lookup(doc, tokens).found) throw new PatchFailure(`replace operation does not apply: doc is missing key: ${pointer}: missing value`);
        doc = tokens.length === 0 ? clone(operation.value) : addAt(removeAt(doc, tokens, pointer, 'replace'), tokens, clone(operation.value), pointer, 'replace');
        break;
      case 'test': {
        const { found, value } = lookup(doc, tokens);
        if (!found || stableStringify(value) !== stableStringify(operation.value)) throw new PatchFailure(`testing value ${pointer} failed: test failed`);
        break;
      }
      case 'move':
      case 'copy': {
        const fromPointer = text(operation.from) ?? '';
        const from = parsePointer(operation.from);
        const source = lookup(doc, from);
        if (!source.found) throw new PatchFailure(`${op} operation does not apply: doc is missing from path: ${fromPointer}`);
        if (op === 'move') doc = removeAt(doc, from, fromPointer, 'move');
        doc = addAt(doc, tokens, clone(source.value), pointer, op);
        break;
      }
      default:
        throw new PatchFailure(`Unexpected kind: ${op ?? String(operation.op)}`);
    }
  }
  return doc;
}

/** RFC 7386. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch);
  const out: JsonObject = isObject(target) ? clone(target) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

/** What a round trip through the API's Go types does to nulls: they vanish (a nil field is omitted). */
function pruneNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.filter((item) => item !== null).map(pruneNulls);
  if (isObject(value)) return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== null).map(([name, entry]) => [name, pruneNulls(entry)]));
  return value;
}

const withoutDirectives = (value: JsonObject): JsonObject => Object.fromEntries(Object.entries(value).filter(([key]) => !key.startsWith('$')));

/** The part of strategic merge that matters for pod templates: keyed lists merge, `$patch: replace|delete`, null deletes. */
function strategicMerge(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch);
  if (patch.$patch === 'replace') return clone(withoutDirectives(patch));
  if (patch.$patch === 'delete') return undefined;
  const out: JsonObject = isObject(target) ? clone(target) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith('$')) continue;
    const mergeKey = MERGE_KEYS[key];
    const current = out[key];
    if (value === null) delete out[key];
    else if (Array.isArray(value) && mergeKey && Array.isArray(current)) {
      const merged = clone(current);
      for (const item of value) {
        const index = isObject(item) ? merged.findIndex((existing) => isObject(existing) && existing[mergeKey] === item[mergeKey]) : -1;
        if (isObject(item) && item.$patch === 'delete') {
          if (index >= 0) merged.splice(index, 1);
        } else if (index >= 0) merged[index] = strategicMerge(merged[index], item);
        else merged.push(isObject(item) ? withoutDirectives(item) : clone(item));
      }
      out[key] = merged;
    } else if (isObject(value)) {
      const merged = strategicMerge(current, value);
      if (merged === undefined) delete out[key];
      else out[key] = merged;
    } else out[key] = clone(value);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Defaults and validation, the handful the API server applies to pod templates

function defaultContainer(container: unknown): void {
  if (!isObject(container)) return;
  container.terminationMessagePath ??= '/dev/termination-log';
  container.terminationMessagePolicy ??= 'File';
  const image = text(container.image) ?? '';
  const lastSegment = image.split('/').pop() ?? '';
  const tagged = image.includes('@') || (lastSegment.includes(':') && !lastSegment.endsWith(':latest'));
  container.imagePullPolicy ??= tagged ? 'IfNotPresent' : 'Always';
  container.resources ??= {};
  if (Array.isArray(container.ports)) for (const port of container.ports) if (isObject(port)) port.protocol ??= 'TCP';
}

function defaultDeployment(deployment: JsonObject): void {
  const deploymentSpec = spec(deployment);
  deploymentSpec.replicas ??= 1;
  deploymentSpec.revisionHistoryLimit ??= 10;
  deploymentSpec.progressDeadlineSeconds ??= 600;
  const strategy = child(deploymentSpec, 'strategy');
  strategy.type ??= 'RollingUpdate';
  if (strategy.type === 'RollingUpdate') {
    const rollingUpdate = child(strategy, 'rollingUpdate');
    rollingUpdate.maxUnavailable ??= '25%';
    rollingUpdate.maxSurge ??= '25%';
  }
  const podSpec = spec(child(deploymentSpec, 'template'));
  podSpec.restartPolicy ??= 'Always';
  podSpec.terminationGracePeriodSeconds ??= 30;
  podSpec.dnsPolicy ??= 'ClusterFirst';
  podSpec.securityContext ??= {};
  podSpec.schedulerName ??= 'default-scheduler';
  for (const list of ['containers', 'initContainers']) {
    const containers = podSpec[list];
    if (Array.isArray(containers)) containers.forEach(defaultContainer);
  }
}

interface Cause {
  field: string;
  message: string;
}

function validateDeployment(deployment: JsonObject, previous: JsonObject | undefined): Cause[] {
  const causes: Cause[] = [];
  const meta = metadata(deployment);
  for (const field of ['labels', 'annotations']) {
    const map = meta[field];
    if (map !== undefined && (!isObject(map) || Object.values(map).some((value) => typeof value !== 'string'))) {
      causes.push({ field: `metadata.${field}`, message: 'Invalid value: must be a map of strings' });
    }
  }
  const deploymentSpec = spec(deployment);
  const replicas = deploymentSpec.replicas;
  if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) causes.push({ field: 'spec.replicas', message: 'Invalid value: must be greater than or equal to 0' });
  const selector = selectorRequirements(deploymentSpec.selector);
  if (selector.length === 0) causes.push({ field: 'spec.selector', message: 'Invalid value: empty selector is invalid for deployment' });
  if (previous && stableStringify(spec(previous).selector) !== stableStringify(deploymentSpec.selector)) {
    causes.push({ field: 'spec.selector', message: 'Invalid value: field is immutable' });
  }
  const template = deploymentSpec.template;
  if (!isObject(template)) {
    causes.push({ field: 'spec.template', message: 'Required value' });
    return causes;
  }
  if (selector.length > 0 && !labelsMatch(selector, stringMap(metadata(template).labels))) {
    causes.push({ field: 'spec.template.metadata.labels', message: 'Invalid value: `selector` does not match template `labels`' });
  }
  const containers = spec(template).containers;
  if (!Array.isArray(containers) || containers.length === 0) causes.push({ field: 'spec.template.spec.containers', message: 'Required value' });
  else {
    containers.forEach((container, index) => {
      if (!isObject(container) || !text(container.name)) causes.push({ field: `spec.template.spec.containers[${index}].name`, message: 'Required value' });
      if (!isObject(container) || !text(container.image)) causes.push({ field: `spec.template.spec.containers[${index}].image`, message: 'Required value' });
    });
  }
  return causes;
}

// ---------------------------------------------------------------------------------------------------

/** Thrown inside the handler to answer with a Status. */
class StatusError extends Error {
  readonly code: number;
  readonly details: JsonObject;
  readonly reason: string;

  constructor(code: number, message: string, details: JsonObject = {}) {
    super(message);
    this.code = code;
    this.details = details;
    this.reason = DEFAULT_REASONS[code] ?? 'InternalError';
  }
}

function statusBody(code: number, reason: string, message: string, details: JsonObject): JsonObject {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, details, code };
}

interface Watcher {
  resource: KubeResource;
  namespace: string | undefined;
  fields: FieldRequirement[];
  labels: Requirement[];
  bookmarks: boolean;
  res: ServerResponse;
  timer: NodeJS.Timeout | undefined;
}

interface HistoryEntry {
  resourceVersion: number;
  resource: KubeResource;
  type: WatchEventType;
  object: JsonObject;
}

interface Rollout {
  mode: RolloutMode;
  stepMs: number | undefined;
  deadlineMs: number;
  stepTimer: NodeJS.Timeout | undefined;
  deadlineTimer: NodeJS.Timeout | undefined;
  /** The Progressing reason while the rollout is neither complete nor timed out. */
  reason: 'NewReplicaSetCreated' | 'FoundNewReplicaSet' | 'ReplicaSetUpdated';
  deadlineExceeded: boolean;
}

interface Forbidden {
  verb: string;
  resource: KubeResource;
  namespace: string | undefined;
}

const key = (namespace: string, name: string): string => `${namespace}/${name}`;

export class FakeKubeApi {
  url = '';
  private readonly server: Server;
  private readonly token: string | null;
  private readonly user: string;
  private readonly store: Record<KubeResource, Map<string, JsonObject>> = { deployments: new Map(), replicasets: new Map() };
  private readonly rollouts = new Map<string, Rollout>();
  private readonly watching = new Set<Watcher>();
  private readonly history: HistoryEntry[] = [];
  private readonly forbidden: Forbidden[] = [];
  private readonly failures: { matcher: KubeFailureMatcher; failure: KubeFailure }[] = [];
  private readonly held = new HeldAnswers<KubeFailureMatcher, RecordedKubeRequest>();
  private readonly log: RecordedKubeRequest[] = [];
  private resourceVersion = 100;
  /** Watches may start from any resourceVersion above this; older ones get 410 Expired. */
  private compactedAt = 0;
  /** creationTimestamps and condition times: whole seconds, one apart, starting an hour ago. */
  private clock = Math.floor(Date.now() / 1000) * 1000 - 3_600_000;

  private constructor(options: FakeKubeApiOptions) {
    this.token = options.token === undefined ? 'fake-kube-token' : options.token;
    this.user = options.user ?? 'system:serviceaccount:mlops:mlops-chatops';
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify(statusBody(500, 'InternalError', String(error), {})));
      });
    });
  }

  static async start(options: FakeKubeApiOptions = {}): Promise<FakeKubeApi> {
    const fake = new FakeKubeApi(options);
    await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
    fake.url = `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}`;
    return fake;
  }

  async stop(): Promise<void> {
    for (const rollout of this.rollouts.values()) this.clearTimers(rollout);
    this.closeWatches();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** For `KubeConfig.loadFromOptions`: this server (http, so `skipTLSVerify` is required), the bearer token, a context. */
  kubeconfig(namespace?: string): FakeKubeConfigOptions {
    return {
      clusters: [{ name: 'fake-kube', server: this.url, skipTLSVerify: true }],
      users: [{ name: 'fake-kube-user', ...(this.token !== null ? { token: this.token } : {}) }],
      contexts: [{ name: 'fake-kube', cluster: 'fake-kube', user: 'fake-kube-user', ...(namespace !== undefined ? { namespace } : {}) }],
      currentContext: 'fake-kube',
    };
  }

  /** The same as a kubeconfig file (JSON, which is YAML), for `loadFromString` or a `KUBECONFIG` file. */
  kubeconfigText(namespace?: string): string {
    return JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'fake-kube', cluster: { server: this.url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'fake-kube-user', user: this.token !== null ? { token: this.token } : {} }],
      contexts: [{ name: 'fake-kube', context: { cluster: 'fake-kube', user: 'fake-kube-user', ...(namespace !== undefined ? { namespace } : {}) } }],
      'current-context': 'fake-kube',
    });
  }

  /**
   * One kubeconfig (JSON, which is YAML) for several fake clusters, a context (with its own cluster and
   * credentials) per entry, named by its key: what a bot reaching several OKE clusters mounts.
   */
  static kubeconfigTextFor(contexts: Readonly<Record<string, FakeKubeApi>>, current: string, namespace?: string): string {
    const names = Object.keys(contexts);
    return JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: names.map((name) => ({ name, cluster: { server: contexts[name]?.url, 'insecure-skip-tls-verify': true } })),
      users: names.map((name) => {
        const token = contexts[name]?.token;
        return { name: `${name}-user`, user: typeof token === 'string' ? { token } : {} };
      }),
      contexts: names.map((name) => ({ name, context: { cluster: name, user: `${name}-user`, ...(namespace !== undefined ? { namespace } : {}) } })),
      'current-context': current,
    });
  }

  /** Every request received, refused ones included, oldest first. */
  requests(): RecordedKubeRequest[] {
    return clone(this.log);
  }

  /** Open watch connections. */
  watchers(): number {
    return this.watching.size;
  }

  /** Matching requests (`get`, `list`, `watch`, `patch`) answer 403 Forbidden as RBAC would, in `namespace` or everywhere. */
  forbid(verb: string, resource: KubeResource, namespace?: string): void {
    this.forbidden.push({ verb, resource, namespace });
  }

  /** Lifts every `forbid`. */
  allowAll(): void {
    this.forbidden.length = 0;
  }

  /** The next `count` matching requests (after authentication) get this error instead. */
  failNext(matcher: KubeFailureMatcher, failure: KubeFailure): void {
    for (let i = 0; i < (failure.count ?? 1); i++) this.failures.push({ matcher, failure });
  }

  /** The next matching request (not a watch) is performed (a PATCH applied) but its answer is held until `release()`. */
  holdNext(matcher: KubeFailureMatcher): HeldAnswer<RecordedKubeRequest> {
    return this.held.hold(matcher);
  }

  /** The next `count` matching requests are performed but answered only after `delayMs`, past a client's timeout. */
  delayNext(matcher: KubeFailureMatcher, delayMs: number, count = 1): void {
    this.held.delay(matcher, delayMs, count);
  }

  deployment(namespace: string, name: string): JsonObject | undefined {
    const deployment = this.store.deployments.get(key(namespace, name));
    return deployment && clone(deployment);
  }

  /** The namespace's ReplicaSets, oldest first. */
  replicaSets(namespace: string): JsonObject[] {
    return [...this.store.replicasets.values()]
      .filter((rs) => namespaceOf(rs) === namespace)
      .sort(byCreation)
      .map((rs) => clone(rs));
  }

  /** The Deployment's own ReplicaSets (controller uid) with a numeric revision, by revision. */
  revisions(namespace: string, name: string): RevisionSummary[] {
    const deployment = this.store.deployments.get(key(namespace, name));
    if (!deployment) return [];
    return this.owned(deployment)
      .flatMap((rs) => {
        const revision = revisionOf(rs);
        if (revision === undefined) return [];
        const image = imageOf(spec(rs).template);
        const changeCause = stringMap(metadata(rs).annotations)[CHANGE_CAUSE];
        return [{ revision, name: nameOf(rs), ...(image !== undefined ? { image } : {}), ...(changeCause !== undefined ? { changeCause } : {}) }];
      })
      .sort((a, b) => a.revision - b.revision);
  }

  /** Stores a Deployment (defaults applied as the API server would) and runs the controller: revision 1. */
  createDeployment(options: CreateDeploymentOptions): JsonObject {
    const { namespace, name } = options;
    if (this.store.deployments.has(key(namespace, name))) throw new Error(`deployment ${namespace}/${name} already exists`);
    const selector = options.selector ?? { matchLabels: { app: name } };
    const template = options.template ?? {
      metadata: { labels: { ...selector.matchLabels } },
      spec: { containers: [{ name, image: options.image ?? `registry.example.com/${name}:1` }] },
    };
    const deployment: JsonObject = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: {
        name,
        namespace,
        uid: randomUUID(),
        generation: 1,
        creationTimestamp: this.now(),
        ...(options.labels ? { labels: { ...options.labels } } : {}),
        ...(options.annotations || options.changeCause !== undefined
          ? { annotations: { ...options.annotations, ...(options.changeCause !== undefined ? { [CHANGE_CAUSE]: options.changeCause } : {}) } }
          : {}),
      },
      spec: {
        replicas: options.replicas ?? 3,
        selector: clone(selector),
        template: pruneNulls(template),
        ...(options.paused !== undefined ? { paused: options.paused } : {}),
        ...(options.progressDeadlineSeconds !== undefined ? { progressDeadlineSeconds: options.progressDeadlineSeconds } : {}),
      },
      status: {},
    };
    defaultDeployment(deployment);
    const causes = validateDeployment(deployment, undefined);
    if (causes.length > 0) throw new Error(`invalid deployment: ${causes.map((cause) => `${cause.field}: ${cause.message}`).join('; ')}`);
    if (options.rolloutMode) this.rolloutOf(key(namespace, name)).mode = options.rolloutMode;
    this.write('deployments', deployment, 'ADDED');
    this.reconcile(key(namespace, name));
    return this.deploymentOrThrow(namespace, name);
  }

  /**
   * Changes the pod template as `kubectl set image` / `kubectl edit` would: `mutate` edits a copy (or
   * returns a new one), `changeCause` sets `kubernetes.io/change-cause`, the generation goes up, then the
   * controller runs. Returns the Deployment after the controller.
   */
  updateTemplate(namespace: string, name: string, mutate: (template: JsonObject) => JsonObject | void, options: { changeCause?: string } = {}): JsonObject {
    const candidate = clone(this.deploymentOrThrow(namespace, name));
    const template = child(spec(candidate), 'template');
    spec(candidate).template = mutate(template) ?? template;
    if (options.changeCause !== undefined) annotations(candidate)[CHANGE_CAUSE] = options.changeCause;
    this.commit(candidate);
    return this.deploymentOrThrow(namespace, name);
  }

  /** `kubectl set image deployment/<name> <container>=<image>` (first container by default), recording a change-cause. */
  setImage(namespace: string, name: string, image: string, options: { container?: string; changeCause?: string } = {}): JsonObject {
    const findContainer = (template: unknown): JsonObject | undefined => {
      const containers = at(template, 'spec', 'containers');
      const list = Array.isArray(containers) ? containers.filter(isObject) : [];
      return options.container === undefined ? list[0] : list.find((entry) => entry.name === options.container);
    };
    const container = findContainer(at(this.deploymentOrThrow(namespace, name), 'spec', 'template'));
    if (!container) throw new Error(`deployment ${namespace}/${name} has no container ${options.container ?? '(first)'}`);
    const changeCause = options.changeCause ?? `kubectl set image deployment/${name} ${text(container.name) ?? ''}=${image}`;
    return this.updateTemplate(
      namespace,
      name,
      (template) => {
        const target = findContainer(template);
        if (target) target.image = image;
      },
      { changeCause },
    );
  }

  /** One rollout per image, in order: an easy way to get revisions past 9. */
  rollOutImages(namespace: string, name: string, images: readonly string[]): RevisionSummary[] {
    for (const image of images) this.setImage(namespace, name, image);
    return this.revisions(namespace, name);
  }

  /** `kubectl rollout pause|resume`. */
  setPaused(namespace: string, name: string, paused: boolean): JsonObject {
    const candidate = clone(this.deploymentOrThrow(namespace, name));
    spec(candidate).paused = paused;
    this.commit(candidate);
    return this.deploymentOrThrow(namespace, name);
  }

  /** Deletes the Deployment and, as the garbage collector would, its ReplicaSets (DELETED events for each). */
  deleteDeployment(namespace: string, name: string): void {
    const deployment = this.deploymentOrThrow(namespace, name);
    const rollout = this.rollouts.get(key(namespace, name));
    if (rollout) this.clearTimers(rollout);
    this.rollouts.delete(key(namespace, name));
    this.remove('deployments', deployment);
    for (const rs of this.owned(deployment)) this.remove('replicasets', rs);
  }

  /**
   * Adds a ReplicaSet matching the Deployment's selector that the controller did not make: owned by the
   * Deployment with an odd revision (`'not-a-number'`, `'12'`), owned by another Deployment of the same
   * name (a different uid, which must not count), or owned by nobody.
   */
  addReplicaSet(namespace: string, deploymentName: string, options: AddReplicaSetOptions = {}): JsonObject {
    const deployment = this.deploymentOrThrow(namespace, deploymentName);
    const owner = options.owner ?? 'deployment';
    const template = clone(child(spec(deployment), 'template'));
    const containers = spec(template).containers;
    const first = Array.isArray(containers) && isObject(containers[0]) ? containers[0] : undefined;
    if (first) first.image = options.image ?? `${text(first.image) ?? 'image'}-${owner}-${this.resourceVersion}`;
    const rs = this.newReplicaSet(deployment, template, 0);
    const rsAnnotations = annotations(rs);
    delete rsAnnotations[REVISION];
    if (options.revision !== undefined) rsAnnotations[REVISION] = options.revision;
    if (options.changeCause !== undefined) rsAnnotations[CHANGE_CAUSE] = options.changeCause;
    if (owner === 'none') delete metadata(rs).ownerReferences;
    if (owner === 'another-uid') metadata(rs).ownerReferences = [ownerReference(deploymentName, randomUUID())];
    const replicas = options.replicas ?? 0;
    spec(rs).replicas = replicas;
    Object.assign(status(rs), { replicas, fullyLabeledReplicas: replicas, readyReplicas: replicas, availableReplicas: replicas });
    this.write('replicasets', rs, 'ADDED');
    return clone(rs);
  }

  /** How this Deployment's pods come up from now on; applies to a rollout under way too. */
  setRolloutMode(namespace: string, name: string, mode: RolloutMode, options: RolloutModeOptions = {}): void {
    const rollout = this.rolloutOf(key(namespace, name));
    this.clearTimers(rollout);
    rollout.mode = mode;
    rollout.stepMs = options.stepMs;
    rollout.deadlineMs = options.deadlineMs ?? 100;
    if (this.store.deployments.has(key(namespace, name))) this.reconcile(key(namespace, name));
  }

  /**
   * One step of a `stepwise` rollout (or, in `deadline` mode, the deadline passing now). Without a name,
   * every Deployment takes a step. Returns whether anything changed; false once the rollout is complete.
   */
  tick(namespace?: string, name?: string): boolean {
    const keys = namespace !== undefined && name !== undefined ? [key(namespace, name)] : [...this.store.deployments.keys()];
    let changed = false;
    for (const deploymentKey of keys) if (this.step(deploymentKey)) changed = true;
    return changed;
  }

  /** Ends every watch stream cleanly, as an API server restart or its watch timeout would. */
  closeWatches(): void {
    for (const watcher of [...this.watching]) this.endWatch(watcher);
  }

  /** Sends a BOOKMARK (the current resourceVersion) to every watcher that allowed them. */
  sendBookmarks(): void {
    for (const watcher of this.watching) {
      if (watcher.bookmarks) this.sendEvent(watcher, 'BOOKMARK', { kind: KIND[watcher.resource], apiVersion: 'apps/v1', metadata: { resourceVersion: String(this.resourceVersion) } });
    }
  }

  /** Forgets the event history, as etcd compaction does: watches from an older resourceVersion get 410 Expired. */
  compact(): void {
    this.compactedAt = this.resourceVersion;
    this.history.length = 0;
  }

  // -------------------------------------------------------------------------------------------------
  // Controller

  private rolloutOf(deploymentKey: string): Rollout {
    let rollout = this.rollouts.get(deploymentKey);
    if (!rollout) {
      rollout = { mode: 'instant', stepMs: undefined, deadlineMs: 100, stepTimer: undefined, deadlineTimer: undefined, reason: 'NewReplicaSetCreated', deadlineExceeded: false };
      this.rollouts.set(deploymentKey, rollout);
    }
    return rollout;
  }

  private clearTimers(rollout: Rollout): void {
    clearInterval(rollout.stepTimer);
    clearTimeout(rollout.deadlineTimer);
    rollout.stepTimer = undefined;
    rollout.deadlineTimer = undefined;
  }

  /** ReplicaSets whose controller ownerReference has the Deployment's uid (`metav1.IsControlledBy`), oldest first. */
  private owned(deployment: JsonObject): JsonObject[] {
    const uid = metadata(deployment).uid;
    const namespace = namespaceOf(deployment);
    return [...this.store.replicasets.values()]
      .filter((rs) => namespaceOf(rs) === namespace)
      .filter((rs) => {
        const refs = metadata(rs).ownerReferences;
        return Array.isArray(refs) && refs.some((ref) => isObject(ref) && ref.controller === true && ref.uid === uid);
      })
      .sort(byCreation);
  }

  /** `FindNewReplicaSet`: the oldest owned ReplicaSet whose template equals the Deployment's. */
  private currentReplicaSet(deployment: JsonObject): JsonObject | undefined {
    const template = spec(deployment).template;
    return this.owned(deployment).find((rs) => templatesEqual(spec(rs).template, template));
  }

  private newReplicaSet(deployment: JsonObject, template: JsonObject, revision: number): JsonObject {
    const deploymentName = nameOf(deployment);
    const namespace = namespaceOf(deployment);
    let collisions = count(status(deployment).collisionCount);
    let hash = templateHash(template, collisions);
    while (this.store.replicasets.has(key(namespace, `${deploymentName}-${hash}`))) {
      collisions++;
      hash = templateHash(template, collisions);
    }
    if (collisions > 0) status(deployment).collisionCount = collisions;
    const podTemplate = clone(template);
    const podLabels = child(metadata(podTemplate), 'labels');
    podLabels[HASH_LABEL] = hash;
    const deploymentSpec = spec(deployment);
    const selector = clone(isObject(deploymentSpec.selector) ? deploymentSpec.selector : {});
    child(selector, 'matchLabels')[HASH_LABEL] = hash;
    const desired = count(deploymentSpec.replicas);
    const rsAnnotations: Record<string, string> = {};
    for (const [name, value] of Object.entries(stringMap(metadata(deployment).annotations))) if (!ANNOTATIONS_TO_SKIP.has(name)) rsAnnotations[name] = value;
    rsAnnotations[REVISION] = String(revision);
    rsAnnotations[DESIRED_REPLICAS] = String(desired);
    rsAnnotations[MAX_REPLICAS] = String(desired + this.maxSurge(deployment));
    return {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: {
        name: `${deploymentName}-${hash}`,
        namespace,
        uid: randomUUID(),
        generation: 1,
        creationTimestamp: this.now(),
        labels: { ...stringMap(podLabels) },
        annotations: rsAnnotations,
        ownerReferences: [ownerReference(deploymentName, text(metadata(deployment).uid) ?? '')],
      },
      spec: {
        replicas: 0,
        ...(deploymentSpec.minReadySeconds !== undefined ? { minReadySeconds: deploymentSpec.minReadySeconds } : {}),
        selector,
        template: podTemplate,
      },
      status: { replicas: 0, observedGeneration: 1 },
    };
  }

  private maxSurge(deployment: JsonObject): number {
    return scaledValue(at(deployment, 'spec', 'strategy', 'rollingUpdate', 'maxSurge'), count(at(deployment, 'spec', 'replicas')), '25%', true);
  }

  private maxUnavailable(deployment: JsonObject): number {
    return scaledValue(at(deployment, 'spec', 'strategy', 'rollingUpdate', 'maxUnavailable'), count(at(deployment, 'spec', 'replicas')), '25%', false);
  }

  /** Copies the Deployment's annotations (minus the skip list) onto its ReplicaSet; true if any changed. */
  private copyAnnotations(deployment: JsonObject, rs: JsonObject): boolean {
    const rsAnnotations = annotations(rs);
    let changed = false;
    for (const [name, value] of Object.entries(stringMap(metadata(deployment).annotations))) {
      if (ANNOTATIONS_TO_SKIP.has(name) || rsAnnotations[name] === value) continue;
      rsAnnotations[name] = value;
      changed = true;
    }
    return changed;
  }

  /** The controller taking in a new generation: find or create the new ReplicaSet and set revisions. */
  private observe(deploymentKey: string): void {
    const deployment = this.store.deployments.get(deploymentKey);
    if (!deployment) return;
    const rollout = this.rolloutOf(deploymentKey);
    const existing = this.currentReplicaSet(deployment);
    const maxOld = Math.max(0, ...this.owned(deployment).filter((rs) => rs !== existing).map((rs) => revisionOf(rs) ?? 0));
    const newRevision = maxOld + 1;
    let current: JsonObject;
    if (existing) {
      current = existing;
      let changed = this.copyAnnotations(deployment, existing);
      // SetNewReplicaSetAnnotations: an existing ReplicaSet getting a higher revision is a rollback to it.
      const rsAnnotations = annotations(existing);
      const old = text(rsAnnotations[REVISION]);
      const oldRevision = old === undefined ? 0 : revisionOf(existing);
      if (oldRevision !== undefined && oldRevision < newRevision) {
        rsAnnotations[REVISION] = String(newRevision);
        if (old !== undefined) {
          const history = text(rsAnnotations[REVISION_HISTORY]);
          rsAnnotations[REVISION_HISTORY] = history ? `${history},${old}` : old;
        }
        rollout.reason = 'FoundNewReplicaSet';
        changed = true;
      }
      if (changed) this.write('replicasets', existing, 'MODIFIED');
    } else {
      current = this.newReplicaSet(deployment, child(spec(deployment), 'template'), newRevision);
      this.write('replicasets', current, 'ADDED');
      rollout.reason = 'NewReplicaSetCreated';
    }
    const revision = text(annotations(current)[REVISION]);
    if (revision !== undefined) annotations(deployment)[REVISION] = revision;
    status(deployment).observedGeneration = metadata(deployment).generation;
    rollout.deadlineExceeded = false;
    clearTimeout(rollout.deadlineTimer);
    rollout.deadlineTimer = undefined;
  }

  private observed(deployment: JsonObject): boolean {
    return count(status(deployment).observedGeneration) >= count(metadata(deployment).generation);
  }

  /** Runs after every stored change to a Deployment. */
  private reconcile(deploymentKey: string): void {
    const deployment = this.store.deployments.get(deploymentKey);
    if (!deployment) return;
    const rollout = this.rolloutOf(deploymentKey);
    const current = this.currentReplicaSet(deployment);
    if (current && this.copyAnnotations(deployment, current)) this.write('replicasets', current, 'MODIFIED');
    if (spec(deployment).paused === true) {
      if (!this.observed(deployment)) {
        status(deployment).observedGeneration = metadata(deployment).generation;
        this.refreshStatus(deployment, rollout);
        this.write('deployments', deployment, 'MODIFIED');
      }
      return;
    }
    if (rollout.mode === 'stepwise') {
      this.scheduleSteps(deploymentKey, rollout);
      return;
    }
    const before = stableStringify([metadata(deployment).annotations, deployment.status]);
    if (!this.observed(deployment)) this.observe(deploymentKey);
    if (rollout.mode === 'instant') this.completeNow(deployment);
    else {
      this.startStuckPod(deployment);
      if (rollout.mode === 'deadline') this.scheduleDeadline(deploymentKey, rollout);
    }
    this.refreshStatus(deployment, rollout);
    if (stableStringify([metadata(deployment).annotations, deployment.status]) !== before) this.write('deployments', deployment, 'MODIFIED');
  }

  private step(deploymentKey: string): boolean {
    const deployment = this.store.deployments.get(deploymentKey);
    const rollout = this.rollouts.get(deploymentKey);
    if (!deployment || !rollout || spec(deployment).paused === true) return false;
    if (rollout.mode === 'deadline') {
      if (rollout.deadlineExceeded || this.complete(deployment)) return false;
      this.exceedDeadline(deploymentKey);
      return true;
    }
    if (rollout.mode !== 'stepwise') return false;
    if (!this.observed(deployment)) this.observe(deploymentKey);
    else if (!this.advance(deployment)) return false;
    else rollout.reason = 'ReplicaSetUpdated';
    this.refreshStatus(deployment, rollout);
    this.write('deployments', deployment, 'MODIFIED');
    return true;
  }

  private scheduleSteps(deploymentKey: string, rollout: Rollout): void {
    if (rollout.stepMs === undefined || rollout.stepTimer) return;
    rollout.stepTimer = setInterval(() => {
      if (!this.step(deploymentKey)) {
        clearInterval(rollout.stepTimer);
        rollout.stepTimer = undefined;
      }
    }, rollout.stepMs);
    rollout.stepTimer.unref();
  }

  private scheduleDeadline(deploymentKey: string, rollout: Rollout): void {
    const deployment = this.store.deployments.get(deploymentKey);
    if (!deployment || rollout.deadlineTimer || rollout.deadlineExceeded || this.complete(deployment)) return;
    rollout.deadlineTimer = setTimeout(() => {
      rollout.deadlineTimer = undefined;
      const now = this.store.deployments.get(deploymentKey);
      if (now && rollout.mode === 'deadline' && !this.complete(now)) this.exceedDeadline(deploymentKey);
    }, rollout.deadlineMs);
    rollout.deadlineTimer.unref();
  }

  private exceedDeadline(deploymentKey: string): void {
    const deployment = this.store.deployments.get(deploymentKey);
    const rollout = this.rolloutOf(deploymentKey);
    if (!deployment) return;
    rollout.deadlineExceeded = true;
    this.refreshStatus(deployment, rollout);
    this.write('deployments', deployment, 'MODIFIED');
  }

  /** Sets a ReplicaSet's pods: `replicas` exist, `available` of them ready and available. */
  private setPods(rs: JsonObject, replicas: number, available: number): void {
    const rsSpec = spec(rs);
    if (rsSpec.replicas !== replicas) {
      rsSpec.replicas = replicas;
      metadata(rs).generation = count(metadata(rs).generation) + 1;
    }
    const ready = Math.min(available, replicas);
    // ReplicaSetStatus.replicas is always sent; the other counts are omitted when zero.
    rs.status = {
      replicas,
      ...(replicas > 0 ? { fullyLabeledReplicas: replicas } : {}),
      ...(ready > 0 ? { readyReplicas: ready, availableReplicas: ready } : {}),
      observedGeneration: metadata(rs).generation,
    };
    this.write('replicasets', rs, 'MODIFIED');
  }

  private pods(rs: JsonObject): { replicas: number; available: number } {
    return { replicas: count(spec(rs).replicas), available: count(status(rs).availableReplicas) };
  }

  private completeNow(deployment: JsonObject): void {
    const current = this.currentReplicaSet(deployment);
    if (!current) return;
    const desired = count(spec(deployment).replicas);
    const pods = this.pods(current);
    if (pods.replicas !== desired || pods.available !== desired) this.setPods(current, desired, desired);
    for (const rs of this.owned(deployment)) if (rs !== current && this.pods(rs).replicas > 0) this.setPods(rs, 0, 0);
  }

  /**
   * `stuck`/`deadline`: one new pod starts and never becomes available. Old pods never finish going
   * either, so even a rollback to a ReplicaSet whose pods still run does not complete in these modes.
   */
  private startStuckPod(deployment: JsonObject): void {
    const current = this.currentReplicaSet(deployment);
    if (!current) return;
    const pods = this.pods(current);
    if (pods.replicas < count(spec(deployment).replicas) && pods.available === pods.replicas) this.setPods(current, pods.replicas + 1, pods.available);
  }

  /** One unit of progress: a waiting new pod becomes available (and an old one goes), or a new pod starts. */
  private advance(deployment: JsonObject): boolean {
    const current = this.currentReplicaSet(deployment);
    if (!current) return false;
    const desired = count(spec(deployment).replicas);
    const pods = this.pods(current);
    // Old ReplicaSets with waiting pods go first, as the controller scales down unhealthy ones first.
    const olds = this.owned(deployment)
      .filter((rs) => rs !== current && this.pods(rs).replicas > 0)
      .sort((a, b) => this.pods(b).replicas - this.pods(b).available - (this.pods(a).replicas - this.pods(a).available));
    const total = pods.replicas + olds.reduce((sum, rs) => sum + this.pods(rs).replicas, 0);
    const retireOne = (): void => {
      const old = olds[0];
      if (old) this.setPods(old, this.pods(old).replicas - 1, Math.min(this.pods(old).available, this.pods(old).replicas - 1));
    };
    if (pods.available < pods.replicas) {
      this.setPods(current, pods.replicas, pods.available + 1);
      if (total > desired) retireOne();
      return true;
    }
    if (pods.replicas < desired) {
      this.setPods(current, pods.replicas + 1, pods.available);
      return true;
    }
    if (pods.replicas > desired) {
      this.setPods(current, pods.replicas - 1, Math.min(pods.available, pods.replicas - 1));
      return true;
    }
    if (olds.length > 0) {
      retireOne();
      return true;
    }
    return false;
  }

  private complete(deployment: JsonObject): boolean {
    const current = this.currentReplicaSet(deployment);
    if (!current) return false;
    const desired = count(spec(deployment).replicas);
    const pods = this.pods(current);
    return pods.replicas === desired && pods.available === desired && this.owned(deployment).every((rs) => rs === current || this.pods(rs).replicas === 0);
  }

  /** `calculateStatus` plus the conditions: counts from the ReplicaSets, zero counts omitted as the API does. */
  private refreshStatus(deployment: JsonObject, rollout: Rollout): void {
    const owned = this.owned(deployment);
    const current = this.currentReplicaSet(deployment);
    const desired = count(spec(deployment).replicas);
    const sum = (field: string): number => owned.reduce((total, rs) => total + count(status(rs)[field]), 0);
    const replicas = sum('replicas');
    const updated = current ? count(status(current).replicas) : 0;
    const ready = sum('readyReplicas');
    const available = sum('availableReplicas');
    const unavailable = Math.max(0, desired - available);
    const previous = status(deployment);
    const next: JsonObject = {};
    if (previous.observedGeneration !== undefined) next.observedGeneration = previous.observedGeneration;
    for (const [field, value] of Object.entries({ replicas, updatedReplicas: updated, readyReplicas: ready, availableReplicas: available, unavailableReplicas: unavailable })) {
      if (value > 0) next[field] = value;
    }
    const oldConditions = Array.isArray(previous.conditions) ? previous.conditions.filter(isObject) : [];
    const condition = (type: string, conditionStatus: string, reason: string, message: string): JsonObject => {
      const old = oldConditions.find((entry) => entry.type === type);
      const now = this.now();
      const same = old && old.status === conditionStatus && old.reason === reason && old.message === message;
      if (same) return old;
      return {
        type,
        status: conditionStatus,
        lastUpdateTime: now,
        lastTransitionTime: old && old.status === conditionStatus ? (old.lastTransitionTime ?? now) : now,
        reason,
        message,
      };
    };
    const minimum = available >= desired - this.maxUnavailable(deployment);
    const availableCondition = minimum
      ? condition('Available', 'True', 'MinimumReplicasAvailable', 'Deployment has minimum availability.')
      : condition('Available', 'False', 'MinimumReplicasUnavailable', 'Deployment does not have minimum availability.');
    const rsName = current ? nameOf(current) : '';
    let progressing: JsonObject | undefined;
    if (spec(deployment).paused === true) progressing = condition('Progressing', 'Unknown', 'DeploymentPaused', 'Deployment is paused');
    else if (!current) progressing = undefined;
    else if (this.complete(deployment)) {
      rollout.deadlineExceeded = false;
      progressing = condition('Progressing', 'True', 'NewReplicaSetAvailable', `ReplicaSet "${rsName}" has successfully progressed.`);
    } else if (rollout.deadlineExceeded) progressing = condition('Progressing', 'False', 'ProgressDeadlineExceeded', `ReplicaSet "${rsName}" has timed out progressing.`);
    else if (rollout.reason === 'NewReplicaSetCreated') progressing = condition('Progressing', 'True', 'NewReplicaSetCreated', `Created new replica set "${rsName}"`);
    else if (rollout.reason === 'FoundNewReplicaSet') progressing = condition('Progressing', 'True', 'FoundNewReplicaSet', `Found new replica set "${rsName}"`);
    else progressing = condition('Progressing', 'True', 'ReplicaSetUpdated', `ReplicaSet "${rsName}" is progressing.`);
    next.conditions = progressing ? [availableCondition, progressing] : [availableCondition];
    if (previous.collisionCount !== undefined) next.collisionCount = previous.collisionCount;
    deployment.status = next;
  }

  // -------------------------------------------------------------------------------------------------
  // Storage and watch fan-out

  private now(): string {
    this.clock += 1000;
    return new Date(this.clock).toISOString().replace(/\.\d{3}Z$/, 'Z');
  }

  private deploymentOrThrow(namespace: string, name: string): JsonObject {
    const deployment = this.store.deployments.get(key(namespace, name));
    if (!deployment) throw new Error(`fake Kubernetes has no deployment ${namespace}/${name}`);
    return deployment;
  }

  /** Stores a changed copy of a Deployment from a helper: generation up when the spec changed, then the controller. */
  private commit(changed: JsonObject): void {
    const candidate = pruneNulls(changed) as JsonObject;
    const deploymentKey = key(namespaceOf(candidate), nameOf(candidate));
    const stored = this.store.deployments.get(deploymentKey);
    if (!stored) throw new Error(`fake Kubernetes has no deployment ${deploymentKey}`);
    defaultDeployment(candidate);
    const causes = validateDeployment(candidate, stored);
    if (causes.length > 0) throw new Error(`invalid deployment: ${causes.map((cause) => `${cause.field}: ${cause.message}`).join('; ')}`);
    if (stableStringify(spec(candidate)) !== stableStringify(spec(stored))) metadata(candidate).generation = count(metadata(stored).generation) + 1;
    if (stableStringify(candidate) === stableStringify(stored)) return;
    this.write('deployments', candidate, 'MODIFIED');
    this.reconcile(deploymentKey);
  }

  private write(resource: KubeResource, object: JsonObject, type: WatchEventType): void {
    this.resourceVersion++;
    metadata(object).resourceVersion = String(this.resourceVersion);
    this.store[resource].set(key(namespaceOf(object), nameOf(object)), object);
    this.publish(resource, type, object);
  }

  private remove(resource: KubeResource, object: JsonObject): void {
    this.store[resource].delete(key(namespaceOf(object), nameOf(object)));
    this.resourceVersion++;
    metadata(object).resourceVersion = String(this.resourceVersion);
    this.publish(resource, 'DELETED', object);
  }

  private publish(resource: KubeResource, type: WatchEventType, object: JsonObject): void {
    const snapshot = clone(object);
    this.history.push({ resourceVersion: this.resourceVersion, resource, type, object: snapshot });
    for (const watcher of this.watching) if (this.watches(watcher, resource, snapshot)) this.sendEvent(watcher, type, snapshot);
  }

  private watches(watcher: Watcher, resource: KubeResource, object: JsonObject): boolean {
    return (
      watcher.resource === resource &&
      (watcher.namespace === undefined || watcher.namespace === namespaceOf(object)) &&
      fieldsMatch(watcher.fields, object) &&
      labelsMatch(watcher.labels, stringMap(metadata(object).labels))
    );
  }

  private sendEvent(watcher: Watcher, type: string, object: JsonObject): void {
    if (!watcher.res.writableEnded) watcher.res.write(`${JSON.stringify({ type, object })}\n`);
  }

  private endWatch(watcher: Watcher): void {
    clearTimeout(watcher.timer);
    this.watching.delete(watcher);
    if (!watcher.res.writableEnded) watcher.res.end();
  }

  // -------------------------------------------------------------------------------------------------
  // HTTP

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
    const raw = Buffer.concat(chunks).toString('utf8');
    let body: unknown = raw.length > 0 ? raw : undefined;
    try {
      if (raw.length > 0) body = JSON.parse(raw);
    } catch {
      // Kept as text; the handler answers 400 where JSON is needed.
    }
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://fake-kube');
    const query = Object.fromEntries(url.searchParams.entries());
    const contentType = req.headers['content-type'];
    const watch = method === 'GET' && (query.watch === 'true' || query.watch === '1');
    const record: RecordedKubeRequest = { method, path: url.pathname, query, contentType, body, status: 0, watch, at: Date.now() };
    this.log.push(record);
    try {
      if (this.token !== null && req.headers.authorization !== `Bearer ${this.token}`) throw new StatusError(401, 'Unauthorized');
      const index = this.failures.findIndex(({ matcher }) => matchesRequest(matcher, record));
      const injected = index >= 0 ? this.failures.splice(index, 1)[0]?.failure : undefined;
      if (injected) {
        const retryAfter = injected.retryAfterSeconds ?? (injected.code === 429 ? 1 : undefined);
        const reason = injected.reason ?? DEFAULT_REASONS[injected.code] ?? 'InternalError';
        const message = injected.message ?? (injected.code === 429 ? 'Too many requests, please try again later.' : `injected ${reason}`);
        record.status = injected.code;
        res.writeHead(injected.code, { 'content-type': 'application/json', ...(retryAfter !== undefined ? { 'retry-after': String(retryAfter) } : {}) });
        res.end(JSON.stringify(statusBody(injected.code, reason, message, retryAfter !== undefined ? { retryAfterSeconds: retryAfter } : {})));
        return;
      }
      const route = ROUTE.exec(url.pathname);
      if (!route) throw new StatusError(404, 'the server could not find the requested resource');
      const namespace = route[1] === undefined ? undefined : decodeURIComponent(route[1]);
      const resource = route[2] as KubeResource;
      const name = route[3] === undefined ? undefined : decodeURIComponent(route[3]);
      const verb = method === 'PATCH' ? 'patch' : method !== 'GET' ? method.toLowerCase() : name !== undefined ? 'get' : watch ? 'watch' : 'list';
      this.authorize(verb, resource, namespace, name);
      if (method === 'GET' && name === undefined && watch) {
        this.startWatch(res, resource, namespace, url.searchParams);
        record.status = 200;
        return;
      }
      const answer = this.route(method, resource, namespace, name, url.searchParams, contentType, raw, body);
      record.status = 200;
      await this.held.before(record);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answer));
    } catch (error) {
      const problem =
        error instanceof StatusError
          ? error
          : error instanceof BadRequest
            ? new StatusError(400, error.message)
            : error instanceof PatchFailure
              ? new StatusError(422, error.message)
              : new StatusError(500, String(error));
      record.status = problem.code;
      res.writeHead(problem.code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(statusBody(problem.code, problem.reason, problem.message, problem.details)));
    }
  }

  private authorize(verb: string, resource: KubeResource, namespace: string | undefined, name: string | undefined): void {
    const refused = this.forbidden.some((rule) => rule.verb === verb && rule.resource === resource && (rule.namespace === undefined || rule.namespace === namespace));
    if (!refused) return;
    const subject = name !== undefined ? `${resource}.${GROUP} "${name}"` : `${resource}.${GROUP}`;
    const scope = namespace !== undefined ? ` in the namespace "${namespace}"` : ' at the cluster scope';
    throw new StatusError(403, `${subject} is forbidden: User "${this.user}" cannot ${verb} resource "${resource}" in API group "${GROUP}"${scope}`, {
      ...(name !== undefined ? { name } : {}),
      group: GROUP,
      kind: resource,
    });
  }

  private route(
    method: string,
    resource: KubeResource,
    namespace: string | undefined,
    name: string | undefined,
    params: URLSearchParams,
    contentType: string | undefined,
    raw: string,
    body: unknown,
  ): JsonObject {
    if (method === 'GET' && name === undefined) return this.list(resource, namespace, params);
    if (namespace === undefined || name === undefined) throw new StatusError(405, `the server does not allow this method on the requested resource`);
    if (method === 'GET') return this.read(resource, namespace, name);
    if (method === 'PATCH' && resource === 'deployments') return this.patch(namespace, name, params, contentType, raw, body);
    throw new StatusError(405, `the fake does not model ${method} on ${resource}`);
  }

  private notFound(resource: KubeResource, name: string): StatusError {
    return new StatusError(404, `${resource}.${GROUP} "${name}" not found`, { name, group: GROUP, kind: resource });
  }

  private read(resource: KubeResource, namespace: string, name: string): JsonObject {
    const object = this.store[resource].get(key(namespace, name));
    if (!object) throw this.notFound(resource, name);
    return clone(object);
  }

  /** LIST sorted by key as etcd returns it; `limit`/`continue` pages with an opaque token. */
  private list(resource: KubeResource, namespace: string | undefined, params: URLSearchParams): JsonObject {
    const labels = parseLabelSelector(params.get('labelSelector') ?? '');
    const fields = parseFieldSelector(params.get('fieldSelector') ?? '');
    const limitText = params.get('limit');
    const limit = limitText ? Number(limitText) : 0;
    if (!Number.isInteger(limit) || limit < 0) throw new BadRequest(`invalid limit: ${limitText}`);
    let after = '';
    const token = params.get('continue');
    if (token) {
      try {
        const decoded: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
        if (!isObject(decoded) || typeof decoded.start !== 'string') throw new Error('bad token');
        after = decoded.start;
      } catch {
        throw new BadRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
      }
    }
    const matching = [...this.store[resource].entries()]
      .filter(([, object]) => namespace === undefined || namespaceOf(object) === namespace)
      .filter(([, object]) => fieldsMatch(fields, object) && labelsMatch(labels, stringMap(metadata(object).labels)))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .filter(([objectKey]) => objectKey > after);
    const page = limit > 0 ? matching.slice(0, limit) : matching;
    const remaining = matching.length - page.length;
    const last = page[page.length - 1];
    const listMeta: JsonObject = { resourceVersion: String(this.resourceVersion) };
    if (remaining > 0 && last) {
      listMeta.continue = Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv: this.resourceVersion, start: last[0] })).toString('base64url');
      listMeta.remainingItemCount = remaining;
    }
    // Items of a list carry no kind/apiVersion, as the API server sends them.
    const items = page.map(([, object]) => {
      const { kind: _kind, apiVersion: _apiVersion, ...rest } = clone(object);
      return rest;
    });
    return { kind: `${KIND[resource]}List`, apiVersion: 'apps/v1', metadata: listMeta, items };
  }

  private startWatch(res: ServerResponse, resource: KubeResource, namespace: string | undefined, params: URLSearchParams): void {
    const labels = parseLabelSelector(params.get('labelSelector') ?? '');
    const fields = parseFieldSelector(params.get('fieldSelector') ?? '');
    const fromText = params.get('resourceVersion') ?? '';
    const from = fromText === '' ? 0 : Number(fromText);
    if (!Number.isInteger(from) || from < 0) throw new BadRequest(`invalid resourceVersion: ${fromText}`);
    const watcher: Watcher = { resource, namespace, fields, labels, bookmarks: params.get('allowWatchBookmarks') === 'true', res, timer: undefined };
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked', 'cache-control': 'no-cache, private' });
    res.flushHeaders();
    if (from > 0 && from < this.compactedAt) {
      this.sendEvent(watcher, 'ERROR', statusBody(410, 'Expired', `too old resource version: ${from} (${this.compactedAt})`, {}));
      res.end();
      return;
    }
    this.watching.add(watcher);
    res.on('close', () => {
      clearTimeout(watcher.timer);
      this.watching.delete(watcher);
    });
    const snapshot = (object: JsonObject) => this.watches(watcher, resource, object);
    if (from === 0) {
      // No resourceVersion (or "0"): the current state as synthetic ADDED events, then changes.
      const current = [...this.store[resource].values()].filter(snapshot).sort((a, b) => (key(namespaceOf(a), nameOf(a)) < key(namespaceOf(b), nameOf(b)) ? -1 : 1));
      for (const object of current) this.sendEvent(watcher, 'ADDED', clone(object));
      if (params.get('sendInitialEvents') === 'true' && watcher.bookmarks) {
        this.sendEvent(watcher, 'BOOKMARK', {
          kind: KIND[resource],
          apiVersion: 'apps/v1',
          metadata: { resourceVersion: String(this.resourceVersion), annotations: { 'k8s.io/initial-events-end': 'true' } },
        });
      }
    } else {
      for (const entry of this.history) if (entry.resourceVersion > from && entry.resource === resource && snapshot(entry.object)) this.sendEvent(watcher, entry.type, entry.object);
    }
    const timeoutSeconds = Number(params.get('timeoutSeconds') ?? '');
    if (Number.isFinite(timeoutSeconds) && timeoutSeconds > 0) {
      watcher.timer = setTimeout(() => this.endWatch(watcher), timeoutSeconds * 1000);
      watcher.timer.unref();
    }
  }

  /**
   * PATCH a Deployment: JSON Patch (RFC 6902), merge patch (RFC 7386) or strategic merge (the keyed-list
   * subset). Server-managed fields and status are kept; a changed spec bumps the generation and runs the
   * controller, but the answer is the object as the patch left it, before the controller's status write.
   */
  private patch(namespace: string, name: string, params: URLSearchParams, contentType: string | undefined, raw: string, body: unknown): JsonObject {
    const stored = this.store.deployments.get(key(namespace, name));
    if (!stored) throw this.notFound('deployments', name);
    const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    const dryRun = params.get('dryRun');
    if (dryRun !== null && dryRun !== 'All') throw new BadRequest(`Invalid dry run value: ${dryRun}`);
    if (!['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json'].includes(type)) {
      throw new StatusError(
        415,
        `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (the fake does not model ${type || 'an absent content type'})`,
      );
    }
    if (raw.length > 0 && typeof body === 'string') throw new BadRequest(`error decoding patch: invalid character in ${JSON.stringify(raw.slice(0, 20))}`);
    if (type !== 'application/json-patch+json' && !isObject(body)) throw new BadRequest('error decoding patch: the patch is not a JSON object');
    const patched = pruneNulls(
      type === 'application/json-patch+json' ? applyJsonPatch(stored, body) : type === 'application/merge-patch+json' ? mergePatch(stored, body) : strategicMerge(stored, body),
    );
    if (!isObject(patched)) throw new PatchFailure('the patched object is not an object');
    const before = metadata(stored);
    const after = metadata(patched);
    if (after.name !== before.name || after.namespace !== before.namespace) {
      throw new BadRequest(`the name of the object (${JSON.stringify(after.name) ?? ''}) does not match the name on the URL (${name})`);
    }
    if (after.uid !== undefined && after.uid !== before.uid) {
      throw new StatusError(409, `Precondition failed: UID in precondition: ${JSON.stringify(after.uid)}, UID in object meta: ${text(before.uid) ?? ''}`, { name, group: GROUP, kind: 'deployments' });
    }
    if (after.resourceVersion !== undefined && after.resourceVersion !== before.resourceVersion) {
      throw new StatusError(409, `Operation cannot be fulfilled on deployments.${GROUP} "${name}": the object has been modified; please apply your changes to the latest version and try again`, {
        name,
        group: GROUP,
        kind: 'deployments',
      });
    }
    // What the API server owns: identity, timestamps, generation, and status (a subresource).
    for (const field of ['uid', 'resourceVersion', 'generation', 'creationTimestamp', 'managedFields']) {
      if (before[field] === undefined) delete after[field];
      else after[field] = clone(before[field]);
    }
    patched.apiVersion = stored.apiVersion;
    patched.kind = stored.kind;
    patched.status = clone(stored.status);
    defaultDeployment(patched);
    const causes = validateDeployment(patched, stored);
    if (causes.length > 0) {
      throw new StatusError(422, `Deployment.${GROUP} "${name}" is invalid: ${causes.map((cause) => `${cause.field}: ${cause.message}`).join(', ')}`, {
        name,
        group: GROUP,
        kind: 'Deployment',
        causes: causes.map((cause) => ({ reason: 'FieldValueInvalid', message: cause.message, field: cause.field })),
      });
    }
    if (stableStringify(spec(patched)) !== stableStringify(spec(stored))) after.generation = count(before.generation) + 1;
    if (stableStringify(patched) === stableStringify(stored)) return clone(stored);
    if (dryRun === 'All') return patched;
    this.write('deployments', patched, 'MODIFIED');
    const answer = clone(patched);
    this.reconcile(key(namespace, name));
    return answer;
  }
}

function ownerReference(name: string, uid: string): JsonObject {
  return { apiVersion: 'apps/v1', kind: 'Deployment', name, uid, controller: true, blockOwnerDeletion: true };
}

function byCreation(a: JsonObject, b: JsonObject): number {
  const at = text(metadata(a).creationTimestamp) ?? '';
  const bt = text(metadata(b).creationTimestamp) ?? '';
  if (at !== bt) return at < bt ? -1 : 1;
  return nameOf(a) < nameOf(b) ? -1 : nameOf(a) > nameOf(b) ? 1 : 0;
}
