import type { AllMiddlewareArgs, App, BlockAction, SlackActionMiddlewareArgs, SlackViewMiddlewareArgs, ViewSubmitAction } from '@slack/bolt';
import { z } from 'zod';
import { setHomeNotice } from '../../jobs/app-home.js';
import { refreshApprovalMessage, requestPromotion } from '../../jobs/promote.js';
import type { Decision } from '../adapters/redis/approval-store.js';
import { refusalText, type Authorizer } from '../authorizer.js';
import type { Context } from '../context.js';
import { approvalTargetLabel, type Approval } from '../domain/approval.js';
import { toMlopsError } from '../errors.js';
import { jobId } from '../queues.js';
import { APPROVAL_ACTIONS } from '../slack/approval-message.js';
import { code, escapeMrkdwn } from '../slack/mrkdwn.js';
import { reasonModal } from '../slack/reason-modal.js';
import { safeJson } from './payloads.js';

const click = z.object({
  user: z.object({ id: z.string().regex(/^[UW][A-Z0-9]+$/) }),
  channel: z.object({ id: z.string() }).optional(),
  container: z.object({ channel_id: z.string().optional(), thread_ts: z.string().regex(/^\d+\.\d+$/).optional().catch(undefined) }).loose().optional(),
  trigger_id: z.string().optional(),
  actions: z.array(z.object({ value: z.string().max(2000).optional() })).min(1),
});
const approvalId = z.string().regex(/^[0-9a-f]{12}$/);
const versionButton = z.object({ model: z.string().max(64), version: z.string().regex(/^\d{1,10}$/), gated: z.boolean().optional() });
const submission = z.object({
  user: z.object({ id: z.string().regex(/^[UW][A-Z0-9]+$/) }),
  view: z.object({
    private_metadata: z.string(),
    state: z.object({ values: z.record(z.string(), z.record(z.string(), z.object({ value: z.string().nullish() }).loose())) }),
  }),
});

/** The clicker, the channel and the approval id of an Approve or Reject click; undefined for a malformed one. */
export function readClick(body: unknown): { channel: string | undefined; user: string; id: string; triggerId: string } | undefined {
  const parsed = click.safeParse(body);
  if (!parsed.success) return undefined;
  const id = approvalId.safeParse(parsed.data.actions[0]?.value);
  if (!id.success) return undefined;
  return { channel: parsed.data.channel?.id ?? parsed.data.container?.channel_id, user: parsed.data.user.id, id: id.data, triggerId: parsed.data.trigger_id ?? '' };
}

const ANSWERS: Record<Exclude<Decision, 'approved' | 'recorded' | 'rejected'>, string> = {
  self: ':no_entry: You asked for this promotion, so someone else has to approve it.',
  already: ':ballot_box_with_check: Your approval is already counted.',
  expired: ':alarm_clock: This request expired; ask again with `/mlops promote`.',
  superseded: ':fast_forward: A newer request for this model and alias replaced this one.',
  closed: ':lock: This request is already decided.',
  missing: ':warning: This request is no longer known to the bot.',
  gated: ':no_entry: A quality gate failed on this request: a gate overrider has to override it, giving a reason, before it can be approved.',
};

/**
 * Approve / Reject on approval requests, the reject-reason modal, and Request promotion on "version
 * registered" messages. Authorization is by Slack ID (approvers role); the decision itself is one atomic
 * step in Redis, so double clicks and racing replicas cannot promote twice.
 */
export function registerApprovalButtons(app: App, context: Context, authorizer: Authorizer): void {
  // A click on the Home tab has no channel to answer in: the answer goes to the top of the clicker's Home.
  const ephemeral = async (channel: string | undefined, user: string, text: string) => {
    if (channel) await context.slack.postEphemeral(channel, user, { text });
    else await setHomeNotice(context, user, text);
  };

  /** Approvers of the request's environment (its own list replaces roles.approvers there), else the role. */
  const mayDecide = (approval: Approval | undefined, user: string) =>
    approval?.environment ? authorizer.checkHolders('approvers', approval.environment.approvers, user) : authorizer.check('approvers', user);
  const action = (verb: string, approval: Approval | undefined) => `${verb} a promotion${approval?.environment ? ` to ${approval.environment.name}` : ''}`;

  const decide = async (approval: string, user: string, action: 'approve' | 'reject', reason = ''): Promise<{ decision: Decision; approval: Approval | undefined }> => {
    const result = await context.approvals.decide(approval, user, action, context.now(), reason);
    const subject = result.approval ? `${result.approval.model} v${result.approval.version} ${approvalTargetLabel(result.approval)}` : approval;
    await context.audit.record({ actor: user, action: `button.${action}`, subject, outcome: result.decision, jobId: approval });
    if ((result.decision === 'approved' || result.decision === 'rejected') && result.approval) {
      context.metrics.approvalLatency.observe({ outcome: result.decision }, Math.max(0, context.now().getTime() - Date.parse(result.approval.requestedAt)) / 1000);
    }
    if (['approved', 'recorded', 'rejected', 'expired', 'superseded'].includes(result.decision)) await refreshApprovalMessage(context, approval);
    if (result.decision === 'approved') await context.queues.promote.add('promote', { approvalId: approval }, { jobId: jobId('promote', approval) });
    return result;
  };

  app.action<BlockAction>(APPROVAL_ACTIONS.approve, async ({ ack, body }: SlackActionMiddlewareArgs<BlockAction> & AllMiddlewareArgs) => {
    await ack();
    const clicked = readClick(body);
    if (!clicked) return;
    const { channel, user, id } = clicked;
    try {
      const request = await context.approvals.get(id);
      const allowed = await mayDecide(request, user);
      if (!allowed.allowed) {
        await context.audit.record({ actor: user, action: 'button.approve', subject: id, outcome: `not an approver${request?.environment ? ` in ${request.environment.name}` : ''}` });
        await ephemeral(channel, user, refusalText(allowed, action('Approving', request)));
        return;
      }
      const { decision, approval } = await decide(id, user, 'approve');
      if (decision === 'approved') await ephemeral(channel, user, `:white_check_mark: Approved: promoting ${code(approval?.model ?? '')} v${approval?.version ?? ''}.`);
      else if (decision === 'recorded') await ephemeral(channel, user, `:ballot_box_with_check: Approval recorded (${approval?.approvers.length ?? 0}/${approval?.required ?? 0}).`);
      else if (decision !== 'rejected') await ephemeral(channel, user, ANSWERS[decision]);
    } catch (error) {
      context.logger.error({ err: error }, 'approve failed');
      await ephemeral(channel, user, `:x: ${escapeMrkdwn(toMlopsError(error).userMessage)}`).catch(() => undefined);
    }
  });

  app.action<BlockAction>(APPROVAL_ACTIONS.reject, async ({ ack, body, client }: SlackActionMiddlewareArgs<BlockAction> & AllMiddlewareArgs) => {
    await ack();
    const clicked = readClick(body);
    if (!clicked) return;
    const { channel, user, id, triggerId } = clicked;
    try {
      const approval = await context.approvals.get(id);
      const allowed = approval?.requestedBy === user ? { allowed: true as const } : await mayDecide(approval, user);
      if (!allowed.allowed) {
        await ephemeral(channel, user, refusalText(allowed, action('Rejecting', approval)));
        return;
      }
      if (!approval || approval.state !== 'pending') {
        await ephemeral(channel, user, ANSWERS[approval ? 'closed' : 'missing']);
        return;
      }
      // The trigger expires 3 s after the click, so the modal opens before anything else.
      await client.views.open({
        trigger_id: triggerId,
        view: reasonModal({
          callbackId: APPROVAL_ACTIONS.rejectModal,
          metadata: { approval: id, channel: channel ?? '' },
          title: 'Reject promotion',
          submit: 'Reject',
          prompt: `Reject ${code(approval.model)} v${approval.version} → ${code(approvalTargetLabel(approval))}?`,
          label: 'Reason',
          required: false,
        }),
      });
    } catch (error) {
      context.logger.error({ err: error }, 'reject failed');
      await ephemeral(channel, user, `:x: ${escapeMrkdwn(toMlopsError(error).userMessage)}`).catch(() => undefined);
    }
  });

  app.view<ViewSubmitAction>(APPROVAL_ACTIONS.rejectModal, async ({ ack, body }: SlackViewMiddlewareArgs<ViewSubmitAction> & AllMiddlewareArgs) => {
    await ack();
    const parsed = submission.safeParse(body);
    if (!parsed.success) return;
    const meta = z.object({ approval: approvalId, channel: z.string() }).safeParse(safeJson(parsed.data.view.private_metadata));
    if (!meta.success) return;
    const user = parsed.data.user.id;
    const channel = meta.data.channel || undefined;
    try {
      const approval = await context.approvals.get(meta.data.approval);
      const allowed = approval?.requestedBy === user ? { allowed: true as const } : await mayDecide(approval, user);
      if (!allowed.allowed) {
        await ephemeral(channel, user, refusalText(allowed, action('Rejecting', approval)));
        return;
      }
      const reason = parsed.data.view.state.values.reason?.reason?.value ?? '';
      const { decision } = await decide(meta.data.approval, user, 'reject', reason);
      if (decision !== 'rejected' && decision !== 'approved' && decision !== 'recorded') await ephemeral(channel, user, ANSWERS[decision]);
    } catch (error) {
      context.logger.error({ err: error }, 'reject submission failed');
    }
  });

  app.action<BlockAction>(APPROVAL_ACTIONS.requestPromotion, async ({ ack, body }: SlackActionMiddlewareArgs<BlockAction> & AllMiddlewareArgs) => {
    await ack();
    const parsed = click.safeParse(body);
    if (!parsed.success) return;
    const channel = parsed.data.channel?.id ?? parsed.data.container?.channel_id;
    const user = parsed.data.user.id;
    const value = versionButton.safeParse(safeJson(parsed.data.actions[0]?.value));
    try {
      if (!value.success || !Object.hasOwn(context.config.file.models, value.data.model)) {
        await ephemeral(channel, user, ':warning: That model is not configured for promotion.');
        return;
      }
      // A version that failed a gate when it was registered is offered to gate overriders only.
      if (value.data.gated) {
        const allowed = await authorizer.check('gateOverriders', user);
        if (!allowed.allowed) {
          await context.audit.record({ actor: user, action: 'button.request_promotion', subject: `${value.data.model} v${value.data.version}`, outcome: 'not a gate overrider' });
          await ephemeral(channel, user, refusalText(allowed, 'Asking to promote a version that failed a quality gate'));
          return;
        }
      }
      // Clicked in a thread (a retrain's "version registered" reply): the request joins that thread.
      const threadTs = parsed.data.container?.thread_ts;
      const thread = channel && threadTs ? { channel, ts: threadTs } : undefined;
      const { approval, channel: posted } = await requestPromotion(context, { model: value.data.model, version: value.data.version, requestedBy: user, thread });
      await context.audit.record({ actor: user, action: 'button.request_promotion', subject: `${approval.model} v${approval.version}`, outcome: 'requested', jobId: approval.id });
      await ephemeral(channel, user, approval.state === 'approved' ? `:rocket: Promoting to ${code(approvalTargetLabel(approval))}: no approval needed there. Follow it in <#${posted}>.` : `:memo: Approval request posted in <#${posted}>${thread ? ', in this thread' : ''}.`);
    } catch (error) {
      await ephemeral(channel, user, `:x: ${escapeMrkdwn(toMlopsError(error).userMessage)}`).catch(() => undefined);
    }
  });
}

