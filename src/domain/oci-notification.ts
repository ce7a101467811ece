import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { EventKind } from '../config/config-file.js';
import { fromOciLifecycleState, type RunState } from './run-state.js';
import { STARTED_RUN_KEY } from './run.js';

/** What a tracked resource is, which decides how its state is read and which console page it links to. */
export type Subject = 'buildRun' | 'deployment' | 'jobRun' | 'pipelineRun' | 'modelDeployment' | 'model' | 'alarm';

/** An OCI Events message (CloudEvents 0.1) about something the bot tracks or reports. */
export interface ResourceEvent {
  type: 'event';
  dedupeKey: string;
  eventId: string;
  eventType: string;
  eventTime: string;
  kind: Exclude<EventKind, 'alarm'>;
  subject: Exclude<Subject, 'alarm'>;
  /** The verb of the event type, e.g. `createbuildrun`, `failedjobrun`, `createmodeldeployment.begin`. */
  action: string;
  resourceId: string;
  resourceName?: string;
  compartmentId?: string;
  compartmentName?: string;
  /** The state the event itself proves, when it does. */
  state?: RunState;
  /** True when only the service can tell the state (DevOps build runs and deployments). */
  needsLookup: boolean;
  /** True when the event begins a new operation on a long-lived resource (a model deployment update). */
  startsEpisode: boolean;
  details: Record<string, string>;
  /** The bot's run key from the resource's freeform tag RUN_TAG, when the bot started the resource. */
  runTag?: string;
}

export interface AlarmNotification {
  type: 'alarm';
  dedupeKey: string;
  alarmId: string;
  title: string;
  body?: string;
  transition: 'OK_TO_FIRING' | 'FIRING_TO_OK' | 'REPEAT' | 'RESET';
  state: 'FIRING' | 'RESOLVED';
  severity: 'CRITICAL' | 'ERROR' | 'WARNING' | 'INFO';
  timestamp: string;
  alarmUrl?: string;
  summary?: string;
  query?: string;
  namespace?: string;
  /** The first few metric streams: their dimensions and values, flattened to text. */
  streams: { dimensions: Record<string, string>; values: Record<string, string> }[];
  totalMetricsFiring?: number;
  /** Resource names seen in the alarm's dimensions, for routing and rollback. */
  resourceName?: string;
}

/** Anything else that arrives on the topic: shown as a notice, never treated as an error. */
export interface GenericNotification {
  type: 'generic';
  dedupeKey: string;
  title: string;
  text: string;
  eventType?: string;
  resourceName?: string;
  compartmentId?: string;
  kind?: EventKind;
}

export type OciNotification = ResourceEvent | AlarmNotification | GenericNotification;

export type ParseResult = { ok: true; notification: OciNotification } | { ok: false; reason: string };

export interface DeliveryHeaders {
  messageId?: string;
  messageType?: string;
  topicName?: string;
  contentType?: string;
}

const MAX_TEXT = 2_900;

/**
 * The freeform tag the bot puts on the job runs, build runs and deployments it starts, holding its run key.
 * OCI may deliver the resource's first event before the create call has returned; the tag lets that event
 * find the run anyway, instead of starting a second message for the same run.
 */
export const RUN_TAG = 'mlops-chatops-run';
const clip = (text: string, max = 255): string => (text.length > max ? `${text.slice(0, max - 1)}…` : text);
const scalar = z.union([z.string(), z.number(), z.boolean()]).transform((value) => String(value));
const text = (max = 255) => z.string().transform((value) => clip(value, max));
const optionalText = (max = 255) => text(max).optional().catch(undefined);

const cloudEventSchema = z.object({
  cloudEventsVersion: z.string().optional(),
  eventType: z.string().min(1).max(512),
  eventID: z.string().min(1).max(512),
  eventTime: z.string().max(64).optional(),
  source: z.string().max(255).optional(),
  extensions: z.object({ compartmentId: z.string().optional() }).partial().optional().catch(undefined),
  data: z
    .object({
      compartmentId: optionalText(),
      compartmentName: optionalText(),
      resourceName: optionalText(),
      resourceId: optionalText(512),
      additionalDetails: z.record(z.string(), z.unknown()).optional().catch(undefined),
      // Both spellings occur in real events; either may be missing.
      freeFormTags: z.record(z.string(), z.unknown()).optional().catch(undefined),
      freeformTags: z.record(z.string(), z.unknown()).optional().catch(undefined),
    })
    .optional()
    .catch(undefined),
});

const alarmSeverity = z.enum(['CRITICAL', 'ERROR', 'WARNING', 'INFO']);
const alarmSchema = z.object({
  dedupeKey: z.string().min(1).max(512),
  title: optionalText(),
  body: z.string().nullable().optional().catch(undefined),
  type: z.enum(['OK_TO_FIRING', 'FIRING_TO_OK', 'REPEAT', 'RESET']),
  severity: z.preprocess((value) => (typeof value === 'string' ? value.toUpperCase() : value), alarmSeverity).catch('INFO'),
  timestampEpochMillis: z.union([z.number(), z.string().regex(/^\d+$/).transform(Number)]),
  timestamp: z.string().max(64).optional(),
  alarmMetaData: z
    .array(
      z.object({
        id: z.string().max(512).optional(),
        status: z.string().optional(),
        namespace: optionalText(),
        query: optionalText(1000),
        totalMetricsFiring: z.number().optional().catch(undefined),
        dimensions: z.array(z.record(z.string(), scalar.catch(''))).optional().catch(undefined),
        metricValues: z.array(z.record(z.string(), scalar.catch(''))).optional().catch(undefined),
        alarmUrl: z.string().max(1000).optional(),
        alarmSummary: optionalText(1000),
      }),
    )
    .default([]),
});

interface EventRule {
  pattern: RegExp;
  kind: ResourceEvent['kind'];
  subject: ResourceEvent['subject'];
  state?: (action: string) => RunState | undefined;
  needsLookup?: boolean;
  startsEpisode?: (action: string) => boolean;
}

const JOB_STATE: Record<string, RunState> = {
  'createjobrun.begin': 'ACCEPTED',
  'createjobrun.end': 'ACCEPTED',
  succeededjobrun: 'SUCCEEDED',
  failedjobrun: 'FAILED',
  timeoutjobrun: 'TIMED_OUT',
  'canceljobrun.begin': 'CANCELING',
  'canceljobrun.end': 'CANCELED',
  deletejobrun: 'DELETED',
  'deletejobrun.begin': 'DELETED',
  'deletejobrun.end': 'DELETED',
};

const PIPELINE_STATE: Record<string, RunState> = Object.fromEntries(
  Object.entries(JOB_STATE).map(([action, state]) => [action.replace('jobrun', 'pipelinerun'), state]),
);

const EVENT_RULES: EventRule[] = [
  {
    pattern: /^com\.oraclecloud\.devopsbuild\.((?:create|update|delete)buildrun)$/,
    kind: 'build',
    subject: 'buildRun',
    state: (action) => (action === 'deletebuildrun' ? 'DELETED' : undefined),
    needsLookup: true,
  },
  {
    pattern: /^com\.oraclecloud\.devopsdeploy\.((?:create|update)deployment)$/,
    kind: 'deploy',
    subject: 'deployment',
    needsLookup: true,
  },
  {
    pattern: /^com\.oraclecloud\.datascience\.((?:create|cancel|delete)jobrun\.(?:begin|end)|(?:succeeded|failed|timeout|update|delete)jobrun)$/,
    kind: 'training',
    subject: 'jobRun',
    state: (action) => JOB_STATE[action],
    needsLookup: false,
  },
  {
    pattern:
      /^com\.oraclecloud\.datascience\.((?:create|cancel|delete)pipelinerun\.(?:begin|end)|(?:succeeded|failed|timeout|update|delete)pipelinerun)$/,
    kind: 'training',
    subject: 'pipelineRun',
    state: (action) => PIPELINE_STATE[action],
    needsLookup: false,
  },
  {
    pattern: /^com\.oraclecloud\.datascience\.((create|update|delete|activate|deactivate)modeldeployment\.(begin|end))$/,
    kind: 'deploy',
    subject: 'modelDeployment',
    state: (action) => {
      if (action.startsWith('delete')) return action.endsWith('.end') ? 'DELETED' : 'IN_PROGRESS';
      return action.endsWith('.begin') ? 'IN_PROGRESS' : 'SUCCEEDED';
    },
    startsEpisode: (action) => action.endsWith('.begin'),
  },
  {
    pattern: /^com\.oraclecloud\.datascience\.((?:create|update|delete|activate|deactivate)model)$/,
    kind: 'model',
    subject: 'model',
  },
];

function flattenDetails(details: Record<string, unknown> | undefined): Record<string, string> {
  const flat: Record<string, string> = {};
  if (!details) return flat;
  for (const [key, value] of Object.entries(details).slice(0, 40)) {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
      flat[clip(key, 64)] = clip(String(value), 500);
    }
  }
  return flat;
}

function validTime(value: string | undefined, fallback: string): string {
  if (value === undefined) return fallback;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? fallback : new Date(ms).toISOString();
}

function hashKey(prefix: string, body: string): string {
  return `${prefix}:${createHash('sha256').update(body).digest('hex').slice(0, 32)}`;
}

/**
 * An id as part of a dedupe key. Ids longer than 255 characters are hashed whole rather than clipped:
 * clipped, two ids sharing their first 254 characters got one key and the second delivery was dropped.
 */
function keyPart(id: string): string {
  return id.length <= 255 ? id : `sha256:${createHash('sha256').update(id).digest('hex')}`;
}

function parseCloudEvent(event: z.output<typeof cloudEventSchema>, now: string): OciNotification {
  const data = event.data ?? {};
  const eventType = clip(event.eventType, 255);
  const dedupeKey = `event:${keyPart(event.eventID)}`;
  const compartmentId = data.compartmentId ?? event.extensions?.compartmentId;
  for (const rule of EVENT_RULES) {
    const match = rule.pattern.exec(eventType);
    if (!match?.[1]) continue;
    const action = match[1];
    if (rule.subject === 'model' || !data.resourceId) break;
    const details = flattenDetails(data.additionalDetails);
    const stateFromDetails = fromOciLifecycleState(details.lifecycleState);
    const state = rule.state?.(action) ?? stateFromDetails;
    const tag = data.freeFormTags?.[RUN_TAG] ?? data.freeformTags?.[RUN_TAG];
    return {
      type: 'event',
      dedupeKey,
      eventId: clip(event.eventID, 255),
      eventType,
      eventTime: validTime(event.eventTime, now),
      kind: rule.kind,
      subject: rule.subject,
      action,
      resourceId: data.resourceId,
      ...(data.resourceName === undefined ? {} : { resourceName: data.resourceName }),
      ...(compartmentId === undefined ? {} : { compartmentId }),
      ...(data.compartmentName === undefined ? {} : { compartmentName: data.compartmentName }),
      ...(state === undefined ? {} : { state }),
      needsLookup: rule.needsLookup ?? false,
      startsEpisode: rule.startsEpisode?.(action) ?? false,
      details,
      ...(typeof tag === 'string' && STARTED_RUN_KEY.test(tag) ? { runTag: tag } : {}),
    };
  }
  const kind = EVENT_RULES.find((rule) => rule.pattern.test(eventType))?.kind;
  const verb = eventType.split('.').slice(2).join('.') || eventType;
  return {
    type: 'generic',
    dedupeKey,
    title: data.resourceName ? `${verb}: ${data.resourceName}` : verb,
    text: clip(`${eventType} from ${event.source ?? 'OCI'} at ${validTime(event.eventTime, now)}`, MAX_TEXT),
    eventType,
    ...(data.resourceName === undefined ? {} : { resourceName: data.resourceName }),
    ...(compartmentId === undefined ? {} : { compartmentId }),
    ...(kind === undefined ? {} : { kind }),
  };
}

function parseAlarm(alarm: z.output<typeof alarmSchema>, now: string): AlarmNotification {
  const first = alarm.alarmMetaData[0];
  const streams = alarm.alarmMetaData.flatMap((meta) =>
    (meta.dimensions ?? []).slice(0, 5).map((dimensions, index) => ({
      dimensions: Object.fromEntries(Object.entries(dimensions).slice(0, 12).map(([key, value]) => [clip(key, 64), clip(value, 200)])),
      values: Object.fromEntries(
        Object.entries(meta.metricValues?.[index] ?? {})
          .slice(0, 4)
          .map(([key, value]) => [clip(key, 200), clip(value, 64)]),
      ),
    })),
  );
  const resourceName = streams.map((stream) => stream.dimensions.resourceDisplayName ?? stream.dimensions.resourceName).find(Boolean);
  const firing = alarm.type === 'OK_TO_FIRING' || alarm.type === 'REPEAT';
  const timestampMs = Number(alarm.timestampEpochMillis);
  return {
    type: 'alarm',
    dedupeKey: `alarm:${keyPart(alarm.dedupeKey)}:${timestampMs}`,
    alarmId: clip(first?.id ?? alarm.dedupeKey, 255),
    title: alarm.title ?? 'Alarm',
    ...(alarm.body ? { body: clip(alarm.body, MAX_TEXT) } : {}),
    transition: alarm.type,
    state: firing ? 'FIRING' : 'RESOLVED',
    severity: alarm.severity,
    // Beyond ±8.64e15 ms a Date is invalid and toISOString throws.
    timestamp: Number.isFinite(new Date(timestampMs).getTime()) ? new Date(timestampMs).toISOString() : validTime(alarm.timestamp, now),
    ...(first?.alarmUrl && /^https:\/\//.test(first.alarmUrl) ? { alarmUrl: first.alarmUrl } : {}),
    ...(first?.alarmSummary ? { summary: first.alarmSummary } : {}),
    ...(first?.query ? { query: first.query } : {}),
    ...(first?.namespace ? { namespace: first.namespace } : {}),
    streams: streams.slice(0, 5),
    ...(first?.totalMetricsFiring === undefined ? {} : { totalMetricsFiring: first.totalMetricsFiring }),
    ...(resourceName ? { resourceName } : {}),
  };
}

/** JSON.stringify recurses: a deeply nested body (well under 64 KB) overflows the stack, so show the raw text. */
function describeJson(record: Record<string, unknown>, body: string): string {
  try {
    return JSON.stringify(record, null, 1);
  } catch {
    return body.trim();
  }
}

function looksLikeJson(body: string, contentType: string | undefined): boolean {
  const start = body.trimStart()[0];
  return start === '{' || start === '[' || (contentType?.toLowerCase().includes('json') ?? false);
}

/**
 * Turns one delivery on the Notifications topic into what the bot acts on. Events and alarms are
 * recognised by shape; anything else (another service's event, a message published by hand) becomes a
 * generic notice. Only a body that claims to be JSON and is not is refused.
 */
export function parseOciNotification(body: string, headers: DeliveryHeaders, now = new Date().toISOString()): ParseResult {
  const fallbackKey = headers.messageId ? `message:${keyPart(headers.messageId)}` : hashKey('body', body);
  if (!looksLikeJson(body, headers.contentType)) {
    const trimmed = body.trim();
    if (trimmed === '') return { ok: false, reason: 'the body is empty' };
    return {
      ok: true,
      notification: { type: 'generic', dedupeKey: fallbackKey, title: clip(headers.topicName ?? 'Notification'), text: clip(trimmed, MAX_TEXT) },
    };
  }
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (error) {
    // Text that merely starts with "{" but is sent as text/plain (OCI's documented connectivity check,
    // `--data {"key":"value"}` unquoted in a shell, sends `{key:value}`) does not claim to be JSON.
    if (headers.contentType && !headers.contentType.toLowerCase().includes('json')) {
      return { ok: true, notification: { type: 'generic', dedupeKey: fallbackKey, title: clip(headers.topicName ?? 'Notification'), text: clip(body.trim(), MAX_TEXT) } };
    }
    return { ok: false, reason: `the body is not valid JSON (${error instanceof Error ? error.message : 'parse error'})` };
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return { ok: true, notification: { type: 'generic', dedupeKey: fallbackKey, title: clip(headers.topicName ?? 'Notification'), text: clip(body.trim(), MAX_TEXT) } };
  }
  const record = json as Record<string, unknown>;
  if ('eventType' in record || 'cloudEventsVersion' in record) {
    const event = cloudEventSchema.safeParse(record);
    if (event.success) return { ok: true, notification: parseCloudEvent(event.data, now) };
  }
  if ('dedupeKey' in record || 'dedupekey' in record || 'alarmMetaData' in record) {
    // Oracle's field table spells it `dedupekey`, its examples `dedupeKey`: accept both.
    const alarm = alarmSchema.safeParse('dedupeKey' in record ? record : { ...record, dedupeKey: record.dedupekey });
    if (alarm.success) return { ok: true, notification: parseAlarm(alarm.data, now) };
  }
  const title = typeof record.title === 'string' ? clip(record.title) : clip(headers.topicName ?? 'Notification');
  const messageText = typeof record.body === 'string' ? record.body : typeof record.message === 'string' ? record.message : describeJson(record, body);
  return { ok: true, notification: { type: 'generic', dedupeKey: fallbackKey, title, text: clip(messageText, MAX_TEXT) } };
}
