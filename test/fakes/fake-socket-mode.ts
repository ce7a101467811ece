import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';

/**
 * Slack's Socket Mode, server side, for the real `@slack/socket-mode` client (inside Bolt's
 * SocketModeReceiver). As docs.slack.dev describes it:
 * - the app calls `apps.connections.open` with its app-level token (xapp-) and gets a single-use
 *   `wss://…/link/?ticket=…` URL (here `ws://`, on the fake Slack API's own port);
 * - Slack greets each connection with `{"type":"hello"}`, pings it, and may ask it to reconnect with
 *   `{"type":"disconnect","reason":"refresh_requested"}`;
 * - every delivery is an envelope `{envelope_id, type, payload, accepts_response_payload, retry_attempt,
 *   retry_reason}` with type `slash_commands`, `interactive` or `events_api`; the app acknowledges with
 *   `{envelope_id, payload?}` within 3 seconds, the payload being what an HTTP app would answer.
 */

export type EnvelopeType = 'slash_commands' | 'interactive' | 'events_api';

export interface SocketAck {
  envelopeId: string;
  type: EnvelopeType;
  /** What the app answered in its acknowledgement, if anything. */
  payload: Record<string, unknown> | undefined;
  /** Milliseconds from sending the envelope to the acknowledgement. */
  ms: number;
}

/** How often the server pings each connection; the client gives up after 30 s without a ping. */
const PING_INTERVAL_MS = 5_000;
/** Slack's acknowledgement deadline. */
const ACK_TIMEOUT_MS = 3_000;

interface Connection {
  socket: WebSocket;
  ticket: string;
  ping: NodeJS.Timeout;
}

export class FakeSocketMode {
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly tickets = new Set<string>();
  private readonly connections = new Set<Connection>();
  private readonly pending = new Map<string, { type: EnvelopeType; sentAt: number; resolve: (ack: SocketAck) => void }>();
  private readonly acks: SocketAck[] = [];
  private readonly connectedListeners = new Set<() => void>();
  private opened = 0;
  private down = false;

  constructor(
    server: Server,
    private readonly baseUrl: () => string,
    private readonly appId: string,
  ) {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket, head));
  }

  /** The `apps.connections.open` answer: a fresh single-use URL. */
  open(): Record<string, unknown> {
    const ticket = randomBytes(12).toString('hex');
    this.tickets.add(ticket);
    this.opened += 1;
    const url = new URL(`/link/?ticket=${ticket}&app_id=${this.appId}`, this.baseUrl());
    url.protocol = 'ws:';
    return { ok: true, url: url.toString() };
  }

  /** How many times the app asked for a connection URL. */
  get connectionsOpened(): number {
    return this.opened;
  }

  /** Connections currently open and greeted. */
  get connected(): number {
    return [...this.connections].filter((connection) => connection.socket.readyState === connection.socket.OPEN).length;
  }

  /** Resolves once at least `count` connections are open. */
  async waitForConnections(count = 1, timeoutMs = 10_000): Promise<void> {
    if (this.connected >= count) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.connectedListeners.delete(check);
        reject(new Error(`socket mode: ${this.connected} of ${count} connections after ${timeoutMs} ms`));
      }, timeoutMs);
      const check = () => {
        if (this.connected < count) return;
        clearTimeout(timer);
        this.connectedListeners.delete(check);
        resolve();
      };
      this.connectedListeners.add(check);
    });
  }

  /**
   * Delivers one envelope on an open connection and resolves with the app's acknowledgement; rejects when
   * none arrives within Slack's 3 seconds (Slack would then retry an event, or show the user an error).
   */
  async deliver(type: EnvelopeType, payload: Record<string, unknown>, options: { retryAttempt?: number; retryReason?: string; timeoutMs?: number } = {}): Promise<SocketAck> {
    const connection = [...this.connections].find((candidate) => candidate.socket.readyState === candidate.socket.OPEN);
    if (!connection) throw new Error('socket mode: no open connection to deliver on');
    const envelopeId = randomUUID();
    const envelope = {
      envelope_id: envelopeId,
      type,
      payload,
      accepts_response_payload: type !== 'events_api',
      ...(type === 'events_api' ? { retry_attempt: options.retryAttempt ?? 0, retry_reason: options.retryReason ?? '' } : {}),
    };
    const timeoutMs = options.timeoutMs ?? ACK_TIMEOUT_MS;
    return new Promise<SocketAck>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(envelopeId);
        reject(new Error(`socket mode: envelope ${type} not acknowledged within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(envelopeId, {
        type,
        sentAt: Date.now(),
        resolve: (ack) => {
          clearTimeout(timer);
          resolve(ack);
        },
      });
      connection.socket.send(JSON.stringify(envelope));
    });
  }

  /** Every acknowledgement received, oldest first. */
  acknowledgements(): SocketAck[] {
    return structuredClone(this.acks);
  }

  /** Asks every connection to reconnect, as Slack does before recycling the server behind it. */
  requestRefresh(): void {
    for (const connection of this.connections) connection.socket.send(JSON.stringify({ type: 'disconnect', reason: 'refresh_requested', debug_info: { host: 'fake-slack' } }));
  }

  /** A Socket Mode outage: open connections drop and new ones are refused (503) until `outage(false)`. */
  outage(down: boolean): void {
    this.down = down;
    if (down) for (const connection of this.connections) connection.socket.terminate();
  }

  /** Resolves once every connection has closed (the app stopped, or moved to a new one). */
  async waitForClosed(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.connections.size > 0) {
      if (Date.now() > deadline) throw new Error(`socket mode: ${this.connections.size} connections still open after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  close(): void {
    for (const connection of this.connections) {
      clearInterval(connection.ping);
      connection.socket.terminate();
    }
    this.connections.clear();
    this.wss.close();
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://fake.slack');
    const ticket = url.searchParams.get('ticket') ?? '';
    if (this.down) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    if (url.pathname !== '/link/' || !this.tickets.delete(ticket)) {
      // A used or unknown ticket: Slack refuses the upgrade.
      socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, ticket));
  }

  private accept(socket: WebSocket, ticket: string): void {
    const connection: Connection = { socket, ticket, ping: setInterval(() => socket.ping(), PING_INTERVAL_MS) };
    connection.ping.unref();
    this.connections.add(connection);
    socket.on('message', (data, isBinary) => {
      if (isBinary) return;
      this.acknowledge(Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.concat(data as Buffer[]).toString('utf8'));
    });
    socket.on('close', () => {
      clearInterval(connection.ping);
      this.connections.delete(connection);
    });
    socket.send(
      JSON.stringify({ type: 'hello', num_connections: this.connections.size, debug_info: { host: 'fake-slack', approximate_connection_time: 18060 }, connection_info: { app_id: this.appId } }),
    );
    for (const listener of this.connectedListeners) listener();
  }

  private acknowledge(text: string): void {
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    if (typeof message !== 'object' || message === null) return;
    const { envelope_id: envelopeId, payload } = message as { envelope_id?: unknown; payload?: unknown };
    if (typeof envelopeId !== 'string') return;
    const pending = this.pending.get(envelopeId);
    if (!pending) return;
    this.pending.delete(envelopeId);
    const ack: SocketAck = {
      envelopeId,
      type: pending.type,
      payload: typeof payload === 'object' && payload !== null && Object.keys(payload).length > 0 ? (payload as Record<string, unknown>) : undefined,
      ms: Date.now() - pending.sentAt,
    };
    this.acks.push(ack);
    pending.resolve(ack);
  }
}
