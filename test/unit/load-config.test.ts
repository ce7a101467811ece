import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { isMlopsError, type MlopsError } from '../../src/errors.js';

const CONFIG_PATH = '/etc/mlops/mlops.yaml';

const VALID_YAML = `
slack:
  defaultChannel: C0DEFAULT
  oncall: S0ONCALL
routes:
  - match: { kind: training }
    channel: C0TRAIN
  - match: { kind: alarm, severity: CRITICAL }
    channel: C0ONCALL
roles:
  trainers: [S0DS]
  approvers: [U0LEAD1, U0LEAD2]
  deployers: [S0SRE]
approvals:
  required: 2
  allowSelfApproval: false
  ttl: 12h
train:
  fraud-model:
    dataScienceJob:
      jobId: ocid1.datasciencejob.oc1.iad.example
      projectId: ocid1.datascienceproject.oc1.iad.example
      compartmentId: ocid1.compartment.oc1..example
  churn-model:
    devopsBuild: { buildPipelineId: ocid1.devopsbuildpipeline.oc1.iad.example }
models:
  fraud-model:
    deployment: { namespace: inference, name: fraud-model }
  churn-model:
    stage: Production
`;

const MINIMAL_YAML = 'slack:\n  defaultChannel: C0DEFAULT\n';

const BASE_ENV = {
  SLACK_BOT_TOKEN: 'xoxb-1-2-abc',
  SLACK_SIGNING_SECRET: '8f742231b10e8888abcd99yyyzzz85a5',
  MLOPS_CONFIG: CONFIG_PATH,
  MLFLOW_TRACKING_URI: 'http://mlflow.mlops.svc:5000',
};

/** An injected readFile serving one file; any other path fails like a missing file. */
function files(contents: Record<string, string>): (path: string) => string {
  return (path) => {
    const text = contents[path];
    if (text === undefined) throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: 'ENOENT' });
    return text;
  };
}

/** The CONFIG_INVALID error loadConfig throws; `yaml: null` means the file does not exist. */
function configError(env: Record<string, string | undefined>, yaml: string | null = VALID_YAML): MlopsError {
  try {
    loadConfig(env, files(yaml === null ? {} : { [CONFIG_PATH]: yaml }));
  } catch (error) {
    if (isMlopsError(error)) return error;
    throw error;
  }
  throw new Error('expected loadConfig to throw');
}

describe('loadConfig: a valid environment and file', () => {
  it('loads both and applies every default', () => {
    const config = loadConfig(BASE_ENV, files({ [CONFIG_PATH]: VALID_YAML }));
    expect(config.filePath).toBe(CONFIG_PATH);
    expect(config.env).toMatchObject({
      SLACK_API_URL: 'https://slack.com/api/',
      PORT: 3000,
      HOST: '0.0.0.0',
      METRICS_PORT: 9464,
      METRICS_HOST: '0.0.0.0',
      ROLE: 'all',
      REDIS_URL: 'redis://127.0.0.1:6379',
      OCI_AUTH: 'config_file',
      OCI_CONFIRM_HOSTS: [{ kind: 'host', pattern: '*.oraclecloud.com' }],
      LOG_LEVEL: 'info',
    });
    expect(config.env.SLACK_APP_TOKEN).toBeUndefined();
    expect(config.file.approvals).toEqual({ required: 2, allowSelfApproval: false, ttl: 12 * 3_600_000 });
    expect(config.file.routes).toHaveLength(2);
    expect(config.file.train['fraud-model']).toEqual({
      dataScienceJob: {
        jobId: 'ocid1.datasciencejob.oc1.iad.example',
        projectId: 'ocid1.datascienceproject.oc1.iad.example',
        compartmentId: 'ocid1.compartment.oc1..example',
        argumentsAs: 'environment',
      },
    });
    // A model promoted by alias gets "champion" unless a legacy stage is used instead.
    expect(config.file.models['fraud-model']?.alias).toBe('champion');
    expect(config.file.models['churn-model']).toMatchObject({ stage: 'Production', alias: undefined });
  });

  it('defaults roles, approvals, routes, train and models for a minimal file', () => {
    const config = loadConfig({ ...BASE_ENV, MLFLOW_TRACKING_URI: undefined }, files({ [CONFIG_PATH]: MINIMAL_YAML }));
    expect(config.file).toEqual({
      slack: { defaultChannel: 'C0DEFAULT' },
      routes: [],
      roles: { trainers: [], approvers: [], deployers: [], gateOverriders: [] },
      approvals: { required: 1, allowSelfApproval: false, ttl: 86_400_000 },
      alerts: { logTail: true, charts: true, redact: [] },
      train: {},
      models: {},
    });
  });

  it('reads ./mlops.yaml when MLOPS_CONFIG is unset', () => {
    const seen: string[] = [];
    loadConfig({ ...BASE_ENV, MLOPS_CONFIG: undefined }, (path) => {
      seen.push(path);
      return MINIMAL_YAML;
    });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatch(/\/mlops\.yaml$/);
  });

  it('trims values, treats blank ones as unset and normalises the Slack API URL', () => {
    const config = loadConfig(
      { ...BASE_ENV, PORT: ' 8080 ', ROLE: '', SLACK_API_URL: 'http://127.0.0.1:9999/api', LOG_LEVEL: '  ' },
      files({ [CONFIG_PATH]: MINIMAL_YAML }),
    );
    expect(config.env).toMatchObject({ PORT: 8080, ROLE: 'all', SLACK_API_URL: 'http://127.0.0.1:9999/api/', LOG_LEVEL: 'info' });
  });
});

describe('loadConfig: every problem in one error', () => {
  it('names one bad variable and two bad YAML keys, with their YAML paths, in one CONFIG_INVALID error', () => {
    const yaml = VALID_YAML.replace('channel: C0TRAIN', 'channel: general').replace('approvers: [U0LEAD1, U0LEAD2]', 'approvers: [U0LEAD1, alice]');
    const error = configError({ ...BASE_ENV, PORT: 'eighty' }, yaml);
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(/^Invalid configuration:/);
    expect(error.message).toContain('PORT: must be a port number');
    expect(error.message).toContain(`${CONFIG_PATH}: routes[0].channel: must be a Slack channel ID (C...)`);
    expect(error.message).toContain(`${CONFIG_PATH}: roles.approvers[1]: must be a Slack user ID (U...) or user group ID (S...)`);
    expect(error.details.problems).toHaveLength(3);
  });

  it('lists every missing or malformed variable, including rules across variables', () => {
    const error = configError({ SLACK_BOT_TOKEN: 'not-a-token', REDIS_URL: 'http://redis:6379', ROLE: 'both', OCI_AUTH: 'magic', LOG_LEVEL: 'loud', PORT: '70000', MLOPS_CONFIG: CONFIG_PATH }, MINIMAL_YAML);
    for (const key of ['SLACK_BOT_TOKEN', 'SLACK_SIGNING_SECRET', 'REDIS_URL', 'ROLE', 'OCI_AUTH', 'LOG_LEVEL', 'PORT']) {
      expect(error.message).toMatch(new RegExp(`^  - ${key}: `, 'm'));
    }
  });

  it('reads the metrics listener from METRICS_PORT and METRICS_HOST, refusing a bad port', () => {
    expect(loadConfig({ ...BASE_ENV, METRICS_PORT: ' 9090 ', METRICS_HOST: '127.0.0.1' }, files({ [CONFIG_PATH]: VALID_YAML })).env).toMatchObject({ METRICS_PORT: 9090, METRICS_HOST: '127.0.0.1' });
    expect(configError({ ...BASE_ENV, METRICS_PORT: '99999' }, MINIMAL_YAML).message).toContain('METRICS_PORT: must be a port number');
  });

  it('says which variable is missing entirely', () => {
    const error = configError({ SLACK_SIGNING_SECRET: 'x', MLOPS_CONFIG: CONFIG_PATH }, MINIMAL_YAML);
    expect(error.message).toContain('SLACK_BOT_TOKEN: is required');
  });

  it('names nested paths inside train targets and models, and unknown keys', () => {
    const yaml = `${MINIMAL_YAML}routes:\n  - match: { kind: training, colour: blue }\n    channel: C0TRAIN\ntrain:\n  fraud-model:\n    devopsBuild: { buildPipelineId: not-an-ocid }\nmodels:\n  fraud-model:\n    deployment: { namespace: Inference, name: fraud-model }\napprovals:\n  ttl: soon\n`;
    const error = configError(BASE_ENV, yaml);
    expect(error.message).toContain(`${CONFIG_PATH}: routes[0].match: Unrecognized key: "colour"`);
    expect(error.message).toContain(`${CONFIG_PATH}: train.fraud-model`);
    expect(error.message).toContain(`${CONFIG_PATH}: models.fraud-model.deployment.namespace: must be a Kubernetes namespace name`);
    expect(error.message).toContain(`${CONFIG_PATH}: approvals.ttl: must be a duration such as 30m, 24h or 7d`);
  });

  it('refuses a missing file, naming MLOPS_CONFIG and the reason', () => {
    const error = configError(BASE_ENV, null);
    expect(error.message).toContain(`MLOPS_CONFIG: cannot read ${CONFIG_PATH} (ENOENT)`);
  });

  it('reports a missing file and bad variables together', () => {
    const error = configError({ ...BASE_ENV, ROLE: 'everything' }, null);
    expect(error.message).toContain('ROLE: ');
    expect(error.message).toContain('MLOPS_CONFIG: cannot read');
  });

  it('refuses an alias to no anchor and an alias explosion as YAML problems, not a crash', () => {
    expect(configError(BASE_ENV, `${MINIMAL_YAML}routes: *missing\n`).message).toContain(`${CONFIG_PATH}: YAML`);
    const bomb = `a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n`;
    expect(configError(BASE_ENV, `${MINIMAL_YAML}${bomb}`).message).toContain(`${CONFIG_PATH}: YAML`);
  });

  it('refuses invalid YAML with the file path', () => {
    const error = configError(BASE_ENV, 'slack:\n  defaultChannel: [C0DEFAULT\n');
    expect(error.message).toContain(`${CONFIG_PATH}: YAML `);
  });

  it('refuses duplicate keys in the YAML', () => {
    const error = configError(BASE_ENV, 'slack:\n  defaultChannel: C0A\n  defaultChannel: C0B\n');
    expect(error.message).toContain(`${CONFIG_PATH}: YAML `);
  });

  it('refuses an empty file for lacking the slack section', () => {
    expect(configError(BASE_ENV, '').message).toContain(`${CONFIG_PATH}: slack: `);
  });

  it('refuses a __proto__ key instead of letting it through', () => {
    const error = configError(BASE_ENV, 'slack:\n  defaultChannel: C0DEFAULT\n  __proto__: { oncall: U0MALLORY }\n');
    expect(error.message).toContain('Unrecognized key: "__proto__"');
    expect(({} as Record<string, unknown>).oncall).toBeUndefined();
  });

  it('refuses display names where Slack IDs are required', () => {
    const error = configError(BASE_ENV, 'slack:\n  defaultChannel: "#general"\n  oncall: "@oncall"\nroles:\n  trainers: [data-science]\n');
    expect(error.message).toContain('slack.defaultChannel: must be a Slack channel ID');
    expect(error.message).toContain('slack.oncall: must be a Slack user ID (U...) or user group ID (S...)');
    expect(error.message).toContain('roles.trainers[0]: ');
  });

  it('requires MLFLOW_TRACKING_URI when the file lists models', () => {
    const error = configError({ ...BASE_ENV, MLFLOW_TRACKING_URI: undefined });
    expect(error.message).toContain('MLFLOW_TRACKING_URI: is required when the config file lists models');
  });
});

describe('loadConfig: environment rules', () => {
  const load = (env: Record<string, string | undefined>) => loadConfig({ ...BASE_ENV, ...env }, files({ [CONFIG_PATH]: MINIMAL_YAML }));

  it('requires the signing secret unless Socket Mode (SLACK_APP_TOKEN) is used', () => {
    expect(configError({ ...BASE_ENV, SLACK_SIGNING_SECRET: undefined }, MINIMAL_YAML).message).toContain(
      'SLACK_SIGNING_SECRET: is required unless SLACK_APP_TOKEN (Socket Mode) is set',
    );
    expect(configError({ ...BASE_ENV, SLACK_SIGNING_SECRET: '   ' }, MINIMAL_YAML).message).toContain('SLACK_SIGNING_SECRET: ');
    expect(load({ SLACK_SIGNING_SECRET: undefined, SLACK_APP_TOKEN: 'xapp-1-A1-abc' }).env.SLACK_APP_TOKEN).toBe('xapp-1-A1-abc');
  });

  it('refuses an app token that is not xapp-', () => {
    expect(configError({ ...BASE_ENV, SLACK_APP_TOKEN: 'xoxb-1' }, MINIMAL_YAML).message).toContain('SLACK_APP_TOKEN: must be an app-level token');
  });

  it('still checks the rules across variables when another variable is malformed', () => {
    const error = configError({ ...BASE_ENV, SLACK_SIGNING_SECRET: undefined, OCI_AUTH: 'workload_identity', PORT: 'x', OCI_NOTIFICATIONS_USER: 'oci' }, MINIMAL_YAML);
    expect(error.message).toContain('PORT: must be a port number');
    expect(error.message).toContain('SLACK_SIGNING_SECRET: is required unless SLACK_APP_TOKEN');
    expect(error.message).toContain('OCI_REGION: is required when OCI_AUTH=workload_identity');
    expect(error.message).toContain('OCI_NOTIFICATIONS_PASSWORD: must be set together');
  });

  it('does not ask for OCI_REGION when OCI_REGION is present but malformed (that is reported instead)', () => {
    const error = configError({ ...BASE_ENV, OCI_AUTH: 'workload_identity', OCI_REGION: 'Ashburn' }, MINIMAL_YAML);
    expect(error.message).toContain('OCI_REGION: must be a region identifier');
    expect(error.message).not.toContain('OCI_REGION: is required');
  });

  it('requires OCI_REGION for workload_identity, and accepts it when given', () => {
    expect(configError({ ...BASE_ENV, OCI_AUTH: 'workload_identity' }, MINIMAL_YAML).message).toContain('OCI_REGION: is required when OCI_AUTH=workload_identity');
    expect(load({ OCI_AUTH: 'workload_identity', OCI_REGION: 'us-ashburn-1' }).env).toMatchObject({ OCI_AUTH: 'workload_identity', OCI_REGION: 'us-ashburn-1' });
    expect(configError({ ...BASE_ENV, OCI_REGION: 'Ashburn' }, MINIMAL_YAML).message).toContain('OCI_REGION: must be a region identifier');
  });

  it('requires the OCI notification user and password together', () => {
    expect(configError({ ...BASE_ENV, OCI_NOTIFICATIONS_USER: 'oci' }, MINIMAL_YAML).message).toContain('OCI_NOTIFICATIONS_PASSWORD: must be set together');
    expect(configError({ ...BASE_ENV, OCI_NOTIFICATIONS_PASSWORD: 'pw' }, MINIMAL_YAML).message).toContain('OCI_NOTIFICATIONS_USER: must be set together');
  });

  it('requires the MLflow username and password together', () => {
    expect(configError({ ...BASE_ENV, MLFLOW_TRACKING_USERNAME: 'me' }, MINIMAL_YAML).message).toContain('MLFLOW_TRACKING_PASSWORD: must be set together');
  });

  it('parses OCI_CONFIRM_HOSTS into host patterns and exact origins', () => {
    expect(load({ OCI_CONFIRM_HOSTS: '*.oraclecloud.com, notification.us-ashburn-1.oci.oraclecloud.com,http://127.0.0.1:8080' }).env.OCI_CONFIRM_HOSTS).toEqual([
      { kind: 'host', pattern: '*.oraclecloud.com' },
      { kind: 'host', pattern: 'notification.us-ashburn-1.oci.oraclecloud.com' },
      { kind: 'origin', origin: 'http://127.0.0.1:8080' },
    ]);
  });

  it('names every garbage entry of OCI_CONFIRM_HOSTS', () => {
    const error = configError({ ...BASE_ENV, OCI_CONFIRM_HOSTS: '*.oraclecloud.com,*,ftp://files.example.com,http://127.0.0.1:8080/path' }, MINIMAL_YAML);
    expect(error.message).toContain('OCI_CONFIRM_HOSTS: "*" is neither a host pattern');
    expect(error.message).toContain('OCI_CONFIRM_HOSTS: "ftp://files.example.com" must be an origin');
    expect(error.message).toContain('OCI_CONFIRM_HOSTS: "http://127.0.0.1:8080/path" must be an origin');
  });

  it('refuses endpoints and URIs that are not http(s)', () => {
    const error = configError({ ...BASE_ENV, OCI_DEVOPS_ENDPOINT: 'file:///etc/passwd', MLFLOW_TRACKING_URI: 'mlflow' }, MINIMAL_YAML);
    expect(error.message).toContain('OCI_DEVOPS_ENDPOINT: must be an http(s) URL');
    expect(error.message).toContain('MLFLOW_TRACKING_URI: must be an http(s) URL');
  });
});
