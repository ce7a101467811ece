import { isFailure, isTerminal, type RunState } from '../domain/run-state.js';
import { formatDuration, runDurationMs, type Run, type RunTransition } from '../domain/run.js';
import { mrkdwnText, plainText, type Block, type ButtonElement, type SlackMessage } from './blocks.js';
import { code, escapeMrkdwn, link, mention, plain, slackDate } from './mrkdwn.js';
import { cancelButton, renderStageBlocks, type DeploymentView } from './deployment-stages.js';

export const RUN_ACTIONS = {
  retry: 'run.retry',
  /** One per model (action ids must be unique in a message): `run.retrain.<model>`. */
  retrain: 'run.retrain',
  rollback: 'run.rollback',
  openConsole: 'run.open_console',
} as const;
/** Matches every Retrain button's action id. */
export const RETRAIN_ACTION = /^run\.retrain\./;

const STATE_LABEL: Record<RunState, { emoji: string; label: string }> = {
  QUEUED: { emoji: ':hourglass_flowing_sand:', label: 'queued' },
  ACCEPTED: { emoji: ':inbox_tray:', label: 'accepted' },
  IN_PROGRESS: { emoji: ':arrows_counterclockwise:', label: 'in progress' },
  CANCELING: { emoji: ':double_vertical_bar:', label: 'canceling' },
  NEEDS_ATTENTION: { emoji: ':warning:', label: 'needs attention' },
  SUCCEEDED: { emoji: ':white_check_mark:', label: 'succeeded' },
  FAILED: { emoji: ':x:', label: 'failed' },
  TIMED_OUT: { emoji: ':alarm_clock:', label: 'timed out' },
  CANCELED: { emoji: ':no_entry_sign:', label: 'canceled' },
  DELETED: { emoji: ':wastebasket:', label: 'deleted' },
  FIRING: { emoji: ':rotating_light:', label: 'firing' },
  RESOLVED: { emoji: ':large_green_circle:', label: 'resolved' },
};

const SUBJECT_LABEL: Record<Run['subject'], string> = {
  buildRun: 'Build run',
  deployment: 'Deployment',
  jobRun: 'Training job run',
  pipelineRun: 'Training pipeline run',
  modelDeployment: 'Model deployment',
  model: 'Model',
  alarm: 'Alarm',
};

export function stateLabel(state: RunState): string {
  const { emoji, label } = STATE_LABEL[state];
  return `${emoji} ${label}`;
}

/** Button values carry only the run key (and a Retrain button its model); everything else is re-read from Redis when clicked. */
export function runButtonValue(run: Run, model?: string): string {
  return JSON.stringify(model ? { run: run.key, model } : { run: run.key }).slice(0, 2000);
}

/** Links a run's message shows that live outside the run (other messages' permalinks), resolved when it is rendered. */
export interface RunLinks {
  /** The message of the alarm a retrain came from. */
  alarm?: string | undefined;
}

const TRIGGER_LABEL: Record<string, string> = {
  'alarm-auto': 'started automatically by alarm',
  'alarm-button': 'started from alarm',
  schedule: 'scheduled',
};

/** Why a retrain runs: which model, and the alarm (linked) or schedule that started it. */
function retrainField(run: Run, links: RunLinks): string | undefined {
  const model = run.details.retrainOf;
  if (!model) return undefined;
  const trigger = TRIGGER_LABEL[run.details.trigger ?? ''] ?? 'retrain';
  const alarm = run.details.alarmTitle ? ` ${link(links.alarm, run.details.alarmTitle)}` : '';
  const when = run.details.scheduledFor ? ` for ${slackDate(run.details.scheduledFor)}` : '';
  return `*Retrain of*\n${code(model)}, ${trigger}${alarm}${when}`;
}

function summary(run: Run, now: Date): string {
  const duration = runDurationMs(run, now);
  const took = duration !== undefined && isTerminal(run.state) ? ` in ${formatDuration(duration)}` : '';
  return `${SUBJECT_LABEL[run.subject]} ${run.name} ${STATE_LABEL[run.state].label}${took}`;
}

function fields(run: Run, now: Date, links: RunLinks): string[] {
  const duration = runDurationMs(run, now);
  const out = [`*State*\n${stateLabel(run.state)}`];
  const retrain = retrainField(run, links);
  if (retrain) out.push(retrain);
  if (run.subject === 'alarm') {
    if (run.details.severity) out.push(`*Severity*\n${escapeMrkdwn(run.details.severity)}`);
    if (run.details.metrics) out.push(`*Metrics firing*\n${escapeMrkdwn(run.details.metrics)}`);
  }
  if (duration !== undefined && run.subject !== 'alarm') {
    out.push(`*Duration*\n${formatDuration(duration)}${isTerminal(run.state) ? '' : ' so far'}`);
  }
  if (run.compartmentName || run.compartmentId) {
    out.push(`*Compartment*\n${escapeMrkdwn(run.compartmentName ?? run.compartmentId ?? '')}`);
  }
  if (run.details.pipelineName) out.push(`*Pipeline*\n${escapeMrkdwn(run.details.pipelineName)}`);
  if (run.target) out.push(`*Target*\n${code(run.target)}`);
  if (run.startedBy) out.push(`*Started by*\n${mention(run.startedBy)}`);
  if (run.arguments && Object.keys(run.arguments).length > 0) {
    const args = Object.entries(run.arguments)
      .map(([key, value]) => code(`${key}=${value}`))
      .join(' ');
    out.push(`*Arguments*\n${args.slice(0, 1900)}`);
  }
  // Slack refuses the whole message (invalid_blocks) when a field passes 2000 characters; escaping can
  // multiply a value's length by five.
  return out.slice(0, 10).map((field) => plain(field, 2000));
}

function buttons(run: Run): ButtonElement[] {
  const out: ButtonElement[] = [];
  const consoleUrl = run.details.consoleUrl;
  if (consoleUrl && /^https:\/\//.test(consoleUrl)) {
    out.push({ type: 'button', action_id: RUN_ACTIONS.openConsole, text: plainText('Open in console'), url: consoleUrl.slice(0, 3000) });
  }
  if (run.subject === 'deployment' && run.resourceId.startsWith('ocid1.') && (run.state === 'ACCEPTED' || run.state === 'IN_PROGRESS')) out.push(cancelButton(run));
  if (!isFailure(run.state) && !(run.state === 'CANCELED' && run.details.lifecycleDetails)) return out;
  if (run.subject === 'alarm' && run.state === 'FIRING' && run.details.retrain) {
    for (const model of run.details.retrain.split(',').filter(Boolean)) {
      out.push({ type: 'button', action_id: `${RUN_ACTIONS.retrain}.${model}`, text: plainText(plain(`Retrain ${model}`, 75)), value: runButtonValue(run, model) });
    }
  }
  if (run.kind === 'training' || run.kind === 'build') {
    out.push({
      type: 'button',
      action_id: RUN_ACTIONS.retry,
      text: plainText('Retry'),
      style: 'primary',
      value: runButtonValue(run),
    });
  }
  if (run.kind === 'deploy' || (run.subject === 'alarm' && run.details.model)) {
    out.push({
      type: 'button',
      action_id: RUN_ACTIONS.rollback,
      text: plainText('Roll back'),
      style: 'danger',
      value: runButtonValue(run),
      confirm: {
        title: plainText('Roll back?'),
        text: mrkdwnText(plain(`Roll back ${escapeMrkdwn(run.details.model ?? run.name)} to its previous revision?`, 300)),
        confirm: plainText('Roll back'),
        deny: plainText('Cancel'),
        style: 'danger',
      },
    });
  }
  return out;
}

/**
 * The run's one message, re-rendered in full on every change (chat.update replaces the blocks). A
 * deployment's message also lists its stages, with Approve / Reject on a stage waiting for approval.
 */
export function renderRunMessage(run: Run, now: Date = new Date(), links: RunLinks = {}, view?: DeploymentView): SlackMessage {
  const { emoji } = STATE_LABEL[run.state];
  const blocks: Block[] = [
    { type: 'header', text: plainText(plain(`${SUBJECT_LABEL[run.subject]}: ${run.name}`, 150)) },
    { type: 'section', fields: fields(run, now, links).map(mrkdwnText) },
  ];
  const detail = run.details.lifecycleDetails ?? run.details.summary;
  if (detail) blocks.push({ type: 'section', text: mrkdwnText(`>${escapeMrkdwn(plain(detail, 2800)).replace(/\n/g, '\n>')}`) });
  blocks.push(...renderStageBlocks(run, now, view));
  // OCI refused to say more (permission, or the resource is gone): the message says why it may be stale.
  if (run.details.lookupError) blocks.push({ type: 'context', elements: [mrkdwnText(`:warning: ${escapeMrkdwn(plain(run.details.lookupError, 500))}`)] });
  blocks.push({
    type: 'context',
    elements: [mrkdwnText(`${code(run.resourceId)} · updated ${slackDate(run.stateAt)}`)],
  });
  const actions = buttons(run);
  if (actions.length > 0) blocks.push({ type: 'actions', block_id: `run-actions-${run.version}`, elements: actions });
  return { text: `${emoji} ${escapeMrkdwn(summary(run, now))}`, blocks };
}

/** One thread reply listing the state changes the message has not yet narrated (bursts are batched). */
export function renderTransitions(run: Run, transitions: readonly RunTransition[]): string {
  const lines = transitions.map((transition) => {
    const note = transition.note ? ` ${escapeMrkdwn(plain(transition.note, 300))}` : '';
    return `${stateLabel(transition.state)} · ${slackDate(transition.at)}${note}`;
  });
  return plain(lines.join('\n'), 3900);
}

/**
 * The on-call alert posted in the thread (and broadcast to the channel) when a run fails. It also narrates
 * the failure in the thread, and `earlier` states the thread has not told yet, so the failure costs the
 * channel one post, not an alert and a narration reply.
 */
export function renderFailureAlert(run: Run, oncall: string | undefined, now: Date = new Date(), earlier: readonly RunTransition[] = []): SlackMessage {
  const who = mention(oncall);
  const what = escapeMrkdwn(summary(run, now));
  const detail = run.details.lifecycleDetails ? `\n>${escapeMrkdwn(plain(run.details.lifecycleDetails, 1500))}` : '';
  const text = `${who ? `${who} ` : ''}${STATE_LABEL[run.state].emoji} ${what}${detail}`;
  const blocks: Block[] = [{ type: 'section', text: mrkdwnText(text) }];
  if (earlier.length > 0) blocks.push({ type: 'context', elements: [mrkdwnText(plain(`Before: ${renderTransitions(run, earlier).replaceAll('\n', ' → ')}`, 1900))] });
  const actions = buttons(run);
  if (actions.length > 0) blocks.push({ type: 'actions', block_id: `alert-actions-${run.version}`, elements: actions });
  return { text, blocks };
}

export function consoleLabel(run: Run): string {
  return link(run.details.consoleUrl, 'Open in console');
}
