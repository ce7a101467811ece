import { connect, type Socket } from 'node:net';

/** One request of a load run, built before the run starts so building it costs nothing while sending. */
export interface Shot {
  /** Index into `LoadPlan.targets`; default 0. */
  target?: number;
  path: string;
  headers: Record<string, string>;
  body: string;
}

export interface LoadPlan {
  /** Base URLs such as `http://127.0.0.1:3000`; shots pick one by index (round robin across replicas). */
  targets: readonly string[];
  /** Requests per second; shot i is due at start + i / rate whatever happened to the earlier ones. */
  rate: number;
  shots: readonly Shot[];
  /** A request still unanswered after this is an error (Slack gives 3 s, OCI 5 s). */
  timeoutMs: number;
}

export interface LoadResult {
  rate: number;
  sent: number;
  ok: number;
  errors: number;
  /** HTTP status (or `timeout` / `network`) → count, for the ones that were not 2xx. */
  failures: Record<string, number>;
  /** Successful latencies in ms, sorted, measured from when the request was DUE (not when it was sent). */
  latencies: Float64Array;
  p50: number;
  p99: number;
  max: number;
  /** Worst lag between a shot's due time and the moment it was really written: the generator's own slack. */
  maxSendLagMs: number;
  /** Most connections open at once: how many requests the server had queued. */
  connections: number;
  wallMs: number;
}

/** Nearest-rank percentile of sorted values; NaN when empty. */
export function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1] ?? Number.NaN;
}

/** Several runs of one plan taken as one: latencies pooled, counts added, worst lags and peaks kept. */
export function mergeLoadResults(results: readonly LoadResult[]): LoadResult {
  const latencies = Float64Array.from(results.flatMap((result) => [...result.latencies])).sort();
  const failures: Record<string, number> = {};
  for (const result of results) for (const [key, count] of Object.entries(result.failures)) failures[key] = (failures[key] ?? 0) + count;
  const sum = (pick: (result: LoadResult) => number) => results.reduce((total, result) => total + pick(result), 0);
  return {
    rate: results[0]?.rate ?? Number.NaN,
    sent: sum((result) => result.sent),
    ok: sum((result) => result.ok),
    errors: sum((result) => result.errors),
    failures,
    latencies,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    max: latencies.at(-1) ?? Number.NaN,
    maxSendLagMs: Math.max(...results.map((result) => result.maxSendLagMs)),
    connections: Math.max(...results.map((result) => result.connections)),
    wallMs: sum((result) => result.wallMs),
  };
}

/**
 * Calls `fire(i, dueAt)` for i = 0..count-1 at `rate` per second on a fixed schedule (a 1 ms timer loop that
 * fires everything due); resolves with the schedule's start once the last one is fired.
 */
export async function openLoop(count: number, rate: number, fire: (index: number, dueAt: number) => void): Promise<number> {
  const intervalMs = 1000 / rate;
  const started = performance.now() + 2;
  await new Promise<void>((resolve) => {
    let next = 0;
    const tick = () => {
      const now = performance.now();
      while (next < count && started + next * intervalMs <= now) {
        fire(next, started + next * intervalMs);
        next += 1;
      }
      if (next < count) setTimeout(tick, 0);
      else resolve();
    };
    setTimeout(tick, 0);
  });
  return started;
}

type Outcome = number | 'timeout' | 'network';

interface InFlight {
  dueAt: number;
  settle: (outcome: Outcome) => void;
}

const HEADER_END = Buffer.from('\r\n\r\n');

/**
 * One keep-alive HTTP/1.1 connection carrying one request at a time (no pipelining, as a client pool
 * would). Responses are read just far enough to know the status and where they end (Content-Length, or
 * a chunked body's last chunk), which keeps the generator far cheaper than node:http's client.
 */
class Connection {
  readonly socket: Socket;
  current: InFlight | undefined;
  closed = false;
  private buffer: Buffer = Buffer.alloc(0);

  constructor(host: string, port: number, onIdle: (connection: Connection) => void, onClose: (connection: Connection) => void) {
    this.socket = connect({ host, port, noDelay: true });
    this.socket.on('data', (chunk: Buffer) => {
      this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
      const parsed = this.parse();
      if (!parsed) return;
      this.buffer = Buffer.alloc(0);
      const current = this.current;
      this.current = undefined;
      current?.settle(parsed.status);
      if (parsed.close) this.socket.destroy();
      else onIdle(this);
    });
    const gone = () => {
      if (this.closed) return;
      this.closed = true;
      const current = this.current;
      this.current = undefined;
      current?.settle('network');
      onClose(this);
    };
    this.socket.on('error', gone);
    this.socket.on('close', gone);
  }

  send(request: Buffer, inFlight: InFlight): void {
    this.current = inFlight;
    this.socket.write(request);
  }

  /** The finished response's status, or undefined while more bytes are needed. */
  private parse(): { status: number; close: boolean } | undefined {
    const end = this.buffer.indexOf(HEADER_END);
    if (end < 0) return undefined;
    const head = this.buffer.subarray(0, end).toString('latin1');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
    const close = /\r\nconnection:\s*close/i.test(head);
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1];
    const bodyStart = end + HEADER_END.length;
    if (length !== undefined) return this.buffer.length >= bodyStart + Number(length) ? { status, close } : undefined;
    if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
      return this.buffer.subarray(bodyStart).includes('0\r\n\r\n') ? { status, close } : undefined;
    }
    return { status, close };
  }
}

function serialize(shot: Shot, host: string): Buffer {
  const body = Buffer.from(shot.body, 'utf8');
  const headers = Object.entries(shot.headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  return Buffer.concat([Buffer.from(`POST ${shot.path} HTTP/1.1\r\nhost: ${host}\r\nconnection: keep-alive\r\n${headers}content-length: ${body.length}\r\n\r\n`, 'latin1'), body]);
}

/**
 * An open-loop load generator: requests leave on a fixed schedule and latency is counted from each
 * request's scheduled time, so a slow server cannot slow the generator down and hide its own queueing
 * (coordinated omission). A request due while every connection is busy opens another connection.
 */
export async function runLoad(plan: LoadPlan): Promise<LoadResult> {
  const targets = plan.targets.map((base) => new URL(base));
  if (targets.length === 0) throw new Error('load plan has no targets');
  const requests = plan.shots.map((shot) => {
    const url = targets[(shot.target ?? 0) % targets.length] ?? targets[0];
    return serialize(shot, url?.host ?? '');
  });
  const idle: Connection[][] = targets.map(() => []);
  const open = new Set<Connection>();
  const inFlight = new Set<InFlight>();
  const latencies: number[] = [];
  const failures: Record<string, number> = {};
  let ok = 0;
  let errors = 0;
  let maxSendLagMs = 0;
  let connections = 0;
  let allSent = false;
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (finish = resolve));

  const connection = (index: number): Connection => {
    const pool = idle[index] ?? [];
    while (pool.length > 0) {
      const reused = pool.pop();
      if (reused && !reused.closed) return reused;
    }
    const url = targets[index] ?? targets[0];
    const created = new Connection(
      url?.hostname ?? '127.0.0.1',
      Number(url?.port),
      (done) => pool.push(done),
      (gone) => {
        open.delete(gone);
        const at = pool.indexOf(gone);
        if (at >= 0) pool.splice(at, 1);
      },
    );
    open.add(created);
    connections = Math.max(connections, open.size);
    return created;
  };

  const fire = (index: number, dueAt: number) => {
    const shot = plan.shots[index];
    const request = requests[index];
    if (!shot || !request) return;
    const target = (shot.target ?? 0) % targets.length;
    const entry: InFlight = {
      dueAt,
      settle: (outcome) => {
        if (!inFlight.delete(entry)) return;
        if (typeof outcome === 'number' && outcome >= 200 && outcome < 300) {
          ok += 1;
          latencies.push(performance.now() - dueAt);
        } else {
          errors += 1;
          failures[String(outcome)] = (failures[String(outcome)] ?? 0) + 1;
        }
        if (allSent && inFlight.size === 0) finish();
      },
    };
    inFlight.add(entry);
    connection(target).send(request, entry);
    maxSendLagMs = Math.max(maxSendLagMs, performance.now() - dueAt);
  };

  // Requests past the timeout are failed and their connection dropped, as a client giving up would.
  const sweep = setInterval(() => {
    const now = performance.now();
    for (const conn of open) {
      if (conn.current && now - conn.current.dueAt > plan.timeoutMs) {
        conn.current.settle('timeout');
        conn.current = undefined;
        conn.socket.destroy();
      }
    }
  }, 50);

  const started = await openLoop(plan.shots.length, plan.rate, fire);
  allSent = true;
  if (inFlight.size > 0) await finished;
  const wallMs = performance.now() - started;
  clearInterval(sweep);
  for (const conn of open) conn.socket.destroy();

  const sorted = Float64Array.from(latencies).sort();
  return {
    rate: plan.rate,
    sent: plan.shots.length,
    ok,
    errors,
    failures,
    latencies: sorted,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    max: sorted.length > 0 ? (sorted[sorted.length - 1] ?? Number.NaN) : Number.NaN,
    maxSendLagMs,
    connections,
    wallMs,
  };
}
