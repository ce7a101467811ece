import { randomUUID } from 'node:crypto';
import type { Shot } from './load.js';

/**
 * OCI Events as the Notifications service delivers them over HTTPS (the shape of
 * test/fixtures/oci/datascience-*.json, with the delivery headers OCI adds), for the ingest and burst
 * scenarios.
 */
export const NOTIFICATION_USER = 'oci-bench';
export const NOTIFICATION_PASSWORD = 'bench-password-0123456789abcdef';
const AUTHORIZATION = `Basic ${Buffer.from(`${NOTIFICATION_USER}:${NOTIFICATION_PASSWORD}`).toString('base64')}`;
const COMPARTMENT = 'ocid1.compartment.oc1..aaaaaaaa4mlops7compartment2xq3xample5h7';
const BASE_TIME = Date.UTC(2026, 0, 15, 9, 0, 0);

export interface JobRunEvent {
  action: string;
  runId: string;
  name: string;
  /** Seconds after the bench's base time. */
  second: number;
  lifecycleState?: string;
  lifecycleDetails?: string;
}

export function jobRunEventBody(event: JobRunEvent): string {
  return JSON.stringify({
    eventType: `com.oraclecloud.datascience.${event.action}`,
    cloudEventsVersion: '0.1',
    eventTypeVersion: '2.0',
    source: 'datascience',
    eventTime: new Date(BASE_TIME + event.second * 1000).toISOString(),
    contentType: 'application/json',
    data: {
      compartmentId: COMPARTMENT,
      compartmentName: 'mlops',
      availabilityDomain: 'AD1',
      freeFormTags: {},
      definedTags: {},
      resourceName: event.name,
      resourceId: event.runId,
      additionalDetails: {
        jobId: 'ocid1.datasciencejob.oc1.iad.amaaaaaa4mlops7job2xq3example5h7abcdefgh',
        projectId: 'ocid1.datascienceproject.oc1.iad.amaaaaaa4mlops7dsproject3example5h7ab',
        ...(event.lifecycleState ? { lifecycleState: event.lifecycleState } : {}),
        ...(event.lifecycleDetails ? { lifecycleDetails: event.lifecycleDetails } : {}),
      },
    },
    eventID: randomUUID(),
    extensions: { compartmentId: COMPARTMENT },
  });
}

/** A delivery to POST /oci/notifications, with OCI's headers and the subscription's Basic credentials. */
export function deliveryShot(body: string, target = 0): Shot {
  return {
    target,
    path: '/oci/notifications',
    headers: {
      'content-type': 'application/json',
      'user-agent': 'Apache-HttpAsyncClient/4.1.4 (Java/1.8.0_162)',
      'x-oci-ns-messageid': randomUUID(),
      'x-oci-ns-messagetype': 'Notification',
      'x-oci-ns-topicname': 'mlops-events',
      authorization: AUTHORIZATION,
    },
    body,
  };
}

/**
 * Ingest load: `count` deliveries, each a distinct event (its own eventID, so dedupe lets it through) about
 * one job run that is already accepted; the worker folds each into nothing, so the figure is the HTTP path
 * and not Slack.
 */
export function ingestShots(count: number, targets = 1): Shot[] {
  return Array.from({ length: count }, (_, index) =>
    deliveryShot(jobRunEventBody({ action: 'createjobrun.end', runId: 'ocid1.datasciencejobrun.oc1.iad.benchingest', name: 'ingest-run', second: 1 }), index % targets),
  );
}

export interface BurstRun {
  runId: string;
  name: string;
  channel: string;
  final: 'SUCCEEDED' | 'FAILED';
}

export interface BurstPlan {
  runs: BurstRun[];
  /** In delivery order (shuffled: OCI does not deliver in order). */
  events: Array<JobRunEvent & { channel: string; state: string }>;
}

export const BURST_CHANNELS = ['C0BURSTA', 'C0BURSTB', 'C0BURSTC', 'C0BURSTD', 'C0BURSTE'];

/**
 * `runs` job runs over the burst channels, `perRun` events each: begin, end, progress updates (each with
 * new lifecycleDetails, so every one changes the run), the final state, and a few stale updates that
 * arrive after it. Deterministic shuffle, so every run of the bench sends the same sequence.
 */
export function burstPlan(tag: string, runs = 50, perRun = 40): BurstPlan {
  const progress = perRun - 6;
  const list: BurstRun[] = Array.from({ length: runs }, (_, index) => ({
    runId: `ocid1.datasciencejobrun.oc1.iad.bench${tag}${String(index).padStart(3, '0')}`,
    name: `burst-${index % BURST_CHANNELS.length}-${tag}-run${index}`,
    channel: BURST_CHANNELS[index % BURST_CHANNELS.length] ?? 'C0BURSTA',
    // One run in five fails, two in each channel.
    final: Math.floor(index / BURST_CHANNELS.length) % 5 === 0 ? 'FAILED' : 'SUCCEEDED',
  }));
  const events = list.flatMap((run) => {
    const base = { runId: run.runId, name: run.name, channel: run.channel };
    return [
      { ...base, action: 'createjobrun.begin', second: 0, state: 'ACCEPTED' },
      { ...base, action: 'createjobrun.end', second: 1, state: 'ACCEPTED' },
      ...Array.from({ length: progress }, (_, step) => ({
        ...base,
        action: 'updatejobrun',
        second: 2 + step,
        lifecycleState: 'IN_PROGRESS',
        lifecycleDetails: `epoch ${step + 1} of ${progress}`,
        state: 'IN_PROGRESS',
      })),
      { ...base, action: run.final === 'FAILED' ? 'failedjobrun' : 'succeededjobrun', second: 3 + progress, state: run.final },
      ...Array.from({ length: 3 }, (_, late) => ({
        ...base,
        action: 'updatejobrun',
        second: 2 + progress - 3 + late,
        lifecycleState: 'IN_PROGRESS',
        lifecycleDetails: `epoch ${progress - 2 + late} of ${progress} (late delivery)`,
        state: 'IN_PROGRESS',
      })),
    ];
  });
  const shuffled = events
    .map((value, index) => ({ value, key: (index * 7919) % 104_729 }))
    .sort((a, b) => a.key - b.key)
    .map(({ value }) => value);
  return { runs: list, events: shuffled };
}
