import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { parseOciNotification, type DeliveryHeaders } from '../../src/domain/oci-notification.js';
import { anyText } from '../helpers/arbitraries.js';
import { recordReliability } from './reliability.js';

const RUNS = 400;
const NOW = '2026-11-22T12:00:00.000Z';
const clip = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

const headersArb: fc.Arbitrary<DeliveryHeaders> = fc.record(
  { messageId: anyText(40), messageType: fc.constantFrom('Notification', 'SubscriptionConfirmation', 'x'), topicName: anyText(30), contentType: fc.constantFrom('application/json', 'text/plain', 'application/json; charset=utf-8', 'text/html', '') },
  { requiredKeys: [] },
);

const JOB_STATES: Record<string, string | undefined> = {
  'createjobrun.begin': 'ACCEPTED',
  succeededjobrun: 'SUCCEEDED',
  failedjobrun: 'FAILED',
  timeoutjobrun: 'TIMED_OUT',
  'canceljobrun.end': 'CANCELED',
  'deletejobrun.end': 'DELETED',
};

describe('OCI notification parser (property-based)', () => {
  test('any body with any headers parses or is refused with a documented reason, never throws', (ctx) => {
    let cases = 0;
    const bodies = fc.oneof(
      anyText(400),
      fc.jsonValue({ maxDepth: 4 }).map((value) => JSON.stringify(value)),
      fc.record({ eventType: fc.oneof(anyText(30), fc.constant('com.oraclecloud.datascience.failedjobrun')), eventID: fc.oneof(anyText(10), fc.integer()), data: fc.jsonValue({ maxDepth: 3 }) }, { requiredKeys: [] }).map((value) => JSON.stringify(value)),
      fc.record({ dedupeKey: fc.oneof(anyText(10), fc.integer()), type: fc.oneof(anyText(10), fc.constantFrom('OK_TO_FIRING', 'RESET')), timestampEpochMillis: fc.oneof(fc.double(), fc.string(), fc.constant(8.64e15 + 1)), alarmMetaData: fc.jsonValue({ maxDepth: 3 }) }, { requiredKeys: [] }).map((value) => JSON.stringify(value)),
      fc.integer({ min: 1, max: 6000 }).map((depth) => `${'['.repeat(depth)}${']'.repeat(depth)}`),
      fc.integer({ min: 1, max: 6000 }).map((depth) => `{"title":"deep","x":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`),
    );
    fc.assert(
      fc.property(bodies, headersArb, (body, headers) => {
        cases++;
        const result = parseOciNotification(body, headers, NOW);
        if (!result.ok) {
          expect(result.reason).toMatch(/^(the body is empty|the body is not valid JSON \(.*\))$/s);
          return;
        }
        const notification = result.notification;
        expect(notification.dedupeKey.length).toBeGreaterThan(0);
        if (notification.type === 'generic') {
          expect(notification.title.length).toBeLessThanOrEqual(255);
          expect(notification.text.length).toBeLessThanOrEqual(2900);
        }
        expect(() => JSON.stringify(notification)).not.toThrow();
      }),
      { numRuns: RUNS },
    );
    recordReliability(ctx, { area: 'Parsers', fault: 'OCI notification bodies: arbitrary text, arbitrary JSON, event/alarm look-alikes with wrong types, 6,000-deep nesting; random headers', cases, outcome: `all ${cases} parsed (texts clipped to limits, JSON-serialisable) or refused with a documented reason; nothing thrown` });
  });

  test('generated Data Science job run events and alarms parse to what was built', (ctx) => {
    let cases = 0;
    fc.assert(
      fc.property(fc.constantFrom(...Object.keys(JOB_STATES)), anyText(60).filter((text) => text.length > 0), fc.stringMatching(/^[a-z0-9]{1,30}$/), fc.option(anyText(400), { nil: undefined }), (action, eventId, suffix, resourceName) => {
        cases++;
        const body = JSON.stringify({
          eventType: `com.oraclecloud.datascience.${action}`,
          cloudEventsVersion: '0.1',
          eventID: eventId,
          eventTime: '2026-11-22T11:59:00Z',
          data: { resourceId: `ocid1.datasciencejobrun.oc1.iad.${suffix}`, ...(resourceName === undefined ? {} : { resourceName }) },
        });
        const result = parseOciNotification(body, { contentType: 'application/json' }, NOW);
        expect(result).toMatchObject({
          ok: true,
          notification: {
            type: 'event',
            kind: 'training',
            subject: 'jobRun',
            action,
            dedupeKey: `event:${clip(eventId, 255)}`,
            resourceId: `ocid1.datasciencejobrun.oc1.iad.${suffix}`,
            eventTime: '2026-11-22T11:59:00.000Z',
            state: JOB_STATES[action],
            ...(resourceName === undefined ? {} : { resourceName: clip(resourceName, 255) }),
          },
        });
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(
        anyText(40).filter((text) => text.length > 0),
        fc.constantFrom('OK_TO_FIRING', 'FIRING_TO_OK', 'REPEAT', 'RESET'),
        fc.constantFrom('critical', 'Error', 'WARNING', 'info'),
        fc.integer({ min: 0, max: 4_000_000_000_000 }),
        fc.boolean(),
        fc.option(anyText(50), { nil: undefined }),
        (dedupeKey, type, severity, millis, asString, title) => {
          cases++;
          const body = JSON.stringify({ dedupeKey, type, severity, timestampEpochMillis: asString ? String(millis) : millis, ...(title === undefined ? {} : { title }), alarmMetaData: [] });
          const result = parseOciNotification(body, {}, NOW);
          expect(result).toMatchObject({
            ok: true,
            notification: {
              type: 'alarm',
              dedupeKey: `alarm:${clip(dedupeKey, 255)}:${millis}`,
              transition: type,
              state: type === 'OK_TO_FIRING' || type === 'REPEAT' ? 'FIRING' : 'RESOLVED',
              severity: severity.toUpperCase(),
              timestamp: new Date(millis).toISOString(),
              title: title === undefined ? 'Alarm' : clip(title, 255),
            },
          });
        },
      ),
      { numRuns: RUNS },
    );
    recordReliability(ctx, { area: 'Parsers', fault: 'OCI notifications: generated job run events (6 actions, any IDs and names) and alarms (4 transitions, any severity case, numeric or string timestamps)', cases, outcome: `all ${cases} parsed to the generated kind, state, dedupe key, time and clipped names` });
  });
});
