import { describe, expect, it } from 'vitest';
import { UsageError } from '../../commands/command.js';
import { parsePromoteArgs } from '../../commands/promote.js';
import { parseRollbackOptions } from '../../commands/rollback.js';
import type { Approval } from '../../src/domain/approval.js';
import { renderApprovalMessage, requestLines } from '../../src/slack/approval-message.js';
import type { ConfigFile, EnvironmentConfig, ModelConfig } from '../../src/config/config-file.js';
import {
  approvalPolicy,
  deploymentsOf,
  environmentOfDeployPipeline,
  evaluateSoak,
  pathNames,
  resolveTarget,
  soakRefusal,
} from '../../src/domain/environments.js';

const environment = (name: string, alias: string, extra: Partial<EnvironmentConfig> = {}): EnvironmentConfig => ({ name, alias, autoPromote: false, confirm: 'click', gates: [], ...extra });
const PATH = [environment('dev', 'dev'), environment('qa', 'qa', { soak: 2 * 3600_000 }), environment('prod', 'champion', { soak: 24 * 3600_000 })];
const model = (extra: Partial<ModelConfig>): ModelConfig => ({ alias: undefined, archiveExisting: true, metrics: {}, gates: [], ...extra });

describe('resolveTarget: where promote sends a version', () => {
  it('goes to the first environment when the version serves none', () => {
    const resolved = resolveTarget(PATH, { champion: '3', qa: '4' }, '7');
    expect(resolved).toMatchObject({ ok: true, index: 0, environment: { name: 'dev' }, previous: undefined });
  });

  it('goes to the environment after the furthest one the version serves', () => {
    expect(resolveTarget(PATH, { dev: '7' }, '7')).toMatchObject({ ok: true, environment: { name: 'qa' }, previous: { name: 'dev' } });
    expect(resolveTarget(PATH, { dev: '8', qa: '7' }, '7')).toMatchObject({ ok: true, environment: { name: 'prod' }, previous: { name: 'qa' } });
  });

  it('refuses a version already at the end of the path', () => {
    expect(resolveTarget(PATH, { dev: '7', qa: '7', champion: '7' }, '7')).toEqual({ ok: false, reason: 'v7 already serves prod, the end of the path.' });
  });

  it('--to names the environment; skipping one is refused with the reason', () => {
    expect(resolveTarget(PATH, { dev: '7', qa: '7' }, '7', 'prod')).toMatchObject({ ok: true, environment: { name: 'prod' } });
    const skipped = resolveTarget(PATH, { dev: '7', qa: '6' }, '7', 'prod');
    expect(skipped.ok).toBe(false);
    expect(!skipped.ok && skipped.reason).toBe('v7 has not served qa (qa serves v6): promote it to qa first.');
    expect(resolveTarget(PATH, {}, '7', 'qa')).toEqual({ ok: false, reason: 'v7 has not served dev: promote it to dev first.' });
  });

  it('refuses an environment the version already serves, and an unknown --to naming the choices', () => {
    expect(resolveTarget(PATH, { dev: '7' }, '7', 'dev')).toEqual({ ok: false, reason: 'v7 already serves dev.' });
    expect(resolveTarget(PATH, {}, '7', 'staging')).toEqual({ ok: false, reason: 'Unknown environment "staging". Environments: dev, qa, prod.' });
  });
});

describe('approvalPolicy: per environment, falling back to the global policy', () => {
  const file = { approvals: { required: 1, allowSelfApproval: false, ttl: 3600_000 }, roles: { trainers: [], approvers: ['U0LEAD1'], deployers: [], gateOverriders: [] } } satisfies Pick<ConfigFile, 'approvals' | 'roles'>;

  it('uses the global approvals and roles.approvers without an environment or its own keys', () => {
    expect(approvalPolicy(file)).toEqual({ required: 1, approvers: ['U0LEAD1'], allowSelfApproval: false, ttlMs: 3600_000 });
    expect(approvalPolicy(file, environment('qa', 'qa'))).toEqual({ required: 1, approvers: ['U0LEAD1'], allowSelfApproval: false, ttlMs: 3600_000 });
  });

  it('takes each key the environment sets, its approvers replacing roles.approvers', () => {
    expect(approvalPolicy(file, environment('dev', 'dev', { approvals: { required: 0 } }))).toEqual({ required: 0, approvers: ['U0LEAD1'], allowSelfApproval: false, ttlMs: 3600_000 });
    expect(approvalPolicy(file, environment('prod', 'champion', { approvals: { required: 2, approvers: ['S0LEADS'], allowSelfApproval: true, ttl: 60_000 } }))).toEqual({
      required: 2,
      approvers: ['S0LEADS'],
      allowSelfApproval: true,
      ttlMs: 60_000,
    });
  });
});

describe('evaluateSoak', () => {
  const since = new Date('2026-01-01T00:00:00Z');

  it('is met once the version has served the previous environment long enough', () => {
    expect(evaluateSoak(2 * 3600_000, since, new Date('2026-01-01T02:00:00Z'))).toEqual({ met: true, soakMs: 7_200_000, servedMs: 7_200_000 });
    expect(evaluateSoak(undefined, since, since)).toEqual({ met: true, soakMs: 0, servedMs: 0 });
  });

  it('is unmet with the time left, and says so', () => {
    const check = evaluateSoak(2 * 3600_000, since, new Date('2026-01-01T00:30:00Z'));
    expect(check).toEqual({ met: false, soakMs: 7_200_000, servedMs: 1_800_000, leftMs: 5_400_000 });
    if (check.met) throw new Error('expected an unmet soak');
    expect(soakRefusal('7', 'dev', check)).toBe('v7 has served dev for 30m 0s; dev needs a soak of 2h 0m, so 1h 30m left.');
  });

  it('counts a clock that went backwards as no time served', () => {
    expect(evaluateSoak(60_000, since, new Date('2025-12-31T00:00:00Z'))).toMatchObject({ met: false, servedMs: 0, leftMs: 60_000 });
  });
});

describe('the path and its deployments', () => {
  const withEnvironments = model({
    environments: [
      environment('dev', 'dev', { deployPipelineId: 'ocid1.devopsdeploypipeline.oc1.iad.dev', deployment: { context: 'oke-dev', namespace: 'inference', name: 'fraud', timeout: 600_000 } }),
      environment('qa', 'qa'),
      environment('prod', 'champion', { deployPipelineId: 'ocid1.devopsdeploypipeline.oc1.iad.prod', deployment: { context: 'oke-prod', namespace: 'inference', name: 'fraud', timeout: 600_000 } }),
    ],
  });

  it('names the path in order, or the single alias', () => {
    expect(pathNames(withEnvironments)).toEqual(['dev', 'qa', 'prod']);
    expect(pathNames(model({ alias: 'champion' }))).toEqual(['@champion']);
    expect(pathNames(model({ stage: 'Production' }))).toEqual(['stage Production']);
  });

  it('lists the deployments by environment, and the single one of a model without environments', () => {
    expect(deploymentsOf(withEnvironments).map((entry) => [entry.environment, entry.deployment.context])).toEqual([
      ['dev', 'oke-dev'],
      ['prod', 'oke-prod'],
    ]);
    const single = model({ alias: 'champion', deployment: { namespace: 'inference', name: 'churn', timeout: 600_000 } });
    expect(deploymentsOf(single)).toEqual([{ environment: undefined, deployment: single.deployment, deployPipelineId: undefined }]);
  });

  it('finds the environment of a deploy run by its ENVIRONMENT argument, else its pipeline', () => {
    expect(environmentOfDeployPipeline(withEnvironments, 'ocid1.devopsdeploypipeline.oc1.iad.prod', undefined)?.name).toBe('prod');
    expect(environmentOfDeployPipeline(withEnvironments, 'ocid1.devopsdeploypipeline.oc1.iad.other', 'dev')?.name).toBe('dev');
    expect(environmentOfDeployPipeline(withEnvironments, 'ocid1.devopsdeploypipeline.oc1.iad.other', undefined)).toBeUndefined();
    expect(environmentOfDeployPipeline(model({ alias: 'champion' }), 'ocid1.devopsdeploypipeline.oc1.iad.prod', 'prod')).toBeUndefined();
  });
});

describe('promote and rollback arguments with environments', () => {
  const environments = (model: string) => (model === 'fraud-model' ? ['dev', 'qa', 'prod'] : undefined);
  const models = ['fraud-model', 'churn-model'];

  it('takes --to with a model that has environments, naming the choices when unknown', () => {
    expect(parsePromoteArgs(['fraud-model', '7', '--to', 'qa'], models, environments)).toEqual({ model: 'fraud-model', version: '7', environment: 'qa' });
    expect(parsePromoteArgs(['fraud-model', '7'], models, environments)).toEqual({ model: 'fraud-model', version: '7' });
    expect(() => parsePromoteArgs(['fraud-model', '7', '--to', 'staging'], models, environments)).toThrow('Unknown environment `staging` (`--to`). Environments: `dev`, `qa`, `prod`.');
    expect(() => parsePromoteArgs(['fraud-model', '7', '--alias', 'champion'], models, environments)).toThrow('is promoted through its environments');
    expect(() => parsePromoteArgs(['fraud-model', '7', '--to'], models, environments)).toThrow(UsageError);
  });

  it('refuses --to for a model without environments, which keeps --alias and --stage', () => {
    expect(() => parsePromoteArgs(['churn-model', '3', '--to', 'prod'], models, environments)).toThrow('has no `environments`');
    expect(parsePromoteArgs(['churn-model', '3', '--alias', 'blue'], models, environments)).toEqual({ model: 'churn-model', version: '3', target: { kind: 'alias', alias: 'blue' } });
  });

  it('reads --env among the rollback options', () => {
    expect(parseRollbackOptions(['--env', 'prod', '--dry-run'])).toEqual({ toRevision: 0, dryRun: true, environment: 'prod' });
    expect(parseRollbackOptions(['--to-revision', '3', '--env', 'qa'])).toEqual({ toRevision: 3, dryRun: false, environment: 'qa' });
    expect(() => parseRollbackOptions(['--env', 'prod', '--env', 'dev'])).toThrow('Unexpected');
    expect(() => parseRollbackOptions(['--env', 'Prod!'])).toThrow('Unexpected');
  });
});

describe('the approval request of an environment', () => {
  const approval = (extra: Partial<Approval>): Approval => ({
    id: '0123456789ab',
    model: 'fraud-model',
    version: '7',
    target: { kind: 'alias', alias: 'qa' },
    requestedBy: 'U0DS1',
    requestedAt: '2026-01-01T00:00:00Z',
    expiresAt: '2026-01-02T00:00:00Z',
    required: 1,
    allowSelfApproval: false,
    approvers: [],
    state: 'pending',
    candidate: { version: '7', metrics: {} },
    current: { metrics: {} },
    environment: { name: 'qa', path: ['dev', 'qa', 'prod'], approvers: ['S0QA'], soak: { previous: 'dev', soakMs: 7_200_000, servedMs: 9_000_000 } },
    ...extra,
  });

  it('shows the path with the step, the soak met and who may approve there', () => {
    expect(requestLines(approval({}))).toEqual(['*Path* dev → *▶ qa* → prod', '*Soak* :white_check_mark: served dev for 2h 30m (needs 2h 0m)', '*Approvers in qa* <!subteam^S0QA>']);
    const message = renderApprovalMessage(approval({}));
    expect(message.text).toContain('Promote fraud-model v7 → qa (@qa)');
    expect(JSON.stringify(message.blocks)).toContain('approval.approve');
  });

  it('an environment needing no approval says so, and a model without environments shows no path', () => {
    const immediate = renderApprovalMessage(approval({ required: 0, state: 'approved', decidedBy: 'U0DS1', environment: { name: 'dev', path: ['dev', 'qa', 'prod'], approvers: [] } }));
    expect(JSON.stringify(immediate.blocks)).toContain('Not needed in dev');
    expect(JSON.stringify(immediate.blocks)).not.toContain('approval.approve');
    const { environment: _none, ...single } = approval({ target: { kind: 'alias', alias: 'champion' } });
    expect(requestLines(single)).toEqual([]);
    expect(renderApprovalMessage(single).text).toContain('Promote fraud-model v7 → @champion');
  });
});
