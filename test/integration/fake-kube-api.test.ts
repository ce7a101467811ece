import { ApiException, AppsV1Api, KubeConfig, PatchStrategy, Watch, setHeaderOptions, type V1ReplicaSet } from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FakeKubeApi, type JsonObject } from '../fakes/fake-kube-api.js';

/** The Deployment fields `kubectl rollout status` reads, as they arrive in watch events (plain JSON). */
interface DeploymentJson {
  metadata: { name: string; generation?: number; resourceVersion?: string; annotations?: Record<string, string> };
  spec: { replicas?: number; template: JsonObject };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    availableReplicas?: number;
    conditions?: { type: string; status: string; reason?: string }[];
  };
}

interface WatchEvent {
  type: string;
  object: DeploymentJson;
}

const REVISION = 'deployment.kubernetes.io/revision';
const HISTORY = 'deployment.kubernetes.io/revision-history';
const CHANGE_CAUSE = 'kubernetes.io/change-cause';
const SKIPPED = [
  'kubectl.kubernetes.io/last-applied-configuration',
  REVISION,
  HISTORY,
  'deployment.kubernetes.io/desired-replicas',
  'deployment.kubernetes.io/max-replicas',
  'deprecated.deployment.rollback.to',
];

/** kubectl's DeploymentStatusViewer (reference/k8s.md §2), shortened to its verdicts. */
function rolloutStatus(deployment: DeploymentJson): string {
  const status = deployment.status ?? {};
  if ((deployment.metadata.generation ?? 0) > (status.observedGeneration ?? 0)) return 'waiting for spec update to be observed';
  if (status.conditions?.some((c) => c.type === 'Progressing' && c.reason === 'ProgressDeadlineExceeded')) return 'exceeded its progress deadline';
  const updated = status.updatedReplicas ?? 0;
  const desired = deployment.spec.replicas ?? 1;
  if (updated < desired) return `${updated} out of ${desired} new replicas have been updated`;
  if ((status.replicas ?? 0) > updated) return `${(status.replicas ?? 0) - updated} old replicas are pending termination`;
  if ((status.availableReplicas ?? 0) < updated) return `${status.availableReplicas ?? 0} of ${updated} updated replicas are available`;
  return 'successfully rolled out';
}

/** Polls until `probe` gives something truthy; the fake answers within milliseconds, so 2 s is generous. */
async function until<T>(probe: () => T | undefined | false, what: string, timeoutMs = 2_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function rejection(promise: Promise<unknown>): Promise<ApiException<unknown>> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ApiException) return error as ApiException<unknown>;
    throw error;
  }
  throw new Error('expected the call to fail');
}

/** The Status object in an ApiException: client-node 2.0.1 leaves the body as the raw response text. */
function statusOf(error: ApiException<unknown>): { reason: string; message: string; code: number } {
  expect(typeof error.body).toBe('string');
  return JSON.parse(error.body as string) as { reason: string; message: string; code: number };
}

/** The RS template without pod-template-hash, as plain JSON: what kubectl patches back. */
function templateOf(rs: V1ReplicaSet): JsonObject {
  const template = JSON.parse(JSON.stringify(rs.spec?.template)) as { metadata?: { labels?: Record<string, string> } } & JsonObject;
  delete template.metadata?.labels?.['pod-template-hash'];
  return template;
}

/** kubectl's annotation merge for undo: the six skipped keys from the Deployment, everything else from the RS. */
function undoAnnotations(deployment: Record<string, string>, rs: Record<string, string>): Record<string, string> {
  const merged: Record<string, string> = {};
  for (const name of SKIPPED) if (deployment[name] !== undefined) merged[name] = deployment[name];
  for (const [name, value] of Object.entries(rs)) if (!SKIPPED.includes(name)) merged[name] = value;
  return merged;
}

describe('FakeKubeApi through the real @kubernetes/client-node', () => {
  let fake: FakeKubeApi;
  let kc: KubeConfig;
  let apps: AppsV1Api;
  let namespaceCount = 0;
  const watches: AbortController[] = [];

  /** A namespace per test, so tests never see each other's objects. */
  const freshNamespace = () => `team-${++namespaceCount}`;

  const openWatch = async (namespace: string, name: string, query: Record<string, string | number | boolean> = {}) => {
    const events: WatchEvent[] = [];
    const ended: { error: unknown; done: boolean } = { error: undefined, done: false };
    const controller = await new Watch(kc).watch(
      `/apis/apps/v1/namespaces/${namespace}/deployments`,
      { fieldSelector: `metadata.name=${name}`, ...query },
      (type: string, object: unknown) => events.push({ type, object: object as DeploymentJson }),
      (error: unknown) => {
        ended.done = true;
        ended.error = error;
      },
    );
    watches.push(controller);
    return { events, ended, controller };
  };

  beforeAll(async () => {
    fake = await FakeKubeApi.start({ token: 'kube-test-token' });
    kc = new KubeConfig();
    kc.loadFromOptions(fake.kubeconfig('ml'));
    apps = kc.makeApiClient(AppsV1Api);
  });

  afterEach(() => {
    for (const controller of watches.splice(0)) controller.abort();
  });

  afterAll(async () => {
    await fake.stop();
  });

  it('serves a Deployment the way the typed client reads it, with the bearer token', async () => {
    const ns = freshNamespace();
    fake.createDeployment({ namespace: ns, name: 'web', replicas: 2, annotations: { [CHANGE_CAUSE]: 'initial deploy' } });

    const deployment = await apps.readNamespacedDeployment({ name: 'web', namespace: ns });

    expect(deployment.metadata?.creationTimestamp).toBeInstanceOf(Date);
    expect(deployment.metadata?.annotations?.[REVISION]).toBe('1');
    expect(deployment.spec?.template.spec?.containers[0]?.imagePullPolicy).toBe('IfNotPresent');
    expect(deployment.status).toMatchObject({ observedGeneration: 1, replicas: 2, updatedReplicas: 2, availableReplicas: 2 });
    expect(deployment.status?.conditions?.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['Available', 'True', 'MinimumReplicasAvailable'],
      ['Progressing', 'True', 'NewReplicaSetAvailable'],
    ]);
    expect(fake.revisions(ns, 'web')).toEqual([{ revision: 1, name: expect.stringMatching(/^web-[bcdfghjklmnpqrstvwxz2456789]+$/) as unknown, image: 'registry.example.com/web:1', changeCause: 'initial deploy' }]);
    expect(fake.requests().at(-1)).toMatchObject({ method: 'GET', path: `/apis/apps/v1/namespaces/${ns}/deployments/web`, status: 200 });

    const fromFile = new KubeConfig();
    fromFile.loadFromString(fake.kubeconfigText(ns));
    await expect(fromFile.makeApiClient(AppsV1Api).readNamespacedDeployment({ name: 'web', namespace: ns })).resolves.toBeDefined();
  });

  it('answers 401 without the token, 404 NotFound and 403 Forbidden as ApiException with .code', async () => {
    const ns = freshNamespace();
    fake.createDeployment({ namespace: ns, name: 'web' });
    const stranger = new KubeConfig();
    stranger.loadFromOptions({ ...fake.kubeconfig(), users: [{ name: 'fake-kube-user', token: 'wrong' }] });

    const unauthorized = await rejection(stranger.makeApiClient(AppsV1Api).readNamespacedDeployment({ name: 'web', namespace: ns }));
    expect(unauthorized.code).toBe(401);

    const missing = await rejection(apps.readNamespacedDeployment({ name: 'ghost', namespace: ns }));
    expect(missing.code).toBe(404);
    expect(statusOf(missing)).toMatchObject({ reason: 'NotFound', message: 'deployments.apps "ghost" not found', code: 404 });

    fake.forbid('patch', 'deployments', ns);
    const refused = await rejection(
      apps.patchNamespacedDeployment(
        { name: 'web', namespace: ns, body: [{ op: 'replace', path: '/spec/replicas', value: 1 }] },
        setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
      ),
    );
    expect(refused.code).toBe(403);
    expect(statusOf(refused)).toMatchObject({
      reason: 'Forbidden',
      message: `deployments.apps "web" is forbidden: User "system:serviceaccount:mlops:mlops-chatops" cannot patch resource "deployments" in API group "apps" in the namespace "${ns}"`,
    });
    // Only patch is refused; the read still works.
    await expect(apps.readNamespacedDeployment({ name: 'web', namespace: ns })).resolves.toBeDefined();
  });

  it('fails the next matching request as told, then recovers', async () => {
    const ns = freshNamespace();
    fake.createDeployment({ namespace: ns, name: 'web' });
    fake.failNext({ method: 'GET', pathPrefix: `/apis/apps/v1/namespaces/${ns}/deployments` }, { code: 503 });
    fake.failNext({ method: 'GET', pathPrefix: `/apis/apps/v1/namespaces/${ns}/replicasets` }, { code: 429 });

    expect((await rejection(apps.readNamespacedDeployment({ name: 'web', namespace: ns }))).code).toBe(503);
    const limited = await rejection(apps.listNamespacedReplicaSet({ namespace: ns }));
    expect(limited.code).toBe(429);
    expect(limited.headers['retry-after']).toBe('1');
    await expect(apps.readNamespacedDeployment({ name: 'web', namespace: ns })).resolves.toBeDefined();
  });

  it('lists ReplicaSets by label selector in pages, including ones the Deployment does not own', async () => {
    const ns = freshNamespace();
    fake.createDeployment({
      namespace: ns,
      name: 'api',
      selector: { matchLabels: { app: 'api' } },
      template: { metadata: { labels: { app: 'api', tier: 'backend' } }, spec: { containers: [{ name: 'api', image: 'registry.example.com/api:1' }] } },
    });
    fake.createDeployment({ namespace: ns, name: 'worker' });
    const history = fake.rollOutImages(ns, 'api', Array.from({ length: 11 }, (_, i) => `registry.example.com/api:${i + 2}`));
    expect(history.map((entry) => entry.revision)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    fake.addReplicaSet(ns, 'api', { owner: 'another-uid', revision: '99' });
    fake.addReplicaSet(ns, 'api', { revision: 'not-a-number' });

    const items: V1ReplicaSet[] = [];
    let token: string | undefined;
    const pageSizes: number[] = [];
    do {
      const page = await apps.listNamespacedReplicaSet({ namespace: ns, labelSelector: 'app=api', limit: 5, ...(token ? { _continue: token } : {}) });
      pageSizes.push(page.items.length);
      items.push(...page.items);
      token = page.metadata?._continue;
    } while (token);
    expect(pageSizes).toEqual([5, 5, 4]);
    expect(new Set(items.map((rs) => rs.metadata?.name)).size).toBe(14);
    expect(fake.requests().filter((r) => r.path === `/apis/apps/v1/namespaces/${ns}/replicasets`).map((r) => r.query.continue !== undefined)).toEqual([false, true, true]);

    // kubectl's choice: controller uid matches, numeric revision, second highest. As strings, "9" would win.
    const deployment = await apps.readNamespacedDeployment({ name: 'api', namespace: ns });
    const owned = items.filter((rs) => rs.metadata?.ownerReferences?.some((ref) => ref.controller && ref.uid === deployment.metadata?.uid));
    const numbered = owned.map((rs) => Number.parseInt(rs.metadata?.annotations?.[REVISION] ?? '', 10)).filter(Number.isFinite);
    expect(owned).toHaveLength(13);
    expect(numbered.sort((a, b) => b - a).slice(0, 2)).toEqual([12, 11]);
    expect(owned.map((rs) => rs.metadata?.annotations?.[REVISION] ?? '').sort().reverse()[0]).toBe('not-a-number');

    const names = async (labelSelector: string) => (await apps.listNamespacedReplicaSet({ namespace: ns, labelSelector })).items.length;
    expect(await names('app in (api,batch),tier!=frontend,!canary')).toBe(14);
    expect(await names('app notin (api)')).toBe(1);
    expect(await names('tier')).toBe(14);
    expect(await names('app=api,tier=frontend')).toBe(0);
    expect((await rejection(apps.listNamespacedReplicaSet({ namespace: ns, labelSelector: 'app in api' }))).code).toBe(400);
  });

  it('rolls out a JSON Patch of /spec/template as a new revision, and reuses the old ReplicaSet when patched back', async () => {
    const ns = freshNamespace();
    fake.createDeployment({ namespace: ns, name: 'web', annotations: { [CHANGE_CAUSE]: 'v1' } });
    const v1 = fake.revisions(ns, 'web')[0];
    const patchOptions = setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);

    const current = await apps.readNamespacedDeployment({ name: 'web', namespace: ns });
    const template = JSON.parse(JSON.stringify(current.spec?.template)) as { spec: { containers: { image: string }[] } } & JsonObject;
    template.spec.containers[0] = { ...template.spec.containers[0], image: 'registry.example.com/web:2' };
    const patched = await apps.patchNamespacedDeployment(
      {
        name: 'web',
        namespace: ns,
        body: [
          { op: 'replace', path: '/spec/template', value: template },
          { op: 'replace', path: `/metadata/annotations/${CHANGE_CAUSE.replace('/', '~1')}`, value: 'v2' },
        ],
      },
      patchOptions,
    );
    // The PATCH answer is the object as written: a new generation the controller has not observed yet.
    expect(patched.metadata?.generation).toBe(2);
    expect(patched.status?.observedGeneration).toBe(1);
    expect(fake.revisions(ns, 'web').map(({ revision, changeCause }) => [revision, changeCause])).toEqual([
      [1, 'v1'],
      [2, 'v2'],
    ]);
    const sent = fake.requests().find((r) => r.method === 'PATCH' && r.path.includes(`/namespaces/${ns}/`));
    expect(sent).toMatchObject({ contentType: 'application/json-patch+json', status: 200 });
    expect(Array.isArray(sent?.body)).toBe(true);

    // kubectl rollout undo: the previous revision's template (hash label removed) and annotations, both replaced whole.
    const rsList = await apps.listNamespacedReplicaSet({ namespace: ns, labelSelector: 'app=web' });
    const previous = rsList.items.find((rs) => rs.metadata?.annotations?.[REVISION] === '1');
    if (!previous) throw new Error('revision 1 missing');
    const deployment = await apps.readNamespacedDeployment({ name: 'web', namespace: ns });
    await apps.patchNamespacedDeployment(
      {
        name: 'web',
        namespace: ns,
        body: [
          { op: 'replace', path: '/spec/template', value: templateOf(previous) },
          { op: 'replace', path: '/metadata/annotations', value: undoAnnotations(deployment.metadata?.annotations ?? {}, previous.metadata?.annotations ?? {}) },
        ],
      },
      patchOptions,
    );

    const after = fake.revisions(ns, 'web');
    expect(after.map(({ revision, name, changeCause }) => [revision, name, changeCause])).toEqual([
      [2, expect.any(String), 'v2'],
      [3, v1?.name, 'v1'],
    ]);
    expect(fake.replicaSets(ns)).toHaveLength(2);
    const reused = await apps.readNamespacedReplicaSet({ name: v1?.name ?? '', namespace: ns });
    expect(reused.metadata?.annotations).toMatchObject({ [REVISION]: '3', [HISTORY]: '1' });
    const final = await apps.readNamespacedDeployment({ name: 'web', namespace: ns });
    expect(final.metadata?.annotations).toMatchObject({ [REVISION]: '3', [CHANGE_CAUSE]: 'v1' });
    expect(final.metadata?.generation).toBe(3);
    expect(final.status?.observedGeneration).toBe(3);
    expect(final.spec?.template.spec?.containers[0]?.image).toBe('registry.example.com/web:1');
  });

  it('bumps the generation only for spec changes, honours dryRun=All and refuses a replace of a missing path', async () => {
    const ns = freshNamespace();
    fake.createDeployment({ namespace: ns, name: 'web' });
    const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    const json = setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);

    const annotated = await apps.patchNamespacedDeployment({ name: 'web', namespace: ns, body: { metadata: { annotations: { owner: 'ml' } } } }, merge);
    expect(annotated.metadata?.generation).toBe(1);
    expect(fake.requests().at(-1)?.contentType).toBe('application/merge-patch+json');

    const dry = await apps.patchNamespacedDeployment(
      { name: 'web', namespace: ns, dryRun: 'All', body: [{ op: 'replace', path: '/spec/replicas', value: 5 }] },
      json,
    );
    expect(dry.spec?.replicas).toBe(5);
    expect(dry.metadata?.generation).toBe(2);
    expect(fake.requests().at(-1)?.query).toEqual({ dryRun: 'All' });
    expect(fake.deployment(ns, 'web')).toMatchObject({ metadata: { generation: 1 }, spec: { replicas: 3 } });

    const invalid = await rejection(apps.patchNamespacedDeployment({ name: 'web', namespace: ns, body: [{ op: 'replace', path: '/spec/nothing/here', value: 1 }] }, json));
    expect(invalid.code).toBe(422);
    expect(statusOf(invalid).reason).toBe('Invalid');
    const failedTest = await rejection(
      apps.patchNamespacedDeployment({ name: 'web', namespace: ns, body: [{ op: 'test', path: '/spec/replicas', value: 7 }] }, json),
    );
    expect(failedTest.code).toBe(422);
    const mismatch = await rejection(
      apps.patchNamespacedDeployment({ name: 'web', namespace: ns, body: [{ op: 'replace', path: '/spec/template/metadata/labels', value: { app: 'other' } }] }, json),
    );
    expect(statusOf(mismatch).message).toContain('`selector` does not match template `labels`');
    expect(fake.revisions(ns, 'web')).toHaveLength(1);
  });

  it('merges containers by name under strategic merge, which is why undo must use JSON Patch', async () => {
    const ns = freshNamespace();
    const containers = [
      { name: 'app', image: 'registry.example.com/app:1' },
      { name: 'sidecar', image: 'registry.example.com/proxy:1' },
    ];
    fake.createDeployment({ namespace: ns, name: 'app', template: { metadata: { labels: { app: 'app' } }, spec: { containers } } });
    const onlyApp = { metadata: { labels: { app: 'app' } }, spec: { containers: [{ name: 'app', image: 'registry.example.com/app:0' }] } };

    const merged = await apps.patchNamespacedDeployment(
      { name: 'app', namespace: ns, body: { spec: { template: onlyApp } } },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
    expect(merged.spec?.template.spec?.containers.map((c) => `${c.name}=${c.image}`)).toEqual(['app=registry.example.com/app:0', 'sidecar=registry.example.com/proxy:1']);

    const replaced = await apps.patchNamespacedDeployment(
      { name: 'app', namespace: ns, body: [{ op: 'replace', path: '/spec/template', value: onlyApp }] },
      setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
    );
    expect(replaced.spec?.template.spec?.containers.map((c) => c.name)).toEqual(['app']);
  });

  it('rolls nothing out while paused', async () => {
    const ns = freshNamespace();
    fake.createDeployment({ namespace: ns, name: 'web' });
    fake.setPaused(ns, 'web', true);
    fake.setImage(ns, 'web', 'registry.example.com/web:2');

    expect(fake.revisions(ns, 'web').map((r) => r.revision)).toEqual([1]);
    const paused = await apps.readNamespacedDeployment({ name: 'web', namespace: ns });
    expect(paused.status?.observedGeneration).toBe(paused.metadata?.generation);
    expect(paused.status?.conditions?.find((c) => c.type === 'Progressing')?.reason).toBe('DeploymentPaused');

    fake.setPaused(ns, 'web', false);
    expect(fake.revisions(ns, 'web').map((r) => [r.revision, r.image])).toEqual([
      [1, 'registry.example.com/web:1'],
      [2, 'registry.example.com/web:2'],
    ]);
  });

  it("never completes a rollout in 'stuck' mode, not even a rollback to the ReplicaSet still running", () => {
    const ns = freshNamespace();
    fake.createDeployment({ namespace: ns, name: 'web', replicas: 2 });
    fake.setRolloutMode(ns, 'web', 'stuck');

    fake.setImage(ns, 'web', 'registry.example.com/web:broken');
    expect(rolloutStatus(fake.deployment(ns, 'web') as unknown as DeploymentJson)).toBe('1 out of 2 new replicas have been updated');
    expect(fake.tick(ns, 'web')).toBe(false);

    fake.setImage(ns, 'web', 'registry.example.com/web:1');
    expect(rolloutStatus(fake.deployment(ns, 'web') as unknown as DeploymentJson)).toBe('1 old replicas are pending termination');
    fake.setRolloutMode(ns, 'web', 'instant');
    expect(rolloutStatus(fake.deployment(ns, 'web') as unknown as DeploymentJson)).toBe('successfully rolled out');
  });

  it('streams MODIFIED events as a stepwise rollout proceeds, observedGeneration lagging first', async () => {
    const ns = freshNamespace();
    fake.createDeployment({ namespace: ns, name: 'web', replicas: 2 });
    fake.setRolloutMode(ns, 'web', 'stepwise');
    const watch = await openWatch(ns, 'web');
    await until(() => watch.events.length === 1, 'the initial ADDED event');
    expect(watch.events[0]?.type).toBe('ADDED');
    expect(fake.watchers()).toBe(1);

    await apps.patchNamespacedDeployment(
      { name: 'web', namespace: ns, body: [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'registry.example.com/web:2' }] },
      setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
    );
    await until(() => watch.events.length === 2, 'the PATCH event');
    let ticks = 0;
    while (fake.tick(ns, 'web')) {
      ticks++;
      await until(() => watch.events.length === 2 + ticks, `event ${ticks}`);
    }

    expect(ticks).toBe(5);
    expect(watch.events.slice(1).every((event) => event.type === 'MODIFIED')).toBe(true);
    expect(watch.events.slice(1).map((event) => rolloutStatus(event.object))).toEqual([
      'waiting for spec update to be observed',
      '0 out of 2 new replicas have been updated',
      '1 out of 2 new replicas have been updated',
      '1 out of 2 new replicas have been updated',
      '1 old replicas are pending termination',
      'successfully rolled out',
    ]);
    expect(watch.events.at(-1)?.object.status?.conditions?.find((c) => c.type === 'Progressing')?.reason).toBe('NewReplicaSetAvailable');
    const newRs = fake.revisions(ns, 'web').at(-1);
    expect(newRs).toMatchObject({ revision: 2, image: 'registry.example.com/web:2' });

    watch.controller.abort();
    await until(() => fake.watchers() === 0, 'the watch to close');
  });

  it('steps on a timer with stepMs, and shows "updated replicas are available" for a first rollout', async () => {
    const ns = freshNamespace();
    fake.setRolloutMode(ns, 'solo', 'stepwise', { stepMs: 5 });
    fake.createDeployment({ namespace: ns, name: 'solo', replicas: 1 });
    const watch = await openWatch(ns, 'solo');
    const seen = new Set<string>();
    await until(() => {
      for (const event of watch.events) seen.add(rolloutStatus(event.object));
      return seen.has('successfully rolled out');
    }, 'the timed rollout');
    expect([...seen]).toEqual(expect.arrayContaining(['0 of 1 updated replicas are available', 'successfully rolled out']));
  });

  it("reports ProgressDeadlineExceeded in 'deadline' mode; back in 'instant' mode a rollback completes", async () => {
    const ns = freshNamespace();
    fake.createDeployment({ namespace: ns, name: 'web', replicas: 2 });
    fake.setRolloutMode(ns, 'web', 'deadline', { deadlineMs: 30 });
    fake.setImage(ns, 'web', 'registry.example.com/web:broken');
    const watch = await openWatch(ns, 'web');

    const timedOut = await until(
      () => watch.events.find((event) => event.object.status?.conditions?.some((c) => c.reason === 'ProgressDeadlineExceeded')),
      'ProgressDeadlineExceeded',
    );
    expect(timedOut.type).toBe('MODIFIED');
    expect(timedOut.object.status?.conditions?.find((c) => c.type === 'Progressing')).toMatchObject({ status: 'False', reason: 'ProgressDeadlineExceeded' });
    expect(rolloutStatus(timedOut.object)).toBe('exceeded its progress deadline');
    expect(timedOut.object.status).toMatchObject({ replicas: 3, updatedReplicas: 1, availableReplicas: 2 });

    fake.setRolloutMode(ns, 'web', 'instant');
    fake.setImage(ns, 'web', 'registry.example.com/web:1');
    const done = await until(
      () => watch.events.find((event) => event.object.metadata.annotations?.[REVISION] === '3' && rolloutStatus(event.object) === 'successfully rolled out'),
      'the rollback to finish',
    );
    expect(done.object.metadata.annotations?.[REVISION]).toBe('3');
    expect(fake.revisions(ns, 'web').map((r) => r.revision)).toEqual([2, 3]);
  });

  it('resumes a watch from a resourceVersion, answers 410 after compaction, and ends cleanly when closed', async () => {
    const ns = freshNamespace();
    fake.createDeployment({ namespace: ns, name: 'web' });
    const listed = await apps.listNamespacedDeployment({ namespace: ns, fieldSelector: 'metadata.name=web' });
    const from = listed.metadata?.resourceVersion ?? '';
    fake.setImage(ns, 'web', 'registry.example.com/web:2');

    const resumed = await openWatch(ns, 'web', { resourceVersion: from, allowWatchBookmarks: true });
    await until(() => resumed.events.length === 2, 'replayed events');
    expect(resumed.events.map((event) => event.type)).toEqual(['MODIFIED', 'MODIFIED']);
    fake.sendBookmarks();
    await until(() => resumed.events.some((event) => event.type === 'BOOKMARK'), 'a bookmark');

    fake.compact();
    const expired = await openWatch(ns, 'web', { resourceVersion: from });
    const error = await until(() => expired.events.find((event) => event.type === 'ERROR'), 'the 410 ERROR event');
    expect(error.object).toMatchObject({ kind: 'Status', code: 410, reason: 'Expired' });
    await until(() => expired.ended.done, 'the expired watch to end');

    fake.closeWatches();
    await until(() => resumed.ended.done, 'the closed watch to end');
    expect(resumed.ended.error).toBeNull();
    expect(fake.watchers()).toBe(0);

    fake.forbid('watch', 'deployments', ns);
    const refused = await openWatch(ns, 'web');
    await until(() => refused.ended.done, 'the refused watch to end');
    expect(refused.ended.error).toMatchObject({ statusCode: 403 });
  });
});
