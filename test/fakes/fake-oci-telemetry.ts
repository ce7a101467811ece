import { randomUUID } from 'node:crypto';

/**
 * OCI Logging Search (`POST /20190909/search`) and Monitoring (`GET /20180401/alarms/{id}`,
 * `POST /20180401/metrics/actions/summarizeMetricsData`) for the fake OCI API, which checks the
 * signatures and routes here. Shapes follow the SDK models (oci-loggingsearch / oci-monitoring 2.139.1):
 * a search answers `{ results: [{ data: { datetime, logContent } }], summary: { resultCount, fieldCount } }`
 * with `opc-next-page` when more entries match; `logContent` is the log record as OCI Logging stores it
 * (`data.message`, `source`, `subject`, `type`, `time`, `oracle.{compartmentid,loggroupid,logid}`).
 * Only the query language the bot writes is understood: `search "<scope>" [| where <field> = '<value>']
 * [| sort by datetime asc|desc]`; anything else is 400 InvalidParameter, as a bad query is for OCI.
 */

export type TelemetryAnswer = [status: number, body: unknown, headers?: Record<string, string>];

export interface FakeLogEntry {
  /** ISO 8601. */
  time: string;
  message?: string;
  /** Extra fields of the record's `data` (DevOps logs carry `buildRunId`, `deploymentId`). */
  data?: Record<string, unknown>;
  /** Data Science job run logs: the job run OCID. */
  source?: string;
  subject?: string;
  type?: string;
}

interface StoredEntry {
  datetime: number;
  logContent: Record<string, unknown>;
  compartmentId: string;
  logGroupId: string;
  logId: string;
}

export interface FakeAlarm {
  id: string;
  displayName: string;
  compartmentId?: string;
  metricCompartmentId: string;
  metricCompartmentIdInSubtree?: boolean;
  namespace: string;
  query: string;
  resolution?: string;
  resourceGroup?: string;
  severity?: string;
}

export interface FakeMetricStream {
  compartmentId: string;
  namespace: string;
  name: string;
  dimensions: Record<string, string>;
  resourceGroup?: string;
  points: { at: number; value: number }[];
}

const invalid = (message: string): TelemetryAnswer => [400, { code: 'InvalidParameter', message }];
const NOT_FOUND: TelemetryAnswer = [404, { code: 'NotAuthorizedOrNotFound', message: 'Authorization failed or requested resource not found.' }];
const MAX_SEARCH_LIMIT = 1000;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function field(record: Record<string, unknown>, path: string): unknown {
  return path.split('.').reduce<unknown>((value, key) => (isRecord(value) ? value[key] : undefined), record);
}

function time(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

/** `Name[1m]{dim = "v", …}.mean() > 90` → name, filters and the optional condition. */
function parseMql(query: string): { name: string; filters: Record<string, string>; condition?: { op: string; value: number } } | undefined {
  const match = /^\s*([A-Za-z][A-Za-z0-9_]*)\[(\d+[smhd])\](?:\{([^}]*)\})?(?:\.groupBy\([^)]*\))?\.(mean|sum|max|min|count|rate|last|percentile\([0-9.]+\))\(\)\s*(?:(>=|<=|==|!=|>|<)\s*(-?\d+(?:\.\d+)?))?\s*$/.exec(query);
  if (!match?.[1]) return undefined;
  const filters: Record<string, string> = {};
  for (const part of (match[3] ?? '').split(',').map((text) => text.trim()).filter(Boolean)) {
    const pair = /^([A-Za-z][A-Za-z0-9_]*)\s*=\s*"([^"]*)"$/.exec(part);
    if (!pair?.[1]) return undefined;
    filters[pair[1]] = pair[2] ?? '';
  }
  return { name: match[1], filters, ...(match[5] ? { condition: { op: match[5], value: Number(match[6]) } } : {}) };
}

function meets(value: number, condition: { op: string; value: number }): boolean {
  switch (condition.op) {
    case '>':
      return value > condition.value;
    case '>=':
      return value >= condition.value;
    case '<':
      return value < condition.value;
    case '<=':
      return value <= condition.value;
    case '==':
      return value === condition.value;
    default:
      return value !== condition.value;
  }
}

export class FakeOciTelemetry {
  private readonly entries: StoredEntry[] = [];
  private readonly alarms = new Map<string, FakeAlarm>();
  private readonly streams: FakeMetricStream[] = [];

  /** Writes entries into a log, as a Data Science job or a DevOps project would. */
  addLogEntries(where: { compartmentId: string; logGroupId: string; logId: string }, entries: FakeLogEntry[]): void {
    for (const entry of entries) {
      const datetime = Date.parse(entry.time);
      this.entries.push({
        ...where,
        datetime,
        logContent: {
          data: { ...entry.data, ...(entry.message !== undefined ? { message: entry.message } : {}) },
          id: randomUUID(),
          oracle: { compartmentid: where.compartmentId, loggroupid: where.logGroupId, logid: where.logId, tenantid: 'ocid1.tenancy.oc1..aaaaaaaafaketenancy', ingestedtime: entry.time },
          source: entry.source ?? '',
          specversion: '1.0',
          subject: entry.subject ?? '',
          time: entry.time,
          type: entry.type ?? 'com.oraclecloud.datascience.jobrun.stdout',
        },
      });
    }
  }

  seedAlarm(alarm: FakeAlarm): void {
    this.alarms.set(alarm.id, alarm);
  }

  seedMetric(stream: FakeMetricStream): void {
    this.streams.push(stream);
  }

  route(method: string, path: string, query: URLSearchParams, body: unknown): TelemetryAnswer | undefined {
    if (method === 'POST' && path === '/20190909/search') return this.search(query, body);
    const alarm = /^\/20180401\/alarms\/([^/]+)$/.exec(path);
    if (method === 'GET' && alarm?.[1]) return this.getAlarm(decodeURIComponent(alarm[1]));
    if (method === 'POST' && path === '/20180401/metrics/actions/summarizeMetricsData') return this.summarize(query, body);
    return undefined;
  }

  private search(query: URLSearchParams, body: unknown): TelemetryAnswer {
    if (!isRecord(body)) return invalid('The request body must be a JSON object');
    const start = time(body.timeStart);
    const end = time(body.timeEnd);
    if (start === undefined || end === undefined) return invalid('timeStart and timeEnd are required RFC 3339 timestamps');
    if (end < start) return invalid('timeEnd must not be before timeStart');
    if (typeof body.searchQuery !== 'string') return invalid('searchQuery is required');
    const [head, ...clauses] = body.searchQuery.split('|').map((part) => part.trim());
    const scope = /^search\s+"([^"]+)"$/.exec(head ?? '')?.[1]?.split('/');
    if (!scope?.[0]) return invalid(`Invalid search query: ${body.searchQuery}`);
    let filter: { field: string; value: string } | undefined;
    let descending = false;
    for (const clause of clauses) {
      const where = /^where\s+([A-Za-z][A-Za-z0-9_.]*)\s*=\s*'([^']*)'$/.exec(clause);
      const sort = /^sort by datetime (asc|desc)$/.exec(clause);
      if (where?.[1]) filter = { field: where[1], value: where[2] ?? '' };
      else if (sort) descending = sort[1] === 'desc';
      else return invalid(`Invalid search query clause: ${clause}`);
    }
    const [compartmentId, logGroupId, logId] = scope;
    const found = this.entries
      .filter((entry) => entry.compartmentId === compartmentId && (!logGroupId || entry.logGroupId === logGroupId) && (!logId || entry.logId === logId))
      .filter((entry) => entry.datetime >= start && entry.datetime <= end)
      .filter((entry) => !filter || field(entry.logContent, filter.field) === filter.value)
      .sort((a, b) => (descending ? b.datetime - a.datetime : a.datetime - b.datetime));
    const limit = Math.min(MAX_SEARCH_LIMIT, Math.max(1, Number(query.get('limit') ?? '100') || 100));
    const page = query.get('page');
    const offset = page ? Number(Buffer.from(page, 'base64url').toString('utf8').replace(/^offset:/, '')) : 0;
    if (!Number.isInteger(offset) || offset < 0) return invalid('Invalid page token');
    const slice = found.slice(offset, offset + limit);
    const headers: Record<string, string> = offset + limit < found.length ? { 'opc-next-page': Buffer.from(`offset:${offset + limit}`).toString('base64url') } : {};
    return [200, { results: slice.map((entry) => ({ data: { datetime: entry.datetime, logContent: entry.logContent } })), summary: { resultCount: slice.length, fieldCount: 0 } }, headers];
  }

  private getAlarm(id: string): TelemetryAnswer {
    const alarm = this.alarms.get(id);
    if (!alarm) return NOT_FOUND;
    const now = new Date().toISOString();
    return [
      200,
      {
        compartmentId: alarm.metricCompartmentId,
        metricCompartmentIdInSubtree: false,
        severity: 'CRITICAL',
        destinations: ['ocid1.onstopic.oc1.iad.faketopic'],
        isEnabled: true,
        lifecycleState: 'ACTIVE',
        pendingDuration: 'PT1M',
        timeCreated: now,
        timeUpdated: now,
        ...alarm,
      },
    ];
  }

  private summarize(query: URLSearchParams, body: unknown): TelemetryAnswer {
    const compartmentId = query.get('compartmentId');
    if (!compartmentId) return invalid('compartmentId is required');
    if (!isRecord(body) || typeof body.namespace !== 'string' || typeof body.query !== 'string') return invalid('namespace and query are required');
    const mql = parseMql(body.query);
    if (!mql) return invalid(`Invalid query: ${body.query}`);
    const end = time(body.endTime) ?? Date.now();
    const start = time(body.startTime) ?? end - 3_600_000;
    const { namespace } = body;
    const resourceGroup = typeof body.resourceGroup === 'string' ? body.resourceGroup : undefined;
    const items = this.streams
      .filter((stream) => stream.compartmentId === compartmentId && stream.namespace === namespace && stream.name === mql.name)
      .filter((stream) => !resourceGroup || stream.resourceGroup === resourceGroup)
      .filter((stream) => Object.entries(mql.filters).every(([key, value]) => stream.dimensions[key] === value))
      .map((stream) => ({
        namespace,
        compartmentId,
        name: stream.name,
        dimensions: stream.dimensions,
        ...(stream.resourceGroup ? { resourceGroup: stream.resourceGroup } : {}),
        resolution: typeof body.resolution === 'string' ? body.resolution : '1m',
        aggregatedDatapoints: stream.points
          .filter((point) => point.at >= start && point.at <= end && (!mql.condition || meets(point.value, mql.condition)))
          .map((point) => ({ timestamp: new Date(point.at).toISOString(), value: point.value })),
      }))
      .filter((item) => item.aggregatedDatapoints.length > 0);
    return [200, items];
  }
}
