import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RunningBot } from '../../src/app.js';
import { FakeMlflow } from '../fakes/fake-mlflow.js';
import { FakeSlackApi, type FakeSlackApiOptions } from '../fakes/fake-slack-api.js';
import { baseConfigFile, SIGNING_SECRET, startTestBot, waitReady } from '../helpers/bot-harness.js';
import { startTestOci, type TestOci } from '../helpers/oci.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startResponseUrlServer, type ResponseUrlServer } from '../helpers/response-url-server.js';
import { postSigned, slashCommandBody, type SignedResponse } from '../helpers/slack-request.js';

export const MLFLOW_TOKEN = 'mlflow-token';
export const OCI_USER = 'oci-topic';
export const OCI_PASSWORD = 'oci-topic-password';

export interface FaultStackOptions {
  replicas?: number;
  file?: Record<string, unknown>;
  env?: Record<string, string>;
  slack?: FakeSlackApiOptions;
  /** The bots' clock in ms; tests move it for expiry. */
  clock?: () => number;
}

/** The real bot (one or more replicas on one Redis) with every fake it talks to, for the faults suite. */
export interface FaultStack {
  redis: TestRedis;
  slack: FakeSlackApi;
  oci: TestOci;
  mlflow: FakeMlflow;
  hooks: ResponseUrlServer;
  bots: RunningBot[];
  bot: RunningBot;
  /** A signed `/mlops` command; answers with the HTTP response and the response_url it carried. */
  command(text: string, userId?: string, options?: { channelId?: string; timestampSeconds?: number; target?: RunningBot }): Promise<SignedResponse & { responseUrl: string }>;
  /** The HTTP liveness probe answers 200. */
  healthy(): Promise<boolean>;
  stop(): Promise<void>;
}

export async function startFaultStack(options: FaultStackOptions = {}): Promise<FaultStack> {
  const redis = await startRedis();
  const slack = await FakeSlackApi.start({ usergroups: { S0DS: ['U0DS1'], S0SRE: ['U0SRE1'], S0ONCALL: ['U0ONCALL'], S0LEADS: ['U0LEAD3'] }, ...options.slack });
  const oci = await startTestOci();
  const mlflow = await FakeMlflow.start({ token: MLFLOW_TOKEN });
  const hooks = await startResponseUrlServer();
  const bots: RunningBot[] = [];
  const clock = options.clock;
  for (let replica = 0; replica < (options.replicas ?? 1); replica++) {
    const started = await startTestBot({
      redisUrl: redis.url,
      slackApiUrl: slack.url,
      oci: oci.gateway,
      env: { ...oci.env, MLFLOW_TRACKING_URI: mlflow.url, MLFLOW_TRACKING_TOKEN: MLFLOW_TOKEN, OCI_NOTIFICATIONS_USER: OCI_USER, OCI_NOTIFICATIONS_PASSWORD: OCI_PASSWORD, ...options.env },
      file: options.file ?? baseConfigFile(),
      ...(clock ? { now: () => new Date(clock()) } : {}),
    });
    await waitReady(started);
    bots.push(started);
  }
  const bot = bots[0] as RunningBot;
  return {
    redis,
    slack,
    oci,
    mlflow,
    hooks,
    bots,
    bot,
    command: async (text, userId = 'U0DS1', commandOptions = {}) => {
      const responseUrl = hooks.url();
      const body = slashCommandBody({ text, userId, responseUrl, ...(commandOptions.channelId ? { channelId: commandOptions.channelId } : {}) });
      const response = await postSigned(`${(commandOptions.target ?? bot).url}/slack/events`, SIGNING_SECRET, body, {
        ...(commandOptions.timestampSeconds === undefined ? {} : { timestampSeconds: commandOptions.timestampSeconds }),
      });
      return { ...response, responseUrl };
    },
    healthy: async () => (await fetch(`${bot.url}/healthz`)).status === 200,
    stop: async () => {
      // Bots first (they hold connections to everything else), Redis last.
      const stoppers = [...bots, hooks, mlflow, oci, slack, redis];
      for (const stoppable of stoppers) await stoppable.stop();
    },
  };
}

/** A local HTTP listener that records every request it gets; `/redirect?to=<url>` answers 302 to that URL. */
export interface RecordingServer {
  origin: string;
  hits: string[];
  stop(): Promise<void>;
}

export async function startRecordingServer(): Promise<RecordingServer> {
  const state: RecordingServer = { origin: '', hits: [], stop: () => Promise.resolve() };
  const server: Server = createServer((req: IncomingMessage, res) => {
    state.hits.push(req.url ?? '');
    req.resume();
    const target = new URL(req.url ?? '/', 'http://recording.invalid');
    const to = target.pathname === '/redirect' ? target.searchParams.get('to') : null;
    if (to !== null) {
      res.writeHead(302, { location: to });
      res.end();
      return;
    }
    res.writeHead(200);
    res.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.stop = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return state;
}
