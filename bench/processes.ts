import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * Child processes the bench measures: the bot as operators run it (`node dist/src/main.js`) and the
 * baseline servers. Each gets its own process so RSS is its own and the load generator does not share
 * its event loop. Every child is killed if the bench itself exits.
 */
export interface Child {
  readonly name: string;
  readonly pid: number;
  readonly url: string;
  /** ms from spawn() to the first 2xx on the ready path. */
  readonly readyMs: number;
  /** Resident set now and its peak so far, in MB (from /proc). */
  memory(): { rssMb: number; peakMb: number };
  /** Log lines at warn or above by message, for the bot (pino JSON); raw lines otherwise. */
  logSummary(): Map<string, number>;
  output(): string;
  /** SIGTERM and wait (SIGKILL after 15 s); ms it took. */
  stop(): Promise<number>;
}

const alive = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of alive) child.kill('SIGKILL');
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function memoryOf(pid: number): { rssMb: number; peakMb: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
    return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
  } catch {
    return { rssMb: Number.NaN, peakMb: Number.NaN };
  }
}

/**
 * A free port below Linux's ephemeral range (32768+), so no outgoing connection of the bench, the bot or
 * anyone else can take it as its local port between this check and the child's listen().
 */
export async function listenPort(): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) return port;
    if (attempt > 50) throw new Error('no free port between 20000 and 32000');
  }
}

export interface SpawnOptions {
  name: string;
  /** Script path relative to the repository root, e.g. `dist/src/main.js`. */
  script: string;
  env: Record<string, string>;
  /** Polled until it answers 2xx, or anything at all with `anyAnswer` (for servers without a GET route). */
  readyPath: string;
  anyAnswer?: boolean;
  readyTimeoutMs?: number;
  /** Node options before the script, e.g. `--cpu-prof`. */
  nodeArgs?: readonly string[];
}

export async function spawnChild(options: SpawnOptions): Promise<Child> {
  const port = await listenPort();
  const url = `http://127.0.0.1:${port}`;
  const startedAt = performance.now();
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), options.script], {
    env: { PATH: process.env.PATH ?? '', METRICS_PORT: '0', ...options.env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  alive.add(child);
  let output = '';
  const logs = new Map<string, number>();
  let partial = '';
  const keep = (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    output = (output + text).slice(-20_000);
    partial += text;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line.trim() === '') continue;
      let key = line.slice(0, 120);
      try {
        const entry = JSON.parse(line) as { level?: number | string; msg?: string };
        const level = typeof entry.level === 'number' ? ({ 40: 'warn', 50: 'error', 60: 'fatal' } as Record<number, string>)[entry.level] ?? String(entry.level) : String(entry.level);
        key = `${level}: ${entry.msg ?? '(no msg)'}`;
      } catch {
        // Not pino JSON (a baseline, or a crash trace): keep the raw line.
      }
      logs.set(key, (logs.get(key) ?? 0) + 1);
    }
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      alive.delete(child);
      resolve(code);
    }),
  );
  if (child.pid === undefined) throw new Error(`could not start ${options.name}`);
  const pid = child.pid;

  const deadline = Date.now() + (options.readyTimeoutMs ?? 20_000);
  let readyMs: number;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${options.name} exited during start-up: ${output.slice(-2000)}`);
    const status = await fetch(`${url}${options.readyPath}`, { signal: AbortSignal.timeout(1_000) }).then(
      (response) => response.status,
      () => 0,
    );
    if ((status >= 200 && status < 300) || (options.anyAnswer === true && status > 0)) {
      readyMs = performance.now() - startedAt;
      break;
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${options.name} not ready within ${options.readyTimeoutMs ?? 20_000} ms (last status ${status}): ${output.slice(-2000)}`);
    }
    await sleep(10);
  }

  return {
    name: options.name,
    pid,
    url,
    readyMs,
    memory: () => memoryOf(pid),
    logSummary: () => new Map(logs),
    output: () => output,
    stop: async () => {
      const started = performance.now();
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(timer);
      }
      return performance.now() - started;
    },
  };
}
