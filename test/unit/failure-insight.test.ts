import { describe, expect, it } from 'vitest';
import { devopsLogFilter, logWindow, matchesStream, splitAlarmQuery } from '../../src/domain/failure-insight.js';

const NOW = new Date('2026-12-05T14:00:00.000Z');

describe('which log lines explain a failure', () => {
  it('searches from two minutes before the run started to two minutes after it ended, never past now', () => {
    expect(logWindow({ startedAt: '2026-12-05T12:00:00.000Z', finishedAt: '2026-12-05T13:00:00.000Z', stateAt: '2026-12-05T13:00:00.000Z', history: [] }, NOW)).toEqual({
      timeStart: '2026-12-05T11:58:00.000Z',
      timeEnd: '2026-12-05T13:02:00.000Z',
    });
    expect(logWindow({ startedAt: '2026-12-05T13:50:00.000Z', finishedAt: '2026-12-05T13:59:30.000Z', stateAt: '2026-12-05T13:59:30.000Z', history: [] }, NOW).timeEnd).toBe(NOW.toISOString());
  });

  it('falls back to the first state seen, or six hours, when the start is unknown, and caps the window at 14 days', () => {
    expect(logWindow({ stateAt: '2026-12-05T13:00:00.000Z', history: [{ state: 'IN_PROGRESS', at: '2026-12-05T12:30:00.000Z' }] }, NOW).timeStart).toBe('2026-12-05T12:28:00.000Z');
    expect(logWindow({ stateAt: '2026-12-05T13:00:00.000Z', history: [] }, NOW).timeStart).toBe('2026-12-05T07:02:00.000Z');
    const long = logWindow({ startedAt: '2026-10-01T00:00:00.000Z', stateAt: '2026-12-05T13:00:00.000Z', history: [] }, NOW);
    expect(Date.parse(long.timeEnd) - Date.parse(long.timeStart)).toBe(14 * 24 * 3600_000);
  });

  it('finds DevOps runs in their project log by run id', () => {
    expect(devopsLogFilter({ subject: 'buildRun', resourceId: 'ocid1.devopsbuildrun.oc1.iad.b' })).toEqual({ field: 'data.buildRunId', value: 'ocid1.devopsbuildrun.oc1.iad.b' });
    expect(devopsLogFilter({ subject: 'deployment', resourceId: 'ocid1.devopsdeployment.oc1.iad.d' })).toEqual({ field: 'data.deploymentId', value: 'ocid1.devopsdeployment.oc1.iad.d' });
    expect(devopsLogFilter({ subject: 'jobRun', resourceId: 'x' })).toBeUndefined();
  });
});

describe('an alarm rule split into what to draw and where the threshold is', () => {
  it.each([
    ['CpuUtilization[1m].mean() > 90', 'CpuUtilization[1m].mean()', { operator: '>', value: 90 }],
    ['RequestLatencyP95[5m]{resourceId = "ocid1.x"}.mean() >= 800.5', 'RequestLatencyP95[5m]{resourceId = "ocid1.x"}.mean()', { operator: '>=', value: 800.5 }],
    ['MemoryUtilization[1m].groupBy(availabilityDomain).percentile(0.9) < -1e3', 'MemoryUtilization[1m].groupBy(availabilityDomain).percentile(0.9)', { operator: '<', value: -1000 }],
  ])('%s', (query, metricQuery, threshold) => {
    expect(splitAlarmQuery(query)).toEqual({ metricQuery, threshold });
  });

  it('draws ranges and absence rules without a threshold', () => {
    expect(splitAlarmQuery('CpuUtilization[1m].mean() in (10, 90)')).toEqual({ metricQuery: 'CpuUtilization[1m].mean()' });
    expect(splitAlarmQuery('Heartbeat[1m]{a="b"}.absent()')).toEqual({ metricQuery: 'Heartbeat[1m]{a="b"}.count()' });
  });

  it('keeps the streams the alarm named as firing, by resource id', () => {
    const firing = [{ dimensions: { resourceId: 'ocid1.instance.a' } }];
    expect(matchesStream({ resourceId: 'ocid1.instance.a', shape: 'x' }, firing)).toBe(true);
    expect(matchesStream({ resourceId: 'ocid1.instance.b' }, firing)).toBe(false);
    expect(matchesStream({ resourceId: 'anything' }, [])).toBe(true);
  });
});
