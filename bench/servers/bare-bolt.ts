import { App, LogLevel } from '@slack/bolt';
import { baselinePort, required } from './baseline-env.js';

/**
 * Baseline for slash-command acks: a bare Bolt app with its own HTTPReceiver (signature check, body
 * parsing, listener dispatch) acknowledging `/mlops` with a short ephemeral reply and doing nothing else.
 */
const app = new App({
  signingSecret: required('SLACK_SIGNING_SECRET'),
  token: required('SLACK_BOT_TOKEN'),
  botId: 'B0BOT',
  botUserId: 'U0BOT',
  logLevel: LogLevel.WARN,
  clientOptions: { slackApiUrl: required('SLACK_API_URL') },
});

app.command('/mlops', async ({ command, ack }) => {
  await ack({ response_type: 'ephemeral', text: `received /mlops ${command.text}` });
});

await app.start(baselinePort());
process.once('SIGTERM', () => {
  void app.stop().then(() => process.exit(0));
});
