import { approvalTargetLabel, type Approval } from '../domain/approval.js';
import { formatDuration, runDurationMs, type Run } from '../domain/run.js';
import { isTerminal } from '../domain/run-state.js';
import { APPROVAL_ACTIONS } from './approval-message.js';
import { mrkdwnText, plainText, type Block, type HomeView } from './blocks.js';
import { code, escapeMrkdwn, link, mention, slackDate } from './mrkdwn.js';
import { stateLabel } from './run-message.js';

/** Where a model's version serves: an environment (name + alias), or the model's alias or stage. */
export interface HomeSlot {
  /** Environment name, when the model has environments. */
  environment?: string;
  /** `@alias` or `stage Production`. */
  label: string;
  version: string | undefined;
  /** When the bot saw this version take the slot (ISO), if it knows. */
  since?: string | undefined;
}

export interface HomeModel {
  name: string;
  slots: HomeSlot[];
  /** Why the versions could not be read (MLflow down or not configured). */
  problem?: string;
}

export interface HomeRun {
  run: Run;
  /** A link to the run's Slack message, when it has one. */
  messageUrl?: string | undefined;
}

export interface HomeState {
  user: string;
  roles: string[];
  /** Pending requests this viewer may approve or reject now. */
  actionable: Approval[];
  /** Pending requests this viewer asked for. */
  mine: Approval[];
  models: HomeModel[];
  recent: HomeRun[];
  failures: HomeRun[];
  /** The answer to the viewer's last click on the Home, shown once at the top. */
  notice?: string | undefined;
  now: Date;
}

/** Slack shows at most 100 blocks in a Home tab; sections are capped so the view always fits. */
const MAX_APPROVALS = 10;
const MAX_MODELS = 15;
const MAX_RUN_LINES = 10;

/** Whole lines up to Slack's 3000 characters of section text: a cut line could leave a link or date token half open. */
function within3000(lines: string[]): string {
  let text = '';
  for (const line of lines) {
    const next = text === '' ? line : `${text}\n${line}`;
    if (next.length > 3000) break;
    text = next;
  }
  return text;
}

function runLine({ run, messageUrl }: HomeRun, now: Date): string {
  const duration = runDurationMs(run, now);
  const took = duration === undefined ? '' : ` · ${formatDuration(duration)}${isTerminal(run.state) ? '' : ' so far'}`;
  const name = run.target ? `${code(run.target)} ${escapeMrkdwn(run.name)}` : escapeMrkdwn(run.name);
  const where = messageUrl ? ` · ${link(messageUrl, 'message')}` : '';
  const console = run.details.consoleUrl ? ` · ${link(run.details.consoleUrl, 'OCI console')}` : '';
  return `${stateLabel(run.state)} · ${name}${took} · ${slackDate(run.stateAt)}${where}${console}`;
}

function slotLine(slot: HomeSlot): string {
  const where = slot.environment ? `*${escapeMrkdwn(slot.environment)}* (${code(slot.label)})` : code(slot.label);
  const version = slot.version ? `v${escapeMrkdwn(slot.version)}` : '_nothing yet_';
  return `${where}: ${version}${slot.version && slot.since ? ` since ${slackDate(slot.since)}` : ''}`;
}

function approvalBlocks(approval: Approval, actionable: boolean): Block[] {
  const text = `*${code(approval.model)} v${escapeMrkdwn(approval.version)} → ${code(approvalTargetLabel(approval))}*\nAsked by ${mention(approval.requestedBy)} · ${approval.approvers.length}/${approval.required} approvals · expires ${slackDate(approval.expiresAt)}`;
  const blocks: Block[] = [{ type: 'section', text: mrkdwnText(text) }];
  if (actionable) {
    blocks.push({
      type: 'actions',
      block_id: `home-approval-${approval.id}-${approval.approvers.length}`,
      elements: [
        { type: 'button', action_id: APPROVAL_ACTIONS.approve, text: plainText('Approve'), style: 'primary', value: approval.id },
        { type: 'button', action_id: APPROVAL_ACTIONS.reject, text: plainText('Reject'), style: 'danger', value: approval.id },
      ],
    });
  }
  return blocks;
}

/** The viewer's Home tab: what waits for them, where every model stands, recent runs and failures, their roles. */
export function renderHome(state: HomeState): HomeView {
  const blocks: Block[] = [{ type: 'header', text: plainText('MLOps') }];
  if (state.notice) blocks.push({ type: 'section', text: mrkdwnText(state.notice) });
  const roles = state.roles.length > 0 ? state.roles.map((role) => `*${role}*`).join(', ') : '_none_ (anyone may ask for a promotion and read status)';
  blocks.push({ type: 'context', elements: [mrkdwnText(`${mention(state.user)} · your roles: ${roles}`)] });

  blocks.push({ type: 'divider' }, { type: 'header', text: plainText('Waiting for your approval') });
  if (state.actionable.length === 0) blocks.push({ type: 'section', text: mrkdwnText('_Nothing waits for you._') });
  for (const approval of state.actionable.slice(0, MAX_APPROVALS)) blocks.push(...approvalBlocks(approval, true));
  if (state.actionable.length > MAX_APPROVALS) blocks.push({ type: 'context', elements: [mrkdwnText(`…and ${state.actionable.length - MAX_APPROVALS} more: \`/mlops approvals\``)] });
  if (state.mine.length > 0) {
    const lines = state.mine.slice(0, MAX_RUN_LINES).map((approval) => `• ${code(approval.model)} v${escapeMrkdwn(approval.version)} → ${code(approvalTargetLabel(approval))}: ${approval.approvers.length}/${approval.required} approvals, expires ${slackDate(approval.expiresAt)}`);
    blocks.push({ type: 'section', text: mrkdwnText(within3000(['*Your pending requests*', ...lines])) });
  }

  blocks.push({ type: 'divider' }, { type: 'header', text: plainText('Models') });
  if (state.models.length === 0) blocks.push({ type: 'section', text: mrkdwnText('_No models are configured._') });
  for (const model of state.models.slice(0, MAX_MODELS)) {
    const body = model.problem ? [`_${escapeMrkdwn(model.problem)}_`] : model.slots.map(slotLine);
    blocks.push({ type: 'section', text: mrkdwnText(within3000([`*${code(model.name)}*`, ...body])) });
  }

  blocks.push({ type: 'divider' }, { type: 'header', text: plainText('Recent runs') });
  blocks.push({ type: 'section', text: mrkdwnText(state.recent.length > 0 ? within3000(state.recent.slice(0, MAX_RUN_LINES).map((run) => runLine(run, state.now))) : '_No runs yet._') });
  blocks.push({ type: 'header', text: plainText('Failures in the last 24 hours') });
  blocks.push({ type: 'section', text: mrkdwnText(state.failures.length > 0 ? within3000(state.failures.slice(0, MAX_RUN_LINES).map((run) => runLine(run, state.now))) : ':white_check_mark: _None._') });
  blocks.push({ type: 'context', elements: [mrkdwnText(`Updated ${slackDate(state.now.toISOString())} · \`/mlops help\` for every command`)] });
  return { type: 'home', blocks };
}
