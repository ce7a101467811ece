import { describe, expect, it } from 'vitest';
import type { Approval } from '../../src/domain/approval.js';
import type { Run } from '../../src/domain/run.js';
import { renderHome, type HomeState } from '../../src/slack/home-view.js';
import { renderDecisionDm, renderRunEndDm } from '../../src/slack/direct-message.js';

const now = new Date('2026-12-05T12:00:00Z');

const approval = (overrides: Partial<Approval> = {}): Approval => ({
  id: 'a1b2c3d4e5f6',
  model: 'fraud-model',
  version: '7',
  target: { kind: 'alias', alias: 'champion' },
  requestedBy: 'U0DS1',
  requestedAt: '2026-12-05T11:00:00Z',
  expiresAt: '2026-12-06T11:00:00Z',
  required: 2,
  allowSelfApproval: false,
  approvers: ['U0LEAD2'],
  state: 'pending',
  candidate: { version: '7', metrics: {} },
  current: { version: '6', metrics: {} },
  ...overrides,
});

const run = (overrides: Partial<Run> = {}): Run => ({
  key: 'train-abc',
  resourceId: 'ocid1.datasciencejobrun.oc1.iad.x',
  subject: 'jobRun',
  kind: 'training',
  name: 'fraud-model-20261205',
  state: 'FAILED',
  stateAt: '2026-12-05T11:30:00Z',
  startedAt: '2026-12-05T11:00:00Z',
  finishedAt: '2026-12-05T11:30:00Z',
  details: { consoleUrl: 'https://cloud.oracle.com/x', lifecycleDetails: 'exit code 137 <!channel>' },
  history: [],
  startedBy: 'U0DS1',
  target: 'fraud-model',
  version: 3,
  ...overrides,
});

const state = (overrides: Partial<HomeState> = {}): HomeState => ({ user: 'U0LEAD1', roles: ['approvers'], actionable: [], mine: [], models: [], recent: [], failures: [], now, ...overrides });
const text = (view: ReturnType<typeof renderHome>) => JSON.stringify(view.blocks);

describe('the Home tab', () => {
  it('offers Approve and Reject, with the channel message\'s action ids, only for the requests the viewer may decide', () => {
    const view = renderHome(state({ actionable: [approval()], mine: [approval({ id: 'ffffffffffff', requestedBy: 'U0LEAD1', version: '8' })] }));
    const actions = view.blocks.filter((block) => block.type === 'actions');
    expect(actions).toHaveLength(1);
    expect(actions[0]).toMatchObject({ elements: [{ action_id: 'approval.approve', value: 'a1b2c3d4e5f6', style: 'primary' }, { action_id: 'approval.reject', value: 'a1b2c3d4e5f6', style: 'danger' }] });
    expect(text(view)).toContain('1/2 approvals');
    expect(text(view)).toContain('Your pending requests');
    expect(text(view)).toContain('v8');
  });

  it('says when nothing waits, lists roles, each environment with its version and since when, and failures', () => {
    const view = renderHome(
      state({
        roles: [],
        models: [
          { name: 'churn-model', slots: [{ environment: 'dev', label: '@dev', version: '3', since: '2026-12-04T10:00:00Z' }, { environment: 'qa', label: '@qa', version: undefined }] },
          { name: 'broken', slots: [], problem: 'MLflow could not be reached.' },
        ],
        failures: [{ run: run(), messageUrl: 'https://slack.com/archives/C0TRAIN/p1' }],
        notice: ':white_check_mark: Approved',
      }),
    );
    const body = text(view);
    expect(body).toContain('Nothing waits for you');
    expect(body).toContain('_none_');
    expect(body).toMatch(/\*dev\* \(`@dev`\): v3 since <!date\^\d+/);
    expect(body).toContain('*qa* (`@qa`): _nothing yet_');
    expect(body).toContain('MLflow could not be reached.');
    expect(body).toContain('<https://slack.com/archives/C0TRAIN/p1|message>');
    expect(body).toContain('30m 0s');
    expect(view.blocks[1]).toMatchObject({ type: 'section', text: { text: ':white_check_mark: Approved' } });
  });

  it('cuts long lists at whole lines, never inside a link', () => {
    const long = Array.from({ length: 10 }, (_, index) => ({ run: run({ key: `k${index}`, name: `run-${index}-${'x'.repeat(200)}` }), messageUrl: `https://slack.com/archives/C0TRAIN/p${index}${'9'.repeat(100)}` }));
    const section = renderHome(state({ recent: long })).blocks.find((block) => block.type === 'section' && block.text?.text.includes('run-0'));
    const body = section?.type === 'section' ? (section.text?.text ?? '') : '';
    expect(body.length).toBeLessThanOrEqual(3000);
    expect(body.split('\n').every((line) => line.endsWith('|OCI console>'))).toBe(true);
  });

  it('stays within Slack\'s 100 blocks however much there is', () => {
    const many = Array.from({ length: 60 }, (_, index) => approval({ id: index.toString(16).padStart(12, '0') }));
    const models = Array.from({ length: 40 }, (_, index) => ({ name: `m${index}`, slots: [] }));
    const view = renderHome(state({ actionable: many, models }));
    expect(view.blocks.length).toBeLessThanOrEqual(100);
    expect(text(view)).toContain('and 50 more');
  });
});

describe('direct messages', () => {
  it('tell the requester how their run ended, escaping what OCI said', () => {
    const message = renderRunEndDm(run(), 'https://slack.com/archives/C0TRAIN/p1', now);
    expect(message.text).toContain('Your training run `fraud-model` (fraud-model-20261205) ended: :x: failed after 30m 0s.');
    expect(message.text).toContain('&lt;!channel&gt;');
    expect(message.text).toContain('<https://cloud.oracle.com/x|OCI console>');
  });

  it('tell the requester the decision; a promoted request was approved; nothing while pending', () => {
    expect(renderDecisionDm(approval(), undefined)).toBeUndefined();
    expect(renderDecisionDm(approval({ state: 'promoted', decidedBy: 'U0LEAD1' }), undefined)?.text).toContain('was *approved* by <@U0LEAD1>');
    expect(renderDecisionDm(approval({ state: 'rejected', decidedBy: 'U0LEAD1', reason: 'AUC dropped' }), undefined)?.text).toContain('was *rejected* by <@U0LEAD1>: _AUC dropped_');
    expect(renderDecisionDm(approval({ state: 'expired' }), undefined)?.text).toContain('*expired*');
    expect(renderDecisionDm(approval({ state: 'superseded' }), undefined)?.text).toContain('*superseded*');
  });
});
