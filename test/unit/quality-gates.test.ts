import { describe, expect, it } from 'vitest';
import type { Gate, MetricDirection, ModelConfig } from '../../src/config/config-file.js';
import { gateBlocked, type Approval } from '../../src/domain/approval.js';
import { renderApprovalMessage, renderVersionRegistered } from '../../src/slack/approval-message.js';
import { configuredMetrics, evaluateGate, evaluateGates, explainFailure, failedGates, gateId, gatesFor, shownMetrics, verdict, type GateInput } from '../../src/domain/gates.js';

const directions: Record<string, MetricDirection> = { auc: 'higher', loss: 'lower', latency_p95_ms: 'lower' };
const input = (candidate: Record<string, number>, holder?: { version: string; metrics: Record<string, number> }): GateInput => ({ candidate, holder, targetLabel: '@champion' });
const one = (gate: Gate, at: GateInput) => evaluateGate({ gate, scope: 'model' }, directions, at);

describe('gate evaluation: min and max', () => {
  it('passes at the bound and fails beyond it', () => {
    expect(one({ metric: 'auc', min: 0.9 }, input({ auc: 0.9 })).passed).toBe(true);
    expect(one({ metric: 'auc', min: 0.9 }, input({ auc: 0.8999 }))).toMatchObject({ passed: false, candidate: 0.8999, threshold: 0.9, kind: 'min', note: 'below the minimum' });
    expect(one({ metric: 'latency_p95_ms', max: 120 }, input({ latency_p95_ms: 120 })).passed).toBe(true);
    expect(one({ metric: 'latency_p95_ms', max: 120 }, input({ latency_p95_ms: 121 }))).toMatchObject({ passed: false, note: 'above the maximum' });
  });

  it('a metric missing from the candidate\'s run fails its gate', () => {
    expect(one({ metric: 'auc', min: 0.5 }, input({ loss: 0.1 }))).toMatchObject({ passed: false, candidate: undefined, note: 'missing from the run' });
    expect(one({ metric: 'auc', maxRegression: 0.01 }, input({}, { version: '3', metrics: { auc: 0.9 } }))).toMatchObject({ passed: false, note: 'missing from the run' });
  });

  it('NaN and infinities fail every kind of gate, without throwing', () => {
    for (const value of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      expect(one({ metric: 'auc', min: 0.5 }, input({ auc: value })).passed).toBe(false);
      expect(one({ metric: 'loss', max: 0.5 }, input({ loss: value })).passed).toBe(false);
      expect(one({ metric: 'auc', maxRegression: 0.1 }, input({ auc: value }, { version: '1', metrics: { auc: 0.9 } })).passed).toBe(false);
      expect(one({ metric: 'auc', min: 0.5 }, input({ auc: value })).note).toContain('is not a score');
    }
  });

  it('a metric key that is an Object prototype name is just missing', () => {
    expect(one({ metric: 'constructor', min: 0 }, input({})).passed).toBe(false);
    expect(one({ metric: 'toString', maxRegression: 0 }, input({}, { version: '1', metrics: { toString: 1 } })).passed).toBe(false);
  });
});

describe('gate evaluation: maxRegression against the version served now', () => {
  it('higher is better: a drop larger than allowed fails, a rise passes', () => {
    const holder = { version: '5', metrics: { auc: 0.95 } };
    expect(one({ metric: 'auc', maxRegression: 0.005 }, input({ auc: 0.93 }, holder))).toMatchObject({ passed: false, holder: { version: '5', value: 0.95 }, note: '0.02 worse than v5' });
    expect(one({ metric: 'auc', maxRegression: 0.005 }, input({ auc: 0.97 }, holder))).toMatchObject({ passed: true, note: '0.02 better than v5' });
    expect(one({ metric: 'auc', maxRegression: 0 }, input({ auc: 0.95 }, holder))).toMatchObject({ passed: true, note: 'same as v5' });
  });

  it('lower is better: a lower loss is an improvement, a higher one a regression', () => {
    const holder = { version: '2', metrics: { loss: 0.3 } };
    expect(one({ metric: 'loss', maxRegression: 0.01 }, input({ loss: 0.2 }, holder)).passed).toBe(true);
    expect(one({ metric: 'loss', maxRegression: 0.01 }, input({ loss: 0.35 }, holder))).toMatchObject({ passed: false, note: '0.05 worse than v2' });
  });

  it('exactly the allowed regression passes despite float rounding', () => {
    expect(one({ metric: 'auc', maxRegression: 0.005 }, input({ auc: 0.905 }, { version: '1', metrics: { auc: 0.91 } })).passed).toBe(true);
    expect(one({ metric: 'auc', maxRegression: 0.005 }, input({ auc: 0.9049 }, { version: '1', metrics: { auc: 0.91 } })).passed).toBe(false);
  });

  it('no holder: the gate passes and says so', () => {
    const result = one({ metric: 'auc', maxRegression: 0.005 }, input({ auc: 0.1 }));
    expect(result).toMatchObject({ passed: true, note: 'nothing serves @champion yet, so nothing to regress from' });
    expect(result).not.toHaveProperty('holder');
  });

  it('a holder without the metric (or with NaN) leaves nothing to regress from: passes and says so', () => {
    expect(one({ metric: 'auc', maxRegression: 0.005 }, input({ auc: 0.9 }, { version: '4', metrics: {} }))).toMatchObject({ passed: true, note: 'v4 has no auc, so nothing to regress from' });
    expect(one({ metric: 'auc', maxRegression: 0.005 }, input({ auc: 0.9 }, { version: '4', metrics: { auc: Number.NaN } }))).toMatchObject({ passed: true, note: 'v4 has a NaN auc, so nothing to regress from' });
  });

  it('a regression gate without a direction cannot judge, so it fails (config refuses this at start-up)', () => {
    const result = evaluateGate({ gate: { metric: 'f1', maxRegression: 0.1 }, scope: 'model' }, directions, input({ f1: 0.9 }, { version: '1', metrics: { f1: 0.8 } }));
    expect(result).toMatchObject({ passed: false, note: 'no direction for f1 in metrics' });
  });
});

describe('model gates and environment gates', () => {
  const model = {
    gates: [{ metric: 'auc', min: 0.9 }, { metric: 'auc', maxRegression: 0.005 }],
    environments: [
      { name: 'dev', gates: [] },
      { name: 'prod', gates: [{ metric: 'auc', min: 0.92 }] },
    ],
  } as unknown as ModelConfig;

  it('an environment\'s gates add to the model\'s', () => {
    expect(gatesFor(model, 'dev').map((gate) => gate.scope)).toEqual(['model', 'model']);
    const prod = gatesFor(model, 'prod');
    expect(prod.map((gate) => gate.scope)).toEqual(['model', 'model', 'prod']);
    expect(gatesFor(model).length).toBe(2);
    expect(gatesFor(undefined, 'prod')).toEqual([]);
  });

  it('0.91 passes the model\'s min and fails prod\'s', () => {
    const results = evaluateGates(gatesFor(model, 'prod'), directions, input({ auc: 0.91 }, { version: '3', metrics: { auc: 0.9 } }));
    expect(results.map((result) => result.passed)).toEqual([true, true, false]);
    const failed = failedGates(results);
    expect(failed).toHaveLength(1);
    expect(explainFailure(failed[0]!, '7')).toBe('auc ≥ 0.92 (v7 has 0.91: below the minimum)');
    expect(gateId(failed[0]!)).toBe('prod:auc:min:0.92');
    expect(failedGates(undefined)).toEqual([]);
  });

  it('the metrics a model cares about: directions and every gate\'s metric', () => {
    const config = { metrics: { loss: 'lower' }, gates: [{ metric: 'auc', min: 0.9 }], environments: [{ name: 'prod', gates: [{ metric: 'latency_p95_ms', max: 120 }] }] } as unknown as ModelConfig;
    expect(configuredMetrics(config).sort()).toEqual(['auc', 'latency_p95_ms', 'loss']);
    expect(configuredMetrics(undefined)).toEqual([]);
  });
});

describe('comparison marks by direction', () => {
  it('a lower loss is better, a lower auc worse; no direction, no verdict', () => {
    expect(verdict('lower', 0.2, 0.3)).toBe('better');
    expect(verdict('higher', 0.8, 0.9)).toBe('worse');
    expect(verdict('higher', 0.9, 0.9)).toBe('same');
    expect(verdict(undefined, 0.9, 0.8)).toBeUndefined();
    expect(verdict('higher', Number.NaN, 0.8)).toBeUndefined();
    expect(verdict('higher', 0.9, undefined)).toBeUndefined();
  });
});

describe('which metrics a request shows', () => {
  it('hundreds of metrics: only the configured ones, the rest counted', () => {
    const keys = Array.from({ length: 300 }, (_, index) => `m${index}`).concat(['auc', 'loss']);
    expect(shownMetrics(keys, ['loss', 'auc', 'not-logged'])).toEqual({ shown: ['auc', 'loss'], omitted: 300 });
  });

  it('nothing configured: the first 20 by name, the rest counted', () => {
    const keys = Array.from({ length: 25 }, (_, index) => `k${String(index).padStart(2, '0')}`);
    const { shown, omitted } = shownMetrics(keys, []);
    expect(shown).toHaveLength(20);
    expect(shown[0]).toBe('k00');
    expect(omitted).toBe(5);
    expect(shownMetrics(['a', 'a', 'b'], [])).toEqual({ shown: ['a', 'b'], omitted: 0 });
  });
});

describe('the request and the "version registered" message show the gates', () => {
  const failed = evaluateGate({ gate: { metric: 'auc', min: 0.9 }, scope: 'prod' }, directions, input({ auc: 0.85 }));
  const passed = evaluateGate({ gate: { metric: 'loss', max: 0.5 }, scope: 'model' }, directions, input({ loss: 0.2 }));
  const request = (extra: Partial<Approval> = {}): Approval => ({
    id: 'abcdef012345',
    model: 'fraud-model',
    version: '7',
    target: { kind: 'alias', alias: 'champion' },
    requestedBy: 'U0DS1',
    requestedAt: '2026-12-05T10:00:00.000Z',
    expiresAt: '2026-12-06T10:00:00.000Z',
    required: 1,
    allowSelfApproval: false,
    approvers: [],
    state: 'pending',
    candidate: { version: '7', metrics: { auc: 0.85, loss: 0.2 } },
    current: { version: '5', metrics: { auc: 0.9, loss: 0.3 } },
    directions: { auc: 'higher', loss: 'lower' },
    metricsOmitted: 1,
    gates: [failed, passed],
    ...extra,
  });

  it('a failed gate: blocked, Override gate instead of Approve, marks by direction', () => {
    const message = renderApprovalMessage(request());
    const blocks = JSON.stringify(message.blocks);
    expect(message.text).toContain('Blocked by a failed quality gate');
    expect(blocks).toContain(':x: *fail* `auc ≥ 0.9` _(prod)_: v7 has `0.85`, below the minimum');
    expect(blocks).toContain(':white_check_mark: pass `loss ≤ 0.5`: v7 has `0.2`, at or below the maximum');
    expect(blocks).toMatch(/auc\s+0\.85\s+0\.9 \(▼ -0\.05 worse\)/);
    expect(blocks).toMatch(/loss\s+0\.2\s+0\.3 \(▼ -0\.1 better\)/);
    expect(blocks).toContain('1 more metric not shown');
    expect(blocks).toContain('approval.override_gate');
    expect(blocks).not.toContain('approval.approve');
  });

  it('overridden: the reason and who, escaped, and Approve is back', () => {
    const message = renderApprovalMessage(request({ gateOverride: { by: 'U0LEAD3', reason: 'old holdout <!here>', at: '2026-12-05T10:05:00.000Z' } }));
    const blocks = JSON.stringify(message.blocks);
    expect(blocks).toContain(':unlock: Gate overridden by <@U0LEAD3>: _old holdout &lt;!here&gt;_');
    expect(blocks).toContain('approval.approve');
    expect(blocks).not.toContain('approval.override_gate');
    expect(gateBlocked(request({ gateOverride: { by: 'U0LEAD3', reason: 'x', at: '' } }))).toBe(false);
    expect(gateBlocked(request({ gates: [passed] }))).toBe(false);
  });

  it('a version that failed a gate is offered to gate overriders only', () => {
    const gated = renderVersionRegistered('fraud-model', '7', undefined, 'dev', { gates: [failed] });
    expect(gated.text).toContain('A quality gate failed');
    expect(JSON.stringify(gated.blocks)).toContain('Request promotion to dev (gate overriders)');
    expect(JSON.stringify(gated.blocks)).toContain('\\"gated\\":true');
    const clean = renderVersionRegistered('fraud-model', '8', undefined, 'dev', { gates: [passed] });
    expect(JSON.stringify(clean.blocks)).not.toContain('gated');
    expect(JSON.stringify(renderVersionRegistered('fraud-model', '9', undefined, '@champion').blocks)).toContain('Request promotion to @champion');
  });
});
