import type { types } from '@slack/bolt';

/** What a reason modal asks: the question, and whether the reason may be left empty. */
export interface ReasonModal {
  callbackId: string;
  /** Carried back in the view_submission: which request, and where to answer. */
  metadata: { approval: string; channel: string };
  title: string;
  submit: string;
  /** mrkdwn, escaped by the caller. */
  prompt: string;
  label: string;
  required: boolean;
}

/**
 * A modal asking for a reason (rejecting a request, overriding a gate), its answer read back from
 * `state.values.reason.reason`. A required reason is enforced by Slack's client and checked again on submit.
 */
export function reasonModal(modal: ReasonModal): types.ModalView {
  return {
    type: 'modal',
    callback_id: modal.callbackId,
    private_metadata: JSON.stringify(modal.metadata),
    title: { type: 'plain_text', text: modal.title },
    submit: { type: 'plain_text', text: modal.submit },
    close: { type: 'plain_text', text: 'Cancel' },
    blocks: [
      // A section's text holds 3000 characters.
      { type: 'section', text: { type: 'mrkdwn', text: modal.prompt.slice(0, 2900) } },
      {
        type: 'input',
        block_id: 'reason',
        optional: !modal.required,
        label: { type: 'plain_text', text: modal.label },
        element: { type: 'plain_text_input', action_id: 'reason', multiline: true, ...(modal.required ? { min_length: 3 } : {}), max_length: 500 },
      },
    ],
  };
}
