import { SIGNING_SECRET } from '../test/helpers/bot-harness.js';
import type { ResponseUrlServer } from '../test/helpers/response-url-server.js';
import { signSlackBody, slashCommandBody } from '../test/helpers/slack-request.js';
import { cpuSeconds } from './cpu.js';
import { mergeLoadResults, runLoad, type LoadResult, type Shot } from './load.js';

export const SLASH_COMMANDS = { help: 'help', train: 'train fraud-model' } as const;
export type SlashCommand = keyof typeof SLASH_COMMANDS;

/** Signed `/mlops <text>` requests as Slack sends them; replies to response_url land on the local stand-in. */
export function slashShots(text: string, count: number, responseUrls: ResponseUrlServer): Shot[] {
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
  /** The same for each companion process (a worker that runs what the server queued), by name. */
  companionsCpuMsPerRequest: Record<string, number>;
}

export interface AckServer {
  name: string;
  url: string;
  pid: number;
  /** Processes that work for this server (its worker): their CPU is measured during its turns too. */
  companions?: ReadonlyArray<{ name: string; pid: number }>;
  /**
   * Processes stopped (SIGSTOP) during this server's turns and continued after, as item 2 runs no worker
   * during its ingest steps: the server's own figure, without what its worker does on the same cores.
   */
  paused?: readonly number[];
}

/**
 * Acknowledgement latency of one command against several servers, interleaved: a short warm-up of each
 * (JIT, connections, caches such as the trainers group) that is thrown away, then `rounds` rounds in which
 * every server in turn takes `rate`/s for `durationMs / rounds`. Interleaving spreads whatever else the
 * machine does over all servers alike instead of landing on whichever runs at that moment. Slack's 3 s is
 * the timeout: anything slower is an error.
 */
export async function measureAcks(servers: readonly AckServer[], command: SlashCommand, run: AckRun, rounds: number, responseUrls: ResponseUrlServer): Promise<Record<string, AckFigure>> {
  const text = SLASH_COMMANDS[command];
  for (const server of servers) await runLoad({ targets: [server.url], rate: run.rate, shots: slashShots(text, Math.round(run.rate / 2), responseUrls), timeoutMs: 3_000 });
  const count = Math.round((run.rate * run.durationMs) / 1000 / rounds);
  const results = new Map<string, LoadResult[]>(servers.map((server) => [server.name, []]));
  const cpu = new Map<string, number>();
  const add = (key: string, seconds: number) => cpu.set(key, (cpu.get(key) ?? 0) + seconds);
  for (let round = 0; round < rounds; round++) {
    for (const server of servers) {
      const shots = slashShots(text, count, responseUrls);
      const watched = [{ key: server.name, pid: server.pid }, ...(server.companions ?? []).map((companion) => ({ key: `${server.name}/${companion.name}`, pid: companion.pid }))];
      const before = watched.map((process) => cpuSeconds(process.pid));
      for (const pid of server.paused ?? []) process.kill(pid, 'SIGSTOP');
      try {
        results.get(server.name)?.push(await runLoad({ targets: [server.url], rate: run.rate, shots, timeoutMs: 3_000 }));
      } finally {
        for (const pid of server.paused ?? []) process.kill(pid, 'SIGCONT');
      }
      // Work started by the last requests (a worker running queued commands, replies to response_url) is
      // counted with this server and done before the next one's turn, so it does not land on that one.
      await new Promise((resolve) => setTimeout(resolve, server.paused?.length ? 2_000 : server.companions?.length ? 1_000 : 200));
      watched.forEach((process, index) => add(process.key, cpuSeconds(process.pid) - (before[index] ?? 0)));
    }
  }
  const perRequest = (key: string) => ((cpu.get(key) ?? 0) * 1000) / (count * rounds);
  return Object.fromEntries(
    servers.map((server) => [
      server.name,
      {
        result: mergeLoadResults(results.get(server.name) ?? []),
        cpuMsPerRequest: perRequest(server.name),
        companionsCpuMsPerRequest: Object.fromEntries((server.companions ?? []).map((companion) => [companion.name, perRequest(`${server.name}/${companion.name}`)])),
      },
    ]),
  );
}
