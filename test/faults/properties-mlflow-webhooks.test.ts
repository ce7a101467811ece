import { createHmac, randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { verifyMlflowSignature } from '../../src/http/mlflow-webhooks-route.js';
import { anyText, wellFormed } from '../helpers/arbitraries.js';
import { baseConfigFile } from '../helpers/bot-harness.js';
import { recordReliability } from './reliability.js';
import { startFaultStack, type FaultStack } from './stack.js';

const SECRET = 'mlflow-webhook-secret';
const NOW = 1_800_000_000;
const sign = (deliveryId: string, timestamp: number, body: string, secret = SECRET) => `v1,${createHmac('sha256', secret).update(`${deliveryId}.${timestamp}.${body}`).digest('base64')}`;

describe('MLflow webhooks (property-based)', () => {
  let stack: FaultStack;

  beforeAll(async () => {
    stack = await startFaultStack({
      slack: { limits: false },
      env: { MLFLOW_WEBHOOK_SECRET: SECRET },
      file: baseConfigFile({ models: { 'fraud-model': { alias: 'champion' } } }),
    });
  });

  afterAll(async () => {
    await stack.stop();
  });

  test('verifyMlflowSignature accepts exactly a correct v1 HMAC inside ±300 s, with documented reasons otherwise', (ctx) => {
    let cases = 0;
    fc.assert(
      fc.property(anyText(40).filter((text) => text.length > 0), anyText(200), fc.integer({ min: -300, max: 300 }), (deliveryId, body, skew) => {
        cases++;
        expect(verifyMlflowSignature(SECRET, deliveryId, String(NOW + skew), sign(deliveryId, NOW + skew, body), body, NOW)).toBeUndefined();
        expect(verifyMlflowSignature(SECRET, deliveryId, String(NOW + skew), sign(deliveryId, NOW + skew, body, `${SECRET}x`), body, NOW)).toBe('signature mismatch');
        expect(verifyMlflowSignature(SECRET, `${deliveryId}x`, String(NOW + skew), sign(deliveryId, NOW + skew, body), body, NOW)).toBe('signature mismatch');
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.option(anyText(20), { nil: undefined }), fc.option(anyText(14), { nil: undefined }), fc.option(anyText(60), { nil: undefined }), anyText(60), (deliveryId, timestamp, signature, body) => {
        cases++;
        expect(verifyMlflowSignature(SECRET, deliveryId, timestamp, signature, body, NOW)).toMatch(/^(missing signature headers|malformed timestamp|timestamp outside the 5 minute window|malformed signature|signature mismatch)$/);
      }),
      { numRuns: 300 },
    );
    recordReliability(ctx, { area: 'Parsers', fault: 'MLflow webhook signature: generated deliveries in the window, other secrets and delivery ids, random headers', cases, outcome: `all ${cases} decided correctly with only documented reasons; nothing thrown` });
  });

  test('arbitrary signed payloads are accepted or refused with 400 over HTTP; none writes to MLflow or fails the process', async (ctx) => {
    const url = `${stack.bot.url}/mlflow/webhooks`;
    const statuses = new Map<number, number>();
    const mlflowWrites = () => stack.mlflow.requests().filter((request) => request.method !== 'GET').length;
    const before = mlflowWrites();
    let cases = 0;
    const data = fc.oneof(
      fc.record({ name: fc.constantFrom('fraud-model', 'other-model', '__proto__', 'constructor'), version: fc.oneof(anyText(8), fc.integer(), fc.constant(null)), alias: fc.oneof(anyText(12), fc.integer()), source: anyText(20) }, { requiredKeys: [] }),
      fc.jsonValue({ maxDepth: 3 }),
    );
    const payload = fc.oneof(
      fc.record({ entity: fc.oneof(fc.constantFrom('model_version', 'model_version_alias', 'registered_model'), anyText(70)), action: fc.oneof(fc.constantFrom('created', 'deleted', 'updated'), anyText(70)), data }, { requiredKeys: [] }).map((value) => JSON.stringify(value)),
      anyText(200).map(wellFormed),
    );
    await fc.assert(
      fc.asyncProperty(payload, async (body) => {
        cases++;
        const deliveryId = randomUUID();
        const timestamp = Math.floor(Date.now() / 1000);
        const send = () => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-mlflow-delivery-id': deliveryId, 'x-mlflow-timestamp': String(timestamp), 'x-mlflow-signature': sign(deliveryId, timestamp, body) }, body });
        const response = await send();
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        const answer = (await response.json()) as { error?: string; status?: string };
        expect([200, 400], JSON.stringify(answer)).toContain(response.status);
        if (response.status === 400) expect(answer.error).toMatch(/^(body is not valid JSON|not an MLflow webhook payload)$/);
        if (response.status === 200) {
          // The same delivery again is recognised, whatever it carried.
          const again = await send();
          expect(await again.json()).toEqual({ status: 'duplicate' });
        }
      }),
      { numRuns: 150 },
    );
    expect((await fetch(`${stack.bot.url}/healthz`)).status).toBe(200);
    expect(mlflowWrites()).toBe(before);
    const answered = [...statuses].map(([status, count]) => `${status}×${count}`).join(', ');
    recordReliability(ctx, { area: 'Parsers', fault: 'MLflow webhook payloads, validly signed: generated entity/action/data (prototype-named models, mistyped versions), arbitrary text', cases, outcome: `answered ${answered}, each accepted one recognised as a duplicate on redelivery; 0 writes to MLflow; /healthz 200` });
  });
});
