import { describe, expect, it } from 'vitest';
import { approvalOutcome, awaitsApproval, canaryTraffic, castVote, orderStages, type DeployStage, type VotePolicy } from '../../src/domain/deploy-stages.js';
import { deploymentPolicy } from '../../src/domain/deployment-policy.js';
import { gitopsManager } from '../../src/domain/gitops.js';
import { templateModelVersion } from '../../src/domain/rollback.js';
import { configFileSchema } from '../../src/config/config-file.js';
import { applyRunUpdate, type Run } from '../../src/domain/run.js';
import { renderRunMessage } from '../../src/slack/run-message.js';

const PIPELINE = 'ocid1.devopsdeploypipeline.oc1.iad.p';
const stage = (id: string, type: string, after: string[], extra: Partial<DeployStage> = {}): DeployStage => ({ id, name: id, type, after, ...extra });
const policy: VotePolicy = { required: 2, allowSelfApproval: false, requestedBy: 'U0ASKER' };

describe('deployment stages', () => {
  it('orders stages by their predecessors (the first one follows the pipeline), whatever the map order', () => {
    const stages = [
      stage('prod', 'OKE_DEPLOYMENT', ['approval']),
      stage('approval', 'OKE_CANARY_APPROVAL', ['shift']),
      stage('canary', 'OKE_CANARY_DEPLOYMENT', [PIPELINE]),
      stage('shift', 'OKE_CANARY_TRAFFIC_SHIFT', ['canary'], { trafficPercent: 10 }),
    ];
    expect(orderStages(stages).map((entry) => entry.id)).toEqual(['canary', 'shift', 'approval', 'prod']);
    expect(canaryTraffic(stages)).toBe(10);
    // A cycle cannot hide a stage.
    expect(orderStages([stage('a', 'WAIT', ['b']), stage('b', 'WAIT', ['a'])]).map((entry) => entry.id).sort()).toEqual(['a', 'b']);
  });

  it('an approval stage IN_PROGRESS waits; SUCCEEDED is approved; FAILED with a REJECT is rejected, without one it failed', () => {
    const waiting = stage('m', 'MANUAL_APPROVAL', [PIPELINE], { status: 'IN_PROGRESS' });
    expect(awaitsApproval(waiting)).toBe(true);
    expect(awaitsApproval({ ...waiting, type: 'OKE_DEPLOYMENT' })).toBe(false);
    expect(approvalOutcome({ ...waiting, status: 'SUCCEEDED' })).toBe('approved');
    expect(approvalOutcome({ ...waiting, status: 'FAILED', approvalActions: [{ subjectId: 'x', action: 'REJECT' }] })).toBe('rejected');
    expect(approvalOutcome({ ...waiting, status: 'FAILED' })).toBe('failed');
    expect(approvalOutcome({ ...waiting, status: undefined })).toBe('not reached');
  });

  it('counts distinct approvers, refuses the requester, closes once decided, and lets a reject through at once', () => {
    const waiting = stage('m', 'MANUAL_APPROVAL', [PIPELINE], { status: 'IN_PROGRESS' });
    expect(castVote(waiting, undefined, 'U0ASKER', 'approve', policy).decision).toBe('self');
    const first = castVote(waiting, undefined, 'U0A', 'approve', policy);
    expect(first).toMatchObject({ decision: 'recorded', vote: { approvers: ['U0A'], required: 2, state: 'pending' } });
    expect(castVote(waiting, first.vote, 'U0A', 'approve', policy).decision).toBe('already');
    const second = castVote(waiting, first.vote, 'U0B', 'approve', policy);
    expect(second).toMatchObject({ decision: 'approve', vote: { approvers: ['U0A', 'U0B'], state: 'approving', decidedBy: 'U0B' } });
    expect(castVote(waiting, second.vote, 'U0C', 'approve', policy).decision).toBe('closed');
    expect(castVote(waiting, first.vote, 'U0C', 'reject', policy, 'too slow')).toMatchObject({ decision: 'reject', vote: { state: 'rejecting', reason: 'too slow' } });
    expect(castVote({ ...waiting, status: 'SUCCEEDED' }, undefined, 'U0A', 'approve', policy).decision).toBe('not waiting');
    // required 0 still needs one click: OCI needs one approve call.
    expect(castVote(waiting, undefined, 'U0A', 'approve', { ...policy, required: 0 }).decision).toBe('approve');
    // OCI refused the last decision: counting starts again.
    expect(castVote(waiting, { required: 1, approvers: ['U0A'], state: 'failed' }, 'U0A', 'approve', { ...policy, required: 1 }).decision).toBe('approve');
  });

  it('a terminal deployment keeps the stages it ended with against a late read of an earlier moment', () => {
    const base = { key: 'd', resourceId: 'ocid1.devopsdeployment.oc1.iad.d', subject: 'deployment', kind: 'deploy' } as const;
    const ended = applyRunUpdate(undefined, { ...base, at: '2026-01-01T00:10:00Z', state: 'SUCCEEDED', stages: [stage('a', 'WAIT', [PIPELINE], { status: 'SUCCEEDED' })] }).run;
    const late = applyRunUpdate(ended, { ...base, at: '2026-01-01T00:05:00Z', state: 'IN_PROGRESS', stages: [stage('a', 'WAIT', [PIPELINE], { status: 'IN_PROGRESS' })] });
    expect(late.changed).toBe(false);
    expect(late.run.stages?.[0]?.status).toBe('SUCCEEDED');
  });

  it('renders stages (a stage absent from the map or ACCEPTED without a start is not reached), the canary facts and Approve/Reject', () => {
    const run: Run = {
      ...applyRunUpdate(undefined, { key: 'd', resourceId: 'ocid1.devopsdeployment.oc1.iad.d', subject: 'deployment', kind: 'deploy', at: '2026-01-01T00:00:00Z', state: 'IN_PROGRESS', name: 'fraud <!channel>' }).run,
      stages: [
        stage('canary', 'OKE_CANARY_DEPLOYMENT', [PIPELINE], { status: 'SUCCEEDED', startedAt: '2026-01-01T00:00:00Z', finishedAt: '2026-01-01T00:01:30Z', namespace: 'canary' }),
        stage('shift', 'OKE_CANARY_TRAFFIC_SHIFT', ['canary'], { status: 'SUCCEEDED', trafficPercent: 25 }),
        stage('approval', 'OKE_CANARY_APPROVAL', ['shift'], { status: 'IN_PROGRESS' }),
        stage('prod', 'OKE_DEPLOYMENT', ['approval'], { status: 'ACCEPTED' }),
        stage('after', 'WAIT', ['prod']),
      ],
    };
    const text = JSON.stringify(renderRunMessage(run, new Date('2026-01-01T00:05:00Z'), {}, { approvers: ['S0LEADS'], required: 2, gates: ['auc 0.93 ≥ 0.92 :white_check_mark:'] }).blocks);
    expect(text).toContain('1m 30s');
    expect(text).toContain('canary traffic 25%');
    expect(text).toContain('(0/2) from <!subteam^S0LEADS>');
    expect(text).toContain('The canary takes *25%* of the traffic');
    expect(text).toContain('auc 0.93');
    expect(text.match(/not reached yet/g)).toHaveLength(2);
    expect(text).toContain('deploy.approve');
    expect(text).toContain('deploy.cancel');
  });
});

describe('deployment approval policy', () => {
  const file = configFileSchema.parse({
    slack: { defaultChannel: 'C0DEFAULT' },
    roles: { approvers: ['U0LEAD'] },
    approvals: { required: 1 },
    models: {
      'fraud-model': {
        environments: [
          { name: 'qa', alias: 'qa', deployPipelineId: 'ocid1.devopsdeploypipeline.oc1.iad.qa' },
          { name: 'prod', alias: 'champion', approvals: { required: 2, approvers: ['S0LEADS'] }, confirm: 'typed', deployPipelineId: 'ocid1.devopsdeploypipeline.oc1.iad.prod' },
        ],
      },
      legacy: { alias: 'champion', deployPipelineId: 'ocid1.devopsdeploypipeline.oc1.iad.legacy' },
    },
  });

  it('takes the environment from ENVIRONMENT, else from the pipeline, and its policy, else the top-level one', () => {
    expect(deploymentPolicy(file, { arguments: { MODEL_NAME: 'fraud-model', ENVIRONMENT: 'prod' } })).toMatchObject({ model: 'fraud-model', approvers: ['S0LEADS'], required: 2, confirm: 'typed', alias: 'champion' });
    expect(deploymentPolicy(file, { pipelineId: 'ocid1.devopsdeploypipeline.oc1.iad.qa' })).toMatchObject({ model: 'fraud-model', approvers: ['U0LEAD'], required: 1, confirm: 'click', alias: 'qa' });
    expect(deploymentPolicy(file, { pipelineId: 'ocid1.devopsdeploypipeline.oc1.iad.legacy' })).toMatchObject({ model: 'legacy', environment: undefined, approvers: ['U0LEAD'], alias: 'champion' });
    expect(deploymentPolicy(file, {})).toMatchObject({ model: undefined, approvers: ['U0LEAD'], required: 1 });
  });
});

describe('GitOps ownership and the model version on a pod template', () => {
  it('recognises Argo CD and Flux by their marks, and not a plain Helm release', () => {
    expect(gitopsManager({ metadata: { annotations: { 'argocd.argoproj.io/tracking-id': 'app:apps/Deployment:ns/x' } } })).toBe('Argo CD (application app)');
    expect(gitopsManager({ metadata: { labels: { 'app.kubernetes.io/instance': 'app' } } })).toContain('probably Argo CD');
    expect(gitopsManager({ metadata: { labels: { 'app.kubernetes.io/instance': 'app', 'app.kubernetes.io/managed-by': 'Helm' } } })).toBeUndefined();
    expect(gitopsManager({ metadata: { labels: { 'helm.toolkit.fluxcd.io/name': 'fraud', 'helm.toolkit.fluxcd.io/namespace': 'ml' } } })).toBe('Flux (HelmRelease ml/fraud)');
    expect(gitopsManager({ metadata: { labels: { 'kustomize.toolkit.fluxcd.io/name': 'apps' } } })).toBe('Flux (Kustomization apps)');
    expect(gitopsManager({ metadata: {} })).toBeUndefined();
  });

  it('reads mlops.model-version from the template labels or annotations, digits only', () => {
    expect(templateModelVersion({ metadata: { labels: { 'mlops.model-version': '7' } } })).toBe('7');
    expect(templateModelVersion({ metadata: { annotations: { 'mlops.model-version': '12' } } })).toBe('12');
    expect(templateModelVersion({ metadata: { labels: { 'mlops.model-version': 'v7; rm -rf' } } })).toBeUndefined();
    expect(templateModelVersion(undefined)).toBeUndefined();
  });
});
