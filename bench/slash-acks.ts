import { SIGNING_SECRET } from '../test/helpers/bot-harness.js';
import type { ResponseUrlServer } from '../test/helpers/response-url-server.js';
import { signSlackBody, slashCommandBody } from '../test/helpers/slack-request.js';
import { runLoad, type LoadResult, type Shot } from './load.js';

export const SLASH_COMMANDS = { help: 'help', train: 'train fraud-model' } as const;
export type SlashCommand = keyof typeof SLASH_COMMANDS;

/** Signed `/mlops <text>` requests as Slack sends them; replies to response_url land on the local stand-in. */
function slashShots(text: string, count: number, responseUrls: ResponseUrlServer): Shot[] {
  return Array.from({ length: count }, () => {
    const body = slashCommandBody({ text, responseUrl: responseUrls.url() });
    return { path: '/slack/events', headers: { ...signSlackBody(SIGNING_SECRET, body) }, body };
  });
}

export interface AckRun {
  rate: number;
  durationMs: number;
}

/**
 * Acknowledgement latency of one command against one server: a short warm-up (JIT, connections, caches
 * such as the trainers group) that is thrown away, then `rate`/s for `durationMs`. Slack's 3 s is the
 * timeout: anything slower is an error.
 */
export async function measureAck(target: string, command: SlashCommand, run: AckRun, responseUrls: ResponseUrlServer): Promise<LoadResult> {
  const text = SLASH_COMMANDS[command];
  await runLoad({ targets: [target], rate: run.rate, shots: slashShots(text, Math.round(run.rate / 2), responseUrls), timeoutMs: 3_000 });
  const count = Math.round((run.rate * run.durationMs) / 1000);
  return runLoad({ targets: [target], rate: run.rate, shots: slashShots(text, count, responseUrls), timeoutMs: 3_000 });
}
