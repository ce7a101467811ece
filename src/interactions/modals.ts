import type { AllMiddlewareArgs, App, SlackOptionsMiddlewareArgs, SlackShortcutMiddlewareArgs, SlackViewMiddlewareArgs, ViewSubmitAction } from '@slack/bolt';
import { z } from 'zod';
import { queueTraining } from '../../commands/train.js';
import type { CommandDeps } from '../../commands/command.js';
import { modelChannel, requestPromotion } from '../../jobs/promote.js';
import { listRevisions, previewRollback, resolveRollbackTarget, rollbackLabel, storeConfirm, type RollbackTarget } from '../../jobs/rollback.js';
import type { Authorizer } from '../authorizer.js';
import type { Context } from '../context.js';
import { parseKeyValues, tokenize } from '../domain/command-line.js';
import { approvalTargetLabel } from '../domain/approval.js';
import { deploymentsOf } from '../domain/environments.js';
import { toMlopsError } from '../errors.js';
import { option, type ModalView, type OptionObject } from '../slack/blocks.js';
import { FIELDS, modalFor, MODALS, rollbackChoice, renderNoticeModal, renderRollbackConfirmModal, SHORTCUTS, SUGGESTIONS, type ModalContext } from '../slack/modals.js';
import { code, plain } from '../slack/mrkdwn.js';
import { confirmRollback } from './rollback-buttons.js';

/**
 * How long a submission may work before it must answer Slack (which waits 3 seconds for a view_submission's
 * acknowledgement): what is not done by then carries on, and its outcome replaces the modal (views.update).
 */
const ACK_BUDGET_MS = 2_000;
/** block_suggestion answers are the acknowledgement itself: MLflow or the cluster get this long. */
const SUGGEST_BUDGET_MS = 2_000;

const userIdSchema = z.string().regex(/^[UW][A-Z0-9]+$/);
const elementState = z.object({ selected_option: z.object({ value: z.string() }).loose().nullish(), value: z.string().nullish() }).loose();
const viewState = z.object({ values: z.record(z.string(), z.record(z.string(), elementState)) });
const submission = z.object({
  user: z.object({ id: userIdSchema }),
  view: z.object({ id: z.string().min(1), private_metadata: z.string().max(3000), state: viewState }).loose(),
});
const suggestion = z.object({
  user: z.object({ id: userIdSchema }),
  value: z.string().max(200).default(''),
  view: z.object({ state: viewState }).loose().optional(),
});
const modalContext = z.object({ channel: z.string().regex(/^[CGD][A-Z0-9]+$/).optional(), confirm: z.string().regex(/^[0-9a-f]{16}$/).optional() });

type Values = z.infer<typeof viewState>['values'];

/** What the user entered in the input block `block` (the option picked, or the text typed); undefined when empty. */
function entered(values: Values, block: string): string | undefined {
  const state = Object.values(values[block] ?? {})[0];
  const value = state?.selected_option?.value ?? state?.value ?? undefined;
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function readContext(metadata: string): ModalContext {
  try {
    const parsed = modalContext.safeParse(JSON.parse(metadata));
    return parsed.success ? parsed.data : {};
  } catch {
    return {};
  }
}

/** Field errors are plain text in Slack: the mrkdwn of the bot's messages is undone. */
function plainMessage(mrkdwn: string): string {
  const text = mrkdwn
    .replace(/<@([UW][A-Z0-9]+)>/g, '@$1')
    .replace(/<!subteam\^([A-Z0-9]+)>/g, '@$1')
    .replace(/<#([CGD][A-Z0-9]+)>/g, '#$1')
    .replace(/<[^|>]+\|([^>]+)>/g, '$1')
    .replace(/:[a-z_]+: /g, '')
    .replace(/[`*_]/g, '')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
  return plain(text, 2000);
}

type Settled<T> = { state: 'done'; value: T } | { state: 'failed'; error: unknown } | { state: 'pending'; rest: Promise<T> };

/** Waits for `work` up to `ms`; past that, hands back the promise to finish after the acknowledgement. */
async function within<T>(work: Promise<T>, ms: number): Promise<Settled<T>> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)));
  try {
    const result = await Promise.race([work.then((value) => ({ value })), timeout]);
    return result === 'timeout' ? { state: 'pending', rest: work } : { state: 'done', value: result.value };
  } catch (error) {
    return { state: 'failed', error };
  } finally {
    clearTimeout(timer);
  }
}

/** Options matching what the user typed (case-insensitive substring), at most Slack's 100. */
function matching(options: OptionObject[], query: string): OptionObject[] {
  const wanted = query.trim().toLowerCase();
  return options.filter((candidate) => wanted === '' || candidate.text.text.toLowerCase().includes(wanted) || candidate.value.toLowerCase() === wanted).slice(0, 100);
}

type ViewArgs = SlackViewMiddlewareArgs<ViewSubmitAction> & AllMiddlewareArgs;
type Ack = ViewArgs['ack'];

/**
 * The train, promote and rollback modals, the "Train a model" shortcut and the external selects. A
 * submission goes through the same validation and authorization as the typed command; what is wrong is
 * answered next to its field (`response_action: errors`), the outcome replaces the modal.
 */
export async function registerModals(app: App, context: Context, authorizer: Authorizer): Promise<void> {
  const deps: CommandDeps = { context, authorizer };
  /** A Deployment of the rollback modal's list (a configured model, and its environment), resolved as `rollback <model> --env ENV` is. */
  const configuredTarget = (value: string): RollbackTarget | undefined => {
    const choice = rollbackChoice(value);
    if (!Object.hasOwn(context.config.file.models, choice.model)) return undefined;
    const resolved = resolveRollbackTarget(context, choice.model, choice.environment);
    return resolved?.ok ? resolved.target : undefined;
  };

  const errors = (ack: Ack, fields: Record<string, string>) => ack({ response_action: 'errors', errors: Object.fromEntries(Object.entries(fields).map(([field, message]) => [field, plainMessage(message)])) });
  const outcome = (ack: Ack, title: string, text: string) => ack({ response_action: 'update', view: renderNoticeModal(title, text) });
  /** Work that outlived the acknowledgement: its outcome replaces the "working on it" modal. */
  const later = (viewId: string, title: string, rest: Promise<ModalView>) => {
    void rest
      .catch((error: unknown) => renderNoticeModal(title, `:x: ${toMlopsError(error).userMessage}`))
      .then((view) => context.slack.updateView(viewId, view))
      .catch((error: unknown) => context.logger.warn({ err: error, viewId }, 'modal outcome not shown'));
  };

  app.shortcut(SHORTCUTS.train, async ({ ack, body }: SlackShortcutMiddlewareArgs & AllMiddlewareArgs) => {
    await ack();
    const triggerId = typeof body.trigger_id === 'string' ? body.trigger_id : '';
    try {
      await context.slack.openView(triggerId, modalFor.train(context.config.file, undefined));
    } catch (error) {
      context.logger.warn({ err: error, shortcut: SHORTCUTS.train }, 'modal not opened');
    }
  });

  app.view<ViewSubmitAction>(MODALS.train, async ({ ack, body }: ViewArgs) => {
    const parsed = submission.safeParse(body);
    if (!parsed.success) return errors(ack, { [FIELDS.target]: 'That submission could not be read; open the form again.' });
    const { values } = parsed.data.view.state;
    const target = entered(values, FIELDS.target);
    if (!target || !Object.hasOwn(context.config.file.train, target)) return errors(ack, { [FIELDS.target]: 'Choose one of the train targets.' });
    const tokens = tokenize(entered(values, FIELDS.params) ?? '');
    const params = tokens.ok ? parseKeyValues(tokens.tokens) : tokens;
    if (!params.ok) return errors(ack, { [FIELDS.params]: params.error });
    try {
      // No channel: a form has no "below", so the answer names the channel the status goes to.
      const queued = await queueTraining({ userId: parsed.data.user.id }, target, params.values, deps);
      if (queued.outcome === 'refused') return errors(ack, { [FIELDS.target]: `Training ${target} needs the ${queued.decision.role} role.` });
      return outcome(ack, 'Training queued', queued.text);
    } catch (error) {
      context.logger.error({ err: error }, 'train modal failed');
      return errors(ack, { [FIELDS.target]: toMlopsError(error).userMessage });
    }
  });

  app.options<'block_suggestion'>(SUGGESTIONS.version, async ({ ack, body }: SlackOptionsMiddlewareArgs<'block_suggestion'> & AllMiddlewareArgs) => {
    const parsed = suggestion.safeParse(body);
    const model = parsed.success && parsed.data.view ? entered(parsed.data.view.state.values, FIELDS.model) : undefined;
    if (!parsed.success || !model || !Object.hasOwn(context.config.file.models, model) || !context.mlflow) return ack({ options: [] });
    const versions = await within(context.mlflow.searchVersions(model, 100), SUGGEST_BUDGET_MS);
    if (versions.state !== 'done') {
      context.logger.warn({ model, err: versions.state === 'failed' ? versions.error : undefined }, 'model versions not listed');
      return ack({ options: [] });
    }
    const options = versions.value.map((version) => option(`v${version.version}${version.stage && version.stage !== 'None' ? ` · ${version.stage}` : ''}${version.status && version.status !== 'READY' ? ` · ${version.status}` : ''}`, version.version));
    return ack({ options: matching(options, parsed.data.value.replace(/^v/i, '')) });
  });

  app.options<'block_suggestion'>(SUGGESTIONS.environment, async ({ ack, body }: SlackOptionsMiddlewareArgs<'block_suggestion'> & AllMiddlewareArgs) => {
    const parsed = suggestion.safeParse(body);
    const model = parsed.success && parsed.data.view ? entered(parsed.data.view.state.values, FIELDS.model) : undefined;
    const environments = model ? (context.config.file.models[model]?.environments ?? []) : [];
    const options = environments.map((environment) => option(`${environment.name} (@${environment.alias})`, environment.name));
    return ack({ options: matching(options, parsed.success ? parsed.data.value : '') });
  });

  app.view<ViewSubmitAction>(MODALS.promote, async ({ ack, body }: ViewArgs) => {
    const parsed = submission.safeParse(body);
    if (!parsed.success) return errors(ack, { [FIELDS.model]: 'That submission could not be read; open the form again.' });
    const { values } = parsed.data.view.state;
    const user = parsed.data.user.id;
    const model = entered(values, FIELDS.model);
    const config = model ? context.config.file.models[model] : undefined;
    if (!model || !config) return errors(ack, { [FIELDS.model]: 'Choose one of the configured models.' });
    const version = entered(values, FIELDS.version);
    if (!version || !/^[1-9]\d{0,9}$/.test(version)) return errors(ack, { [FIELDS.version]: 'Choose a version of this model.' });
    const environment = entered(values, FIELDS.environment);
    if (environment && !config.environments?.some((candidate) => candidate.name === environment)) {
      return errors(ack, { [FIELDS.environment]: config.environments ? `${model} has no environment ${environment}.` : `${model} has no environments; leave this empty.` });
    }
    // The typed command's path exactly: the environment path and soak, MLflow's checks, the approval record, the channel message.
    const work = (async () => {
      try {
        const { approval, channel } = await requestPromotion(context, { model, version, ...(environment ? { environment } : {}), requestedBy: user });
        const label = approvalTargetLabel(approval);
        const immediate = approval.state === 'approved';
        await context.audit.record({ actor: user, action: 'modal.promote', subject: `${model} v${version} ${label}`, outcome: immediate ? 'promoting: no approval needed' : 'requested', jobId: approval.id });
        return immediate
          ? `:rocket: Promoting ${code(model)} v${version} → ${code(label)}: no approval needed there. Follow it in <#${channel}> (request ${code(approval.id)}).`
          : `:memo: Approval request for ${code(model)} v${version} → ${code(label)} posted in <#${channel}> (request ${code(approval.id)}).`;
      } catch (error) {
        await context.audit.record({ actor: user, action: 'modal.promote', subject: `${model} v${version}${environment ? ` --to ${environment}` : ''}`, outcome: 'refused' });
        throw error;
      }
    })();
    const settled = await within(work, ACK_BUDGET_MS);
    if (settled.state === 'done') return outcome(ack, 'Promotion requested', settled.value);
    if (settled.state === 'failed') {
      const error = toMlopsError(settled.error);
      if (error.code === 'BAD_REQUEST' || error.code === 'NOT_FOUND') {
        // The environment path's refusals (skipped environment, soak, already serving) belong next to the environment.
        const field = config.environments && /environment|serves|served|soak/i.test(error.userMessage) ? FIELDS.environment : FIELDS.version;
        return errors(ack, { [field]: error.userMessage });
      }
      return outcome(ack, 'Promotion not requested', `:x: ${error.userMessage}`);
    }
    await outcome(ack, 'Promotion requested', ':hourglass_flowing_sand: Checking the version in MLflow and posting the request…');
    later(parsed.data.view.id, 'Promotion requested', settled.rest.then((text) => renderNoticeModal('Promotion requested', text)));
  });

  app.options<'block_suggestion'>(SUGGESTIONS.revision, async ({ ack, body }: SlackOptionsMiddlewareArgs<'block_suggestion'> & AllMiddlewareArgs) => {
    const parsed = suggestion.safeParse(body);
    const subject = parsed.success && parsed.data.view ? entered(parsed.data.view.state.values, FIELDS.deployment) : undefined;
    const target = subject ? configuredTarget(subject) : undefined;
    if (!parsed.success || !target) return ack({ options: [] });
    const revisions = await within(listRevisions(context, target), SUGGEST_BUDGET_MS);
    if (revisions.state !== 'done') {
      context.logger.warn({ deployment: rollbackLabel(target), err: revisions.state === 'failed' ? revisions.error : undefined }, 'revisions not listed');
      return ack({ options: [] });
    }
    const options = revisions.value.map((revision) => {
      const cause = revision.changeCause ? ` · ${revision.changeCause}` : '';
      return option(`${revision.current ? 'now: ' : ''}rev ${revision.revision ?? '?'} · ${revision.images.join(', ') || 'no images'}${cause}`, String(revision.revision));
    });
    return ack({ options: matching(options, parsed.data.value) });
  });

  app.view<ViewSubmitAction>(MODALS.rollback, async ({ ack, body }: ViewArgs) => {
    const parsed = submission.safeParse(body);
    if (!parsed.success) return errors(ack, { [FIELDS.deployment]: 'That submission could not be read; open the form again.' });
    const { values } = parsed.data.view.state;
    const user = parsed.data.user.id;
    const subject = entered(values, FIELDS.deployment);
    const target = subject ? configuredTarget(subject) : undefined;
    if (!subject || !target) return errors(ack, { [FIELDS.deployment]: 'Choose one of the Deployments.' });
    const revision = entered(values, FIELDS.revision);
    if (revision !== undefined && !/^[1-9]\d{0,9}$/.test(revision)) return errors(ack, { [FIELDS.revision]: 'Choose a revision from the list.' });
    const label = rollbackLabel(target);
    const decision = await authorizer.check('deployers', user);
    if (!decision.allowed) {
      await context.audit.record({ actor: user, action: 'modal.rollback', subject: label, outcome: 'refused' });
      return errors(ack, { [FIELDS.deployment]: `Rolling back needs the ${decision.role} role.` });
    }
    const channel = readContext(parsed.data.view.private_metadata).channel ?? modelChannel(context, rollbackChoice(subject).model);
    // The same confirm step as the typed command: the preview is read from the cluster, nothing changes yet.
    const work = (async (): Promise<{ field?: string; view: ModalView }> => {
      const preview = await previewRollback(context, target, Number(revision ?? 0));
      if (preview.kind === 'error') return { field: revision ? FIELDS.revision : FIELDS.deployment, view: renderNoticeModal('Cannot roll back', `:x: Cannot roll back ${code(label)}: ${preview.message}`) };
      if (preview.kind === 'skip') return { field: FIELDS.revision, view: renderNoticeModal('Nothing to roll back', `:information_source: ${code(label)}: ${preview.message}`) };
      const confirm = await storeConfirm(context, { ...target, targetReplicaSet: preview.targetReplicaSet, goal: preview.goal, requestedBy: user, channel });
      await context.audit.record({ actor: user, action: 'modal.rollback', subject: label, outcome: 'confirm shown', jobId: confirm });
      return { view: renderRollbackConfirmModal(label, preview.current, preview.goal, { channel, confirm }) };
    })();
    const settled = await within(work, ACK_BUDGET_MS);
    if (settled.state === 'done') {
      const { field, view } = settled.value;
      if (field) {
        const section = view.blocks[0];
        return errors(ack, { [field]: section?.type === 'section' ? (section.text?.text ?? '') : 'Cannot roll back.' });
      }
      return ack({ response_action: 'update', view });
    }
    if (settled.state === 'failed') return errors(ack, { [FIELDS.deployment]: toMlopsError(settled.error).userMessage });
    await outcome(ack, 'Confirm the rollback', ':hourglass_flowing_sand: Reading the Deployment and its revisions…');
    later(parsed.data.view.id, 'Cannot roll back', settled.rest.then(({ view }) => view));
  });

  app.view<ViewSubmitAction>(MODALS.rollbackConfirm, async ({ ack, body }: ViewArgs) => {
    const parsed = submission.safeParse(body);
    const confirm = parsed.success ? readContext(parsed.data.view.private_metadata).confirm : undefined;
    if (!parsed.success || !confirm) return outcome(ack, 'Rollback', ':warning: That confirm step could not be read; run `/mlops rollback` again.');
    try {
      const result = await confirmRollback(context, authorizer, parsed.data.user.id, confirm);
      return outcome(ack, result.queued ? 'Rolling back' : 'Rollback', result.text);
    } catch (error) {
      return outcome(ack, 'Rollback', `:x: ${toMlopsError(error).userMessage}`);
    }
  });

  // The Kubernetes client loads on first use, which blocks for longer than a block_suggestion may wait:
  // loaded before the bot reports ready, where rollbacks are configured.
  if (Object.values(context.config.file.models).some((model) => deploymentsOf(model).length > 0)) {
    await context.kube().catch((error: unknown) => context.logger.warn({ err: error }, 'kubernetes client not ready for the rollback modal'));
  }
}
