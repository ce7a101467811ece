import type { ConfigFile } from '../config/config-file.js';
import { deploymentsOf } from '../domain/environments.js';
import type { RevisionSummary } from '../domain/rollback.js';
import { mrkdwnText, option, plainText, type Block, type ModalView, type OptionObject } from './blocks.js';
import { code } from './mrkdwn.js';
import { describeRevision } from './rollback-message.js';

/** callback_ids of the bot's modals; view_submission is routed on these (other features add their own). */
export const MODALS = {
  train: 'modal.train',
  promote: 'modal.promote',
  rollback: 'modal.rollback',
  rollbackConfirm: 'modal.rollback_confirm',
} as const;

/** action_ids of the external selects, answered on block_suggestion. */
export const SUGGESTIONS = {
  version: 'promote.version',
  environment: 'promote.environment',
  revision: 'rollback.revision',
} as const;

/** The global shortcut's callback_id (declared in the app manifests). */
export const SHORTCUTS = { train: 'shortcut.train' } as const;

/** block_ids of the modals' inputs, which `response_action: errors` names. */
export const FIELDS = {
  target: 'target',
  params: 'params',
  model: 'model',
  version: 'version',
  environment: 'environment',
  deployment: 'deployment',
  revision: 'revision',
} as const;

/** What a modal remembers between opening and submission (its private_metadata, ≤ 3000 characters). */
export interface ModalContext {
  /** The channel the command was typed in; absent when opened from a shortcut. */
  channel?: string | undefined;
  /** The rollback confirm step's id. */
  confirm?: string | undefined;
}

const MAX_OPTIONS = 100;

function modal(callbackId: string, title: string, submit: string | undefined, blocks: Block[], context: ModalContext): ModalView {
  return {
    type: 'modal',
    callback_id: callbackId,
    title: plainText(title.slice(0, 24)),
    ...(submit ? { submit: plainText(submit.slice(0, 24)) } : {}),
    close: plainText(submit ? 'Cancel' : 'Close'),
    private_metadata: JSON.stringify(context),
    blocks,
  };
}

const staticSelect = (actionId: string, placeholder: string, options: OptionObject[]) => ({ type: 'static_select' as const, action_id: actionId, placeholder: plainText(placeholder), options: options.slice(0, MAX_OPTIONS) });

/** `/mlops train` with no arguments, or the "Train a model" shortcut: a target and `key=value` parameters. */
export function renderTrainModal(targets: readonly string[], context: ModalContext): ModalView {
  return modal(
    MODALS.train,
    'Train a model',
    'Train',
    [
      { type: 'input', block_id: FIELDS.target, label: plainText('Target'), element: staticSelect(FIELDS.target, 'Choose a train target', targets.map((target) => option(target, target))) },
      {
        type: 'input',
        block_id: FIELDS.params,
        optional: true,
        label: plainText('Parameters'),
        hint: plainText('key=value pairs separated by spaces, as after /mlops train <target>; quote values with spaces.'),
        element: { type: 'plain_text_input', action_id: FIELDS.params, multiline: true, max_length: 2000, placeholder: plainText('epochs=5 learning_rate=0.01') },
      },
    ],
    context,
  );
}

/** `/mlops promote` with no arguments: a model, one of its versions (from MLflow), and where to. */
export function renderPromoteModal(models: readonly string[], context: ModalContext): ModalView {
  return modal(
    MODALS.promote,
    'Promote a model',
    'Ask for approval',
    [
      { type: 'input', block_id: FIELDS.model, label: plainText('Model'), element: staticSelect(FIELDS.model, 'Choose a model', models.map((model) => option(model, model))) },
      {
        type: 'input',
        block_id: FIELDS.version,
        label: plainText('Version'),
        hint: plainText('Latest versions first, from the MLflow Model Registry. Type a number to narrow the list.'),
        element: { type: 'external_select', action_id: SUGGESTIONS.version, placeholder: plainText('Choose the model first, then a version'), min_query_length: 0 },
      },
      {
        type: 'input',
        block_id: FIELDS.environment,
        optional: true,
        label: plainText('Environment'),
        hint: plainText('For models with environments; left empty: the next one on the path.'),
        element: { type: 'external_select', action_id: SUGGESTIONS.environment, placeholder: plainText('The next environment'), min_query_length: 0 },
      },
    ],
    context,
  );
}

/** `/mlops rollback` with no arguments: a Deployment and a revision (with its images and change-cause). */
export function renderRollbackModal(deployments: readonly OptionObject[], context: ModalContext): ModalView {
  return modal(
    MODALS.rollback,
    'Roll back',
    'Review',
    [
      { type: 'input', block_id: FIELDS.deployment, label: plainText('Deployment'), element: staticSelect(FIELDS.deployment, 'Choose a Deployment', [...deployments]) },
      {
        type: 'input',
        block_id: FIELDS.revision,
        optional: true,
        label: plainText('Revision'),
        hint: plainText('Left empty: the previous revision, as kubectl rollout undo does.'),
        element: { type: 'external_select', action_id: SUGGESTIONS.revision, placeholder: plainText('The previous revision'), min_query_length: 0 },
      },
    ],
    context,
  );
}

/** The confirm step, as on the typed command: what runs now and what comes back, before anything changes. */
export function renderRollbackConfirmModal(target: string, current: RevisionSummary, goal: RevisionSummary, context: ModalContext): ModalView {
  const text = `*Roll back ${code(target)}?*\n*Now:* ${describeRevision(current)}\n*After:* ${describeRevision(goal)}`;
  return modal(MODALS.rollbackConfirm, 'Confirm the rollback', 'Roll back', [{ type: 'section', text: mrkdwnText(text) }], context);
}

/** A modal that only says something (the outcome of a submission, or that work is under way). */
export function renderNoticeModal(title: string, text: string): ModalView {
  return modal('modal.notice', title, undefined, [{ type: 'section', text: mrkdwnText(text) }], {});
}

/** A rollback choice's value: the model, and the environment for a model with environments (`fraud-model@prod`). */
export function rollbackChoice(value: string): { model: string; environment?: string } {
  const [model = '', environment] = value.split('@', 2);
  return environment ? { model, environment } : { model };
}

/** The Deployments a rollback can pick: every model's Deployment, one per environment that has one. */
export function rollbackChoices(config: ConfigFile): OptionObject[] {
  return Object.entries(config.models).flatMap(([name, model]) =>
    deploymentsOf(model).map(({ environment, deployment }) => {
      const where = `${deployment.namespace}/${deployment.name}${deployment.context ? `, ${deployment.context}` : ''}`;
      return option(environment ? `${name} · ${environment} (${where})` : `${name} (${where})`, environment ? `${name}@${environment}` : name);
    }),
  );
}

/** The modals `/mlops train|promote|rollback` open when typed without arguments (and the train shortcut). */
export const modalFor = {
  train: (config: ConfigFile, channel: string | undefined): ModalView =>
    Object.keys(config.train).length > 0 ? renderTrainModal(Object.keys(config.train), { channel }) : renderNoticeModal('Train a model', 'No train targets are configured (`train` in the config file).'),
  promote: (config: ConfigFile, channel: string | undefined): ModalView =>
    Object.keys(config.models).length > 0 ? renderPromoteModal(Object.keys(config.models), { channel }) : renderNoticeModal('Promote a model', 'No models are configured (`models` in the config file).'),
  rollback: (config: ConfigFile, channel: string | undefined): ModalView => {
    const choices = rollbackChoices(config);
    return choices.length > 0 ? renderRollbackModal(choices, { channel }) : renderNoticeModal('Roll back', 'No Deployment is configured for any model (`deployment` in the config file).');
  },
};
