/** The few Block Kit shapes the bot sends, typed narrowly so views stay within Slack's limits. */
export interface TextObject {
  type: 'plain_text' | 'mrkdwn';
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

export type Block =
  | { type: 'header'; block_id?: string; text: TextObject }
  | { type: 'section'; block_id?: string; text?: TextObject; fields?: TextObject[] }
  | { type: 'context'; block_id?: string; elements: TextObject[] }
  | { type: 'actions'; block_id?: string; elements: ButtonElement[] }
  | { type: 'divider'; block_id?: string };

export interface SlackMessage {
  text: string;
  blocks: Block[];
}

export const mrkdwnText = (text: string): TextObject => ({ type: 'mrkdwn', text: text.slice(0, 3000) });
export const plainText = (text: string): TextObject => ({ type: 'plain_text', text: text.slice(0, 150), emoji: true });
