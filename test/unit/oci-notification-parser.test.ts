import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  parseOciNotification,
  type AlarmNotification,
  type DeliveryHeaders,
  type GenericNotification,
  type OciNotification,
  type ResourceEvent,
} from '../../src/domain/oci-notification.js';
import { anyText } from '../helpers/arbitraries.js';
import { deliveryHeaders, ociFixture, ociFixtureJson } from '../helpers/oci-fixtures.js';

const NOW = '2025-03-04T12:00:00.000Z';
const JSON_HEADERS: DeliveryHeaders = { contentType: 'application/json', messageId: 'msg-1', messageType: 'Notification', topicName: 'mlops-events' };
const JOB_RUN = 'ocid1.datasciencejobrun.oc1.iad.amaaaaaa4mlops7jobrun2xq3example5h7abcde';
const BUILD_RUN = 'ocid1.devopsbuildrun.oc1.iad.amaaaaaa4mlops7buildrun2xq3example5h7a';

function parse(body: string, headers: DeliveryHeaders = JSON_HEADERS): OciNotification {
  const result = parseOciNotification(body, headers, NOW);
  if (!result.ok) throw new Error(`expected the body to be accepted, got: ${result.reason}`);
  return result.notification;
}

function parseEvent(fixture: string): ResourceEvent {
  const notification = parse(ociFixture(fixture));
  if (notification.type !== 'event') throw new Error(`expected a resource event, got ${notification.type}`);
  return notification;
}

function parseAlarm(body: string): AlarmNotification {
  const notification = parse(body);
  if (notification.type !== 'alarm') throw new Error(`expected an alarm, got ${notification.type}`);
  return notification;
}

function parseGeneric(body: string, headers: DeliveryHeaders = JSON_HEADERS): GenericNotification {
  const notification = parse(body, headers);
  if (notification.type !== 'generic') throw new Error(`expected a generic notice, got ${notification.type}`);
  return notification;
}

/** A real fixture with some fields replaced, serialised back to a body. */
function variant(fixture: string, change: (record: Record<string, unknown>) => void): string {
  const record = ociFixtureJson(fixture);
  change(record);
  return JSON.stringify(record);
}

function dataOf(record: Record<string, unknown>): Record<string, unknown> {
  return record.data as Record<string, unknown>;
}

describe('parseOciNotification: DevOps build runs and deployments', () => {
  it('classifies createbuildrun as a build whose state must be looked up', () => {
    const event = parseEvent('devops-createbuildrun.json');
    expect(event).toMatchObject({
      type: 'event',
      dedupeKey: 'event:3f8c1a52-6f0e-4b1e-9a55-0c9a3d0e7b01',
      eventId: '3f8c1a52-6f0e-4b1e-9a55-0c9a3d0e7b01',
      eventType: 'com.oraclecloud.devopsbuild.createbuildrun',
      eventTime: '2025-03-04T10:00:01.120Z',
      kind: 'build',
      subject: 'buildRun',
      action: 'createbuildrun',
      resourceId: BUILD_RUN,
      resourceName: 'churn-model-build-42',
      compartmentId: 'ocid1.compartment.oc1..aaaaaaaa4mlops7compartment2xq3xample5h7',
      compartmentName: 'mlops',
      needsLookup: true,
      startsEpisode: false,
    });
    expect(event.state).toBeUndefined();
    expect(event.details).toEqual({
      buildPipelineId: 'ocid1.devopsbuildpipeline.oc1.iad.amaaaaaa4mlops7buildpipeline3example5h',
      projectId: 'ocid1.devopsproject.oc1.iad.amaaaaaa4mlops7devopsproject3example5hq',
    });
  });

  it('classifies updatebuildrun without a state (OCI does not document one in the event)', () => {
    const event = parseEvent('devops-updatebuildrun.json');
    expect(event).toMatchObject({ kind: 'build', subject: 'buildRun', action: 'updatebuildrun', needsLookup: true });
    expect(event.state).toBeUndefined();
  });

  it('takes the state from additionalDetails.lifecycleState when an update does carry one', () => {
    const event = parseEvent('devops-updatebuildrun-with-state.json');
    expect(event.state).toBe('FAILED');
    expect(event.details.lifecycleDetails).toBe('Stage "train" exited with code 1');
    expect(event.needsLookup).toBe(true);
  });

  it('treats deletebuildrun as the run being deleted', () => {
    expect(parseEvent('devops-deletebuildrun.json')).toMatchObject({ action: 'deletebuildrun', state: 'DELETED', kind: 'build' });
  });

  it.each([
    ['devops-createdeployment.json', 'createdeployment'],
    ['devops-updatedeployment.json', 'updatedeployment'],
  ])('classifies %s as a deploy whose state must be looked up', (fixture, action) => {
    const event = parseEvent(fixture);
    expect(event).toMatchObject({ kind: 'deploy', subject: 'deployment', action, needsLookup: true, startsEpisode: false });
    expect(event.state).toBeUndefined();
    expect(event.details.deployPipelineId).toMatch(/^ocid1\.devopsdeploypipeline\./);
  });
});

describe('parseOciNotification: Data Science job and pipeline runs', () => {
  it.each([
    ['datascience-createjobrun-begin.json', 'createjobrun.begin', 'ACCEPTED'],
    // createjobrun.end means the run was created, not that it finished.
    ['datascience-createjobrun-end.json', 'createjobrun.end', 'ACCEPTED'],
    ['datascience-succeededjobrun.json', 'succeededjobrun', 'SUCCEEDED'],
    ['datascience-failedjobrun.json', 'failedjobrun', 'FAILED'],
    ['datascience-timeoutjobrun.json', 'timeoutjobrun', 'TIMED_OUT'],
    ['datascience-canceljobrun-begin.json', 'canceljobrun.begin', 'CANCELING'],
    ['datascience-canceljobrun-end.json', 'canceljobrun.end', 'CANCELED'],
  ])('reads the outcome of %s from the event type', (fixture, action, state) => {
    const event = parseEvent(fixture);
    expect(event).toMatchObject({ kind: 'training', subject: 'jobRun', action, state, needsLookup: false, startsEpisode: false, resourceId: JOB_RUN });
    expect(event.resourceName).toBe('fraud-model-train-2025-03-04');
  });

  it('keeps the failure details a failed job run carries', () => {
    expect(parseEvent('datascience-failedjobrun.json').details).toMatchObject({ lifecycleDetails: 'Job run bootstrap failed: exit code 1' });
  });

  it.each([
    ['datascience-createpipelinerun-end.json', 'createpipelinerun.end', 'ACCEPTED'],
    ['datascience-succeededpipelinerun.json', 'succeededpipelinerun', 'SUCCEEDED'],
    ['datascience-failedpipelinerun.json', 'failedpipelinerun', 'FAILED'],
  ])('classifies %s as a training pipeline run', (fixture, action, state) => {
    expect(parseEvent(fixture)).toMatchObject({ kind: 'training', subject: 'pipelineRun', action, state, needsLookup: false });
  });

  it('reports updatejobrun without inventing a state', () => {
    const event = parse(variant('datascience-succeededjobrun.json', (record) => (record.eventType = 'com.oraclecloud.datascience.updatejobrun')));
    expect(event).toMatchObject({ type: 'event', action: 'updatejobrun', subject: 'jobRun' });
    expect((event as ResourceEvent).state).toBeUndefined();
  });
});

describe('parseOciNotification: model deployments and models', () => {
  it('starts a new episode when a model deployment operation begins', () => {
    expect(parseEvent('datascience-createmodeldeployment-begin.json')).toMatchObject({
      kind: 'deploy',
      subject: 'modelDeployment',
      action: 'createmodeldeployment.begin',
      state: 'IN_PROGRESS',
      startsEpisode: true,
      needsLookup: false,
    });
    expect(parseEvent('datascience-updatemodeldeployment-begin.json')).toMatchObject({ action: 'updatemodeldeployment.begin', state: 'IN_PROGRESS', startsEpisode: true });
  });

  it('ends the episode successfully on .end', () => {
    expect(parseEvent('datascience-createmodeldeployment-end.json')).toMatchObject({ state: 'SUCCEEDED', startsEpisode: false });
  });

  it('treats deletemodeldeployment.end as deleted and .begin as still in progress', () => {
    const end = parse(variant('datascience-createmodeldeployment-end.json', (record) => (record.eventType = 'com.oraclecloud.datascience.deletemodeldeployment.end')));
    const begin = parse(variant('datascience-createmodeldeployment-end.json', (record) => (record.eventType = 'com.oraclecloud.datascience.deletemodeldeployment.begin')));
    expect(end).toMatchObject({ type: 'event', state: 'DELETED' });
    expect(begin).toMatchObject({ type: 'event', state: 'IN_PROGRESS' });
  });

  it('shows createmodel as a notice routed as kind model, not as a tracked run', () => {
    const notice = parseGeneric(ociFixture('datascience-createmodel.json'));
    expect(notice).toMatchObject({
      dedupeKey: 'event:e9d6f4a3-5b7c-4d9e-9f3a-4b5c6d7e8f01',
      kind: 'model',
      eventType: 'com.oraclecloud.datascience.createmodel',
      resourceName: 'fraud-model-v12',
      title: 'datascience.createmodel: fraud-model-v12',
    });
  });
});

describe('parseOciNotification: events of other services', () => {
  it('shows the real Object Storage event as a generic notice, deduplicated by eventID', () => {
    const notice = parseGeneric(ociFixture('objectstorage-createbucket.json'), deliveryHeaders());
    expect(notice).toEqual({
      type: 'generic',
      dedupeKey: 'event:fca0653f-85c5-9466-8812-001c51d338a4',
      title: 'objectstorage.createbucket: bucket-20191212-1425',
      text: 'com.oraclecloud.objectstorage.createbucket from ObjectStorage at 2019-12-12T22:25:08.502Z',
      eventType: 'com.oraclecloud.objectstorage.createbucket',
      resourceName: 'bucket-20191212-1425',
      compartmentId: 'ocid1.compartment.oc1..aaaaaaaa4example',
    });
  });

  it('gives an unknown DevOps event (a build pipeline update) no kind', () => {
    const notice = parseGeneric(variant('devops-createbuildrun.json', (record) => (record.eventType = 'com.oraclecloud.devopsbuild.updatebuildpipeline.begin')));
    expect(notice.kind).toBeUndefined();
    expect(notice.title).toBe('devopsbuild.updatebuildpipeline.begin: churn-model-build-42');
  });

  it('falls back to extensions.compartmentId when data has none', () => {
    const event = parse(variant('datascience-failedjobrun.json', (record) => delete dataOf(record).compartmentId));
    expect(event).toMatchObject({ type: 'event', compartmentId: 'ocid1.compartment.oc1..aaaaaaaa4mlops7compartment2xq3xample5h7' });
  });

  it('reports a tracked event type without a resourceId as a notice of that kind', () => {
    const notice = parseGeneric(ociFixture('malformed/event-missing-resourceid.json'));
    expect(notice).toMatchObject({ kind: 'training', dedupeKey: 'event:b6a3c1d0-2e4f-4a6b-8c0d-1e2f3a4b5c11' });
  });

  it('uses the delivery time when eventTime is not a time', () => {
    expect(parseEvent('malformed/event-bad-time.json').eventTime).toBe(NOW);
  });

  it('normalises eventTime to UTC ISO-8601', () => {
    const event = parse(variant('datascience-failedjobrun.json', (record) => (record.eventTime = '2025-03-04T11:12:40+02:00')));
    expect(event).toMatchObject({ type: 'event', eventTime: '2025-03-04T09:12:40.000Z' });
  });
});

describe('parseOciNotification: Monitoring alarms', () => {
  it('reads OK_TO_FIRING in the documented shape (metricValues inside alarmMetaData)', () => {
    const alarm = parseAlarm(ociFixture('alarm-ok-to-firing.json'));
    expect(alarm).toMatchObject({
      type: 'alarm',
      dedupeKey: 'alarm:exampleuniqueID:1684337663852',
      alarmId: 'ocid1.alarm.oc1.iad.exampleuniqueID',
      title: 'High CPU Utilization',
      body: 'Follow runbook at http://example.com/runbooks',
      transition: 'OK_TO_FIRING',
      state: 'FIRING',
      severity: 'CRITICAL',
      timestamp: '2023-05-17T15:34:23.852Z',
      alarmUrl: 'https://cloud.oracle.com/monitoring/alarms/ocid1.alarm.oc1.iad.exampleuniqueID?region=us-ashburn-1',
      query: 'CpuUtilization[1m].mean() > 90',
      namespace: 'oci_computeagent',
      totalMetricsFiring: 4,
      resourceName: 'wordpress',
    });
    expect(alarm.summary).toMatch(/^Alarm "High CPU Utilization" is in a "FIRING" state/);
    expect(alarm.streams).toHaveLength(2);
    expect(alarm.streams[0]?.dimensions).toMatchObject({ resourceDisplayName: 'wordpress', shape: 'VM.Standard.E4.Flex' });
    expect(alarm.streams[0]?.values).toEqual({ 'CpuUtilization[1m].mean()': '92' });
    expect(alarm.streams[1]?.values).toEqual({ 'CpuUtilization[1m].mean()': '95' });
  });

  it('keeps REPEAT firing, with a dedupe key of its own timestamp', () => {
    const first = parseAlarm(ociFixture('alarm-ok-to-firing.json'));
    const repeat = parseAlarm(ociFixture('alarm-repeat.json'));
    expect(repeat).toMatchObject({ transition: 'REPEAT', state: 'FIRING', dedupeKey: 'alarm:exampleuniqueID:1684341263852' });
    expect(repeat.dedupeKey).not.toBe(first.dedupeKey);
  });

  it.each([
    ['alarm-firing-to-ok.json', 'FIRING_TO_OK'],
    ['alarm-reset.json', 'RESET'],
  ])('resolves the alarm on %s', (fixture, transition) => {
    const alarm = parseAlarm(ociFixture(fixture));
    expect(alarm).toMatchObject({ transition, state: 'RESOLVED', totalMetricsFiring: 0 });
    expect(alarm.streams.every((stream) => Object.keys(stream.values).length === 0)).toBe(true);
  });

  it('accepts body: null and notificationType inside the metadata (RESET fixture)', () => {
    const alarm = parseAlarm(ociFixture('alarm-reset.json'));
    expect(alarm.body).toBeUndefined();
    expect(alarm.dedupeKey).toBe('alarm:exampleuniqueID:1684345643852');
  });

  it('accepts timestampEpochMillis as a digit string and gives the same dedupe key', () => {
    const alarm = parseAlarm(variant('alarm-ok-to-firing.json', (record) => (record.timestampEpochMillis = '1684337663852')));
    expect(alarm.dedupeKey).toBe('alarm:exampleuniqueID:1684337663852');
    expect(alarm.timestamp).toBe('2023-05-17T15:34:23.852Z');
  });

  it('upper-cases a lower-case severity and defaults an unknown one to INFO', () => {
    expect(parseAlarm(variant('alarm-ok-to-firing.json', (record) => (record.severity = 'warning'))).severity).toBe('WARNING');
    expect(parseAlarm(variant('alarm-ok-to-firing.json', (record) => (record.severity = 'SEVERE'))).severity).toBe('INFO');
  });

  it('defaults the title to "Alarm" and tolerates numbers where strings are expected', () => {
    const alarm = parseAlarm(ociFixture('malformed/alarm-numbers-for-strings.json'));
    expect(alarm.title).toBe('Alarm');
    expect(alarm.severity).toBe('INFO');
    expect(alarm.namespace).toBeUndefined();
    expect(alarm.query).toBeUndefined();
    expect(alarm.totalMetricsFiring).toBeUndefined();
    expect(alarm.streams[0]?.dimensions).toEqual({ resourceDisplayName: '99', port: '443', up: 'true', nested: '' });
    expect(alarm.streams[0]?.values).toEqual({ cpu: '92' });
    expect(alarm.resourceName).toBe('99');
  });

  it('keeps at most five streams of twelve dimensions each', () => {
    const body = variant('alarm-ok-to-firing.json', (record) => {
      const [meta] = record.alarmMetaData as Record<string, unknown>[];
      if (!meta) throw new Error('fixture has no alarmMetaData');
      meta.dimensions = Array.from({ length: 100 }, (_, index) =>
        Object.fromEntries(Array.from({ length: 30 }, (__, key) => [`dim${key}`, `value-${index}-${key}`])),
      );
    });
    const alarm = parseAlarm(body);
    expect(alarm.streams).toHaveLength(5);
    expect(alarm.streams.every((stream) => Object.keys(stream.dimensions).length === 12)).toBe(true);
  });

  it('drops an alarmUrl that is not https', () => {
    expect(parseAlarm(ociFixture('hostile/alarm-mentions-and-links.json')).alarmUrl).toBeUndefined();
  });

  it('shows an alarm of an unknown type as a generic notice with its title and body', () => {
    const notice = parseGeneric(ociFixture('malformed/alarm-unknown-type.json'));
    expect(notice).toMatchObject({ dedupeKey: 'message:msg-1', title: 'High CPU Utilization', text: 'Follow runbook at http://example.com/runbooks' });
  });

  it('shows an alarm without timestampEpochMillis as a generic notice rather than refusing it', () => {
    expect(parseGeneric(ociFixture('malformed/alarm-missing-timestamp.json')).title).toBe('High CPU Utilization');
  });

  it('reads the run tag the bot puts on what it starts, in either spelling of the tags field', () => {
    const tagged = (tags: Record<string, unknown>, field = 'freeFormTags') => parse(variant('datascience-createjobrun-end.json', (record) => (dataOf(record)[field] = tags)));
    expect(tagged({ 'mlops-chatops-run': `train-${'a1'.repeat(20)}` })).toMatchObject({ runTag: `train-${'a1'.repeat(20)}` });
    expect(tagged({ 'mlops-chatops-run': 'promotion-0123456789ab' }, 'freeformTags')).toMatchObject({ runTag: 'promotion-0123456789ab' });
    for (const value of ['', 'other-1234', 'train-XYZ', 'train-12 34', `train-${'a'.repeat(65)}`, 42, null, { nested: 'train-12' }]) {
      expect(tagged({ 'mlops-chatops-run': value })).not.toHaveProperty('runTag');
    }
    expect(parseEvent('datascience-createjobrun-end.json')).not.toHaveProperty('runTag');
  });

  it('gives ids over 255 characters that differ only at the end distinct dedupe keys', () => {
    const long = 'x'.repeat(300);
    const keyOf = (eventID: string) => parse(variant('devops-updatebuildrun-with-state.json', (record) => (record.eventID = eventID))).dedupeKey;
    expect(keyOf(`${long}a`)).not.toBe(keyOf(`${long}b`));
    expect(keyOf(`${long}a`)).toMatch(/^event:sha256:[0-9a-f]{64}$/);
    expect(keyOf('short-id')).toBe('event:short-id');
    const messageKey = (messageId: string) => parse('plain text notice', { contentType: 'text/plain', messageId }).dedupeKey;
    expect(messageKey(`${long}a`)).not.toBe(messageKey(`${long}b`));
  });

  it('never throws on a timestampEpochMillis beyond the range of a Date', () => {
    const alarm = parseAlarm(variant('alarm-ok-to-firing.json', (record) => (record.timestampEpochMillis = 1e20)));
    expect(alarm.timestamp).toBe('2023-05-17T15:34:23.852Z');
    expect(alarm.dedupeKey).toBe('alarm:exampleuniqueID:100000000000000000000');
    const digits = parseAlarm(variant('alarm-ok-to-firing.json', (record) => (record.timestampEpochMillis = '9'.repeat(400))));
    expect(digits.dedupeKey.length).toBeGreaterThan('alarm:'.length);
  });
});

describe('parseOciNotification: dedupe keys', () => {
  it('dedupes events on eventID, whatever the message id', () => {
    const a = parse(ociFixture('datascience-failedjobrun.json'), { ...JSON_HEADERS, messageId: 'delivery-1' });
    const b = parse(ociFixture('datascience-failedjobrun.json'), { ...JSON_HEADERS, messageId: 'delivery-2' });
    expect(a.dedupeKey).toBe('event:b6a3c1d0-2e4f-4a6b-8c0d-1e2f3a4b5c04');
    expect(b.dedupeKey).toBe(a.dedupeKey);
  });

  it('dedupes a directly published message on X-OCI-NS-MessageId', () => {
    const notice = parseGeneric('Deployment window opens at 18:00', { contentType: 'text/plain; charset=UTF-8', messageId: 'msg-plain-1', topicName: 'ops' });
    expect(notice).toEqual({ type: 'generic', dedupeKey: 'message:msg-plain-1', title: 'ops', text: 'Deployment window opens at 18:00' });
  });

  it('falls back to a hash of the body when there is no message id', () => {
    const headers: DeliveryHeaders = { contentType: 'text/plain' };
    const first = parseGeneric('Maintenance at 18:00', headers);
    const again = parseGeneric('Maintenance at 18:00', headers);
    const other = parseGeneric('Maintenance at 19:00', headers);
    expect(first.dedupeKey).toMatch(/^body:[0-9a-f]{32}$/);
    expect(again.dedupeKey).toBe(first.dedupeKey);
    expect(other.dedupeKey).not.toBe(first.dedupeKey);
    expect(first.title).toBe('Notification');
  });

  it('uses the message id for an event missing its eventID', () => {
    const notice = parseGeneric(ociFixture('malformed/event-missing-eventid.json'));
    expect(notice.dedupeKey).toBe('message:msg-1');
  });
});

describe('parseOciNotification: generic notices and refusals', () => {
  it('answers the documented connectivity self-test (text/plain `{key:value}`) with a notice, not a refusal', () => {
    const notice = parseGeneric(ociFixture('malformed/unquoted-keys.txt'), { contentType: 'text/plain; charset=UTF-8' });
    expect(notice.text).toBe('{key:value}');
  });

  it('accepts a text/plain JSON object as JSON', () => {
    const notice = parseGeneric('{"key":"value"}', { contentType: 'text/plain; charset=UTF-8' });
    expect(notice.text).toContain('"key": "value"');
  });

  it('uses title and body (or message) of a directly published JSON message', () => {
    expect(parseGeneric('{"title":"Maintenance","body":"Redis restarts at 18:00"}')).toMatchObject({ title: 'Maintenance', text: 'Redis restarts at 18:00' });
    expect(parseGeneric('{"message":"Redis restarts at 18:00"}')).toMatchObject({ title: 'mlops-events', text: 'Redis restarts at 18:00' });
  });

  it('shows a JSON array, string or null as a notice', () => {
    const array = parseGeneric(ociFixture('malformed/json-array.json'));
    expect(array.text.startsWith('[')).toBe(true);
    expect(parseGeneric('"just text"').text).toBe('"just text"');
    expect(parseGeneric('null').text).toBe('null');
  });

  it('refuses a body that claims to be JSON and is not, with a reason', () => {
    const result = parseOciNotification('{"eventType": "com.oraclecloud', JSON_HEADERS, NOW);
    expect(result).toEqual({ ok: false, reason: expect.stringMatching(/^the body is not valid JSON \(/) as unknown });
  });

  it('refuses a truncated event even without a content type, since it starts like JSON', () => {
    const result = parseOciNotification(ociFixture('malformed/truncated-event.txt'), {}, NOW);
    expect(result.ok).toBe(false);
  });

  it('refuses an empty body', () => {
    expect(parseOciNotification('  \n ', { contentType: 'text/plain' }, NOW)).toEqual({ ok: false, reason: 'the body is empty' });
    expect(parseOciNotification('', { contentType: 'application/json' }, NOW).ok).toBe(false);
  });
});

describe('parseOciNotification: truncation', () => {
  const huge = 'x'.repeat(10_000);

  it('clips resource and compartment names to 255 characters', () => {
    const event = parseEvent('datascience-failedjobrun.json');
    const long = parse(
      variant('datascience-failedjobrun.json', (record) => {
        dataOf(record).resourceName = huge;
        dataOf(record).compartmentName = huge;
      }),
    ) as ResourceEvent;
    expect(long.resourceName).toHaveLength(255);
    expect(long.resourceName?.endsWith('…')).toBe(true);
    expect(long.compartmentName).toHaveLength(255);
    expect(long.state).toBe(event.state);
  });

  it('clips additionalDetails to 40 keys of at most 64 characters with values of at most 500', () => {
    const event = parse(
      variant('datascience-failedjobrun.json', (record) => {
        dataOf(record).additionalDetails = {
          [`k${'e'.repeat(200)}`]: huge,
          ...Object.fromEntries(Array.from({ length: 100 }, (_, index) => [`key${index}`, index])),
        };
      }),
    ) as ResourceEvent;
    const entries = Object.entries(event.details);
    expect(entries).toHaveLength(40);
    expect(entries.every(([key, value]) => key.length <= 64 && value.length <= 500)).toBe(true);
    expect(event.details.key0).toBe('0');
  });

  it('hashes a long eventID whole inside the dedupe key, and treats an absurd one as not an event', () => {
    const longId = 'e'.repeat(400);
    const event = parse(variant('datascience-failedjobrun.json', (record) => (record.eventID = longId)));
    expect(event.type).toBe('event');
    expect(event.dedupeKey).toMatch(/^event:sha256:[0-9a-f]{64}$/);
    const absurd = parse(variant('datascience-failedjobrun.json', (record) => (record.eventID = huge)));
    expect(absurd).toMatchObject({ type: 'generic', dedupeKey: 'message:msg-1' });
  });

  it('hashes a long message id and clips the topic name, titles and texts of notices', () => {
    const notice = parseGeneric(huge, { contentType: 'text/plain', messageId: huge, topicName: huge });
    expect(notice.dedupeKey).toMatch(/^message:sha256:[0-9a-f]{64}$/);
    expect(notice.title).toHaveLength(255);
    expect(notice.text).toHaveLength(2_900);
    expect(notice.text.endsWith('…')).toBe(true);
  });

  it('clips an alarm body', () => {
    const alarm = parseAlarm(variant('alarm-ok-to-firing.json', (record) => (record.body = huge)));
    expect(alarm.body).toHaveLength(2_900);
  });
});

describe('parseOciNotification: hostile input', () => {
  it('keeps Slack control syntax in names verbatim (the renderer escapes it) and classifies normally', () => {
    expect(parseEvent('hostile/event-name-channel-mention.json').resourceName).toBe('<!channel> deploy now');
    expect(parseEvent('hostile/event-name-user-mention.json').resourceName).toBe('ping <@U123> and <!subteam^S0SRE> @here');
    expect(parseEvent('hostile/event-name-link.json')).toMatchObject({ state: 'FAILED', resourceName: '<https://evil.example|click> & win' });
  });

  it('does not let __proto__ or constructor keys pollute prototypes or smuggle fields', () => {
    const event = parseEvent('hostile/event-prototype-pollution.json');
    expect(event.resourceName).toBe('fraud-model-train-2025-03-04');
    // The state comes from the event type, not from a lifecycleState hidden in __proto__.
    expect(event.state).toBe('FAILED');
    expect(Object.getPrototypeOf(event.details)).toBe(Object.prototype);
    expect(Object.keys(event.details)).not.toContain('polluted');
    expect(event.details.lifecycleState).toBeUndefined();
    expect(event.details.jobId).toBe('ocid1.datasciencejob.oc1.iad.amaaaaaa4mlops7job2xq3example5h7abcdefgh');

    const alarm = parseAlarm(ociFixture('hostile/alarm-prototype-pollution.json'));
    expect(alarm.streams[0]?.dimensions.resourceDisplayName).toBe('wordpress');
    expect(alarm.streams[0]?.values).toMatchObject({ 'CpuUtilization[1m].mean()': '92' });

    const probe: Record<string, unknown> = {};
    expect(probe.polluted).toBeUndefined();
    expect(probe.isAdmin).toBeUndefined();
  });

  it('treats numbers where strings are expected as missing, never as a crash', () => {
    const event = parseEvent('malformed/event-numbers-for-strings.json');
    expect(event.resourceName).toBeUndefined();
    expect(event.compartmentName).toBeUndefined();
    // data.compartmentId is a number, so extensions.compartmentId is used.
    expect(event.compartmentId).toBe('ocid1.compartment.oc1..aaaaaaaa4mlops7compartment2xq3xample5h7');
    expect(event.details).toEqual({ jobId: '7', retries: '3', ok: 'false' });
  });

  it('survives deeply nested JSON well under the 64 KB body limit', () => {
    const depth = 15_000;
    const body = `{"a":${'['.repeat(depth)}${']'.repeat(depth)}}`;
    const result = parseOciNotification(body, JSON_HEADERS, NOW);
    expect(result.ok).toBe(true);
    if (result.ok) expect(result.notification.dedupeKey).toBe('message:msg-1');
  });

  it('survives an event whose every field has the wrong type', () => {
    const body = JSON.stringify({ eventType: 42, eventID: {}, cloudEventsVersion: [], data: 'x', extensions: 7 });
    expect(parseGeneric(body).dedupeKey).toBe('message:msg-1');
  });
});

describe('parseOciNotification: properties', () => {
  const headersArb: fc.Arbitrary<DeliveryHeaders> = fc.record(
    {
      messageId: fc.string({ maxLength: 300 }),
      messageType: fc.string({ maxLength: 40 }),
      topicName: fc.string({ maxLength: 300 }),
      contentType: fc.oneof(fc.constantFrom('application/json', 'text/plain; charset=UTF-8', 'APPLICATION/JSON'), fc.string({ maxLength: 40 })),
    },
    { requiredKeys: [] },
  );

  function holds(body: string, headers: DeliveryHeaders): boolean {
    const result = parseOciNotification(body, headers, NOW);
    return result.ok ? result.notification.dedupeKey.length > 0 : typeof result.reason === 'string' && result.reason.length > 0;
  }

  it('never throws on any string body and any headers', () => {
    fc.assert(
      fc.property(anyText(400), headersArb, (body, headers) => holds(body, headers)),
      { numRuns: 200 },
    );
  });

  it('never throws on any JSON value', () => {
    fc.assert(
      fc.property(fc.json({ maxDepth: 4 }), headersArb, (body, headers) => holds(body, headers)),
      { numRuns: 300 },
    );
  });

  it('never throws on event and alarm shapes with arbitrary field values', () => {
    const value = fc.jsonValue({ maxDepth: 2 });
    const eventLike = fc.record(
      {
        eventType: fc.oneof(
          fc.constantFrom('com.oraclecloud.datascience.failedjobrun', 'com.oraclecloud.devopsbuild.updatebuildrun', 'com.oraclecloud.datascience.createmodeldeployment.begin'),
          value,
        ),
        eventID: fc.oneof(fc.string({ maxLength: 600 }), value),
        eventTime: fc.oneof(fc.string(), value),
        cloudEventsVersion: value,
        data: fc.oneof(
          fc.record(
            { resourceId: fc.oneof(fc.string(), value), resourceName: fc.oneof(fc.string(), value), additionalDetails: fc.oneof(fc.dictionary(fc.string(), value), value) },
            { requiredKeys: [] },
          ),
          value,
        ),
      },
      { requiredKeys: [] },
    );
    const alarmLike = fc.record(
      {
        dedupeKey: fc.oneof(fc.string(), value),
        type: fc.oneof(fc.constantFrom('OK_TO_FIRING', 'FIRING_TO_OK', 'REPEAT', 'RESET'), value),
        timestampEpochMillis: fc.oneof(fc.double(), fc.integer(), fc.stringMatching(/^\d{1,30}$/), value),
        severity: value,
        alarmMetaData: fc.oneof(
          fc.array(
            fc.record(
              { id: value, dimensions: fc.oneof(fc.array(fc.dictionary(fc.string(), value), { maxLength: 8 }), value), metricValues: value, alarmUrl: value },
              { requiredKeys: [] },
            ),
            { maxLength: 3 },
          ),
          value,
        ),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.oneof(eventLike, alarmLike), headersArb, (record, headers) => holds(JSON.stringify(record), headers)),
      { numRuns: 300 },
    );
  });

  it('gives the same dedupe key to the same delivery twice', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 500 }), headersArb, (body, headers) => {
        const first = parseOciNotification(body, headers, NOW);
        const second = parseOciNotification(body, headers, NOW);
        return first.ok === second.ok && (!first.ok || !second.ok || first.notification.dedupeKey === second.notification.dedupeKey);
      }),
      { numRuns: 200 },
    );
  });
});

describe('alarm field spellings', () => {
  it('accepts dedupekey as Oracle\'s field table spells it, with the same dedupe key', () => {
    const body = JSON.stringify({ dedupekey: 'abc', title: 'CPU', type: 'OK_TO_FIRING', severity: 'CRITICAL', timestampEpochMillis: 1700000000000, alarmMetaData: [{ id: 'ocid1.alarm.oc1.iad.x', status: 'FIRING' }] });
    const parsed = parseOciNotification(body, {});
    expect(parsed).toMatchObject({ ok: true, notification: { type: 'alarm', dedupeKey: 'alarm:abc:1700000000000', state: 'FIRING' } });
  });
});
