import type { FakeMessage, FakeSlackApi } from '../../fakes/fake-slack-api.js';
import { POSTED_EVENT_TYPE } from '../../../src/adapters/slack-api/post-once.js';

let sequence = 0;

/** A Data Science job-run event as OCI Events sends it (CloudEvents 0.1), with a unique eventID. */
export function jobRunEvent(action: string, resourceId: string, resourceName: string, options: { at: Date; lifecycleState?: string }): Record<string, unknown> {
  sequence++;
  return {
    eventType: `com.oraclecloud.datascience.${action}`,
    cloudEventsVersion: '0.1',
    eventTypeVersion: '2.0',
    source: 'datascience',
    eventTime: options.at.toISOString(),
    contentType: 'application/json',
    eventID: `faults-${process.pid}-${sequence}-${resourceId.slice(-8)}`,
    extensions: { compartmentId: 'ocid1.compartment.oc1..ml' },
    data: {
      compartmentId: 'ocid1.compartment.oc1..ml',
      compartmentName: 'ml-prod',
      resourceName,
      resourceId,
      ...(options.lifecycleState ? { additionalDetails: { lifecycleState: options.lifecycleState } } : {}),
    },
  };
}

/** One OCI delivery: POST /oci/notifications. Resolves with the status, or 0 when no answer came. */
export async function deliver(botUrl: string, event: Record<string, unknown>): Promise<number> {
  try {
    const response = await fetch(`${botUrl}/oci/notifications`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-oci-ns-messagetype': 'Notification' },
      body: JSON.stringify(event),
      signal: AbortSignal.timeout(15_000),
    });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return 0;
  }
}

/** Root messages the bot posted for a run key (found by the key in their message metadata). */
export function rootsByRun(slack: FakeSlackApi): Map<string, FakeMessage[]> {
  const byRun = new Map<string, FakeMessage[]>();
  for (const message of slack.messages()) {
    const payload = message.metadata?.event_type === POSTED_EVENT_TYPE ? (message.metadata.event_payload as Record<string, unknown> | undefined) : undefined;
    const key = typeof payload?.key === 'string' && payload.key.startsWith('run:') ? payload.key.slice('run:'.length) : undefined;
    if (!key) continue;
    byRun.set(key, [...(byRun.get(key) ?? []), message]);
  }
  return byRun;
}
