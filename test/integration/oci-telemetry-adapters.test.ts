import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MlopsError } from '../../src/errors.js';
import { startTestOci, type TestOci } from '../helpers/oci.js';

const LOG = { compartmentId: 'ocid1.compartment.oc1..ml', logGroupId: 'ocid1.loggroup.oc1.iad.train', logId: 'ocid1.log.oc1.iad.jobs' };
const JOB_RUN = 'ocid1.datasciencejobrun.oc1.iad.tail';
const T0 = Date.UTC(2026, 11, 5, 12, 0, 0);

describe('OCI Logging Search and Monitoring adapters against the signing fake', () => {
  let oci: TestOci;
  beforeAll(async () => {
    oci = await startTestOci();
    oci.fake.telemetry.addLogEntries(
      LOG,
      Array.from({ length: 45 }, (_, i) => ({ time: new Date(T0 + i * 1000).toISOString(), message: `line ${i + 1}`, source: JOB_RUN })),
    );
    oci.fake.telemetry.addLogEntries(LOG, [{ time: new Date(T0 + 500).toISOString(), message: 'another run', source: 'ocid1.datasciencejobrun.oc1.iad.other' }]);
  });
  afterAll(async () => oci.stop());

  const window = { timeStart: new Date(T0 - 60_000).toISOString(), timeEnd: new Date(T0 + 3_600_000).toISOString() };

  it('searches one run’s log newest first, page by page, with signed requests', async () => {
    const request = { ...LOG, filter: { field: 'source', value: JOB_RUN }, ...window };
    const first = await oci.logSearch.searchLogs(request, { limit: 30 });
    expect(first.lines.map((line) => line.message)).toEqual(Array.from({ length: 30 }, (_, i) => `line ${45 - i}`));
    expect(first.lines[0]?.at).toBe(new Date(T0 + 44_000).toISOString());
    expect(first.nextPage).toBeTruthy();
    const second = await oci.logSearch.searchLogs(request, { limit: 30, page: first.nextPage });
    expect(second.lines.map((line) => line.message)).toEqual(Array.from({ length: 15 }, (_, i) => `line ${15 - i}`));
    expect(second.nextPage).toBeUndefined();
    const searches = oci.fake.requests().filter((r) => r.path.startsWith('/20190909/search'));
    expect(searches).toHaveLength(2);
    expect(searches.every((r) => r.signatureVerified)).toBe(true);
    expect(searches[0]?.body).toMatchObject({ searchQuery: `search "${LOG.compartmentId}/${LOG.logGroupId}/${LOG.logId}" | where source = '${JOB_RUN}' | sort by datetime desc` });
    expect(searches[0]?.path).toContain('limit=30');
  });

  it('refuses a scope or filter that is not made of ids before calling OCI', async () => {
    const before = oci.fake.requests().length;
    await expect(oci.logSearch.searchLogs({ ...LOG, filter: { field: 'source', value: "x' or true" }, ...window }, { limit: 5 })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    expect(oci.fake.requests()).toHaveLength(before);
  });

  it('reads an alarm and its metric over a window', async () => {
    oci.fake.telemetry.seedAlarm({ id: 'ocid1.alarm.oc1.iad.cpu', displayName: 'High CPU', metricCompartmentId: 'ocid1.compartment.oc1..apps', namespace: 'oci_computeagent', query: 'CpuUtilization[1m].mean() > 90', resolution: '1m' });
    oci.fake.telemetry.seedMetric({ compartmentId: 'ocid1.compartment.oc1..apps', namespace: 'oci_computeagent', name: 'CpuUtilization', dimensions: { resourceId: 'ocid1.instance.oc1.iad.a' }, points: [{ at: T0, value: 50 }, { at: T0 + 60_000, value: 95 }] });
    const alarm = await oci.monitoring.getAlarm('ocid1.alarm.oc1.iad.cpu');
    expect(alarm).toMatchObject({ metricCompartmentId: 'ocid1.compartment.oc1..apps', namespace: 'oci_computeagent', query: 'CpuUtilization[1m].mean() > 90', resolution: '1m', metricCompartmentIdInSubtree: false });
    const streams = await oci.monitoring.summarizeMetricsData({ compartmentId: alarm.metricCompartmentId, compartmentIdInSubtree: false, namespace: alarm.namespace, query: 'CpuUtilization[1m].mean()', resolution: '1m', ...{ startTime: new Date(T0 - 1).toISOString(), endTime: new Date(T0 + 3_600_000).toISOString() } });
    expect(streams).toEqual([{ name: 'CpuUtilization', dimensions: { resourceId: 'ocid1.instance.oc1.iad.a' }, points: [{ at: T0, value: 50 }, { at: T0 + 60_000, value: 95 }] }]);
    const calls = oci.fake.requests().filter((r) => r.path.startsWith('/20180401/'));
    expect(calls.map((r) => r.path.split('?')[0])).toEqual(['/20180401/alarms/ocid1.alarm.oc1.iad.cpu', '/20180401/metrics/actions/summarizeMetricsData']);
    expect(calls.every((r) => r.signatureVerified)).toBe(true);
    expect(calls[1]?.path).toContain('compartmentId=ocid1.compartment.oc1..apps');
  });

  it('maps Monitoring outages and unknown alarms into the error catalogue', async () => {
    oci.fake.failNext({ pathPrefix: '/20180401/metrics' }, { status: 503, code: 'ServiceUnavailable' });
    const outage = await oci.monitoring.summarizeMetricsData({ compartmentId: 'ocid1.compartment.oc1..apps', compartmentIdInSubtree: false, namespace: 'oci_computeagent', query: 'CpuUtilization[1m].mean()', startTime: new Date(T0).toISOString(), endTime: new Date(T0 + 1).toISOString() }).catch((error: unknown) => error);
    expect(outage).toBeInstanceOf(MlopsError);
    expect(outage).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', retryable: true });
    await expect(oci.monitoring.getAlarm('ocid1.alarm.oc1.iad.unknown')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
