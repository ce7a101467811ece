import type { KubeObject } from './rollback.js';

/**
 * Whether a GitOps controller owns a Deployment, from the marks the controllers put on what they apply:
 * Argo CD's `argocd.argoproj.io/tracking-id` annotation (annotation tracking, the default since Argo CD 3)
 * or its `app.kubernetes.io/instance` label (label tracking; Helm charts set that label too, so it counts
 * only without Helm's `app.kubernetes.io/managed-by: Helm`), and Flux's `kustomize.toolkit.fluxcd.io/name`
 * and `helm.toolkit.fluxcd.io/name` labels (with their `/namespace` companions). A rollback of such a
 * Deployment is undone by the next sync; the fix belongs in Git. Returns who manages it, for the warning.
 */
export function gitopsManager(object: KubeObject): string | undefined {
  const labels = object.metadata?.labels ?? {};
  const annotations = object.metadata?.annotations ?? {};
  const tracking = annotations['argocd.argoproj.io/tracking-id'];
  if (tracking) return `Argo CD (application ${tracking.split(':')[0] ?? tracking})`;
  const fluxKustomization = labels['kustomize.toolkit.fluxcd.io/name'];
  if (fluxKustomization) return `Flux (Kustomization ${qualified(labels['kustomize.toolkit.fluxcd.io/namespace'], fluxKustomization)})`;
  const fluxHelm = labels['helm.toolkit.fluxcd.io/name'];
  if (fluxHelm) return `Flux (HelmRelease ${qualified(labels['helm.toolkit.fluxcd.io/namespace'], fluxHelm)})`;
  // A custom tracking label some Argo CD installs configure (application.instanceLabelKey).
  const custom = labels['argocd.argoproj.io/instance'];
  if (custom) return `Argo CD (application ${custom})`;
  const instance = labels['app.kubernetes.io/instance'];
  if (instance && labels['app.kubernetes.io/managed-by'] !== 'Helm') return `probably Argo CD (application ${instance}, by its app.kubernetes.io/instance label)`;
  return undefined;
}

function qualified(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}
