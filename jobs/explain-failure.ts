import { UnrecoverableError, type Job } from 'bullmq';
import { z } from 'zod';
import { keys } from '../src/adapters/redis/keys.js';
import type { RunMessage } from '../src/adapters/redis/run-store.js';
import { logLink } from '../src/adapters/oci/console-links.js';
import { postOnce } from '../src/adapters/slack-api/post-once.js';
import type { Context, LogPage, LogSearchRequest } from '../src/context.js';
import { devopsLogFilter, logWindow, matchesStream, splitAlarmQuery } from '../src/domain/failure-insight.js';
import { createRedactor, type Redactor } from '../src/domain/redact.js';
import { isFailure } from '../src/domain/run-state.js';
import { RUN_KEY_MLFLOW_TAG, STARTED_RUN_KEY, type Run } from '../src/domain/run.js';
import { isMlopsError } from '../src/errors.js';
import type { Logger } from '../src/log.js';
import { comeBackLater, jobId, type ExplainJob } from '../src/queues.js';
import type { SlackMessage } from '../src/slack/blocks.js';
import { chartCaption, LOG_TAIL_LINES, renderChartSkipped, renderLogTail, renderLogUnavailable, renderMlflowRun, renderNoLog } from '../src/slack/insight-message.js';
import { renderMetricChart } from '../src/slack/metric-chart.js';

/** The chart's window: the last hour, as the alarm's reader thinks of it. */
const CHART_WINDOW_MS = 3600_000;
/** How long an explanation waits in-process for a quiet moment in its channel before its job comes back later. */
const EXPLAIN_POST_WAIT_MS = 10_000;
/** Log pages are offered for a week after the failure. */
const LOG_PAGE_SECONDS = 7 * 24 * 3600;

const logPageSchema = z.object({
  runKey: z.string(),
  subject: z.string(),
  request: z.object({
    compartmentId: z.string(),
    logGroupId: z.string().optional(),
    logId: z.string().optional(),
    filter: z.object({ field: z.string(), value: z.string() }).optional(),
    timeStart: z.string(),
    timeEnd: z.string(),
  }),
  page: z.number().int().min(1),
  token: z.string(),
  logUrl: z.string().optional(),
  threadTs: z.string(),
});
type LogPageRecord = z.output<typeof logPageSchema>;

/**
 * Once a run's on-call alert is posted (or an alarm that fired recovers), queues the work that explains
 * it in the thread, so the status message never waits for OCI Logging, Monitoring, MLflow or the chart.
 * The job id is deterministic per run and state: every sync of the run may call this, one job runs.
 */
export async function explainLater(context: Context, run: Run, message: RunMessage): Promise<void> {
  if (!message.alerted) return;
  if (isFailure(run.state)) {
    await context.queues.explain.add('failure', { kind: 'failure', runKey: run.key, state: run.state }, { jobId: jobId('explain', run.key, run.state) });
  } else if (run.subject === 'alarm' && run.state === 'RESOLVED') {
    await context.queues.explain.add('recovery', { kind: 'recovery', runKey: run.key }, { jobId: jobId('explain', run.key, run.state) });
  }
}

export function createExplainProcessor(context: Context) {
  const redactor = createRedactor(context.config.file.alerts.redact);
  return async (job: Job<ExplainJob>, token?: string): Promise<void> => {
    const logger = context.logger.child({ job: job.id, queue: job.queueName, kind: job.data.kind });
    try {
      if (job.data.kind === 'more-log') {
        await moreLog(context, redactor, job.data);
        return;
      }
      const run = await context.runs.get(job.data.runKey);
      const message = await context.runs.getMessage(job.data.runKey);
      if (!run || !message) return;
      const thread = { channel: message.channel, threadTs: run.details.threadTs ?? message.ts };
      const { alerts } = context.config.file;
      if (job.data.kind === 'recovery') {
        if (alerts.charts) await alarmChart(context, run, thread, 'OK', logger);
        return;
      }
      if (run.subject === 'alarm') {
        if (alerts.charts) await alarmChart(context, run, thread, 'FIRING', logger);
        return;
      }
      if (alerts.logTail) await logTail(context, redactor, run, thread, logger);
      if (run.kind === 'training') await mlflowRun(context, run, thread, logger);
    } catch (error) {
      // A busy channel is not a failure: the job comes back when its slot should be free.
      if (isMlopsError(error) && error.code === 'RATE_LIMITED' && token) await comeBackLater(job, token, error.retryAfterMs ?? 1_000, context.metrics);
      if (isMlopsError(error) && !error.retryable) throw new UnrecoverableError(`${error.code}: ${error.message}`);
      throw error;
    }
  };
}

interface Thread {
  channel: string;
  threadTs: string;
}

/**
 * Explanations yield to the channel's run messages and alerts (postYielding): on-call sees the alert of
 * the next failure first, the log tail of this one a moment later.
 */
function post(context: Context, thread: Thread, key: string, message: SlackMessage): Promise<unknown> {
  return postOnce(context, { key, channel: thread.channel, threadTs: thread.threadTs }, (metadata) =>
    context.slack.postYielding({ channel: thread.channel, threadTs: thread.threadTs, ...message, metadata: metadata() }, EXPLAIN_POST_WAIT_MS),
  );
}

/** OCI reads that fail are reported in the thread at once: a retry minutes later no longer helps on-call. */
function reason(error: unknown): string {
  return isMlopsError(error) ? error.userMessage : error instanceof Error ? error.message : String(error);
}

/** The log this run writes to, or undefined when it has none. */
async function logRequest(context: Context, run: Run): Promise<{ request: LogSearchRequest; logUrl?: string | undefined } | undefined> {
  if (run.subject === 'jobRun' || run.subject === 'pipelineRun') {
    const info = run.subject === 'jobRun' ? await context.oci.getJobRun(run.resourceId) : await context.oci.getPipelineRun(run.resourceId);
    if (!info.log) return undefined;
    // OCI's own start and end: a run folded from its final event alone does not know when it started.
    const window = logWindow({ ...run, startedAt: info.timeStarted ?? run.startedAt, finishedAt: info.timeFinished ?? run.finishedAt }, context.now());
    const compartmentId = info.compartmentId ?? run.compartmentId;
    if (!compartmentId) return undefined;
    return {
      // Job run entries name the run in `source`; a pipeline's log holds only its own runs' steps.
      request: { compartmentId, ...info.log, ...(run.subject === 'jobRun' ? { filter: { field: 'source', value: run.resourceId } } : {}), ...window },
      logUrl: logLink(info.log, context.config.env.OCI_REGION),
    };
  }
  const filter = devopsLogFilter(run);
  if (!filter || !run.compartmentId) return undefined;
  const window = logWindow(run, context.now());
  // A DevOps project's log lives in a log group of its own: search the compartment for the run's records.
  return { request: { compartmentId: run.compartmentId, filter, ...window }, logUrl: run.details.consoleUrl };
}

function redactPage(redactor: Redactor, page: LogPage): LogPage {
  // Oldest first through the redactor, so a private key spread over lines is removed from BEGIN to END.
  const oldestFirst = [...page.lines].reverse();
  const messages = redactor.lines(oldestFirst.map((line) => line.message));
  return { ...page, lines: oldestFirst.map((line, i) => ({ at: line.at, message: messages[i] ?? '' })).reverse() };
}

async function storePage(context: Context, record: LogPageRecord): Promise<string> {
  const pageId = jobId('log-page', record.runKey, String(record.page), record.token);
  await context.redis.set(keys.logPage(pageId), JSON.stringify(record), 'EX', LOG_PAGE_SECONDS);
  return pageId;
}

async function logTail(context: Context, redactor: Redactor, run: Run, thread: Thread, logger: Logger): Promise<void> {
  const key = `explain:${run.key}:log`;
  let target: Awaited<ReturnType<typeof logRequest>>;
  let page: LogPage;
  try {
    target = await logRequest(context, run);
    if (!target) {
      await post(context, thread, key, renderNoLog(run));
      return;
    }
    page = await context.logSearch.searchLogs(target.request, { limit: LOG_TAIL_LINES });
  } catch (error) {
    if (isMlopsError(error) && error.code === 'RATE_LIMITED') throw error;
    logger.warn({ err: error, runKey: run.key }, 'log tail unavailable');
    await post(context, thread, key, renderLogUnavailable(reason(error)));
    return;
  }
  if (page.lines.length === 0) {
    await post(context, thread, key, run.subject === 'buildRun' || run.subject === 'deployment' ? renderNoLog(run) : renderLogUnavailable('the log has no lines for this run yet'));
    return;
  }
  const moreKey = page.nextPage
    ? await storePage(context, { runKey: run.key, subject: `${run.name}`, request: target.request, page: 1, token: page.nextPage, ...(target.logUrl ? { logUrl: target.logUrl } : {}), threadTs: thread.threadTs })
    : undefined;
  await post(context, thread, key, renderLogTail({ subject: run.name, lines: redactPage(redactor, page).lines, logUrl: target.logUrl, moreKey, page: 0 }));
  logger.info({ runKey: run.key, lines: page.lines.length }, 'log tail posted');
}

/** A More click: the next older page, shown only to the person who clicked. */
async function moreLog(context: Context, redactor: Redactor, data: Extract<ExplainJob, { kind: 'more-log' }>): Promise<void> {
  const raw = await context.redis.get(keys.logPage(data.pageId));
  const parsed = raw ? logPageSchema.safeParse(JSON.parse(raw)) : undefined;
  if (!parsed?.success) {
    await context.slack.postEphemeral(data.channel, data.user, { text: ':hourglass: Those log lines are no longer offered (they are kept for a week); open the log in the OCI console.' });
    return;
  }
  const record = parsed.data;
  let page: LogPage;
  try {
    page = await context.logSearch.searchLogs(record.request, { limit: LOG_TAIL_LINES, page: record.token });
  } catch (error) {
    if (isMlopsError(error) && error.code === 'RATE_LIMITED') throw error;
    await context.slack.postEphemeral(data.channel, data.user, { ...renderLogUnavailable(reason(error)), threadTs: record.threadTs });
    return;
  }
  const moreKey = page.nextPage ? await storePage(context, { ...record, page: record.page + 1, token: page.nextPage }) : undefined;
  const view = renderLogTail({ subject: record.subject, lines: redactPage(redactor, page).lines, logUrl: record.logUrl, moreKey, page: record.page });
  await context.slack.postEphemeral(data.channel, data.user, { ...view, threadTs: record.threadTs });
}

async function mlflowRun(context: Context, run: Run, thread: Thread, logger: Logger): Promise<void> {
  // Only runs the bot started carry MLOPS_RUN_KEY, and so the tag.
  if (!context.mlflow || !STARTED_RUN_KEY.test(run.key)) return;
  try {
    const found = await context.mlflow.findRunByTag(RUN_KEY_MLFLOW_TAG, run.key);
    if (!found) return;
    await post(context, thread, `explain:${run.key}:mlflow`, renderMlflowRun({ runName: found.runName ?? found.runId, url: context.mlflow.runUrl(found.experimentId, found.runId), status: found.status, metrics: found.metrics }));
  } catch (error) {
    if (isMlopsError(error) && error.code === 'RATE_LIMITED') throw error;
    logger.warn({ err: error, runKey: run.key }, 'mlflow run not found for a failure');
  }
}

/** When the episode started firing and, once recovered, when it returned to OK. */
function firingWindow(run: Run): { from: number; to?: number } {
  const fired = run.history.find((transition) => transition.state === 'FIRING')?.at ?? run.startedAt ?? run.stateAt;
  const resolved = run.state === 'RESOLVED' ? run.history.findLast((transition) => transition.state === 'RESOLVED')?.at ?? run.stateAt : undefined;
  return { from: Date.parse(fired), ...(resolved ? { to: Date.parse(resolved) } : {}) };
}

async function alarmChart(context: Context, run: Run, thread: Thread, state: 'FIRING' | 'OK', logger: Logger): Promise<void> {
  const shareKey = `explain:${run.key}:chart:${state}`;
  if (await context.redis.exists(keys.fileShared(shareKey))) return;
  const now = context.now().getTime();
  let png: Buffer;
  let query: string;
  try {
    const alarm = await context.monitoring.getAlarm(run.resourceId);
    const rule = splitAlarmQuery(alarm.query);
    query = rule.metricQuery;
    const streams = await context.monitoring.summarizeMetricsData({
      compartmentId: alarm.metricCompartmentId,
      compartmentIdInSubtree: alarm.metricCompartmentIdInSubtree,
      namespace: alarm.namespace,
      query: rule.metricQuery,
      resolution: alarm.resolution,
      resourceGroup: alarm.resourceGroup,
      startTime: new Date(now - CHART_WINDOW_MS).toISOString(),
      endTime: new Date(now).toISOString(),
    });
    const firing = (run.details.resourceIds ?? '').split(',').filter(Boolean).map((resourceId) => ({ dimensions: { resourceId } }));
    const shown = streams.filter((stream) => matchesStream(stream.dimensions, firing));
    png = await renderMetricChart({
      title: `${run.name} (${state === 'FIRING' ? 'FIRING' : 'OK'})`,
      subtitle: rule.metricQuery,
      series: (shown.length > 0 ? shown : streams).map((stream) => ({ label: stream.dimensions.resourceDisplayName ?? stream.dimensions.resourceId ?? stream.name, points: stream.points })),
      from: now - CHART_WINDOW_MS,
      to: now,
      ...(rule.threshold ? { threshold: rule.threshold } : {}),
      firing: firingWindow(run),
      state,
    });
  } catch (error) {
    if (isMlopsError(error) && error.code === 'RATE_LIMITED') throw error;
    logger.warn({ err: error, runKey: run.key }, 'alarm chart skipped');
    await post(context, thread, `${shareKey}:skipped`, renderChartSkipped(reason(error)));
    return;
  }
  await context.slack.uploadToThread(thread.channel, thread.threadTs, {
    filename: `${state === 'FIRING' ? 'alarm-firing' : 'alarm-recovered'}.png`,
    title: `${run.name} ${state === 'FIRING' ? 'firing' : 'recovered'}`,
    altText: `Line chart of ${query} over the last hour${state === 'FIRING' ? ', above its threshold' : ', back under its threshold'}`,
    bytes: png,
    initialComment: chartCaption({ name: run.name, query, state }),
  }, EXPLAIN_POST_WAIT_MS);
  await context.redis.set(keys.fileShared(shareKey), '1', 'EX', 7 * 24 * 3600);
  logger.info({ runKey: run.key, state, bytes: png.length }, 'alarm chart shared');
}
