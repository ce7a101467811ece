/**
 * `kubectl rollout undo` and `kubectl rollout status`, as pure functions over the API's JSON
 * (reference/k8s.md §1–2). Objects stay plain JSON end to end: a typed client would silently drop pod
 * template fields it does not know, and the template is written back whole.
 */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface KubeObject {
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    generation?: number;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
    ownerReferences?: { uid?: string; controller?: boolean; kind?: string; name?: string }[];
    creationTimestamp?: string;
  };
  spec?: JsonObject;
  status?: JsonObject;
}

export const REVISION = 'deployment.kubernetes.io/revision';
export const CHANGE_CAUSE = 'kubernetes.io/change-cause';
const HASH_LABEL = 'pod-template-hash';
/** Kept from the Deployment, never copied from the ReplicaSet (kubectl's annotationsToSkip). */
export const ANNOTATIONS_TO_SKIP = [
  'kubectl.kubernetes.io/last-applied-configuration',
  REVISION,
  'deployment.kubernetes.io/revision-history',
  'deployment.kubernetes.io/desired-replicas',
  'deployment.kubernetes.io/max-replicas',
  'deprecated.deployment.rollback.to',
] as const;

const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);

/** `deploymentutil.Revision`: a missing annotation is 0; one that does not parse is skipped (undefined). */
export function revisionOf(object: KubeObject): number | undefined {
  const raw = object.metadata?.annotations?.[REVISION];
  if (raw === undefined) return 0;
  return /^-?\d{1,18}$/.test(raw) ? Number(raw) : undefined;
}

/** ReplicaSets the Deployment controls: the controller owner reference's UID, not the name or kind. */
export function ownedBy(deployment: KubeObject, replicaSets: readonly KubeObject[]): KubeObject[] {
  const uid = deployment.metadata?.uid;
  return replicaSets.filter((rs) => uid !== undefined && rs.metadata?.ownerReferences?.some((ref) => ref.controller === true && ref.uid === uid));
}

/** `spec.selector` as a label selector string for LIST (matchLabels and matchExpressions). */
export function selectorString(deployment: KubeObject): string {
  const selector = deployment.spec?.selector;
  if (!isObject(selector)) return '';
  const parts: string[] = [];
  if (isObject(selector.matchLabels)) for (const [key, value] of Object.entries(selector.matchLabels)) if (typeof value === 'string') parts.push(`${key}=${value}`);
  if (Array.isArray(selector.matchExpressions)) {
    for (const expression of selector.matchExpressions) {
      if (!isObject(expression) || typeof expression.key !== 'string') continue;
      const values = Array.isArray(expression.values) ? expression.values.filter((value): value is string => typeof value === 'string') : [];
      switch (expression.operator) {
        case 'In':
          parts.push(`${expression.key} in (${values.join(',')})`);
          break;
        case 'NotIn':
          parts.push(`${expression.key} notin (${values.join(',')})`);
          break;
        case 'Exists':
          parts.push(expression.key);
          break;
        case 'DoesNotExist':
          parts.push(`!${expression.key}`);
          break;
        default:
          break;
      }
    }
  }
  return parts.join(',');
}

/** apimachinery's Semantic.DeepEqual for JSON: an empty map or list equals an absent one. */
export function semanticEqual(a: Json | undefined, b: Json | undefined): boolean {
  const empty = (value: Json | undefined) => value === undefined || value === null || (Array.isArray(value) && value.length === 0) || (isObject(value) && Object.keys(value).length === 0);
  if (empty(a) && empty(b)) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((item, index) => semanticEqual(item, b[index]));
  if (isObject(a) && isObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].every((key) => semanticEqual(a[key], b[key]));
  }
  return a === b;
}

function withoutHash(template: Json | undefined): JsonObject {
  const copy: JsonObject = isObject(template) ? structuredClone(template) : {};
  const metadata = copy.metadata;
  if (isObject(metadata) && isObject(metadata.labels)) {
    delete metadata.labels[HASH_LABEL];
  }
  return copy;
}

export function equalIgnoreHash(a: Json | undefined, b: Json | undefined): boolean {
  return semanticEqual(withoutHash(a), withoutHash(b));
}

export type RevisionPick = { ok: true; replicaSet: KubeObject; revision: number } | { ok: false; error: string };

/**
 * kubectl's `deploymentRevision`: with `toRevision` 0, the ReplicaSet with the second-highest numeric
 * revision; otherwise the one with exactly that revision.
 */
export function pickRevision(deployment: KubeObject, owned: readonly KubeObject[], toRevision: number): RevisionPick {
  if (toRevision < 0) return { ok: false, error: `unable to find specified revision ${toRevision} in history` };
  let latest = { revision: 0, rs: undefined as KubeObject | undefined };
  let previous = { revision: 0, rs: undefined as KubeObject | undefined };
  for (const rs of owned) {
    const revision = revisionOf(rs);
    if (revision === undefined) continue;
    if (toRevision === 0) {
      if (latest.revision < revision) {
        previous = latest;
        latest = { revision, rs };
      } else if (previous.revision < revision) {
        previous = { revision, rs };
      }
    } else if (toRevision === revision) {
      return { ok: true, replicaSet: rs, revision };
    }
  }
  if (toRevision > 0) return { ok: false, error: `unable to find specified revision ${toRevision} in history` };
  if (!previous.rs) return { ok: false, error: `no rollout history found for deployment "${deployment.metadata?.name ?? ''}"` };
  return { ok: true, replicaSet: previous.rs, revision: previous.revision };
}

/** The Deployment's values for the skip keys, then every other annotation of the ReplicaSet. */
export function rollbackAnnotations(deployment: KubeObject, replicaSet: KubeObject): Record<string, string> {
  const annotations: Record<string, string> = {};
  const own = deployment.metadata?.annotations ?? {};
  for (const key of ANNOTATIONS_TO_SKIP) if (own[key] !== undefined) annotations[key] = own[key];
  for (const [key, value] of Object.entries(replicaSet.metadata?.annotations ?? {})) {
    if (!(ANNOTATIONS_TO_SKIP as readonly string[]).includes(key)) annotations[key] = value;
  }
  return annotations;
}

/** RFC 6902: replace the whole pod template and the whole annotations map, as kubectl does. */
export function rollbackPatch(deployment: KubeObject, replicaSet: KubeObject): JsonObject[] {
  return [
    { op: 'replace', path: '/spec/template', value: withoutHash(replicaSet.spec?.template) },
    { op: 'replace', path: '/metadata/annotations', value: rollbackAnnotations(deployment, replicaSet) },
  ];
}

export interface RevisionSummary {
  revision?: number | undefined;
  replicaSet?: string;
  images: string[];
  changeCause?: string;
  /** The model version the revision serves: the pod template's `mlops.model-version` label or annotation. */
  modelVersion?: string;
}

/** Deploy pipelines mark the pod template with the model version they deploy (label or annotation). */
export const MODEL_VERSION_KEY = 'mlops.model-version';

export function templateModelVersion(template: Json | undefined): string | undefined {
  if (!isObject(template) || !isObject(template.metadata)) return undefined;
  for (const field of ['labels', 'annotations'] as const) {
    const map = template.metadata[field];
    const value = isObject(map) ? map[MODEL_VERSION_KEY] : undefined;
    if (typeof value === 'string' && /^\d{1,10}$/.test(value)) return value;
  }
  return undefined;
}

export function templateImages(template: Json | undefined): string[] {
  if (!isObject(template) || !isObject(template.spec) || !Array.isArray(template.spec.containers)) return [];
  return template.spec.containers.flatMap((container) => (isObject(container) && typeof container.image === 'string' ? [container.image] : []));
}

export function summarize(object: KubeObject, template: Json | undefined): RevisionSummary {
  const changeCause = object.metadata?.annotations?.[CHANGE_CAUSE];
  const modelVersion = templateModelVersion(template);
  return {
    revision: revisionOf(object),
    ...(object.metadata?.name ? { replicaSet: object.metadata.name } : {}),
    images: templateImages(template),
    ...(changeCause ? { changeCause } : {}),
    ...(modelVersion ? { modelVersion } : {}),
  };
}

export type RollbackPlan =
  | { kind: 'error'; message: string }
  | { kind: 'paused'; message: string }
  | { kind: 'skip'; message: string; current: RevisionSummary; target: RevisionSummary }
  | { kind: 'patch'; current: RevisionSummary; target: RevisionSummary; patch: JsonObject[]; targetReplicaSet: string };

/**
 * `DeploymentRollbacker.Rollback` in kubectl's order: pick the revision, refuse a paused Deployment,
 * skip when the template already matches, otherwise the patch. `targetReplicaSet` pins the choice: after
 * the undo the controller renumbers that ReplicaSet, so a retry must not pick "the previous" again.
 */
export function planRollback(deployment: KubeObject, replicaSets: readonly KubeObject[], toRevision: number, pinnedReplicaSet?: string): RollbackPlan {
  const owned = ownedBy(deployment, replicaSets);
  let picked: RevisionPick;
  if (pinnedReplicaSet) {
    const rs = owned.find((candidate) => candidate.metadata?.name === pinnedReplicaSet);
    picked = rs ? { ok: true, replicaSet: rs, revision: revisionOf(rs) ?? 0 } : { ok: false, error: `ReplicaSet ${pinnedReplicaSet} is gone from the history` };
  } else {
    picked = pickRevision(deployment, owned, toRevision);
  }
  if (!picked.ok) return { kind: 'error', message: picked.error };
  const currentRs = owned.find((rs) => equalIgnoreHash(rs.spec?.template, deployment.spec?.template));
  const current = summarize(currentRs ?? deployment, deployment.spec?.template);
  const target = summarize(picked.replicaSet, picked.replicaSet.spec?.template);
  if (deployment.spec?.paused === true) {
    return { kind: 'paused', message: "you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume' and try again" };
  }
  if (equalIgnoreHash(picked.replicaSet.spec?.template, deployment.spec?.template)) {
    return { kind: 'skip', message: `skipped rollback (current template already matches revision ${toRevision})`, current, target };
  }
  return { kind: 'patch', current, target, patch: rollbackPatch(deployment, picked.replicaSet), targetReplicaSet: picked.replicaSet.metadata?.name ?? '' };
}

export type RolloutStatus = { done: true; message: string } | { done: false; failed: true; message: string } | { done: false; failed: false; message: string };

const num = (value: Json | undefined): number => (typeof value === 'number' ? value : 0);

/** `DeploymentStatusViewer.Status`: the same checks, in the same order, missing numbers counted as 0. */
export function rolloutStatus(deployment: KubeObject): RolloutStatus {
  const name = deployment.metadata?.name ?? '';
  const status = deployment.status ?? {};
  const generation = deployment.metadata?.generation ?? 0;
  if (generation <= num(status.observedGeneration)) {
    const conditions = Array.isArray(status.conditions) ? status.conditions : [];
    const progressing = conditions.find((condition) => isObject(condition) && condition.type === 'Progressing');
    if (isObject(progressing) && progressing.reason === 'ProgressDeadlineExceeded') {
      return { done: false, failed: true, message: `deployment "${name}" exceeded its progress deadline` };
    }
    const replicas = deployment.spec?.replicas;
    const updated = num(status.updatedReplicas);
    if (typeof replicas === 'number' && updated < replicas) {
      return { done: false, failed: false, message: `Waiting for deployment "${name}" rollout to finish: ${updated} out of ${replicas} new replicas have been updated...` };
    }
    if (num(status.replicas) > updated) {
      return { done: false, failed: false, message: `Waiting for deployment "${name}" rollout to finish: ${num(status.replicas) - updated} old replicas are pending termination...` };
    }
    if (num(status.availableReplicas) < updated) {
      return { done: false, failed: false, message: `Waiting for deployment "${name}" rollout to finish: ${num(status.availableReplicas)} of ${updated} updated replicas are available...` };
    }
    return { done: true, message: `deployment "${name}" successfully rolled out` };
  }
  return { done: false, failed: false, message: 'Waiting for deployment spec update to be observed...' };
}
