import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { FakeKubeApi } from '../test/fakes/fake-kube-api.js';
import { FakeMlflow } from '../test/fakes/fake-mlflow.js';
import { FakeOciApi, generateTestKey } from '../test/fakes/fake-oci-api.js';
import { FakeSlackApi } from '../test/fakes/fake-slack-api.js';
import { freePort, startRedis, type TestRedis } from '../test/helpers/redis-server.js';
import { ConsoleServer } from './console-server.js';
import { DemoCloud } from './oci-events.js';
import { TrainingScript } from './training-script.js';
import { applyDeployment, CHANNELS, CLUSTERS, demoConfigFile, seedSampleProject, slackUsers, USERGROUPS, type DemoClusters } from './sample-project.js';

/**
 * `npm run demo`: the real bot (dist/src/main.js, unchanged, configured only by its environment) against
 * local stand-ins for Slack, OCI, MLflow and Kubernetes seeded with a sample project, plus a web console.
 * Ctrl-C stops everything it started.
 */

const BOT_TOKEN = 'xoxb-demo';
const KUBE_TOKEN = 'demo-kube-token';
const DEV_KUBE_TOKEN = 'demo-dev-kube-token';
const MLFLOW_TOKEN = 'demo-mlflow-token';
const here = dirname(fileURLToPath(import.meta.url));
const say = (line: string) => process.stdout.write(`${line}\n`);

async function waitForReady(url: string, bot: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (bot.exitCode !== null) throw new Error(`the bot exited with code ${bot.exitCode}`);
    const status = await fetch(`${url}/readyz`).then((response) => response.status, () => 0);
    if (status === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`the bot was not ready at ${url}/readyz within ${timeoutMs / 1000} s`);
}

async function main(): Promise<void> {
  const stops: (() => Promise<void> | void)[] = [];
  let stopping: Promise<void> | undefined;
  const stopAll = () =>
    (stopping ??= (async () => {
      for (const stop of stops.reverse()) {
        try {
          await stop();
        } catch (error) {
          process.stderr.write(`demo: while stopping: ${error instanceof Error ? error.message : String(error)}\n`);
        }
      }
    })());
  const onSignal = (signal: NodeJS.Signals) => {
    say(`\n${signal}: stopping the demo`);
    void stopAll().then(() => process.exit(0));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const dir = mkdtempSync(join(tmpdir(), 'mlops-demo-'));
    stops.push(() => rmSync(dir, { recursive: true, force: true }));

    let redisUrl = process.env.REDIS_URL;
    if (!redisUrl) {
      const redis: TestRedis = await startRedis();
      stops.push(() => redis.stop());
      redisUrl = redis.url;
    }

    const slack = await FakeSlackApi.start({ tokens: [BOT_TOKEN], channels: CHANNELS, usergroups: USERGROUPS, users: slackUsers(), limits: false, team: { id: 'T0FAKE', domain: 'fake-workspace', name: 'MLOps demo' } });
    stops.push(() => slack.stop());
    const key = generateTestKey({ tenancy: 'ocid1.tenancy.oc1..demo', user: 'ocid1.user.oc1..demo' });
    const oci = await FakeOciApi.start({ publicKeyPem: key.publicKeyPem, keyId: key.keyId });
    stops.push(() => oci.stop());
    const mlflow = await FakeMlflow.start({ token: MLFLOW_TOKEN });
    stops.push(() => mlflow.stop());
    // Two clusters, as with one OKE cluster per environment: prod (fraud-model, churn-model's prod) and dev.
    const clusters: DemoClusters = { prod: await FakeKubeApi.start({ token: KUBE_TOKEN }), dev: await FakeKubeApi.start({ token: DEV_KUBE_TOKEN }) };
    stops.push(() => clusters.prod.stop(), () => clusters.dev.stop());
    seedSampleProject({ oci, mlflow, clusters });

    // Files the bot reads: its mlops.yaml, an OCI config file with the key the fake OCI verifies, a kubeconfig
    // with a context per cluster (prod current, for fraud-model's Deployment that names none).
    const configPath = join(dir, 'mlops.yaml');
    writeFileSync(configPath, stringify(demoConfigFile()));
    const keyPath = join(dir, 'oci_api_key.pem');
    writeFileSync(keyPath, key.privateKeyPem, { mode: 0o600 });
    const ociConfigPath = join(dir, 'oci-config');
    writeFileSync(ociConfigPath, `[DEFAULT]\nuser=${key.user}\nfingerprint=${key.fingerprint}\ntenancy=${key.tenancy}\nregion=us-ashburn-1\nkey_file=${keyPath}\n`, { mode: 0o600 });
    const kubeconfigPath = join(dir, 'kubeconfig');
    writeFileSync(kubeconfigPath, FakeKubeApi.kubeconfigTextFor({ [CLUSTERS.prod]: clusters.prod, [CLUSTERS.dev]: clusters.dev }, CLUSTERS.prod, 'inference'), { mode: 0o600 });

    const signingSecret = randomBytes(16).toString('hex');
    const webhookSecret = randomBytes(16).toString('hex');
    const notifications = { user: 'oci-notifications', password: randomBytes(12).toString('hex') };
    const botPort = await freePort();
    const botUrl = `http://127.0.0.1:${botPort}`;
    const bot = spawn(process.execPath, [join(here, '..', 'src', 'main.js')], {
      env: {
        PATH: process.env.PATH ?? '',
        SLACK_BOT_TOKEN: BOT_TOKEN,
        SLACK_SIGNING_SECRET: signingSecret,
        SLACK_API_URL: slack.url,
        PORT: String(botPort),
        HOST: '127.0.0.1',
        METRICS_PORT: '0',
        METRICS_HOST: '127.0.0.1',
        REDIS_URL: redisUrl,
        MLOPS_CONFIG: configPath,
        OCI_NOTIFICATIONS_USER: notifications.user,
        OCI_NOTIFICATIONS_PASSWORD: notifications.password,
        OCI_AUTH: 'config_file',
        OCI_CONFIG_FILE: ociConfigPath,
        OCI_REGION: 'us-ashburn-1',
        OCI_DATASCIENCE_ENDPOINT: oci.url,
        OCI_DEVOPS_ENDPOINT: oci.url,
        OCI_LOGGING_ENDPOINT: oci.url,
        OCI_MONITORING_ENDPOINT: oci.url,
        MLFLOW_TRACKING_URI: mlflow.url,
        MLFLOW_TRACKING_TOKEN: MLFLOW_TOKEN,
        MLFLOW_WEBHOOK_SECRET: webhookSecret,
        KUBECONFIG: kubeconfigPath,
        LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const exited = new Promise<void>((resolve) => bot.once('exit', () => resolve()));
    stops.push(async () => {
      if (bot.exitCode === null && bot.signalCode === null) bot.kill('SIGTERM');
      await exited;
    });
    await waitForReady(botUrl, bot, 60_000);

    const log = (line: string) => process.stderr.write(`demo: ${line}\n`);
    const script = new TrainingScript(mlflow, { url: `${botUrl}/mlflow/webhooks`, secret: webhookSecret }, log);
    const cloud = new DemoCloud(oci, { url: `${botUrl}/oci/notifications`, ...notifications }, log, (deployment) => applyDeployment(clusters, deployment), script);
    stops.push(() => cloud.stop());
    const port = Number(process.env.DEMO_PORT ?? '0');
    const web = await ConsoleServer.start({ slack, mlflow, clusters, cloud, botUrl, signingSecret, publicDir: join(here, '..', '..', 'demo', 'public'), host: '127.0.0.1', port: Number.isInteger(port) ? port : 0 });
    stops.push(() => web.stop());
    bot.once('exit', (code) => {
      if (stopping) return;
      process.stderr.write(`demo: the bot exited (code ${String(code)}); stopping\n`);
      void stopAll().then(() => process.exit(1));
    });
    say(`mlops-chatops demo: the bot is running at ${botUrl} against local Slack, OCI, MLflow and Kubernetes stand-ins.`);
    say(`Console: ${web.url}`);
    say('Press Ctrl-C to stop.');
  } catch (error) {
    process.stderr.write(`demo: could not start: ${error instanceof Error ? error.message : String(error)}\n`);
    await stopAll();
    process.exit(1);
  }
}

void main();
