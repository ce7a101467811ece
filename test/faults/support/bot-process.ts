import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { TestKey } from '../../fakes/fake-oci-api.js';
import { BOT_TOKEN, eventually, SIGNING_SECRET } from '../../helpers/bot-harness.js';
import { freePort } from '../../helpers/redis-server.js';

export type Role = 'web' | 'worker' | 'all';

/** What every bot process of one test shares: Redis, the fakes it talks to and its config file. */
export interface BotWiring {
  redisUrl: string;
  slackApiUrl: string;
  /** The YAML config file, as an object. */
  file: Record<string, unknown>;
  /** The fake OCI API and the key its requests are signed with (config_file auth). */
  oci?: { url: string; key: TestKey };
  mlflowUrl?: string;
  /** A kubeconfig (the fake's kubeconfigText()). */
  kubeconfig?: string;
  env?: Record<string, string>;
}

export interface BotProcess {
  readonly role: Role;
  readonly url: string;
  /** The metrics listener (METRICS_PORT). */
  readonly metricsUrl: string;
  readonly child: ChildProcess;
  /** Everything it wrote (pino JSON lines), for failure messages. */
  output(): string;
  /** SIGKILL, as the OOM killer or a node failure would; resolves once it is gone. */
  kill(): Promise<void>;
  /** SIGTERM and wait for the exit code. */
  stop(): Promise<number | null>;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** Writes the config file, the OCI key and config, and the kubeconfig once, and returns the environment. */
function environment(wiring: BotWiring): Record<string, string> {
  const dir = mkdtempSync(join(tmpdir(), 'mlops-faults-'));
  const configPath = join(dir, 'mlops.yaml');
  writeFileSync(configPath, stringify(wiring.file));
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    SLACK_BOT_TOKEN: BOT_TOKEN,
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_API_URL: wiring.slackApiUrl,
    REDIS_URL: wiring.redisUrl,
    HOST: '127.0.0.1',
    MLOPS_CONFIG: configPath,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
  };
  if (wiring.oci) {
    const keyPath = join(dir, 'oci_api_key.pem');
    writeFileSync(keyPath, wiring.oci.key.privateKeyPem, { mode: 0o600 });
    const ociConfig = join(dir, 'oci-config');
    const { tenancy, user, fingerprint } = wiring.oci.key;
    writeFileSync(ociConfig, `[DEFAULT]\nuser=${user}\nfingerprint=${fingerprint}\ntenancy=${tenancy}\nregion=us-ashburn-1\nkey_file=${keyPath}\n`);
    Object.assign(env, {
      OCI_AUTH: 'config_file',
      OCI_CONFIG_FILE: ociConfig,
      OCI_PROFILE: 'DEFAULT',
      OCI_REGION: 'us-ashburn-1',
      OCI_DATASCIENCE_ENDPOINT: wiring.oci.url,
      OCI_DEVOPS_ENDPOINT: wiring.oci.url,
    });
  }
  if (wiring.mlflowUrl) env.MLFLOW_TRACKING_URI = wiring.mlflowUrl;
  if (wiring.kubeconfig) {
    const kubeconfigPath = join(dir, 'kubeconfig');
    writeFileSync(kubeconfigPath, wiring.kubeconfig);
    env.KUBECONFIG = kubeconfigPath;
  }
  return { ...env, ...wiring.env };
}

/**
 * Starts bot processes as operators run them: the built entry point (`node dist/src/main.js`, built by the
 * suite's global setup) in its own process, configured only by environment, so a SIGKILL is a real kill.
 */
export function botLauncher(wiring: BotWiring): { start(role: Role): Promise<BotProcess> } {
  const env = environment(wiring);
  return {
    async start(role: Role): Promise<BotProcess> {
      const port = await freePort();
      const metricsPort = await freePort();
      let output = '';
      const child = spawn(process.execPath, ['dist/src/main.js'], { env: { ...env, ROLE: role, PORT: String(port), METRICS_PORT: String(metricsPort), METRICS_HOST: '127.0.0.1' }, stdio: ['ignore', 'pipe', 'pipe'] });
      live.add(child);
      const exited = new Promise<number | null>((resolve) =>
        child.once('exit', (code) => {
          live.delete(child);
          resolve(code);
        }),
      );
      const keep = (chunk: Buffer) => {
        output = (output + chunk.toString('utf8')).slice(-200_000);
      };
      child.stdout?.on('data', keep);
      child.stderr?.on('data', keep);
      const url = `http://127.0.0.1:${port}`;
      const gone = () => child.exitCode !== null || child.signalCode !== null;
      try {
        await eventually(
          async () => {
            if (gone()) throw new Error(`bot (${role}) exited: ${output.slice(-2_000)}`);
            return (await fetch(`${url}/readyz`).catch(() => undefined))?.status === 200;
          },
          30_000,
          `bot (${role}) /readyz`,
        );
      } catch (error) {
        child.kill('SIGKILL');
        throw error;
      }
      return {
        role,
        url,
        metricsUrl: `http://127.0.0.1:${metricsPort}`,
        child,
        output: () => output,
        kill: async () => {
          if (!gone()) child.kill('SIGKILL');
          await exited;
        },
        stop: async () => {
          if (!gone()) child.kill('SIGTERM');
          return exited;
        },
      };
    },
  };
}
