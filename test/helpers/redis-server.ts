import { spawn, type ChildProcess } from 'node:child_process';
import { createConnection, createServer, Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A throwaway redis-server per test suite, on a free loopback port, with no persistence unless asked. Tests never touch a
 * Redis they did not start. Servers die with the test process: on a normal exit through the `exit` hook, and
 * on a crash or signal through a watchdog whose stdin pipe closes when this process goes away.
 */
export interface TestRedis {
  readonly url: string;
  readonly port: number;
  /** SIGTERM, waits for the exit (SIGKILL after 5 s). No-op when already down. */
  stop(): Promise<void>;
  /** Starts it again on the same port: empty, or with what it had written when durable. No-op when running. */
  start(): Promise<void>;
  /** stop() then start(): same port (and data, when durable). */
  restart(): Promise<void>;
  /** SIGKILL, as a crash would. */
  kill(): Promise<void>;
}

interface Running {
  server: ChildProcess;
  watchdog: ChildProcess;
}

const running = new Set<Running>();
process.once('exit', () => {
  for (const { server, watchdog } of running) {
    server.kill('SIGKILL');
    watchdog.kill('SIGKILL');
  }
});

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no free port'))));
    });
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One raw RESP PING; true on +PONG. Avoids a client library so nothing lingers. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('utf8');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

function unrefStream(stream: unknown): void {
  if (stream instanceof Socket) stream.unref();
}

export interface RedisOptions {
  /**
   * Durable like production should be: append-only file with `appendfsync always` in a data directory of
   * its own that survives stop()/start(), so every write Redis acknowledged is there after a restart.
   */
  durable?: boolean;
}

/** Spawns redis-server and waits for PING; rejects with its output if it exits or stays silent. */
async function launch(port: number, timeoutMs: number, dataDir: string | undefined): Promise<Running> {
  const persistence = dataDir ? ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', dataDir] : ['--appendonly', 'no', '--dir', tmpdir()];
  const server = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence, '--protected-mode', 'no', '--loglevel', 'warning', '--logfile', ''],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-4000);
  };
  server.stdout?.on('data', keep);
  server.stderr?.on('data', keep);
  if (server.pid === undefined) {
    const spawnError = await new Promise<Error>((resolve) => server.once('error', resolve));
    throw new Error(`could not run redis-server: ${spawnError.message}`);
  }
  server.on('error', () => undefined);
  // Kills the server if this process dies without running exit hooks (SIGKILL, crash): its stdin closes.
  const watchdog = spawn('sh', ['-c', `read _; kill -9 ${server.pid} 2>/dev/null`], { stdio: ['pipe', 'ignore', 'ignore'] });
  watchdog.once('error', () => undefined);
  const entry: Running = { server, watchdog };
  running.add(entry);
  server.once('exit', () => {
    running.delete(entry);
    watchdog.kill('SIGKILL');
  });
  // Neither child may keep the test process alive.
  for (const child of [server, watchdog]) {
    child.unref();
    unrefStream(child.stdin);
    unrefStream(child.stdout);
    unrefStream(child.stderr);
  }

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (server.exitCode !== null || server.signalCode !== null) {
      throw new Error(`redis-server on port ${port} exited (${server.exitCode ?? server.signalCode}): ${output.trim()}`);
    }
    if (await ping(port)) return entry;
    if (Date.now() > deadline) {
      server.kill('SIGKILL');
      throw new Error(`redis-server on port ${port} did not answer PING within ${timeoutMs} ms: ${output.trim()}`);
    }
    await sleep(20);
  }
}

async function halt(entry: Running, signal: NodeJS.Signals): Promise<void> {
  entry.watchdog.kill('SIGKILL');
  entry.server.kill(signal);
  const gone = exited(entry.server);
  if (signal !== 'SIGKILL') {
    const timer = setTimeout(() => entry.server.kill('SIGKILL'), 5_000);
    await gone;
    clearTimeout(timer);
  } else {
    await gone;
  }
}

/** Starts a fresh redis-server on a free port; retries on another port if the chosen one was taken. */
export async function startRedis(options: RedisOptions = {}): Promise<TestRedis> {
  let port = 0;
  let current: Running | undefined;
  const dataDir = options.durable ? mkdtempSync(join(tmpdir(), 'mlops-redis-')) : undefined;
  if (dataDir) process.once('exit', () => rmSync(dataDir, { recursive: true, force: true }));
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    try {
      current = await launch(port, 10_000, dataDir);
      break;
    } catch (error) {
      if (attempt >= 3) throw error;
    }
  }

  const start = async () => {
    if (current && current.server.exitCode === null && current.server.signalCode === null) return;
    current = await launch(port, 10_000, dataDir);
  };
  const down = async (signal: NodeJS.Signals) => {
    const entry = current;
    current = undefined;
    if (entry) await halt(entry, signal);
  };
  const stop = () => down('SIGTERM');
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop,
    start,
    restart: async () => {
      await stop();
      await start();
    },
    kill: () => down('SIGKILL'),
  };
}
