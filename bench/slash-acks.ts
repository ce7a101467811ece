import { SIGNING_SECRET } from '../test/helpers/bot-harness.js';
import type { ResponseUrlServer } from '../test/helpers/response-url-server.js';
import { signSlackBody, slashCommandBody } from '../test/helpers/slack-request.js';
import { cpuSeconds } from './cpu.js';
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

export interface AckFigure {
  result: LoadResult;
  /** CPU the server process spent per request during the measured part, in ms. */
  cpuMsPerRequest: number;
}

/**
 * Acknowledgement latency of one command against one server (process `pid`): a short warm-up (JIT,
 * connections, caches such as the trainers group) that is thrown away, then `rate`/s for `durationMs`.
 * Slack's 3 s is the timeout: anything slower is an error.
 */
export async function measureAck(target: string, pid: number, command: SlashCommand, run: AckRun, responseUrls: ResponseUrlServer): Promise<AckFigure> {
  const text = SLASH_COMMANDS[command];
  await runLoad({ targets: [target], rate: run.rate, shots: slashShots(text, Math.round(run.rate / 2), responseUrls), timeoutMs: 3_000 });
  const count = Math.round((run.rate * run.durationMs) / 1000);
  const shots = slashShots(text, count, responseUrls);
  const before = cpuSeconds(pid);
  const result = await runLoad({ targets: [target], rate: run.rate, shots, timeoutMs: 3_000 });
  // Work started by the last requests (replies to response_url) finishes shortly after the last ack.
  await new Promise((resolve) => setTimeout(resolve, 200));
  return { result, cpuMsPerRequest: ((cpuSeconds(pid) - before) * 1000) / count };
}
