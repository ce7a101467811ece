import type { FakeMessage, FakeSlackApi } from '../../fakes/fake-slack-api.js';
import { POSTED_EVENT_TYPE } from '../../../src/adapters/slack-api/post-once.js';
import type { RunState } from '../../../src/domain/run-state.js';
import { stateLabel } from '../../../src/slack/run-message.js';

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

/** The states a streamed job run goes through, in order, as OCI sends them over minutes. */
export const JOB_RUN_STREAM: ReadonlyArray<{ action: string; state: RunState; lifecycleState?: string }> = [
  { action: 'createjobrun.begin', state: 'ACCEPTED' },
  { action: 'updatejobrun', state: 'IN_PROGRESS', lifecycleState: 'IN_PROGRESS' },
  { action: 'canceljobrun.begin', state: 'CANCELING' },
  { action: 'canceljobrun.end', state: 'CANCELED' },
];

/**
 * What one run's Slack thread shows against the states it went through: the root message's metadata says
 * how many states it covered when posted; the thread must narrate each later state once, in order.
 */
export function threadCheck(root: FakeMessage, states: readonly RunState[]): { missing: number; duplicated: number; ordered: boolean } {
  const coveredByRoot = Number((root.metadata?.event_payload as Record<string, unknown> | undefined)?.narrated ?? 0);
  const expected = states.slice(coveredByRoot).map((state) => stateLabel(state));
  const shown = root.replies.flatMap((reply) => reply.text.split('\n')).map((line) => expected.find((label) => line.startsWith(label)) ?? line);
  let missing = 0;
  let duplicated = 0;
  for (const label of expected) {
    const times = shown.filter((line) => line === label).length;
    if (times === 0) missing++;
    if (times > 1) duplicated += times - 1;
  }
  return { missing, duplicated, ordered: shown.join('\n') === expected.join('\n') };
}
