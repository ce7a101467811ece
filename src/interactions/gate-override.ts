import type { AllMiddlewareArgs, App, BlockAction, SlackActionMiddlewareArgs, SlackViewMiddlewareArgs, ViewSubmitAction } from '@slack/bolt';
import { z } from 'zod';
import { refreshApprovalMessage } from '../../jobs/promote.js';
import type { OverrideDecision } from '../adapters/redis/approval-store.js';
import { refusalText, type Authorizer } from '../authorizer.js';
import type { Context } from '../context.js';
import { approvalTargetLabel, gateBlocked, type Approval } from '../domain/approval.js';
import { explainFailure, failedGates } from '../domain/gates.js';
import { toMlopsError } from '../errors.js';
import { jobId } from '../queues.js';
import { APPROVAL_ACTIONS } from '../slack/approval-message.js';
import { code, escapeMrkdwn } from '../slack/mrkdwn.js';
import { reasonModal } from '../slack/reason-modal.js';
import { readClick } from './approval-buttons.js';
import { safeJson } from './payloads.js';

const submission = z.object({
  user: z.object({ id: z.string().regex(/^[UW][A-Z0-9]+$/) }),
  view: z.object({
    private_metadata: z.string(),
    state: z.object({ values: z.record(z.string(), z.record(z.string(), z.object({ value: z.string().nullish() }).loose())) }),
  }),
});
const metadata = z.object({ approval: z.string().regex(/^[0-9a-f]{12}$/), channel: z.string().max(20) });

const ANSWERS: Record<Exclude<OverrideDecision, 'overridden' | 'approved'>, string> = {
  already: ':ballot_box_with_check: The gate on this request is already overridden.',
  nothing: ':information_source: No gate failed on this request: it needs no override.',
  expired: ':alarm_clock: This request expired; ask again with `/mlops promote`.',
  superseded: ':fast_forward: A newer request for this model and alias replaced this one.',
  closed: ':lock: This request is already decided.',
  missing: ':warning: This request is no longer known to the bot.',
};

/** Slack's answer when the click's trigger_id is past its 3 seconds. */
function slackError(error: unknown): string | undefined {
  const data = (error as { data?: { error?: unknown } } | undefined)?.data;
  return typeof data?.error === 'string' ? data.error : undefined;
}

function subject(approval: Approval): string {
  return `${approval.model} v${approval.version} ${approvalTargetLabel(approval)}`;
}

/**
 * Override gate: a request with a failed quality gate shows no Approve; a member of roles.gateOverriders
 * lifts the block with a reason given in a modal (required), shown on the request and audited. Then
 * approvals proceed as usual. Anyone else gets an ephemeral refusal.
 */
export function registerGateOverride(app: App, context: Context, authorizer: Authorizer): void {
  const ephemeral = async (channel: string | undefined, user: string, text: string) => {
    if (channel) await context.slack.postEphemeral(channel, user, { text });
  };

  app.action<BlockAction>(APPROVAL_ACTIONS.overrideGate, async ({ ack, body, client }: SlackActionMiddlewareArgs<BlockAction> & AllMiddlewareArgs) => {
    await ack();
    const clicked = readClick(body);
    if (!clicked) return;
    const { channel, user, id, triggerId } = clicked;
    try {
      const allowed = await authorizer.check('gateOverriders', user);
      if (!allowed.allowed) {
        await context.audit.record({ actor: user, action: 'button.override_gate', subject: id, outcome: 'not a gate overrider' });
        await ephemeral(channel, user, refusalText(allowed, 'Overriding a quality gate'));
        return;
      }
      const approval = await context.approvals.get(id);
      if (!approval || approval.state !== 'pending') {
        await ephemeral(channel, user, ANSWERS[approval ? 'closed' : 'missing']);
        return;
      }
      if (!gateBlocked(approval)) {
        await ephemeral(channel, user, ANSWERS[approval.gateOverride ? 'already' : 'nothing']);
        return;
      }
      const failed = failedGates(approval.gates).map((gate) => `• ${escapeMrkdwn(explainFailure(gate, approval.version))}`);
      await client.views.open({
        trigger_id: triggerId,
        view: reasonModal({
          callbackId: APPROVAL_ACTIONS.overrideModal,
          metadata: { approval: id, channel: channel ?? '' },
          title: 'Override quality gate',
          submit: 'Override',
          prompt: `Lift the failed gates of ${code(approval.model)} v${escapeMrkdwn(approval.version)} → ${code(approvalTargetLabel(approval))}?\n${failed.join('\n')}`,
          label: 'Reason (shown on the request and in the audit log)',
          required: true,
        }),
      });
    } catch (error) {
      if (slackError(error) === 'expired_trigger_id' || slackError(error) === 'exchanged_trigger_id') {
        await ephemeral(channel, user, ':hourglass: Slack closed the window for opening the form (3 seconds); click *Override gate* again.').catch(() => undefined);
        return;
      }
      context.logger.error({ err: error }, 'override gate failed');
      await ephemeral(channel, user, `:x: ${escapeMrkdwn(toMlopsError(error).userMessage)}`).catch(() => undefined);
    }
  });

  app.view<ViewSubmitAction>(APPROVAL_ACTIONS.overrideModal, async ({ ack, body }: SlackViewMiddlewareArgs<ViewSubmitAction> & AllMiddlewareArgs) => {
    const parsed = submission.safeParse(body);
    const meta = parsed.success ? metadata.safeParse(safeJson(parsed.data.view.private_metadata)) : undefined;
    const reason = parsed.success ? (parsed.data.view.state.values.reason?.reason?.value ?? '').trim() : '';
    if (!parsed.success || !meta?.success) {
      await ack();
      return;
    }
    // Slack enforces a required input in the client; a hand-made submission is refused the same way.
    if (reason.length < 3) {
      await ack({ response_action: 'errors', errors: { reason: 'Say why the gate may be lifted.' } });
      return;
    }
    await ack();
    const user = parsed.data.user.id;
    const channel = meta.data.channel || undefined;
    try {
      const allowed = await authorizer.check('gateOverriders', user);
      if (!allowed.allowed) {
        await context.audit.record({ actor: user, action: 'modal.override_gate', subject: meta.data.approval, outcome: 'not a gate overrider' });
        await ephemeral(channel, user, refusalText(allowed, 'Overriding a quality gate'));
        return;
      }
      const { decision, approval } = await context.approvals.overrideGates(meta.data.approval, user, reason, context.now());
      const failed = failedGates(approval?.gates).map((gate) => explainFailure(gate, approval?.version ?? '')).join('; ');
      await context.audit.record({
        actor: user,
        action: 'modal.override_gate',
        subject: approval ? subject(approval) : meta.data.approval,
        outcome: decision,
        jobId: meta.data.approval,
        detail: `reason: ${reason}${failed ? ` | failed: ${failed}` : ''}`,
      });
      if (decision === 'overridden' || decision === 'approved' || decision === 'expired') await refreshApprovalMessage(context, meta.data.approval);
      if (decision === 'approved') {
        await context.queues.promote.add('promote', { approvalId: meta.data.approval }, { jobId: jobId('promote', meta.data.approval) });
        await ephemeral(channel, user, ':unlock: Gate overridden: no approval is needed here, so the promotion starts now.');
      } else if (decision === 'overridden') await ephemeral(channel, user, ':unlock: Gate overridden: approvers can now approve the request.');
      else await ephemeral(channel, user, ANSWERS[decision]);
    } catch (error) {
      context.logger.error({ err: error }, 'override submission failed');
      await ephemeral(channel, user, `:x: ${escapeMrkdwn(toMlopsError(error).userMessage)}`).catch(() => undefined);
    }
  });
}
