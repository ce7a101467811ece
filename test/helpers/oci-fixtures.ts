import { readFileSync } from 'node:fs';
import type { DeliveryHeaders } from '../../src/domain/oci-notification.js';

const root = new URL('../fixtures/oci/', import.meta.url);

/** A fixture's raw text, exactly as it would arrive as an HTTP body. */
export function ociFixture(name: string): string {
  return readFileSync(new URL(name, root), 'utf8');
}

/** A fixture parsed as JSON, for tests that build variants of a real shape. */
export function ociFixtureJson(name: string): Record<string, unknown> {
  return JSON.parse(ociFixture(name)) as Record<string, unknown>;
}

/** The delivery headers the route hands to the parser, taken from a recorded (lower-cased) header set. */
export function deliveryHeaders(name = 'notification.headers.json'): DeliveryHeaders {
  const raw = JSON.parse(ociFixture(name)) as Record<string, string>;
  return {
    ...(raw['x-oci-ns-messageid'] ? { messageId: raw['x-oci-ns-messageid'] } : {}),
    ...(raw['x-oci-ns-messagetype'] ? { messageType: raw['x-oci-ns-messagetype'] } : {}),
    ...(raw['x-oci-ns-topicname'] ? { topicName: raw['x-oci-ns-topicname'] } : {}),
    ...(raw['content-type'] ? { contentType: raw['content-type'] } : {}),
  };
}
