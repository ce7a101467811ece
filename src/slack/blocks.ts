/** The few Block Kit shapes the bot sends, typed narrowly so views stay within Slack's limits. */
export interface TextObject {
  type: 'plain_text' | 'mrkdwn';
  text: string;
  emoji?: boolean;
}

export interface PlainTextObject {
  type: 'plain_text';
  text: string;
  emoji?: boolean;
}

export interface ButtonElement {
  type: 'button';
  action_id: string;
  text: TextObject;
  value?: string;
  url?: string;
  style?: 'primary' | 'danger';
  confirm?: {
    title: TextObject;
    text: TextObject;
    confirm: TextObject;
    deny: TextObject;
    style?: 'primary' | 'danger';
  };
}

/** A choice in a select: text at most 75 characters, value at most 150. */
export interface OptionObject {
  text: PlainTextObject;
  value: string;
}

export type InputElement =
  | { type: 'static_select'; action_id: string; placeholder?: PlainTextObject; options: OptionObject[]; initial_option?: OptionObject }
  /** Options come from the app's answer to block_suggestion; min_query_length 0 asks as soon as it opens. */
  | { type: 'external_select'; action_id: string; placeholder?: PlainTextObject; min_query_length?: number; initial_option?: OptionObject }
  | { type: 'plain_text_input'; action_id: string; placeholder?: PlainTextObject; multiline?: boolean; max_length?: number; initial_value?: string };

export type Block =
  | { type: 'header'; block_id?: string; text: TextObject }
  | { type: 'section'; block_id?: string; text?: TextObject; fields?: TextObject[]; accessory?: ButtonElement }
  | { type: 'context'; block_id?: string; elements: TextObject[] }
  | { type: 'actions'; block_id?: string; elements: ButtonElement[] }
  | { type: 'divider'; block_id?: string }
  | { type: 'input'; block_id: string; label: PlainTextObject; element: InputElement; optional?: boolean; hint?: PlainTextObject };

/** A modal (views.open, views.update, response_action update): at most 100 blocks, title/submit/close ≤ 24 characters. */
export interface ModalView {
  type: 'modal';
  callback_id?: string;
  title: PlainTextObject;
  submit?: PlainTextObject;
  close?: PlainTextObject;
  private_metadata?: string;
  blocks: Block[];
}

/** A user's Home tab (views.publish): at most 100 blocks. */
export interface HomeView {
  type: 'home';
  blocks: Block[];
}

export interface SlackMessage {
  text: string;
  blocks: Block[];
}

export const mrkdwnText = (text: string): TextObject => ({ type: 'mrkdwn', text: text.slice(0, 3000) });
export const plainText = (text: string): PlainTextObject => ({ type: 'plain_text', text: text.slice(0, 150), emoji: true });

/** A select option, cut to Slack's limits. */
export const option = (text: string, value: string): OptionObject => ({ text: { type: 'plain_text', text: text.length > 75 ? `${text.slice(0, 74)}…` : text, emoji: true }, value: value.slice(0, 150) });
