import { LogSearchClient } from 'oci-loggingsearch';
import { z } from 'zod';
import type { Env } from '../../config/env.js';
import type { LogPage, LogSearchRequest, OciLogSearch } from '../../context.js';
import { MlopsError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { CLIENT_CONFIGURATION, OciService, type OciServiceOptions } from './oci-service.js';

/** OCIDs, field names: what may go into a query between quotes without escaping. */
const SAFE_ID = /^[A-Za-z0-9._:-]{1,255}$/;
const SAFE_FIELD = /^[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*$/;

/**
 * The Logging query (reference: Logging Query Language Specification): the log stream
 * `"<compartment>/<log group>/<log>"` (or the whole compartment), the run's entries only, newest first.
 */
export function logSearchQuery(request: LogSearchRequest): string {
  const scope = [request.compartmentId, request.logGroupId, request.logId].filter((part): part is string => Boolean(part));
  if (!scope.every((part) => SAFE_ID.test(part)) || (request.logId && !request.logGroupId)) {
    throw new MlopsError('BAD_REQUEST', `log search scope is not a list of OCIDs: ${scope.join('/')}`);
  }
  const where = request.filter;
  if (where && (!SAFE_FIELD.test(where.field) || !SAFE_ID.test(where.value))) throw new MlopsError('BAD_REQUEST', `log search filter is not a field and an id: ${where.field}`);
  return [`search "${scope.join('/')}"`, ...(where ? [`where ${where.field} = '${where.value}'`] : []), 'sort by datetime desc'].join(' | ');
}

/** One search result: `data` is the entry with `datetime` (epoch ms) and the log record in `logContent`. */
const resultSchema = z.object({
  data: z.object({
    datetime: z.union([z.number(), z.string()]).optional(),
    logContent: z
      .object({
        time: z.string().optional(),
        data: z.union([z.object({ message: z.string().optional() }).loose(), z.string()]).optional(),
      })
      .loose()
      .optional(),
  }),
});
const searchAnswer = z.object({
  results: z.array(resultSchema).nullish(),
  nextPage: z.string().nullish(),
});

/** Entries without a message (structured records) are shown as their JSON. */
function messageOf(content: z.output<typeof resultSchema>['data']['logContent']): string {
  const data = content?.data;
  if (typeof data === 'string') return data;
  if (data?.message !== undefined) return data.message;
  return data ? JSON.stringify(data) : '';
}

function timeOf(entry: z.output<typeof resultSchema>['data']): string {
  const raw = entry.datetime ?? entry.logContent?.time;
  const date = new Date(typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : (raw ?? 0));
  return Number.isNaN(date.getTime()) ? new Date(0).toISOString() : date.toISOString();
}

/** OCI Logging Search (`POST /20190909/search`), for the log tail of a failed run. */
export class LogSearchGateway implements OciLogSearch {
  private readonly service: OciService<LogSearchClient>;

  constructor(env: Env, logger: Logger, options: OciServiceOptions = {}) {
    this.service = new OciService(env, logger, { name: 'Logging Search', endpoint: env.OCI_LOGGING_ENDPOINT, create: (httpClient) => new LogSearchClient({ httpClient }, CLIENT_CONFIGURATION) }, options);
  }

  async searchLogs(request: LogSearchRequest, options: { limit: number; page?: string | undefined }): Promise<LogPage> {
    const searchQuery = logSearchQuery(request);
    const answer = await this.service.call('searchLogs', searchAnswer, async (client) => {
      const response = await client.searchLogs({
        searchLogsDetails: { timeStart: new Date(request.timeStart), timeEnd: new Date(request.timeEnd), searchQuery, isReturnFieldInfo: false },
        limit: options.limit,
        ...(options.page ? { page: options.page } : {}),
      });
      return { results: response.searchResponse.results, nextPage: response.opcNextPage };
    });
    return {
      lines: (answer.results ?? []).map((result) => ({ at: timeOf(result.data), message: messageOf(result.data.logContent) })),
      nextPage: answer.nextPage ?? undefined,
    };
  }

  close(): Promise<void> {
    return this.service.close();
  }
}
