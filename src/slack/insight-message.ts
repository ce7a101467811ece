import type { LogLine } from '../context.js';
import type { Run } from '../domain/run.js';
import { mrkdwnText, plainText, type Block, type SlackMessage } from './blocks.js';
import { code, escapeMrkdwn, link, plain } from './mrkdwn.js';

/** The thread replies that explain a failure: the log tail, the MLflow run, the alarm chart's captions. */

export const INSIGHT_ACTIONS = { moreLog: 'logtail.more' } as const;

/** Lines shown per page, newest last. */
export const LOG_TAIL_LINES = 30;
const MAX_LINE = 240;
/** A section's text stops at 3000 characters; the fence and heading need the rest. */
const MAX_BLOCK_TEXT = 2_700;

/** Lines (oldest first) as a code block that nothing inside can break out of, trimmed from the oldest end to fit. */
export function codeBlock(lines: readonly string[]): { text: string; shown: number } {
  const safe = lines.map((line) => escapeMrkdwn(plain(line.replace(/\t/g, '  ').replace(/[\r\n]+/g, ' '), MAX_LINE)).replace(/```/g, '`\u200b``'));
  const kept: string[] = [];
  let size = 0;
  for (let i = safe.length - 1; i >= 0; i--) {
    const line = safe[i] ?? '';
    if (size + line.length + 1 > MAX_BLOCK_TEXT) break;
    kept.unshift(line);
    size += line.length + 1;
  }
  return { text: `\`\`\`\n${kept.join('\n') || ' '}\n\`\`\``, shown: kept.length };
}

export interface LogTailView {
  /** What the lines are from, e.g. "Training job run fraud-train-42". */
  subject: string;
  /** Newest first, as searched, already redacted. */
  lines: LogLine[];
  logUrl?: string | undefined;
  /** Set when older lines exist: the More button's value. */
  moreKey?: string | undefined;
  /** 0 for the tail, then 1, 2… for older pages. */
  page: number;
}

export function renderLogTail(view: LogTailView): SlackMessage {
  const ordered = [...view.lines].reverse().map((line) => `${line.at.slice(11, 19)} ${line.message}`);
  const block = codeBlock(ordered);
  const heading =
    view.page === 0
      ? `:scroll: Last ${block.shown} log line${block.shown === 1 ? '' : 's'} of ${escapeMrkdwn(view.subject)} (newest last, secrets redacted)`
      : `:scroll: ${block.shown} earlier log line${block.shown === 1 ? '' : 's'} of ${escapeMrkdwn(view.subject)} (page ${view.page + 1}, newest last)`;
  const blocks: Block[] = [{ type: 'section', text: mrkdwnText(`${heading}\n${block.text}`) }];
  const context = [view.logUrl ? link(view.logUrl, 'Open the log in the OCI console') : undefined, 'Times in UTC'].filter((part): part is string => Boolean(part));
  blocks.push({ type: 'context', elements: [mrkdwnText(context.join(' · '))] });
  if (view.moreKey) blocks.push({ type: 'actions', block_id: `logtail-more-${view.page}`, elements: [{ type: 'button', action_id: INSIGHT_ACTIONS.moreLog, text: plainText('More'), value: view.moreKey }] });
  return { text: `${heading.replace(/^:scroll: /, '')}`, blocks };
}

/** When a run has no log to read: said once per run, with how to turn logging on. */
export function renderNoLog(run: Pick<Run, 'subject' | 'name'>): SlackMessage {
  const how =
    run.subject === 'buildRun' || run.subject === 'deployment'
      ? 'No DevOps log lines were found for this run. Turn on logging for the DevOps project (Project → Logs → enable the service log, category `all`, in a log group of the same compartment); later failures then get their last lines here.'
      : 'No log is configured for this run, so there are no lines to show. Enable logging on the job or pipeline (Logging configuration: *Enable logging*, with a log group and *Enable automatic log creation* or a log), or pass `jobLogConfigurationOverrideDetails` when starting it; later failures then get their last lines here.';
  const text = `:information_source: ${escapeMrkdwn(run.name)}: ${how}`;
  return { text, blocks: [{ type: 'section', text: mrkdwnText(text) }] };
}

/** When OCI Logging could not be read (outage, permission): the alert stands, the tail is skipped. */
export function renderLogUnavailable(reason: string): SlackMessage {
  const text = `:warning: The log tail is skipped: OCI Logging did not answer (${escapeMrkdwn(plain(reason, 300))}). The bot needs \`read log-content\` on the log's compartment.`;
  return { text, blocks: [{ type: 'section', text: mrkdwnText(text) }] };
}

export interface MlflowRunView {
  runName: string;
  url: string;
  status: string | undefined;
  /** Latest value per metric, with the step it was logged at. */
  metrics: { key: string; value: number; step: number }[];
}

export function renderMlflowRun(view: MlflowRunView): SlackMessage {
  const lastStep = view.metrics.reduce((max, metric) => Math.max(max, metric.step), -1);
  const stopped = lastStep >= 0 ? `, stopped at step ${lastStep}` : '';
  const values = view.metrics
    .slice(0, 12)
    .map((metric) => code(`${metric.key}=${Number.isInteger(metric.value) ? metric.value : metric.value.toPrecision(4)}`))
    .join(' ');
  const text = `:bar_chart: MLflow run ${link(view.url, view.runName)} (${escapeMrkdwn(view.status ?? 'unknown status')}${stopped})${values ? `\nLast metrics: ${values}` : '\nNo metrics were logged.'}`;
  return { text: plain(text, 2900), blocks: [{ type: 'section', text: mrkdwnText(plain(text, 2900)) }] };
}

/** The caption of an alarm chart and the note when Monitoring does not answer. */
export function chartCaption(alarm: { name: string; query: string; state: 'FIRING' | 'OK' }): string {
  const name = escapeMrkdwn(plain(alarm.name, 200));
  return alarm.state === 'FIRING'
    ? `:chart_with_upwards_trend: ${name}: the last hour of ${code(plain(alarm.query, 300))}, threshold dashed, firing window shaded`
    : `:chart_with_downwards_trend: ${name} recovered: the last hour of ${code(plain(alarm.query, 300))}`;
}

export function renderChartSkipped(reason: string): SlackMessage {
  const text = `:warning: No chart for this alarm: OCI Monitoring did not answer (${escapeMrkdwn(plain(reason, 300))}). The bot needs \`read metrics\` and \`read alarms\` on the metric's compartment.`;
  return { text, blocks: [{ type: 'section', text: mrkdwnText(text) }] };
}
