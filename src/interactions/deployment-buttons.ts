import type { AllMiddlewareArgs, App, BlockAction, SlackActionMiddlewareArgs, SlackViewMiddlewareArgs, ViewSubmitAction } from '@slack/bolt';
import { z } from 'zod';
import { enqueueDeploymentAction } from '../../jobs/deployment-action.js';
import { ensureDeploymentPolling, pollSoon } from '../../jobs/deployment-poll.js';
import { showRun } from '../../jobs/fold-run.js';
import { refusalText, type Authorizer } from '../authorizer.js';
import type { Context } from '../context.js';
import { approvalOutcome, castVote, type VoteDecision } from '../domain/deploy-stages.js';
import { deploymentPolicy, type DeploymentPolicy } from '../domain/deployment-policy.js';
import { isTerminal } from '../domain/run-state.js';
import { withStageVote, type Run } from '../domain/run.js';
import { toMlopsError } from '../errors.js';
import { DEPLOY_ACTIONS } from '../slack/deployment-stages.js';
import { code, escapeMrkdwn, plain } from '../slack/mrkdwn.js';
import { readSubmission, safeJson } from './payloads.js';

const userId = z.string().regex(/^[UW][A-Z0-9]+$/);
const click = z.object({
  user: z.object({ id: userId }),
  channel: z.object({ id: z.string() }).optional(),
  container: z.object({ channel_id: z.string().optional() }).loose().optional(),
  trigger_id: z.string().optional(),
  actions: z.array(z.object({ value: z.string().max(2000).optional() })).min(1),
});
const stageValue = z.object({ run: z.string().min(1).max(600), stage: z.string().min(1).max(255) });
const runValue = z.object({ run: z.string().min(1).max(600) });
const modalMeta = z.object({ run: z.string().min(1).max(600), stage: z.string().min(1).max(255), channel: z.string().max(20) });

type ActionArgs = SlackActionMiddlewareArgs<BlockAction> & AllMiddlewareArgs;
type ViewArgs = SlackViewMiddlewareArgs<ViewSubmitAction> & AllMiddlewareArgs;

const ANSWERS: Record<Exclude<VoteDecision, 'approve' | 'recorded' | 'reject'>, string> = {
  self: ':no_entry: You asked for this deployment, so someone else has to approve its stages.',
  already: ':ballot_box_with_check: Your approval is already counted.',
  'not waiting': ':information_source: This stage no longer waits for approval; the message now shows it as OCI has it.',
  closed: ':lock: This stage is already decided; the bot is telling OCI.',
};

export function policyOf(context: Context, run: Run): DeploymentPolicy {
  return deploymentPolicy(context.config.file, { model: run.details.model, environment: run.details.environment, pipelineId: run.details.pipelineId, arguments: run.arguments });
}

/** The people a deployment's stages may not be approved by: who asked for it (a promotion's requester). */
function requesterOf(run: Run): string | undefined {
  return run.details.requestedBy ?? run.startedBy;
}

/**
 * Approve / Reject on a deployment's approval stage, Cancel on a running deployment, and their modals
 * (the reject reason; the typed confirmation of `confirm: typed` environments). Authorization is on Slack
 * IDs against the deployment's environment's approvers (deployers for Cancel); each vote is one
 * compare-and-set on the run, so double clicks and racing replicas count once, and the OCI call is a job
 * with a deterministic id and opc-retry-token.
 */
export function registerDeploymentButtons(app: App, context: Context, authorizer: Authorizer): void {
  const ephemeral = async (channel: string | undefined, user: string, text: string) => {
    if (channel) await context.slack.postEphemeral(channel, user, { text }).catch((error: unknown) => context.logger.warn({ err: error }, 'deployment answer not delivered'));
  };

  /** The stage no longer waits, or OCI may know better: read the deployment again now. */
  const refresh = async (run: Run) => {
    await ensureDeploymentPolling(context, run.resourceId, run.key);
    await pollSoon(context, run.resourceId);
  };

  const loadClick = async (body: unknown) => {
    const parsed = click.safeParse(body);
    if (!parsed.success) return undefined;
    const channel = parsed.data.channel?.id ?? parsed.data.container?.channel_id;
    const value = stageValue.safeParse(safeJson(parsed.data.actions[0]?.value));
    const run = value.success ? await context.runs.get(value.data.run) : undefined;
    return { user: parsed.data.user.id, channel, triggerId: parsed.data.trigger_id ?? '', stageId: value.success ? value.data.stage : '', run };
  };

  /** Approver of the deployment's environment? Answers the refusal itself. */
  const mayDecide = async (run: Run, user: string, channel: string | undefined, label: string) => {
    const policy = policyOf(context, run);
    const decision = await authorizer.checkHolders('approvers', policy.approvers, user);
    if (decision.allowed) return policy;
    await context.audit.record({ actor: user, action: `button.deployment_${label}`, subject: run.name, outcome: 'not an approver' });
    await ephemeral(channel, user, refusalText(decision, `Deciding a deployment stage${policy.environment ? ` in ${policy.environment.name}` : ''}`));
    return undefined;
  };

  const vote = async (runKey: string, stageId: string, user: string, action: 'approve' | 'reject', channel: string | undefined, reason?: string) => {
    let decision = 'not waiting' as VoteDecision;
    let approvers: string[] = [];
    const { before, after } = await context.runs.update(runKey, (run) => {
      if (!run) return run;
      const policy = policyOf(context, run);
      const stage = run.stages?.find((candidate) => candidate.id === stageId);
      const result = castVote(stage, run.stageVotes?.[stageId], user, action, { required: policy.required, allowSelfApproval: policy.allowSelfApproval, requestedBy: requesterOf(run) }, reason);
      decision = result.decision;
      approvers = result.vote?.approvers ?? [];
      return result.vote && (decision === 'approve' || decision === 'reject' || decision === 'recorded') ? withStageVote(run, stageId, result.vote) : run;
    });
    const run = after ?? before;
    if (!run) {
      await ephemeral(channel, user, ':warning: That deployment is no longer known to the bot (runs are kept for 30 days).');
      return;
    }
    const stage = run.stages?.find((candidate) => candidate.id === stageId);
    await context.audit.record({ actor: user, action: `button.deployment_${action}`, subject: `${run.name} / ${stage?.name ?? stageId}`, outcome: decision, ...(reason ? { detail: reason } : {}) });
    if (after && after !== before) await showRun(context, after.key, after.version);
    switch (decision) {
      case 'approve':
      case 'reject':
        await enqueueDeploymentAction(context, {
          action: decision,
          runKey: run.key,
          deploymentId: run.resourceId,
          stageId,
          users: decision === 'approve' ? approvers : [user],
          ...(reason ? { reason } : {}),
          ...(channel ? { channel } : {}),
        });
        await ephemeral(channel, user, decision === 'approve' ? `:white_check_mark: Approved ${code(stage?.name ?? stageId)}; the bot is telling OCI.` : `:no_entry: Rejected ${code(stage?.name ?? stageId)}; the bot is telling OCI.`);
        return;
      case 'recorded': {
        const required = run.stageVotes?.[stageId]?.required ?? 1;
        await ephemeral(channel, user, `:ballot_box_with_check: Approval recorded (${approvers.length}/${required}).`);
        return;
      }
      case 'not waiting': {
        const outcome = stage ? approvalOutcome(stage) : 'not reached';
        await ephemeral(channel, user, stage && outcome !== 'not reached' && outcome !== 'waiting' ? `:information_source: ${code(stage.name)} no longer waits: it was ${outcome}. The message now shows it as OCI has it.` : ANSWERS['not waiting']);
        await refresh(run);
        return;
      }
      default:
        await ephemeral(channel, user, ANSWERS[decision]);
    }
  };

  const modal = (callbackId: string, title: string, submit: string, meta: z.infer<typeof modalMeta>, intro: string, policy: DeploymentPolicy, withReason: boolean) => ({
    type: 'modal' as const,
    callback_id: callbackId,
    private_metadata: JSON.stringify(meta),
    title: { type: 'plain_text' as const, text: title },
    submit: { type: 'plain_text' as const, text: submit },
    close: { type: 'plain_text' as const, text: 'Cancel' },
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: intro } },
      ...(withReason
        ? [{ type: 'input', block_id: 'reason', label: { type: 'plain_text', text: 'Reason' }, element: { type: 'plain_text_input', action_id: 'reason', multiline: true, max_length: 500 } }]
        : []),
      ...(policy.confirm === 'typed' && policy.environment
        ? [
            {
              type: 'input',
              block_id: 'confirm',
              label: { type: 'plain_text', text: `Type ${policy.environment.name} to confirm` },
              element: { type: 'plain_text_input', action_id: 'confirm', max_length: 40 },
            },
          ]
        : []),
    ],
  });

  /** Approve and Reject clicks: the run and the clicker's right to decide, then `decide` (which may open a modal). */
  const stageClick =
    (action: 'approve' | 'reject', decide: (clicked: { user: string; channel: string | undefined; run: Run; stageId: string; open: (view: ReturnType<typeof modal>) => Promise<unknown> }, policy: DeploymentPolicy) => Promise<void>) =>
    async ({ ack, body, client }: ActionArgs) => {
      await ack();
      const clicked = await loadClick(body);
      if (!clicked) return;
      const { user, channel, run, stageId, triggerId } = clicked;
      try {
        if (!run) {
          await ephemeral(channel, user, ':warning: That deployment is no longer known to the bot (runs are kept for 30 days).');
          return;
        }
        const policy = await mayDecide(run, user, channel, action);
        if (!policy) return;
        // The trigger expires 3 s after the click, so a modal opens before anything else.
        await decide({ user, channel, run, stageId, open: (view) => client.views.open({ trigger_id: triggerId, view }) }, policy);
      } catch (error) {
        context.logger.error({ err: error, action }, 'deployment stage click failed');
        await ephemeral(channel, user, `:x: ${escapeMrkdwn(toMlopsError(error).userMessage)}`);
      }
    };
  const stageName = (run: Run, stageId: string) => code(run.stages?.find((candidate) => candidate.id === stageId)?.name ?? stageId);

  app.action<BlockAction>(
    DEPLOY_ACTIONS.approve,
    stageClick('approve', async ({ user, channel, run, stageId, open }, policy) => {
      if (policy.confirm === 'typed' && policy.environment) {
        const intro = `Approve ${stageName(run, stageId)} of ${code(run.name)} in *${escapeMrkdwn(policy.environment.name)}*?`;
        await open(modal(DEPLOY_ACTIONS.approveModal, 'Approve stage', 'Approve', { run: run.key, stage: stageId, channel: channel ?? '' }, intro, policy, false));
        return;
      }
      await vote(run.key, stageId, user, 'approve', channel);
    }),
  );

  app.action<BlockAction>(
    DEPLOY_ACTIONS.reject,
    stageClick('reject', async ({ channel, run, stageId, open }, policy) => {
      const where = policy.environment ? ` in *${escapeMrkdwn(policy.environment.name)}*` : '';
      const intro = `Reject ${stageName(run, stageId)} of ${code(run.name)}${where}? The deployment stops there.`;
      await open(modal(DEPLOY_ACTIONS.rejectModal, 'Reject stage', 'Reject', { run: run.key, stage: stageId, channel: channel ?? '' }, intro, policy, true));
    }),
  );

  const submitted = (action: 'approve' | 'reject') => async ({ ack, body }: ViewArgs) => {
    const form = readSubmission(body, modalMeta);
    if (!form) {
      await ack();
      return;
    }
    const { user, meta, values } = form;
    const channel = meta.channel || undefined;
    const run = await context.runs.get(meta.run);
    const policy = run ? policyOf(context, run) : undefined;
    const typed = values.confirm?.confirm?.value?.trim() ?? '';
    if (policy?.confirm === 'typed' && policy.environment && typed !== policy.environment.name) {
      await ack({ response_action: 'errors', errors: { confirm: `Type ${policy.environment.name} exactly to confirm.` } });
      return;
    }
    const reason = values.reason?.reason?.value?.trim() ?? '';
    if (action === 'reject' && reason === '') {
      await ack({ response_action: 'errors', errors: { reason: 'Say why, for the team and the audit log.' } });
      return;
    }
    await ack();
    try {
      if (!run) {
        await ephemeral(channel, user, ':warning: That deployment is no longer known to the bot (runs are kept for 30 days).');
        return;
      }
      if (!(await mayDecide(run, user, channel, action))) return;
      await vote(run.key, meta.stage, user, action, channel, action === 'reject' ? plain(reason, 500) : undefined);
    } catch (error) {
      context.logger.error({ err: error }, 'deployment modal submission failed');
      await ephemeral(channel, user, `:x: ${escapeMrkdwn(toMlopsError(error).userMessage)}`);
    }
  };
  app.view<ViewSubmitAction>(DEPLOY_ACTIONS.approveModal, submitted('approve'));
  app.view<ViewSubmitAction>(DEPLOY_ACTIONS.rejectModal, submitted('reject'));

  app.action<BlockAction>(DEPLOY_ACTIONS.cancel, async ({ ack, body }: ActionArgs) => {
    await ack();
    const parsed = click.safeParse(body);
    if (!parsed.success) return;
    const user = parsed.data.user.id;
    const channel = parsed.data.channel?.id ?? parsed.data.container?.channel_id;
    try {
      const value = runValue.safeParse(safeJson(parsed.data.actions[0]?.value));
      const run = value.success ? await context.runs.get(value.data.run) : undefined;
      if (!run) {
        await ephemeral(channel, user, ':warning: That deployment is no longer known to the bot (runs are kept for 30 days).');
        return;
      }
      const decision = await authorizer.check('deployers', user);
      if (!decision.allowed) {
        await ephemeral(channel, user, refusalText(decision, 'Canceling a deployment'));
        return;
      }
      if (isTerminal(run.state)) {
        await ephemeral(channel, user, `:information_source: ${code(run.name)} has already ended (${run.state.toLowerCase()}); there is nothing to cancel.`);
        return;
      }
      await enqueueDeploymentAction(context, { action: 'cancel', runKey: run.key, deploymentId: run.resourceId, users: [user], ...(channel ? { channel } : {}) });
      await context.audit.record({ actor: user, action: 'button.deployment_cancel', subject: run.name, outcome: 'queued' });
      await ephemeral(channel, user, `:double_vertical_bar: Canceling ${code(run.name)}; the message follows OCI.`);
    } catch (error) {
      context.logger.error({ err: error }, 'deployment cancel failed');
      await ephemeral(channel, user, `:x: ${escapeMrkdwn(toMlopsError(error).userMessage)}`);
    }
  });
}
