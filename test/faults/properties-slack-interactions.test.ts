import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SIGNING_SECRET } from '../helpers/bot-harness.js';
import { anyText } from '../helpers/arbitraries.js';
import { blockActionsPayload, encodeInteractionPayload, postSigned, viewSubmissionPayload } from '../helpers/slack-request.js';
import { recordReliability } from './reliability.js';
import { startFaultStack, type FaultStack } from './stack.js';

const RUNS = 150;
const ACTION_IDS = ['approval.approve', 'approval.reject', 'model.request_promotion', 'run.retry', 'run.rollback', 'run.open_console', 'rollback.confirm', 'rollback.cancel'];

/** Button values and private_metadata as the bot writes them, and as an attacker might. */
const buttonValue = fc.oneof(
  anyText(60),
  fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)),
  fc.record({ approval: anyText(20), runKey: anyText(20), model: fc.constantFrom('fraud-model', 'churn-model', '../x'), version: fc.oneof(anyText(5), fc.integer()), id: anyText(20) }, { requiredKeys: [] }).map((value) => JSON.stringify(value)),
  fc.constantFrom('', '{', 'null', '[]', '{"__proto__":{"polluted":1}}', '"'.repeat(3000)),
);

/**
 * Slack interaction payloads with the bot's real action_ids and callback_ids but arbitrary values, missing
 * or mistyped fields, driven over HTTP into the real bot: every one is answered below 500, nothing is
 * written to MLflow, OCI or Kubernetes, and the process stays up.
 */
describe('Slack interaction payloads (property-based, over HTTP)', () => {
  let stack: FaultStack;

  beforeAll(async () => {
    stack = await startFaultStack({ slack: { limits: false } });
  });

  afterAll(async () => {
    await stack.stop();
  });

  test('arbitrary block_actions and view_submission payloads never crash, never act, and are answered below 500', async (ctx) => {
    const writes = () => stack.mlflow.requests().filter((request) => request.method !== 'GET').length + stack.oci.fake.requests().filter((request) => request.method !== 'GET').length;
    const before = writes();
    const statuses = new Map<number, number>();
    let cases = 0;
    const mangle = fc.constantFrom<(payload: Record<string, unknown>) => Record<string, unknown>>(
      (payload) => payload,
      ({ user: _user, ...rest }) => rest,
      ({ actions: _actions, ...rest }) => rest,
      (payload) => ({ ...payload, actions: [] }),
      (payload) => ({ ...payload, actions: 'x' }),
      (payload) => ({ ...payload, user: { id: 42 } }),
      (payload) => ({ ...payload, channel: null, container: null }),
      (payload) => ({ ...payload, message: 'not an object' }),
      (payload) => ({ ...payload, view: { callback_id: 'approval.reject_modal', private_metadata: 7, state: null } }),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ACTION_IDS), buttonValue, fc.constantFrom('U0DS1', 'U0LEAD1', 'U0NOBODY', 'W0X'), mangle, fc.boolean(), async (actionId, value, userId, change, modal) => {
        cases++;
        const payload = modal
          ? viewSubmissionPayload({ callbackId: 'approval.reject_modal', userId, privateMetadata: value, values: { reason: { reason: { type: 'plain_text_input', value } } } })
          : blockActionsPayload({ actionId, userId, messageTs: '1700000000.000100', value });
        const response = await postSigned(`${stack.bot.url}/slack/events`, SIGNING_SECRET, encodeInteractionPayload(change(payload)));
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        expect(response.status, response.text).toBeLessThan(500);
      }),
      { numRuns: RUNS },
    );
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((await fetch(`${stack.bot.url}/healthz`)).status).toBe(200);
    const help = await stack.command('help');
    expect(help.status).toBe(200);
    expect(help.text).toContain('/mlops');
    expect(writes()).toBe(before);
    const answered = [...statuses].map(([status, count]) => `${status}×${count}`).join(', ');
    recordReliability(ctx, { area: 'Parsers', fault: 'Slack interaction payloads: the 8 real action_ids and the reject modal with arbitrary values, private_metadata, missing and mistyped fields', cases, outcome: `answered ${answered}; 0 writes to MLflow or OCI; /healthz 200 and help answered after` });
  });
});
