import { approvalTargetLabel, AUTOMATIC_REQUESTER, gateBlocked, type Approval } from '../domain/approval.js';
import { describeGate, formatNumber, verdict, type GateResult } from '../domain/gates.js';
import { formatDuration } from '../domain/run.js';
import { mrkdwnText, plainText, type Block, type SlackMessage } from './blocks.js';
import { code, escapeMrkdwn, link, mention, plain, slackDate } from './mrkdwn.js';

export const APPROVAL_ACTIONS = {
  approve: 'approval.approve',
  reject: 'approval.reject',
  rejectModal: 'approval.reject_modal',
  requestPromotion: 'model.request_promotion',
  overrideGate: 'approval.override_gate',
  overrideModal: 'approval.override_modal',
} as const;

export interface ApprovalLinks {
  candidateUrl?: string;
  candidateRunUrl?: string;
  currentRunUrl?: string;
  deploymentUrl?: string;
}

const STATE_LINE: Record<Approval['state'], string> = {
  pending: ':hourglass_flowing_sand: Waiting for approval',
  approved: ':gear: Approved, promoting…',
  promoted: ':white_check_mark: Promoted',
  rejected: ':no_entry: Rejected',
  expired: ':alarm_clock: Expired before enough approvals',
  superseded: ':fast_forward: Superseded by a newer request',
  failed: ':x: Approved, but the promotion failed',
};

const VERDICT_MARK = { better: ' better', worse: ' worse', same: '' } as const;

/** Candidate against the current holder, metric by metric, the difference marked better or worse by the metric's direction. */
export function metricsTable(approval: Approval): string {
  const keys = [...new Set([...Object.keys(approval.candidate.metrics), ...Object.keys(approval.current.metrics)])].sort().slice(0, 20);
  const omitted = approval.metricsOmitted ?? 0;
  const more = omitted > 0 ? `\n_${omitted} more metric${omitted === 1 ? '' : 's'} not shown._` : '';
  if (keys.length === 0) return omitted > 0 ? more.trim() : '_No run metrics recorded for either version._';
  const currentLabel = approval.current.version ? `v${approval.current.version}` : 'current';
  const rows = keys.map((key) => {
    const candidate = approval.candidate.metrics[key];
    const current = approval.current.metrics[key];
    let delta = '';
    if (candidate !== undefined && current !== undefined && Number.isFinite(candidate) && Number.isFinite(current)) {
      const diff = candidate - current;
      const mark = verdict(approval.directions?.[key], candidate, current);
      delta = diff === 0 ? ' (=)' : ` (${diff > 0 ? '▲ +' : '▼ '}${formatNumber(diff)}${mark ? VERDICT_MARK[mark] : ''})`;
    }
    return `${key.padEnd(18).slice(0, 18)} ${formatNumber(candidate).padStart(10)} ${formatNumber(current).padStart(10)}${delta}`;
  });
  const header = `${'metric'.padEnd(18)} ${`v${approval.version}`.padStart(10)} ${currentLabel.padStart(10)}`;
  return `\`\`\`${escapeMrkdwn([header, ...rows].join('\n'))}\`\`\`${more}`;
}

/** One line per gate: the metric and threshold, the candidate's value, pass or fail, and why. */
export function gateLines(gates: readonly GateResult[], version: string): string {
  const lines = gates.map((gate) => {
    const scope = gate.scope === 'model' ? '' : ` _(${escapeMrkdwn(gate.scope)})_`;
    return `${gate.passed ? ':white_check_mark: pass' : ':x: *fail*'} ${code(describeGate(gate))}${scope}: v${escapeMrkdwn(version)} has ${code(formatNumber(gate.candidate))}, ${escapeMrkdwn(gate.note)}`;
  });
  // A section's text holds 3000 characters.
  return plain(`*Quality gates*\n${lines.join('\n')}`, 2900);
}

/** The promotion path with the step being approved: `dev → *qa* → prod`. */
export function pathLine(approval: Approval): string | undefined {
  const step = approval.environment;
  if (!step) return undefined;
  return `*Path* ${step.path.map((name) => (name === step.name ? `*▶ ${escapeMrkdwn(name)}*` : escapeMrkdwn(name))).join(' → ')}`;
}

/**
 * The lines under the fields: the path, the soak met, who may approve in this environment. Kept as one list
 * so further checks (quality gates) add their lines here.
 */
export function requestLines(approval: Approval): string[] {
  const step = approval.environment;
  if (!step) return [];
  const lines = [pathLine(approval) ?? ''];
  if (step.soak) lines.push(`*Soak* :white_check_mark: served ${escapeMrkdwn(step.soak.previous)} for ${formatDuration(step.soak.servedMs)} (needs ${formatDuration(step.soak.soakMs)})`);
  if (approval.required > 0) lines.push(`*Approvers in ${escapeMrkdwn(step.name)}* ${step.approvers.map(mention).filter(Boolean).join(', ') || '_nobody_'}`);
  return lines;
}

function approvalsField(approval: Approval): string {
  if (approval.required === 0) return `*Approvals*
Not needed${approval.environment ? ` in ${escapeMrkdwn(approval.environment.name)}` : ''}`;
  return `*Approvals*
${approval.approvers.length}/${approval.required}${approval.approvers.length > 0 ? ` (${approval.approvers.map(mention).join(', ')})` : ''}`;
}

/** A Slack user or group, or the bot itself acting on MLflow's webhook. */
function who(principal: string | undefined): string {
  return principal === AUTOMATIC_REQUESTER ? '_the bot, on MLflow\'s webhook_' : mention(principal);
}

/** The approval request, re-rendered whole after each decision; live buttons only while pending. */
export function renderApprovalMessage(approval: Approval, links: ApprovalLinks = {}): SlackMessage {
  const title = `Promote ${approval.model} v${approval.version} → ${approvalTargetLabel(approval)}`;
  const holder = approval.current.version ? `v${approval.current.version}` : 'nobody yet';
  const fields = [
    `*Requested by*\n${who(approval.requestedBy)}`,
    `*Candidate*\n${link(links.candidateUrl, `${approval.model} v${approval.version}`)}`,
    `*Current holder*\n${escapeMrkdwn(holder)}`,
    `*Source run*\n${approval.candidate.runId ? link(links.candidateRunUrl, approval.candidate.runId) : '—'}`,
    approvalsField(approval),
    `*Expires*\n${slackDate(approval.expiresAt)}`,
  ];
  const blocks: Block[] = [
    { type: 'header', text: plainText(plain(title, 150)) },
    { type: 'section', fields: fields.map(mrkdwnText) },
  ];
  const lines = requestLines(approval);
  if (lines.length > 0) blocks.push({ type: 'section', text: mrkdwnText(lines.join('\n')) });
  blocks.push({ type: 'section', text: mrkdwnText(metricsTable(approval)) });
  // The gates get their own section: a section's text holds 3000 characters.
  if (approval.gates && approval.gates.length > 0) blocks.push({ type: 'section', text: mrkdwnText(gateLines(approval.gates, approval.version)) });
  const blocked = gateBlocked(approval);
  let status = approval.state === 'pending' && blocked ? ':no_entry: Blocked by a failed quality gate: only a gate overrider can lift it, giving a reason' : STATE_LINE[approval.state];
  if (approval.gateOverride) status += `\n:unlock: Gate overridden by ${mention(approval.gateOverride.by)}: _${escapeMrkdwn(plain(approval.gateOverride.reason, 500))}_`;
  if (approval.decidedBy && approval.state !== 'pending') status += ` by ${who(approval.decidedBy)}`;
  if (approval.reason) status += `: _${escapeMrkdwn(plain(approval.reason, 500))}_`;
  if (approval.outcome) status += `\n${escapeMrkdwn(approval.outcome)}`;
  if (links.deploymentUrl) status += `\n${link(links.deploymentUrl, 'Deployment in the OCI console')}`;
  blocks.push({ type: 'context', elements: [mrkdwnText(status)] });
  if (approval.state === 'pending') {
    blocks.push({
      type: 'actions',
      block_id: `approval-${approval.id}-${approval.approvers.length}${blocked ? '-gated' : ''}`,
      elements: [
        // A failed gate leaves no way to approve: only the override, for gate overriders.
        blocked
          ? { type: 'button', action_id: APPROVAL_ACTIONS.overrideGate, text: plainText('Override gate'), value: approval.id }
          : { type: 'button', action_id: APPROVAL_ACTIONS.approve, text: plainText('Approve'), style: 'primary', value: approval.id },
        { type: 'button', action_id: APPROVAL_ACTIONS.reject, text: plainText('Reject'), style: 'danger', value: approval.id },
      ],
    });
  }
  return { text: `${approval.state === 'pending' && blocked ? ':no_entry: Blocked by a failed quality gate' : STATE_LINE[approval.state]}: ${escapeMrkdwn(title)}`, blocks };
}

/** What a "version registered" message shows besides the version: its run's metrics, how it measured up against its gates, further lines (lineage). */
export interface VersionRegisteredExtras {
  metrics?: Record<string, number>;
  gates?: GateResult[];
  lines?: string[];
}

/** The metrics of a version's run on one line, sorted by name. */
export function metricsLine(metrics: Record<string, number>): string | undefined {
  const keys = Object.keys(metrics).sort().slice(0, 20);
  return keys.length === 0 ? undefined : keys.map((key) => `${code(key)} ${escapeMrkdwn(formatNumber(metrics[key]))}`).join(' · ');
}

/**
 * Posted when MLflow registers a new version of a model: one click asks for its promotion. With a failed
 * gate the message says which, and the button is for gate overriders only (others get a refusal).
 */
export function renderVersionRegistered(model: string, version: string, url: string | undefined, target: string, extras: VersionRegisteredExtras = {}): SlackMessage {
  const text = `:package: Version ${code(version)} of ${code(model)} registered in MLflow. ${link(url, 'Open in MLflow')}`;
  const gates = extras.gates ?? [];
  const failed = gates.filter((gate) => !gate.passed);
  const metrics = extras.metrics ? metricsLine(extras.metrics) : undefined;
  const lines = [...(metrics ? [`*Metrics* ${metrics}`] : []), ...(extras.lines ?? [])];
  const blocks: Block[] = [{ type: 'section', text: mrkdwnText(text) }, ...lines.map((line): Block => ({ type: 'section', text: mrkdwnText(plain(line, 2900)) }))];
  if (gates.length > 0) {
    blocks.push({ type: 'section', text: mrkdwnText(gateLines(gates, version)) });
    if (failed.length > 0) {
      blocks.push({ type: 'context', elements: [mrkdwnText(`:no_entry: ${failed.length === 1 ? 'A gate' : `${failed.length} gates`} failed for ${escapeMrkdwn(target)}: only a gate overrider can ask for this promotion.`)] });
    }
  }
  blocks.push({
    type: 'actions',
    elements: [
      {
        type: 'button',
        action_id: APPROVAL_ACTIONS.requestPromotion,
        text: plainText(plain(`Request promotion to ${target}${failed.length > 0 ? ' (gate overriders)' : ''}`, 75)),
        value: JSON.stringify({ model, version, ...(failed.length > 0 ? { gated: true } : {}) }).slice(0, 2000),
      },
    ],
  });
  return { text: failed.length > 0 ? `${text} A quality gate failed.` : text, blocks };
}
