import { describe, expect, it } from 'vitest';
import {
  equalIgnoreHash,
  ownedBy,
  pickRevision,
  planRollback,
  rollbackAnnotations,
  rollbackPatch,
  rolloutStatus,
  selectorString,
  type Json,
  type KubeObject,
} from '../../src/domain/rollback.js';

const UID = 'dep-uid-1';

function template(image: string, extra: Record<string, Json> = {}, hash?: string): Json {
  return {
    metadata: { labels: { app: 'fraud', ...(hash ? { 'pod-template-hash': hash } : {}) } },
    spec: { containers: [{ name: 'model', image }], ...extra },
  };
}

function deployment(image: string, fields: { annotations?: Record<string, string>; paused?: boolean; generation?: number; status?: Record<string, Json>; replicas?: number } = {}): KubeObject {
  return {
    metadata: { name: 'fraud-model', namespace: 'inference', uid: UID, generation: fields.generation ?? 3, annotations: { 'deployment.kubernetes.io/revision': '3', ...fields.annotations } },
    spec: { replicas: fields.replicas ?? 2, selector: { matchLabels: { app: 'fraud' } }, template: template(image), ...(fields.paused ? { paused: true } : {}) },
    ...(fields.status ? { status: fields.status } : {}),
  };
}

function rs(name: string, revision: string | undefined, image: string, options: { owner?: string; controller?: boolean; annotations?: Record<string, string> } = {}): KubeObject {
  return {
    metadata: {
      name,
      annotations: { ...(revision === undefined ? {} : { 'deployment.kubernetes.io/revision': revision }), ...options.annotations },
      ownerReferences: [{ uid: options.owner ?? UID, controller: options.controller ?? true, kind: 'Deployment', name: 'fraud-model' }],
    },
    spec: { template: template(image, {}, `${name}-hash`) },
  };
}

describe('which ReplicaSets count', () => {
  it('keeps only those whose controller owner reference has the Deployment UID', () => {
    const owned = ownedBy(deployment('v3'), [rs('a', '1', 'v1'), rs('b', '2', 'v2', { owner: 'other-uid' }), rs('c', '3', 'v3', { controller: false })]);
    expect(owned.map((item) => item.metadata?.name)).toEqual(['a']);
  });

  it('turns the selector into a label selector, expressions included', () => {
    const dep: KubeObject = { spec: { selector: { matchLabels: { app: 'fraud', tier: 'api' }, matchExpressions: [{ key: 'env', operator: 'In', values: ['prod', 'dr'] }, { key: 'canary', operator: 'DoesNotExist' }] } } };
    expect(selectorString(dep)).toBe('app=fraud,tier=api,env in (prod,dr),!canary');
  });
});

describe('picking the revision like kubectl', () => {
  it('previous means the second-highest numeric revision, not creation order or string order', () => {
    const owned = [rs('r10', '10', 'v10'), rs('r9', '9', 'v9'), rs('r2', '2', 'v2'), rs('r11', '11', 'v11')];
    const pick = pickRevision(deployment('v11'), owned, 0);
    expect(pick).toMatchObject({ ok: true, revision: 10 });
  });

  it('skips unparsable revisions; a missing one reads as 0, which (as in kubectl) never counts as previous', () => {
    const owned = [rs('bad', 'x1', 'vx'), rs('none', undefined, 'v0'), rs('r1', '1', 'v1')];
    expect(pickRevision(deployment('v1'), owned, 0)).toMatchObject({ ok: false, error: 'no rollout history found for deployment "fraud-model"' });
    expect(pickRevision(deployment('v1'), [...owned, rs('r2', '2', 'v2')], 0)).toMatchObject({ ok: true, revision: 1 });
  });

  it('--to-revision finds exactly that revision, or says it is not in history', () => {
    const owned = [rs('r1', '1', 'v1'), rs('r2', '2', 'v2'), rs('r3', '3', 'v3')];
    expect(pickRevision(deployment('v3'), owned, 1)).toMatchObject({ ok: true, revision: 1 });
    expect(pickRevision(deployment('v3'), owned, 7)).toEqual({ ok: false, error: 'unable to find specified revision 7 in history' });
  });

  it('with a single revision there is no history', () => {
    expect(pickRevision(deployment('v1'), [rs('r1', '1', 'v1')], 0)).toEqual({ ok: false, error: 'no rollout history found for deployment "fraud-model"' });
  });
});

describe('annotations and the patch', () => {
  it('keeps the Deployment values of the skip keys and takes every other annotation from the ReplicaSet', () => {
    const dep = deployment('v3', { annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}', 'kubernetes.io/change-cause': 'set image v3', team: 'ml' } });
    const target = rs('r1', '1', 'v1', { annotations: { 'kubernetes.io/change-cause': 'initial v1', 'deployment.kubernetes.io/desired-replicas': '9', owner: 'ds' } });
    expect(rollbackAnnotations(dep, target)).toEqual({
      'kubectl.kubernetes.io/last-applied-configuration': '{}',
      'deployment.kubernetes.io/revision': '3',
      'kubernetes.io/change-cause': 'initial v1',
      owner: 'ds',
    });
  });

  it('replaces the whole template (without pod-template-hash) and the whole annotations map', () => {
    const patch = rollbackPatch(deployment('v3'), rs('r1', '1', 'v1'));
    expect(patch.map((op) => [op.op, op.path])).toEqual([
      ['replace', '/spec/template'],
      ['replace', '/metadata/annotations'],
    ]);
    expect(patch[0]?.value).toEqual(template('v1'));
  });

  it('compares templates ignoring the hash label, with empty and absent equal', () => {
    expect(equalIgnoreHash(template('v1', {}, 'abc'), template('v1'))).toBe(true);
    expect(equalIgnoreHash(template('v1', { volumes: [] }), template('v1'))).toBe(true);
    expect(equalIgnoreHash(template('v1'), template('v2'))).toBe(false);
  });
});

describe('planning in kubectl order', () => {
  const history = [rs('r1', '1', 'v1'), rs('r2', '2', 'v2'), rs('r3', '3', 'v3')];

  it('plans a patch back to the previous revision with both summaries', () => {
    const plan = planRollback(deployment('v3'), history, 0);
    expect(plan.kind).toBe('patch');
    if (plan.kind !== 'patch') return;
    expect(plan.current).toMatchObject({ revision: 3, images: ['v3'] });
    expect(plan.target).toMatchObject({ revision: 2, images: ['v2'], replicaSet: 'r2' });
    expect(plan.targetReplicaSet).toBe('r2');
  });

  it('refuses a paused Deployment, after the revision is found', () => {
    expect(planRollback(deployment('v3', { paused: true }), history, 0)).toMatchObject({ kind: 'paused' });
    expect(planRollback(deployment('v3', { paused: true }), history, 9)).toMatchObject({ kind: 'error' });
  });

  it('skips without a patch when the template already matches', () => {
    expect(planRollback(deployment('v2'), history, 2)).toMatchObject({ kind: 'skip', message: 'skipped rollback (current template already matches revision 2)' });
  });

  it('a pinned ReplicaSet is used even after the controller renumbered it', () => {
    const renumbered = [rs('r1', '1', 'v1'), rs('r2', '4', 'v2'), rs('r3', '3', 'v3')];
    expect(planRollback(deployment('v2'), renumbered, 2, 'r2')).toMatchObject({ kind: 'skip' });
  });
});

describe('rollout status like kubectl', () => {
  const status = (fields: Record<string, Json>, generation = 3) => rolloutStatus(deployment('v2', { generation, status: fields }));

  it('waits until the spec update is observed', () => {
    expect(status({ observedGeneration: 2 })).toEqual({ done: false, failed: false, message: 'Waiting for deployment spec update to be observed...' });
  });

  it('fails on ProgressDeadlineExceeded, whatever the condition status', () => {
    expect(status({ observedGeneration: 3, conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }] })).toMatchObject({ failed: true });
  });

  it('waits for updated, then old replicas to go, then availability', () => {
    expect(status({ observedGeneration: 3, updatedReplicas: 1, replicas: 2 }).message).toContain('1 out of 2 new replicas have been updated');
    expect(status({ observedGeneration: 3, updatedReplicas: 2, replicas: 3 }).message).toContain('1 old replicas are pending termination');
    expect(status({ observedGeneration: 3, updatedReplicas: 2, replicas: 2, availableReplicas: 1 }).message).toContain('1 of 2 updated replicas are available');
    expect(status({ observedGeneration: 3, updatedReplicas: 2, replicas: 2, availableReplicas: 2 })).toEqual({ done: true, message: 'deployment "fraud-model" successfully rolled out' });
  });

  it('counts missing numbers as zero', () => {
    expect(status({ observedGeneration: 3 }).message).toContain('0 out of 2 new replicas');
  });
});
