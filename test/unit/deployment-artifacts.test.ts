/**
 * The deployment artifacts, checked without a cluster or a Docker engine:
 * - every Kustomize overlay renders (`kubectl kustomize`, kustomize v5) and every object passes the
 *   Kubernetes OpenAPI schemas (kubernetes-models, 1.35) with unknown fields refused (the field lists of
 *   @kubernetes/client-node's generated models, 1.36), plus the contract of issue 6 (probes, security
 *   context, grace period, load balancer, RBAC, network policy, Redis per environment);
 * - the rendered Deployments start the bot's own config loader: every variable it reads is set or
 *   documented, and the mounted mlops.yaml is valid;
 * - the Slack app manifests grant exactly the scopes and events the code uses;
 * - the Dockerfile lints clean (dockerfile-utils) and copies and runs what the repository builds.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as kubeClientModels from '@kubernetes/client-node';
import { ExternalSecret, SecretStore } from '@kubernetes-models/external-secrets/external-secrets.io/v1';
import { PodMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor';
import { DockerfileParser, type Instruction } from 'dockerfile-ast';
import { validate as lintDockerfile } from 'dockerfile-utils';
import { HorizontalPodAutoscaler, type IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { Deployment, type IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet, type IStatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { NetworkPolicy, type INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget, type IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { Role, type IRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding, type IRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { ConfigMap, type IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service, type IService } from 'kubernetes-models/v1/Service';
import { ServiceAccount, type IServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import picomatch from 'picomatch';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { envSchema } from '../../src/config/env.js';
import { loadConfig } from '../../src/config/load-config.js';
import { createMetrics } from '../../src/metrics.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const repoFile = (path: string) => readFileSync(join(ROOT, path), 'utf8');

const OVERLAYS = ['manifests/overlays/dev', 'manifests/overlays/prod'] as const;
type Overlay = (typeof OVERLAYS)[number];
/** Applied separately and only by those who use External Secrets; rendered and validated all the same. */
const OPTIONAL_KUSTOMIZATIONS = ['manifests/overlays/prod/external-secrets', 'manifests/multi-cluster', 'manifests/remote-cluster'] as const;
/** The optional component an overlay enables for the Prometheus Operator and Grafana. */
const MONITORING_COMPONENT = 'manifests/components/monitoring';

const APP_NAMESPACE = 'mlops-chatops';
const SERVICE_ACCOUNT = 'mlops-chatops';
const SECRET_NAME = 'mlops-chatops-secrets';
const ROLES = ['web', 'worker'] as const;
type BotRole = (typeof ROLES)[number];

// ---------------------------------------------------------------------------------------------------
// Rendering

const kubeObjectSchema = z.looseObject({
  apiVersion: z.string().min(1),
  kind: z.string().min(1),
  metadata: z.looseObject({
    name: z.string().min(1),
    namespace: z.string().optional(),
    labels: z.record(z.string(), z.string()).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
  }),
});
type KubeObject = z.output<typeof kubeObjectSchema>;

function isErrnoException(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && 'code' in error;
}

function kubectl(args: string[]): string {
  try {
    return execFileSync('kubectl', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
  } catch (error) {
    if (isErrnoException(error) && error.code === 'ENOENT') {
      throw new Error(
        'kubectl is not on the PATH. These tests render manifests/overlays/* with `kubectl kustomize` ' +
          '(kubectl 1.27 or later, which embeds kustomize v5). Install kubectl and run the tests again.',
        { cause: error },
      );
    }
    const stderr = error instanceof Error && 'stderr' in error ? String(error.stderr) : '';
    throw new Error(`kubectl ${args.join(' ')} failed:\n${stderr || String(error)}`, { cause: error });
  }
}

const rendered = new Map<string, KubeObject[]>();
function render(dir: string): KubeObject[] {
  const cached = rendered.get(dir);
  if (cached) return cached;
  const documents = parseAllDocuments(kubectl(['kustomize', dir]));
  const objects = documents.map((document, index) => {
    if (document.errors.length > 0) throw new Error(`${dir}: document ${index}: ${document.errors[0]?.message ?? ''}`);
    const parsed = kubeObjectSchema.safeParse(document.toJS());
    if (!parsed.success) throw new Error(`${dir}: document ${index} is not a Kubernetes object: ${parsed.error.message}`);
    return parsed.data;
  });
  rendered.set(dir, objects);
  return objects;
}

/** An overlay with the monitoring component enabled, as an operator would enable it (kustomize wants relative paths). */
function renderWithMonitoring(overlay: Overlay): KubeObject[] {
  const key = `${overlay}+monitoring`;
  const cached = rendered.get(key);
  if (cached) return cached;
  const dir = mkdtempSync(join(tmpdir(), 'mlops-kustomize-'));
  try {
    writeFileSync(join(dir, 'kustomization.yaml'), `resources:\n  - ${relative(dir, join(ROOT, overlay))}\ncomponents:\n  - ${relative(dir, join(ROOT, MONITORING_COMPONENT))}\n`);
    const objects = parseAllDocuments(kubectl(['kustomize', dir])).map((document) => kubeObjectSchema.parse(document.toJS()));
    rendered.set(key, objects);
    return objects;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const describeObject = (object: KubeObject) => `${object.kind} ${object.metadata.namespace ?? '(cluster)'}/${object.metadata.name}`;

function find<T>(objects: KubeObject[], kind: string, name: string): T {
  const object = objects.find((candidate) => candidate.kind === kind && candidate.metadata.name === name);
  if (!object) throw new Error(`no ${kind} ${name} in the rendered objects`);
  // Safe after the schema checks below: every rendered object is validated against its kind's schema.
  return object as unknown as T;
}

function all<T>(objects: KubeObject[], kind: string): T[] {
  return objects.filter((object) => object.kind === kind) as unknown as T[];
}

/** Generated names carry kustomize's content hash: mlops-chatops-env → mlops-chatops-env-5hk2f7b4c6. */
function generated(objects: KubeObject[], kind: string, baseName: string): KubeObject | undefined {
  return objects.find((object) => object.kind === kind && new RegExp(`^${baseName}-[a-z0-9]{10}$`).test(object.metadata.name));
}

const deploymentName = (role: BotRole) => `mlops-chatops-${role}`;

// ---------------------------------------------------------------------------------------------------
// Schema validation

type Validate = (object: KubeObject) => void;
function modelValidator<D>(model: new (data?: D) => { validate(): void }): Validate {
  return (object) => new model(object as unknown as D).validate();
}

/** Every kind the manifests may contain. A kind missing here fails the test rather than going unchecked. */
const SCHEMAS: Record<string, Validate> = {
  'v1/Namespace': modelValidator(Namespace),
  'v1/ServiceAccount': modelValidator(ServiceAccount),
  'v1/ConfigMap': modelValidator(ConfigMap),
  'v1/Secret': modelValidator(Secret),
  'v1/Service': modelValidator(Service),
  'apps/v1/Deployment': modelValidator(Deployment),
  'apps/v1/StatefulSet': modelValidator(StatefulSet),
  'policy/v1/PodDisruptionBudget': modelValidator(PodDisruptionBudget),
  'autoscaling/v2/HorizontalPodAutoscaler': modelValidator(HorizontalPodAutoscaler),
  'networking.k8s.io/v1/NetworkPolicy': modelValidator(NetworkPolicy),
  'rbac.authorization.k8s.io/v1/Role': modelValidator(Role),
  'rbac.authorization.k8s.io/v1/RoleBinding': modelValidator(RoleBinding),
  'external-secrets.io/v1/SecretStore': modelValidator(SecretStore),
  'external-secrets.io/v1/ExternalSecret': modelValidator(ExternalSecret),
  'monitoring.coreos.com/v1/PodMonitor': modelValidator(PodMonitor),
};

function schemaErrors(object: KubeObject): string[] {
  const validate = SCHEMAS[`${object.apiVersion}/${object.kind}`];
  if (!validate) return [`${describeObject(object)}: no schema for ${object.apiVersion} ${object.kind}`];
  try {
    validate(object);
    return [];
  } catch (error) {
    return [`${describeObject(object)}: ${error instanceof Error ? error.message : String(error)}`];
  }
}

/**
 * The OpenAPI schemas allow unknown fields (the API server drops them, or refuses them with
 * --validate=strict), so a misspelt `readOnlyRootFileSystem` would pass unnoticed. client-node's generated
 * models list each type's JSON fields; walk the object against them, as `kubectl --validate=strict` does.
 */
const attributeListSchema = z.array(z.object({ baseName: z.string(), type: z.string() }));
const PRIMITIVE_TYPES = new Set(['string', 'number', 'boolean', 'Date', 'any', 'object', 'IntOrString']);

function modelAttributes(typeName: string): Map<string, string> | undefined {
  const model: unknown = Reflect.get(kubeClientModels, typeName);
  if (typeof model !== 'function') return undefined;
  const attributes = attributeListSchema.safeParse(Reflect.get(model, 'attributeTypeMap'));
  return attributes.success ? new Map(attributes.data.map((attribute) => [attribute.baseName, attribute.type])) : undefined;
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function unknownFields(value: unknown, type: string, path: string, problems: string[]): void {
  const arrayOf = /^Array<(.+)>$/.exec(type)?.[1];
  if (arrayOf !== undefined) {
    if (Array.isArray(value)) value.forEach((item: unknown, index) => unknownFields(item, arrayOf, `${path}[${index}]`, problems));
    return;
  }
  const mapOf = /^\{ \[key: string\]: (.+); \}$/.exec(type)?.[1];
  if (mapOf !== undefined) {
    if (isRecord(value)) for (const [key, item] of Object.entries(value)) unknownFields(item, mapOf, `${path}[${key}]`, problems);
    return;
  }
  if (PRIMITIVE_TYPES.has(type)) return;
  const attributes = modelAttributes(type);
  if (!attributes) {
    problems.push(`${path}: no field list for type ${type}`);
    return;
  }
  if (!isRecord(value)) return;
  for (const [key, item] of Object.entries(value)) {
    const itemType = attributes.get(key);
    if (itemType === undefined) problems.push(`${path}.${key}: unknown field (not in ${type})`);
    else unknownFields(item, itemType, `${path}.${key}`, problems);
  }
}

/** `apps/v1` + `Deployment` → `V1Deployment`, `autoscaling/v2` + `HorizontalPodAutoscaler` → `V2HorizontalPodAutoscaler`. */
function builtInTypeName(object: KubeObject): string | undefined {
  const [group, version] = object.apiVersion.includes('/') ? object.apiVersion.split('/') : ['', object.apiVersion];
  const builtIn = group === '' || group === 'apps' || group === 'policy' || group === 'autoscaling' || group?.endsWith('.k8s.io');
  if (!builtIn || !version) return undefined;
  return `${version.charAt(0).toUpperCase()}${version.slice(1)}${object.kind}`;
}

function strictFieldErrors(object: KubeObject): string[] {
  const typeName = builtInTypeName(object);
  if (!typeName) return []; // custom resources: their CRD schemas (above) are all there is
  const problems: string[] = [];
  unknownFields(object, typeName, describeObject(object), problems);
  return problems;
}

// ---------------------------------------------------------------------------------------------------
// Helpers over rendered objects

type PodSpec = NonNullable<NonNullable<IDeployment['spec']>['template']['spec']>;
type Container = PodSpec['containers'][number];

function podSpec(deployment: IDeployment): PodSpec {
  const spec = deployment.spec?.template.spec;
  if (!spec) throw new Error(`${deployment.metadata?.name ?? '?'} has no pod spec`);
  return spec;
}

function botContainer(deployment: IDeployment): Container {
  const containers = podSpec(deployment).containers;
  expect(containers.map((container) => container.name)).toEqual(['bot']);
  return containers[0] as Container;
}

const selects = (selector: Record<string, string> | undefined, labels: Record<string, string> | undefined) =>
  selector !== undefined && Object.keys(selector).length > 0 && Object.entries(selector).every(([key, value]) => labels?.[key] === value);

/** The environment a container starts with: the image's ENV, then envFrom ConfigMaps, then env. Secrets via `secrets`. */
function containerEnvironment(objects: KubeObject[], container: Container, secrets: (key: string, optional: boolean) => string | undefined, imageEnv: Record<string, string> = {}) {
  const env: Record<string, string> = { ...imageEnv };
  const secretKeys: { name: string; key: string; optional: boolean }[] = [];
  for (const source of container.envFrom ?? []) {
    if (source.secretRef) throw new Error('envFrom secretRef hides which variables are set; use secretKeyRef per variable');
    const name = source.configMapRef?.name;
    if (!name) continue;
    Object.assign(env, find<IConfigMap>(objects, 'ConfigMap', name).data ?? {});
  }
  for (const variable of container.env ?? []) {
    if (variable.value !== undefined) env[variable.name] = variable.value;
    const ref = variable.valueFrom?.secretKeyRef;
    if (ref) {
      secretKeys.push({ name: ref.name ?? '', key: ref.key, optional: ref.optional ?? false });
      const value = secrets(ref.key, ref.optional ?? false);
      if (value !== undefined) env[variable.name] = value;
    }
    const configRef = variable.valueFrom?.configMapKeyRef;
    if (configRef) {
      const value = find<IConfigMap>(objects, 'ConfigMap', configRef.name ?? '').data?.[configRef.key];
      if (value !== undefined) env[variable.name] = value;
    }
  }
  return { env, secretKeys };
}

// ---------------------------------------------------------------------------------------------------
// Dockerfile

const dockerfileText = repoFile('Dockerfile');
const dockerfile = DockerfileParser.parse(dockerfileText);

interface Stage {
  name: string | null;
  image: string;
  instructions: Instruction[];
}
function dockerStages(): Stage[] {
  const stages: Stage[] = [];
  for (const instruction of dockerfile.getInstructions()) {
    if (instruction.getKeyword() === 'FROM') {
      const [image, as, name] = instruction.getArguments().map((argument) => argument.getValue());
      stages.push({ image: image ?? '', name: as?.toUpperCase() === 'AS' ? (name ?? null) : null, instructions: [] });
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  return stages;
}
const finalStage = (): Stage => {
  const stage = dockerStages().at(-1);
  if (!stage) throw new Error('Dockerfile has no FROM');
  return stage;
};
const argumentsOf = (instruction: Instruction) => instruction.getArguments().map((argument) => argument.getValue());
function jsonArguments(instruction: Instruction | undefined): string[] | undefined {
  const text = instruction?.getArgumentsContent();
  if (!text?.trim().startsWith('[')) return undefined;
  return z.array(z.string()).parse(JSON.parse(text));
}

/** ENV of the runtime stage: what every container starts with before Kubernetes adds its own. */
function imageEnvironment(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const instruction of finalStage().instructions.filter((candidate) => candidate.getKeyword() === 'ENV')) {
    for (const pair of argumentsOf(instruction)) {
      const [key, ...value] = pair.split('=');
      if (key) env[key] = value.join('=');
    }
  }
  return env;
}

function imageUser(): { uid: number; gid?: number } {
  const users = finalStage().instructions.filter((instruction) => instruction.getKeyword() === 'USER');
  const spec = users.at(-1) ? argumentsOf(users.at(-1) as Instruction)[0] : undefined;
  const match = /^(\d+)(?::(\d+))?$/.exec(spec ?? '');
  if (!match) throw new Error(`the runtime stage must end with a numeric USER (uid[:gid]) so Kubernetes can verify runAsNonRoot; found ${spec ?? 'none'}`);
  return { uid: Number(match[1]), ...(match[2] ? { gid: Number(match[2]) } : {}) };
}

/** .dockerignore patterns, Docker style: later patterns win, `!` re-includes, a directory match covers its contents. */
function dockerIgnored(path: string): boolean {
  const file = join(ROOT, '.dockerignore');
  if (!existsSync(file)) return false;
  let ignored = false;
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const negated = line.startsWith('!');
    const pattern = posix.normalize((negated ? line.slice(1) : line).replace(/^\/+/, ''));
    const parts = path.split('/');
    const matched = parts.some((_, index) => picomatch.isMatch(parts.slice(0, index + 1).join('/'), pattern, { dot: true }));
    if (matched) ignored = !negated;
  }
  return ignored;
}

// ---------------------------------------------------------------------------------------------------
// Source scanning (Slack calls and listeners)

function sourceFiles(dir: string): string[] {
  const absolute = join(ROOT, dir);
  if (!existsSync(absolute)) return [];
  return readdirSync(absolute).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(join(ROOT, path)).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') && !path.endsWith('.d.ts') ? [path] : [];
  });
}
const codeFiles = () => ['src', 'jobs', 'commands'].flatMap(sourceFiles);

const SLACK_FAMILIES = [
  'admin', 'api', 'apps', 'assistant', 'auth', 'bookmarks', 'bots', 'calls', 'canvases', 'chat', 'conversations', 'dialog', 'dnd', 'emoji',
  'files', 'functions', 'migration', 'oauth', 'openid', 'pins', 'reactions', 'reminders', 'rtm', 'search', 'stars', 'team', 'tooling',
  'usergroups', 'users', 'views', 'workflows',
];
/** `client.chat.postMessage(`, `webClient.auth.test(`, `app.client.views.open(` and `client.apiCall('x.y')`. */
const WEB_API_CALL = new RegExp(`\\b(?:client|webClient)\\s*\\.\\s*((?:${SLACK_FAMILIES.join('|')})(?:\\s*\\.\\s*[A-Za-z]+)+)\\s*\\(`, 'g');
const API_CALL = /\bapiCall\(\s*['"`]([\w.]+)['"`]/g;

/** Bot scopes each Web API method needs (docs.slack.dev method pages). A method the code calls that is not here fails the test. */
const METHOD_SCOPES: Record<string, readonly string[]> = {
  'auth.test': [],
  'chat.postMessage': ['chat:write'],
  'chat.update': ['chat:write'],
  'chat.postEphemeral': ['chat:write'],
  'chat.delete': ['chat:write'],
  // Public and private channels: the bot posts run status to both and reads them back after a crash.
  'conversations.history': ['channels:history', 'groups:history'],
  'conversations.replies': ['channels:history', 'groups:history'],
  // conversations.open takes any of channels:manage, groups:write, im:write, mpim:write; the bot opens DMs only.
  'conversations.open': ['im:write'],
  'usergroups.users.list': ['usergroups:read'],
  'usergroups.list': ['usergroups:read'],
  'users.info': ['users:read'],
  'views.open': [],
  'views.push': [],
  'views.update': [],
  'views.publish': [],
  // Alarm charts: the current external upload flow (files.upload is retired).
  'files.getUploadURLExternal': ['files:write'],
  'files.completeUploadExternal': ['files:write'],
};
/** Bot scopes each subscribed event needs. */
const EVENT_SCOPES: Record<string, readonly string[]> = {
  subteam_members_changed: ['usergroups:read'],
  subteam_updated: ['usergroups:read'],
  subteam_created: ['usergroups:read'],
  app_home_opened: [],
  app_mention: ['app_mentions:read'],
};
/** Scopes granted although no call needs them, and why. Anything else in the manifest is scope creep. */
const JUSTIFIED_EXTRA_SCOPES: Record<string, string> = {
  'chat:write.public': 'routes name public channels by ID; the bot posts there without being invited',
};

function slackUsage() {
  const methods = new Map<string, string>();
  const events = new Map<string, string>();
  const commands = new Set<string>();
  const shortcuts = new Set<string>();
  let interactive = false;
  for (const file of codeFiles()) {
    const text = repoFile(file);
    for (const match of text.matchAll(WEB_API_CALL)) methods.set((match[1] ?? '').replace(/\s+/g, ''), file);
    for (const match of text.matchAll(API_CALL)) methods.set(match[1] ?? '', file);
    for (const match of text.matchAll(/\.event\(\s*['"`]([a-z_.]+)['"`]/g)) events.set(match[1] ?? '', file);
    for (const match of text.matchAll(/\.command\(\s*['"`](\/[\w-]+)['"`]/g)) commands.add(match[1] ?? '');
    // Shortcut callback_ids are named in one constant (SHORTCUTS in src/slack/modals.ts).
    for (const match of text.matchAll(/SHORTCUTS = \{([^}]*)\}/g)) for (const id of (match[1] ?? '').matchAll(/['"`]([\w.-]+)['"`]/g)) shortcuts.add(id[1] ?? '');
    if (/\bapp\.(?:action|view|shortcut|options)\(/.test(text) || /\.(?:action|view)\(\s*(?:\{|[A-Z_]+\.|['"`])/.test(text)) interactive = true;
  }
  return { methods, events, commands, shortcuts, interactive };
}

const slackManifestSchema = z.object({
  display_information: z.object({ name: z.string().min(1).max(35), description: z.string().max(140).optional() }),
  features: z.object({
    app_home: z.object({ home_tab_enabled: z.boolean().default(false), messages_tab_enabled: z.boolean().default(false) }).optional(),
    bot_user: z.object({ display_name: z.string().min(1).max(80) }),
    shortcuts: z.array(z.object({ name: z.string().min(1).max(24), type: z.enum(['global', 'message']), callback_id: z.string().min(1).max(255), description: z.string().min(1).max(150) })).default([]),
    slash_commands: z.array(z.object({ command: z.string().regex(/^\/.{1,31}$/), url: z.string().optional(), description: z.string().min(1) })).default([]),
  }),
  oauth_config: z.object({ scopes: z.object({ bot: z.array(z.string()) }) }),
  settings: z.object({
    event_subscriptions: z.object({ request_url: z.string().optional(), bot_events: z.array(z.string()).default([]) }).optional(),
    interactivity: z.object({ is_enabled: z.boolean(), request_url: z.string().optional() }).optional(),
    socket_mode_enabled: z.boolean().default(false),
  }),
});
const slackManifest = (path: string) => slackManifestSchema.parse(parseYaml(repoFile(path)));

/** Names in the first column of the environment variable table in docs/configuration.md. */
function documentedEnvVars(): Set<string> {
  const reference = repoFile('docs/configuration.md');
  const section = /^## Environment variables\n([\s\S]*?)(?=^## )/m.exec(reference)?.[1] ?? '';
  const names = new Set<string>();
  for (const line of section.split('\n')) {
    if (!line.startsWith('|')) continue;
    for (const match of (line.split('|')[1] ?? '').matchAll(/`([A-Z][A-Z0-9_]*)`/g)) names.add(match[1] ?? '');
  }
  return names;
}

/** Values for the Secret's keys, shaped like the real ones; optional keys stay absent. */
const FAKE_SECRETS: Record<string, string> = {
  SLACK_BOT_TOKEN: 'xoxb-1-fake',
  SLACK_SIGNING_SECRET: 'fake-signing-secret',
  OCI_NOTIFICATIONS_USER: 'oci',
  OCI_NOTIFICATIONS_PASSWORD: 'fake-password',
  REDIS_URL: 'rediss://primary.cache.example.com:6379',
};
function fakeSecret(key: string, optional: boolean): string | undefined {
  if (key === 'SLACK_SIGNING_SECRET') return FAKE_SECRETS[key]; // optional only so Socket Mode installs may leave it out
  if (optional) return undefined;
  const value = FAKE_SECRETS[key];
  if (value === undefined) throw new Error(`required secret key ${key} has no fake value in this test`);
  return value;
}

// ===================================================================================================

describe('the Kustomize overlays render with a real kustomize', () => {
  it('kubectl embeds kustomize v5 or later', () => {
    const version = z.object({ kustomizeVersion: z.string() }).parse(JSON.parse(kubectl(['version', '--client', '-o', 'json'])));
    const major = Number(/^v?(\d+)\./.exec(version.kustomizeVersion)?.[1] ?? 0);
    expect(major, `kubectl's kustomize is ${version.kustomizeVersion}; the manifests use \`labels\` and \`patches\` (kustomize v5)`).toBeGreaterThanOrEqual(5);
  });

  it.each([...OVERLAYS, ...OPTIONAL_KUSTOMIZATIONS])('%s renders Kubernetes objects', (dir) => {
    expect(render(dir).length).toBeGreaterThan(0);
  });

  it.each(OVERLAYS)('%s names the namespace of every namespaced object itself, and only RBAC leaves mlops-chatops', (dir) => {
    const problems: string[] = [];
    for (const object of render(dir)) {
      if (object.kind === 'Namespace') continue;
      const namespace = object.metadata.namespace;
      const expected = object.kind === 'Role' || object.kind === 'RoleBinding' ? 'inference' : APP_NAMESPACE;
      if (namespace !== expected) problems.push(`${describeObject(object)}: expected namespace ${expected}`);
    }
    expect(problems).toEqual([]);
  });
});

describe('every rendered object is valid Kubernetes', () => {
  it('the validators refuse what they should (a wrong type, an unknown field)', () => {
    const broken = kubeObjectSchema.parse({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'broken' },
      spec: { selector: {}, template: { spec: { containers: [{ name: 'a', image: 'b', ports: [{ containerPort: 'http' }], readOnlyRootFileSystem: true }] } } },
    });
    expect(schemaErrors(broken).join('\n')).toMatch(/containerPort must be integer/);
    expect(strictFieldErrors(broken).join('\n')).toMatch(/containers\[0\]\.readOnlyRootFileSystem: unknown field/);
  });

  it.each([...OVERLAYS, ...OPTIONAL_KUSTOMIZATIONS])('%s passes the OpenAPI schemas with no unknown fields', (dir) => {
    const problems = render(dir).flatMap((object) => [...schemaErrors(object), ...strictFieldErrors(object)]);
    expect(problems).toEqual([]);
  });

  it.each(OVERLAYS)('%s with the monitoring component passes them too', (overlay) => {
    const problems = renderWithMonitoring(overlay).flatMap((object) => [...schemaErrors(object), ...strictFieldErrors(object)]);
    expect(problems).toEqual([]);
  });
});

describe.each(OVERLAYS)('%s: web and worker Deployments', (dir: Overlay) => {
  const objects = () => render(dir);

  it.each(ROLES)('%s runs the one image with its ROLE, probes on /readyz and /healthz at port 3000, and resources', (role) => {
    const deployment = find<IDeployment>(objects(), 'Deployment', deploymentName(role));
    const container = botContainer(deployment);
    expect(container.env?.find((variable) => variable.name === 'ROLE')?.value).toBe(role);
    expect(container.image).toMatch(/^[a-z0-9.-]+\/[a-z0-9._/-]+:[\w.-]+$/); // the overlay's registry and tag, not the base placeholder
    const port = container.ports?.find((candidate) => candidate.name === 'http');
    expect(port?.containerPort).toBe(3000);
    for (const [probe, path] of [[container.readinessProbe, '/readyz'], [container.livenessProbe, '/healthz']] as const) {
      expect(probe?.httpGet?.path).toBe(path);
      expect([3000, 'http']).toContain(probe?.httpGet?.port);
    }
    for (const kind of ['requests', 'limits'] as const) {
      expect(Object.keys(container.resources?.[kind] ?? {}).sort()).toEqual(['cpu', 'memory']);
    }
    // The HorizontalPodAutoscaler owns the replica count; a fixed one would be reset on every apply.
    expect(deployment.spec?.replicas).toBeUndefined();
  });

  it.each(ROLES)('%s runs as uid 1000 with a read-only root, no privilege escalation, no capabilities, RuntimeDefault seccomp', (role) => {
    const deployment = find<IDeployment>(objects(), 'Deployment', deploymentName(role));
    const pod = podSpec(deployment);
    const container = botContainer(deployment);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } });
    expect(imageUser().uid).toBe(pod.securityContext?.runAsUser);
    expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(container.securityContext?.capabilities?.add ?? []).toEqual([]);
    expect(container.securityContext?.privileged ?? false).toBe(false);
    expect(pod.hostNetwork ?? false).toBe(false);
  });

  it.each(ROLES)('%s gets 30 s to stop, more than the preStop pause plus the bot\'s own shutdown timeout', (role) => {
    const deployment = find<IDeployment>(objects(), 'Deployment', deploymentName(role));
    const shutdownMs = Number(/SHUTDOWN_TIMEOUT_MS\s*=\s*([\d_]+)/.exec(repoFile('src/main.ts'))?.[1]?.replace(/_/g, '') ?? NaN);
    const preStopSeconds = botContainer(deployment).lifecycle?.preStop?.sleep?.seconds ?? 0;
    expect(shutdownMs).toBeGreaterThan(0);
    expect(podSpec(deployment).terminationGracePeriodSeconds).toBe(30);
    expect(preStopSeconds + shutdownMs / 1000).toBeLessThan(30);
  });

  it.each(ROLES)('%s uses the bot\'s ServiceAccount with its token mounted (Kubernetes API, OKE Workload Identity)', (role) => {
    const pod = podSpec(find<IDeployment>(objects(), 'Deployment', deploymentName(role)));
    expect(pod.serviceAccountName).toBe(SERVICE_ACCOUNT);
    expect(pod.automountServiceAccountToken).toBe(true);
    const account = find<IServiceAccount>(objects(), 'ServiceAccount', SERVICE_ACCOUNT);
    expect(account.automountServiceAccountToken).not.toBe(false);
  });

  it.each(ROLES)('%s starts the bot\'s config loader: env from the ConfigMap and Secret, mlops.yaml mounted at MLOPS_CONFIG', (role) => {
    const deployment = find<IDeployment>(objects(), 'Deployment', deploymentName(role));
    const container = botContainer(deployment);
    const { env, secretKeys } = containerEnvironment(objects(), container, fakeSecret, imageEnvironment());
    expect(new Set(secretKeys.map((ref) => ref.name))).toEqual(new Set([SECRET_NAME]));

    const files = new Map<string, string>();
    for (const mount of container.volumeMounts ?? []) {
      const volume = podSpec(deployment).volumes?.find((candidate) => candidate.name === mount.name);
      const configMapName = volume?.configMap?.name;
      if (!configMapName) continue;
      for (const [key, text] of Object.entries(find<IConfigMap>(objects(), 'ConfigMap', configMapName).data ?? {})) {
        files.set(posix.join(mount.mountPath, key), text);
      }
    }
    const config = loadConfig(env, (path) => {
      const text = files.get(path);
      if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
      return text;
    });
    expect(config.env.ROLE).toBe(role);
    expect(config.env.PORT).toBe(3000);
    expect(config.env.OCI_AUTH).toBe('workload_identity');
    expect(config.env.OCI_NOTIFICATIONS_USER === undefined).toBe(role === 'worker'); // inbound credentials stay with web
  });

  it('sets only variables the bot reads (no typos like REDIS_URI)', () => {
    const known = new Set(Object.keys(envSchema.shape));
    const problems: string[] = [];
    for (const role of ROLES) {
      const container = botContainer(find<IDeployment>(objects(), 'Deployment', deploymentName(role)));
      const { env } = containerEnvironment(objects(), container, (key) => FAKE_SECRETS[key] ?? 'x');
      for (const name of Object.keys(env)) if (!known.has(name)) problems.push(`${role}: ${name}`);
    }
    expect(problems).toEqual([]);
  });
});

describe('every variable the code reads is set in the Deployments or documented in docs/configuration.md', () => {
  it.each(OVERLAYS)('%s', (dir) => {
    const objects = render(dir);
    const set = new Set<string>();
    for (const role of ROLES) {
      const container = botContainer(find<IDeployment>(objects, 'Deployment', deploymentName(role)));
      for (const name of Object.keys(containerEnvironment(objects, container, (key) => FAKE_SECRETS[key] ?? 'x').env)) set.add(name);
    }
    const documented = documentedEnvVars();
    const neither = Object.keys(envSchema.shape).filter((name) => !set.has(name) && !documented.has(name));
    expect(neither, 'read in src/config/env.ts but neither set in the manifests nor in the table of docs/configuration.md').toEqual([]);
  });
});

describe.each(OVERLAYS)('%s: scaling and disruption', (dir: Overlay) => {
  it.each(ROLES)('%s has a PodDisruptionBudget and an autoscaling/v2 HorizontalPodAutoscaler aimed at it', (role) => {
    const objects = render(dir);
    const deployment = find<IDeployment>(objects, 'Deployment', deploymentName(role));
    const podLabels = deployment.spec?.template.metadata?.labels;
    const budgets = all<IPodDisruptionBudget>(objects, 'PodDisruptionBudget').filter((budget) => selects(budget.spec?.selector?.matchLabels, podLabels));
    expect(budgets).toHaveLength(1);
    const autoscalers = all<IHorizontalPodAutoscaler>(objects, 'HorizontalPodAutoscaler').filter(
      (autoscaler) => autoscaler.spec?.scaleTargetRef.kind === 'Deployment' && autoscaler.spec.scaleTargetRef.name === deployment.metadata?.name,
    );
    expect(autoscalers).toHaveLength(1);
    const spec = autoscalers[0]?.spec;
    expect(spec?.minReplicas).toBeGreaterThanOrEqual(1);
    expect(spec?.maxReplicas).toBeGreaterThan(spec?.minReplicas ?? Infinity);
  });

  it('selector labels pick out exactly one Deployment per budget', () => {
    const objects = render(dir);
    const deployments = all<IDeployment>(objects, 'Deployment');
    for (const budget of all<IPodDisruptionBudget>(objects, 'PodDisruptionBudget')) {
      expect(deployments.filter((deployment) => selects(budget.spec?.selector?.matchLabels, deployment.spec?.template.metadata?.labels))).toHaveLength(1);
    }
  });
});

describe('production is larger than development', () => {
  it.each(ROLES)('%s: prod autoscaling bounds exceed dev', (role) => {
    const bounds = (dir: Overlay) => find<IHorizontalPodAutoscaler>(render(dir), 'HorizontalPodAutoscaler', deploymentName(role)).spec;
    const [dev, prod] = [bounds('manifests/overlays/dev'), bounds('manifests/overlays/prod')];
    expect(prod?.minReplicas).toBeGreaterThan(dev?.minReplicas ?? Infinity);
    expect(prod?.maxReplicas).toBeGreaterThan(dev?.maxReplicas ?? Infinity);
    expect(prod?.minReplicas).toBeGreaterThanOrEqual(2);
  });
});

describe.each(OVERLAYS)('%s: the public entry point', (dir: Overlay) => {
  it('a LoadBalancer Service on an OCI flexible load balancer with an HTTPS listener on 443, to the web pods only', () => {
    const objects = render(dir);
    const services = all<IService>(objects, 'Service').filter((service) => service.spec?.type === 'LoadBalancer');
    expect(services.map((service) => service.metadata?.name)).toEqual(['mlops-chatops-web']);
    const service = services[0] as IService;
    const annotations = service.metadata?.annotations ?? {};
    expect(annotations['oci.oraclecloud.com/load-balancer-type']).toBe('lb');
    expect(annotations['service.beta.kubernetes.io/oci-load-balancer-shape']?.toLowerCase()).toBe('flexible');
    // The cloud controller reads both with strconv.Atoi: plain integers (Mbps), 10..8192, min <= max.
    const flexMin = annotations['service.beta.kubernetes.io/oci-load-balancer-shape-flex-min'] ?? '';
    const flexMax = annotations['service.beta.kubernetes.io/oci-load-balancer-shape-flex-max'] ?? '';
    expect(flexMin).toMatch(/^\d+$/);
    expect(flexMax).toMatch(/^\d+$/);
    expect(Number(flexMin)).toBeGreaterThanOrEqual(10);
    expect(Number(flexMax)).toBeLessThanOrEqual(8192);
    expect(Number(flexMin)).toBeLessThanOrEqual(Number(flexMax));
    expect(annotations['service.beta.kubernetes.io/oci-load-balancer-ssl-ports']?.split(',').map((port) => port.trim())).toContain('443');
    expect(annotations['service.beta.kubernetes.io/oci-load-balancer-tls-secret']).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(annotations['service.beta.kubernetes.io/oci-load-balancer-backend-protocol']).toBe('HTTP');
    expect(service.spec?.ports?.map((port) => ({ port: port.port, targetPort: port.targetPort }))).toEqual([{ port: 443, targetPort: 'http' }]);

    const web = find<IDeployment>(objects, 'Deployment', deploymentName('web'));
    const worker = find<IDeployment>(objects, 'Deployment', deploymentName('worker'));
    expect(selects(service.spec?.selector, web.spec?.template.metadata?.labels)).toBe(true);
    expect(selects(service.spec?.selector, worker.spec?.template.metadata?.labels)).toBe(false);
  });

  it('a NetworkPolicy lets in port 3000, the metrics port only from the monitoring namespace, and lets out DNS, Redis, HTTPS, the Kubernetes API and MLflow', () => {
    const objects = render(dir);
    const podLabels = ROLES.map((role) => find<IDeployment>(objects, 'Deployment', deploymentName(role)).spec?.template.metadata?.labels);
    const policies = all<INetworkPolicy>(objects, 'NetworkPolicy').filter((policy) => podLabels.every((labels) => selects(policy.spec?.podSelector?.matchLabels, labels)));
    expect(policies).toHaveLength(1);
    const spec = (policies[0] as INetworkPolicy).spec;
    expect(spec?.policyTypes?.slice().sort()).toEqual(['Egress', 'Ingress']);
    const metricsPort = Number((generated(objects, 'ConfigMap', 'mlops-chatops-env') as unknown as IConfigMap | undefined)?.data?.METRICS_PORT);
    expect(metricsPort).toBe(9464);
    expect(spec?.ingress).toEqual([
      { ports: [{ protocol: 'TCP', port: 3000 }] },
      { from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }], ports: [{ protocol: 'TCP', port: metricsPort }] },
    ]);

    const egress = spec?.egress ?? [];
    const allows = (protocol: string, port: number, namespace?: string) =>
      egress.some(
        (rule) =>
          (rule.ports ?? []).some((candidate) => (candidate.protocol ?? 'TCP') === protocol && candidate.port === port) &&
          (rule.to === undefined || (namespace !== undefined && rule.to.some((peer) => peer.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] === namespace))),
      );
    expect(allows('UDP', 53)).toBe(true);
    expect(allows('TCP', 53)).toBe(true);
    expect(allows('TCP', 443)).toBe(true);
    expect(allows('TCP', 6443)).toBe(true); // the API server endpoint behind the kubernetes Service
    expect(allows('TCP', 12250)).toBe(true); // OKE Workload Identity token exchange (proxymux)

    const envConfig = generated(objects, 'ConfigMap', 'mlops-chatops-env') as unknown as IConfigMap | undefined;
    const redisUrl = new URL(envConfig?.data?.REDIS_URL ?? FAKE_SECRETS.REDIS_URL ?? '');
    expect(allows('TCP', Number(redisUrl.port || 6379))).toBe(true);
    const mlflowUrl = new URL(envConfig?.data?.MLFLOW_TRACKING_URI ?? '');
    const mlflowNamespace = /^[^.]+\.([^.]+)\.svc(\.cluster\.local)?$/.exec(mlflowUrl.hostname)?.[1];
    expect(allows('TCP', Number(mlflowUrl.port || (mlflowUrl.protocol === 'https:' ? 443 : 80)), mlflowNamespace)).toBe(true);
  });
});

describe.each(OVERLAYS)('%s: metrics stay off the public port', (dir: Overlay) => {
  it.each(ROLES)('%s listens for scrapes on a `metrics` port that is METRICS_PORT, apart from the HTTP port', (role) => {
    const objects = render(dir);
    const container = botContainer(find<IDeployment>(objects, 'Deployment', deploymentName(role)));
    const { env } = containerEnvironment(objects, container, fakeSecret, imageEnvironment());
    const [port, metricsPort] = [envSchema.shape.PORT.parse(env.PORT), envSchema.shape.METRICS_PORT.parse(env.METRICS_PORT)];
    expect(container.ports?.find((candidate) => candidate.name === 'metrics')?.containerPort).toBe(metricsPort);
    expect(container.ports?.find((candidate) => candidate.name === 'http')?.containerPort).toBe(port);
    expect(metricsPort).not.toBe(port);
  });

  it('no Service sends traffic to the metrics port', () => {
    const objects = render(dir);
    const targets = all<IService>(objects, 'Service').flatMap((service) => (service.spec?.ports ?? []).map((port) => port.targetPort ?? port.port));
    expect(targets).not.toContain('metrics');
    expect(targets).not.toContain(9464);
  });

  it('has no PodMonitor unless the monitoring component is enabled (it needs the Prometheus Operator CRDs)', () => {
    expect(render(dir).some((object) => object.kind === 'PodMonitor')).toBe(false);
    expect(repoFile(`${dir}/kustomization.yaml`)).toContain(`../../components/monitoring`);
  });

  it('with the monitoring component, one PodMonitor scrapes the metrics port of every web and worker pod', () => {
    const objects = renderWithMonitoring(dir);
    const monitors = objects.filter((object) => object.kind === 'PodMonitor');
    expect(monitors).toHaveLength(1);
    const monitor = z
      .object({ metadata: z.object({ namespace: z.string() }), spec: z.object({ selector: z.object({ matchLabels: z.record(z.string(), z.string()) }), podMetricsEndpoints: z.array(z.object({ port: z.string(), path: z.string() })) }) })
      .parse(monitors[0]);
    expect(monitor.metadata.namespace).toBe(APP_NAMESPACE);
    expect(monitor.spec.podMetricsEndpoints).toEqual([expect.objectContaining({ port: 'metrics', path: '/metrics' })]);
    for (const role of ROLES) {
      const deployment = find<IDeployment>(objects, 'Deployment', deploymentName(role));
      expect(selects(monitor.spec.selector.matchLabels, deployment.spec?.template.metadata?.labels), role).toBe(true);
      expect(botContainer(deployment).ports?.map((port) => port.name)).toContain('metrics');
    }
  });
});

describe('the Grafana dashboard (manifests/components/monitoring)', () => {
  const dashboardSchema = z.object({
    uid: z.string(),
    title: z.string(),
    panels: z.array(z.object({ title: z.string(), targets: z.array(z.object({ expr: z.string() })).min(1) })),
  });
  const dashboard = dashboardSchema.parse(JSON.parse(repoFile(`${MONITORING_COMPONENT}/grafana-dashboard.json`)));
  const expressions = dashboard.panels.flatMap((panel) => panel.targets.map((target) => ({ panel: panel.title, expr: target.expr })));

  it('queries only metrics the bot exports', async () => {
    const registry = createMetrics().registry;
    const exported = new Set((await registry.getMetricsAsJSON()).flatMap((metric) => (String(metric.type) === 'histogram' ? ['_bucket', '_count', '_sum'].map((suffix) => `${metric.name}${suffix}`) : [metric.name])));
    const unknown = expressions.flatMap(({ panel, expr }) => [...expr.matchAll(/\b(mlops_[a-z0-9_]+)/g)].map((match) => match[1] ?? '').filter((name) => !exported.has(name)).map((name) => `${panel}: ${name}`));
    expect(unknown).toEqual([]);
  });

  it('shows notifications by outcome, queue depth and age, job outcomes, Slack calls and 429s, approval latency', () => {
    const used = expressions.map(({ expr }) => expr).join('\n');
    for (const name of ['mlops_oci_notifications_total', 'mlops_queue_jobs', 'mlops_queue_oldest_waiting_seconds', 'mlops_jobs_total', 'mlops_slack_api_calls_total', 'mlops_slack_api_rate_limited_total', 'mlops_approval_decision_seconds_bucket']) {
      expect(used, name).toContain(name);
    }
  });

  it('is shipped as a ConfigMap that Grafana\'s dashboard sidecar picks up', () => {
    const configMap = find<IConfigMap>(renderWithMonitoring('manifests/overlays/prod'), 'ConfigMap', 'mlops-chatops-grafana-dashboard');
    expect(configMap.metadata?.labels?.grafana_dashboard).toBe('1');
    expect(dashboardSchema.parse(JSON.parse(configMap.data?.['mlops-chatops.json'] ?? '')).uid).toBe(dashboard.uid);
  });
});

describe.each(OVERLAYS)('%s: rollback RBAC', (dir: Overlay) => {
  it('a Role in the namespace of every configured model Deployment grants exactly what rollout undo and status use', () => {
    const objects = render(dir);
    const role = find<IRole>(objects, 'Role', 'mlops-chatops-rollback');
    expect(role.metadata?.namespace).toBe('inference');
    const rules = (role.rules ?? []).map((rule) => ({ apiGroups: rule.apiGroups, resources: rule.resources, verbs: rule.verbs?.slice().sort(), resourceNames: rule.resourceNames }));
    expect(rules).toEqual([
      { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'list', 'patch', 'watch'], resourceNames: undefined },
      { apiGroups: ['apps'], resources: ['replicasets'], verbs: ['get', 'list'], resourceNames: undefined },
    ]);

    const binding = find<IRoleBinding>(objects, 'RoleBinding', 'mlops-chatops-rollback');
    expect(binding.metadata?.namespace).toBe(role.metadata?.namespace);
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'mlops-chatops-rollback' });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: SERVICE_ACCOUNT, namespace: APP_NAMESPACE }]);

    const configMap = generated(objects, 'ConfigMap', 'mlops-chatops-config') as unknown as IConfigMap | undefined;
    const file = z.object({ models: z.record(z.string(), z.object({ deployment: z.object({ namespace: z.string() }).optional() })).default({}) }).parse(parseYaml(configMap?.data?.['mlops.yaml'] ?? ''));
    const namespaces = new Set(Object.values(file.models).flatMap((model) => (model.deployment ? [model.deployment.namespace] : [])));
    expect([...namespaces]).toEqual(['inference']);
    expect(all<KubeObject>(objects, 'ClusterRole')).toEqual([]);
    expect(all<KubeObject>(objects, 'ClusterRoleBinding')).toEqual([]);
  });
});

describe('Redis per environment', () => {
  it('dev runs Redis 7 as a StatefulSet with a PersistentVolumeClaim, append-only and noeviction, at REDIS_URL', () => {
    const objects = render('manifests/overlays/dev');
    const statefulSet = find<IStatefulSet>(objects, 'StatefulSet', 'redis');
    const container = statefulSet.spec?.template.spec?.containers[0];
    expect(container?.image).toMatch(/(^|\/)redis:7(\.|$)/);
    const args = [...(container?.command ?? []), ...(container?.args ?? [])].join(' ');
    expect(args).toMatch(/--maxmemory-policy noeviction\b/);
    expect(args).toMatch(/--appendonly yes\b/);
    const dataDir = /--dir (\S+)/.exec(args)?.[1] ?? '/data';
    const claims = statefulSet.spec?.volumeClaimTemplates ?? [];
    expect(claims).toHaveLength(1);
    expect(container?.volumeMounts?.find((mount) => mount.name === claims[0]?.metadata?.name)?.mountPath).toBe(dataDir);
    expect(container?.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(statefulSet.spec?.template.spec?.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });

    const envConfig = generated(objects, 'ConfigMap', 'mlops-chatops-env') as unknown as IConfigMap | undefined;
    const url = new URL(envConfig?.data?.REDIS_URL ?? '');
    expect(url.protocol).toBe('redis:');
    const [serviceName, namespace] = url.hostname.split('.');
    expect(namespace).toBe(APP_NAMESPACE);
    const service = find<IService>(objects, 'Service', serviceName ?? '');
    expect(selects(service.spec?.selector, statefulSet.spec?.template.metadata?.labels)).toBe(true);
    expect(service.spec?.ports?.map((port) => port.port)).toContain(Number(url.port || 6379));
  });

  it('prod has no in-cluster Redis and takes REDIS_URL (OCI Cache, rediss://) from the Secret in both roles', () => {
    const objects = render('manifests/overlays/prod');
    expect(all<IStatefulSet>(objects, 'StatefulSet')).toEqual([]);
    const envConfig = generated(objects, 'ConfigMap', 'mlops-chatops-env') as unknown as IConfigMap | undefined;
    expect(envConfig?.data?.REDIS_URL).toBeUndefined();
    for (const role of ROLES) {
      const container = botContainer(find<IDeployment>(objects, 'Deployment', deploymentName(role)));
      expect(container.env?.find((variable) => variable.name === 'REDIS_URL')?.valueFrom?.secretKeyRef).toEqual({ name: SECRET_NAME, key: 'REDIS_URL' });
    }
    const externalSecret = find<KubeObject>(render('manifests/overlays/prod/external-secrets'), 'ExternalSecret', SECRET_NAME);
    const keys = z.object({ spec: z.object({ data: z.array(z.object({ secretKey: z.string() })) }) }).parse(externalSecret).spec.data.map((entry) => entry.secretKey);
    expect(keys).toEqual(expect.arrayContaining(['REDIS_URL', 'SLACK_BOT_TOKEN', 'SLACK_SIGNING_SECRET', 'OCI_NOTIFICATIONS_USER', 'OCI_NOTIFICATIONS_PASSWORD']));
  });
});

describe('the optional External Secrets path from OCI Vault', () => {
  it('fills the Secret the Deployments read, through a Workload-identity SecretStore with its own ServiceAccount', () => {
    const objects = render('manifests/overlays/prod/external-secrets');
    const store = z
      .object({ spec: z.object({ provider: z.object({ oracle: z.object({ principalType: z.string(), serviceAccountRef: z.object({ name: z.string() }), vault: z.string() }) }) }) })
      .parse(find<KubeObject>(objects, 'SecretStore', 'oci-vault'));
    expect(store.spec.provider.oracle.principalType).toBe('Workload');
    expect(store.spec.provider.oracle.vault).toMatch(/^ocid1\.vault\./);
    const reader = find<IServiceAccount>(objects, 'ServiceAccount', store.spec.provider.oracle.serviceAccountRef.name);
    expect(reader.metadata?.name).not.toBe(SERVICE_ACCOUNT);
    const externalSecret = z
      .object({ spec: z.object({ secretStoreRef: z.object({ name: z.string() }), target: z.object({ name: z.string() }), data: z.array(z.object({ secretKey: z.string() })) }) })
      .parse(find<KubeObject>(objects, 'ExternalSecret', SECRET_NAME));
    expect(externalSecret.spec.secretStoreRef.name).toBe('oci-vault');
    expect(externalSecret.spec.target.name).toBe(SECRET_NAME);
    // Every key the ExternalSecret writes is one the Deployments read.
    const read = new Set(
      ROLES.flatMap((role) => botContainer(find<IDeployment>(render('manifests/overlays/prod'), 'Deployment', deploymentName(role))).env ?? []).flatMap((variable) =>
        variable.valueFrom?.secretKeyRef ? [variable.valueFrom.secretKeyRef.key] : [],
      ),
    );
    expect(externalSecret.spec.data.map((entry) => entry.secretKey).filter((key) => !read.has(key))).toEqual([]);
  });

  it('is not part of the prod overlay', () => {
    const kinds = new Set(render('manifests/overlays/prod').map((object) => object.kind));
    expect(kinds.has('ExternalSecret')).toBe(false);
    expect(kinds.has('SecretStore')).toBe(false);
  });
});

describe('the Slack app manifests grant what the code uses', () => {
  const usage = slackUsage();

  it('the scan finds the calls the bot is known to make', () => {
    expect([...usage.methods.keys()]).toEqual(expect.arrayContaining(['chat.postMessage', 'chat.update', 'auth.test']));
    expect(usage.commands.has('/mlops')).toBe(true);
  });

  it('every Web API method the code calls has a known scope requirement', () => {
    const unknown = [...usage.methods].filter(([method]) => METHOD_SCOPES[method] === undefined).map(([method, file]) => `${method} (${file})`);
    expect(unknown, 'add the method and its scopes to METHOD_SCOPES in this test').toEqual([]);
  });

  it.each(['manifests/slack-app.yaml', 'manifests/slack-app.socket-mode.yaml'])('%s: bot scopes are exactly those needed (plus justified ones)', (path) => {
    const manifest = slackManifest(path);
    const granted = new Set(manifest.oauth_config.scopes.bot);
    const needed = new Map<string, string>();
    for (const [method, file] of usage.methods) for (const scope of METHOD_SCOPES[method] ?? []) needed.set(scope, `${method} in ${file}`);
    for (const [event, file] of usage.events) for (const scope of EVENT_SCOPES[event] ?? []) needed.set(scope, `event ${event} in ${file}`);
    if (usage.commands.size > 0) needed.set('commands', [...usage.commands].join(', '));

    const missing = [...needed].filter(([scope]) => !granted.has(scope)).map(([scope, why]) => `${scope} (for ${why})`);
    expect(missing, 'scopes the code needs but the manifest lacks').toEqual([]);
    const unused = [...granted].filter((scope) => !needed.has(scope) && JUSTIFIED_EXTRA_SCOPES[scope] === undefined);
    expect(unused, 'scopes granted that no code needs (add a reason to JUSTIFIED_EXTRA_SCOPES or drop them)').toEqual([]);
  });

  it.each(['manifests/slack-app.yaml', 'manifests/slack-app.socket-mode.yaml'])('%s: events, slash command and interactivity match the listeners', (path) => {
    const manifest = slackManifest(path);
    const subscribed = manifest.settings.event_subscriptions?.bot_events ?? [];
    expect(new Set(subscribed)).toEqual(new Set(usage.events.keys()));
    for (const event of usage.events.keys()) expect(EVENT_SCOPES[event], `add ${event} to EVENT_SCOPES`).toBeDefined();
    expect(new Set(manifest.features.slash_commands.map((command) => command.command))).toEqual(usage.commands);
    expect(manifest.settings.interactivity?.is_enabled ?? false).toBe(usage.interactive);
    expect(new Set(manifest.features.shortcuts.map((shortcut) => shortcut.callback_id))).toEqual(usage.shortcuts);
    // app_home_opened is only sent for a Home tab that is enabled; direct messages land in the Messages tab.
    if (usage.events.has('app_home_opened')) expect(manifest.features.app_home?.home_tab_enabled).toBe(true);
    if (usage.methods.has('conversations.open')) expect(manifest.features.app_home?.messages_tab_enabled).toBe(true);
  });

  it('the HTTP manifest sends everything to https://…/slack/events; the Socket Mode one has no URLs', () => {
    const http = slackManifest('manifests/slack-app.yaml');
    expect(http.settings.socket_mode_enabled).toBe(false);
    const urls = [...http.features.slash_commands.map((command) => command.url), http.settings.event_subscriptions?.request_url, http.settings.interactivity?.request_url];
    for (const url of urls) expect(url).toMatch(/^https:\/\/[^/]+\/slack\/events$/);

    const socket = slackManifest('manifests/slack-app.socket-mode.yaml');
    expect(socket.settings.socket_mode_enabled).toBe(true);
    const socketUrls = [...socket.features.slash_commands.map((command) => command.url), socket.settings.event_subscriptions?.request_url, socket.settings.interactivity?.request_url];
    expect(socketUrls.filter((url) => url !== undefined)).toEqual([]);
    expect(new Set(socket.oauth_config.scopes.bot)).toEqual(new Set(http.oauth_config.scopes.bot));
  });
});

describe('the Dockerfile', () => {
  it('lints clean with dockerfile-utils, which does flag a broken Dockerfile', () => {
    expect(lintDockerfile('FROM node:24-bookworm-slim\nCOPY onlyone\nEXPOSE notaport\n').length).toBeGreaterThan(0);
    const problems = lintDockerfile(dockerfileText).map((diagnostic) => {
      const message = typeof diagnostic.message === 'string' ? diagnostic.message : diagnostic.message.value;
      return `line ${diagnostic.range.start.line + 1}: ${message}`;
    });
    expect(problems).toEqual([]);
  });

  it('copies from the build context only files that exist and that .dockerignore lets through', () => {
    const problems: string[] = [];
    for (const copy of dockerfile.getCOPYs()) {
      if (copy.getFromFlag()) continue; // from another stage
      const sources = argumentsOf(copy).slice(0, -1);
      expect(sources.length).toBeGreaterThan(0);
      for (const source of sources) {
        const path = posix.normalize(source.replace(/^\.\//, ''));
        if (!existsSync(join(ROOT, path))) problems.push(`${source}: does not exist`);
        else if (dockerIgnored(path)) problems.push(`${source}: excluded by .dockerignore`);
      }
    }
    expect(problems).toEqual([]);
    expect(dockerIgnored('node_modules')).toBe(true);
    expect(dockerIgnored('.env')).toBe(true);
  });

  it('copies every directory tsconfig.build.json compiles', () => {
    const include = z.object({ include: z.array(z.string()) }).parse(JSON.parse(repoFile('tsconfig.build.json'))).include;
    const copied = new Set(dockerfile.getCOPYs().filter((copy) => !copy.getFromFlag()).flatMap((copy) => argumentsOf(copy).slice(0, -1)));
    expect(include.filter((dir) => !copied.has(dir))).toEqual([]);
  });

  it('runs what the build produces: CMD = package.json main = npm start = tsc output of src/main.ts', () => {
    const packageJson = z.object({ main: z.string(), scripts: z.object({ start: z.string(), build: z.string() }) }).parse(JSON.parse(repoFile('package.json')));
    const base = z.object({ compilerOptions: z.object({ outDir: z.string(), rootDir: z.string() }) }).parse(JSON.parse(repoFile('tsconfig.json')));
    const build = z.object({ extends: z.string(), compilerOptions: z.object({ outDir: z.string().optional(), rootDir: z.string().optional() }).optional() }).parse(JSON.parse(repoFile('tsconfig.build.json')));
    expect(packageJson.scripts.build).toContain('tsconfig.build.json');
    const outDir = build.compilerOptions?.outDir ?? base.compilerOptions.outDir;
    const rootDir = build.compilerOptions?.rootDir ?? base.compilerOptions.rootDir;
    const compiledMain = posix.join(outDir, relative(rootDir, 'src/main.ts').replace(/\.ts$/, '.js'));

    expect(packageJson.main).toBe(compiledMain);
    expect(packageJson.scripts.start).toBe(`node ${compiledMain}`);
    const cmd = jsonArguments(finalStage().instructions.filter((instruction) => instruction.getKeyword() === 'CMD').at(-1));
    expect(cmd, 'CMD in exec (JSON) form').toEqual(['node', compiledMain]);
    const copiesDist = finalStage().instructions.some((instruction) => instruction.getKeyword() === 'COPY' && argumentsOf(instruction).some((argument) => argument.endsWith(outDir)));
    expect(copiesDist).toBe(true);
  });

  it('runs Node 24 under tini as a non-root user, with production dependencies only', () => {
    const stages = dockerStages();
    for (const stage of stages) expect(stage.image, 'every stage pins a Node 24 image tag').toMatch(/^node:24[-.\w]*$/);
    const runtime = finalStage();
    expect(runtime.image).toMatch(/-slim$/);
    expect(jsonArguments(runtime.instructions.find((instruction) => instruction.getKeyword() === 'ENTRYPOINT'))).toEqual(['/usr/bin/tini', '--']);
    expect(imageUser().uid).toBeGreaterThan(0);
    expect(runtime.instructions.find((instruction) => instruction.getKeyword() === 'EXPOSE') ? argumentsOf(runtime.instructions.find((instruction) => instruction.getKeyword() === 'EXPOSE') as Instruction) : []).toEqual([imageEnvironment().PORT]);

    const modulesCopy = runtime.instructions.find((instruction) => instruction.getKeyword() === 'COPY' && argumentsOf(instruction).some((argument) => argument.endsWith('node_modules')));
    const from = modulesCopy ? dockerfile.getCOPYs().find((copy) => copy.getRange().start.line === modulesCopy.getRange().start.line)?.getFromFlag()?.getValue() : undefined;
    const depsStage = stages.find((stage) => stage.name === from);
    const installs = depsStage?.instructions.filter((instruction) => instruction.getKeyword() === 'RUN').map((instruction) => instruction.getArgumentsContent() ?? '') ?? [];
    expect(installs.some((command) => /\bnpm ci\b[^&]*--omit=dev/.test(command)), 'node_modules in the runtime image come from `npm ci --omit=dev`').toBe(true);

    for (const run of runtime.instructions.filter((instruction) => instruction.getKeyword() === 'RUN').map((instruction) => instruction.getArgumentsContent() ?? '')) {
      if (!/apt-get install/.test(run)) continue;
      expect(run).toMatch(/--no-install-recommends/);
      expect(run).toMatch(/rm -rf \/var\/lib\/apt\/lists/);
    }
  });
});
