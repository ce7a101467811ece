import { describe, expect, it, vi } from 'vitest';
import { requestPromotion } from '../../jobs/promote.js';
import type { Context } from '../../src/context.js';
import { MlopsError } from '../../src/errors.js';

/** Just what requestPromotion touches: MLflow reads, the config, Slack and the approval store. */
function contextWith(overrides: { create: () => Promise<string | undefined>; postMessage?: () => Promise<{ channel: string; ts: string }> }) {
  const slack = {
    postMessage: vi.fn(overrides.postMessage ?? (() => Promise.resolve({ channel: 'C0MODELS', ts: '1700000000.000100' }))),
    updateMessage: vi.fn(() => Promise.resolve()),
  };
  const approvals = { create: vi.fn(overrides.create) };
  const context = {
    mlflow: {
      getModelVersion: () => Promise.resolve({ version: '2', status: 'READY' }),
      getRegisteredModel: () => Promise.resolve({ aliases: {}, stages: {} }),
      modelVersionUrl: () => 'http://mlflow.example/#/models/fraud-model/versions/2',
      runUrl: () => 'http://mlflow.example/#/runs/x',
    },
    config: {
      file: {
        models: { 'fraud-model': { alias: 'champion', metrics: {}, gates: [] } },
        routes: [],
        slack: { defaultChannel: 'C0MODELS' },
        approvals: { required: 1, allowSelfApproval: false, ttl: 3_600_000 },
        roles: { trainers: [], approvers: [], deployers: [], gateOverriders: [] },
      },
    },
    now: () => new Date('2026-11-23T07:00:00Z'),
    slack,
    approvals,
    logger: { warn: vi.fn() },
  } as unknown as Context;
  return { context, slack, approvals };
}

describe('requestPromotion: posted first, stored second', () => {
  it('stores nothing when Slack cannot show the request', async () => {
    const busy = new MlopsError('RATE_LIMITED', 'Slack bucket busy');
    const { context, approvals } = contextWith({ create: () => Promise.resolve(undefined), postMessage: () => Promise.reject(busy) });
    await expect(requestPromotion(context, { model: 'fraud-model', version: '2', requestedBy: 'U0DS1' })).rejects.toBe(busy);
    expect(approvals.create).not.toHaveBeenCalled();
  });

  it('stores the request with the message it was posted as', async () => {
    const { context, approvals } = contextWith({ create: () => Promise.resolve(undefined) });
    const { approval, channel } = await requestPromotion(context, { model: 'fraud-model', version: '2', requestedBy: 'U0DS1' });
    expect(channel).toBe('C0MODELS');
    expect(approval).toMatchObject({ model: 'fraud-model', version: '2', state: 'pending', channel: 'C0MODELS', ts: '1700000000.000100' });
    expect(approvals.create).toHaveBeenCalledWith(approval);
  });

  it('withdraws the posted message when the request cannot be stored, and fails', async () => {
    const down = new MlopsError('REDIS_UNAVAILABLE', 'Connection is closed.', { userMessage: 'Redis is unavailable' });
    const { context, slack } = contextWith({ create: () => Promise.reject(down) });
    await expect(requestPromotion(context, { model: 'fraud-model', version: '2', requestedBy: 'U0DS1' })).rejects.toBe(down);
    expect(slack.updateMessage).toHaveBeenCalledWith('C0MODELS', '1700000000.000100', { text: ':x: This promotion request could not be stored (Redis is unavailable); ask again.', blocks: [] });
  });
});
