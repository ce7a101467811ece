import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { isMlopsError } from '../../src/errors.js';

const CONFIG_PATH = '/etc/mlops/mlops.yaml';
const ENV = {
  SLACK_BOT_TOKEN: 'xoxb-1-2-abc',
  SLACK_SIGNING_SECRET: '8f742231b10e8888abcd99yyyzzz85a5',
  MLOPS_CONFIG: CONFIG_PATH,
  MLFLOW_TRACKING_URI: 'http://mlflow.mlops.svc:5000',
};

const HEAD = `slack:
  defaultChannel: C0DEFAULT
train:
  fraud-model:
    dataScienceJob:
      jobId: ocid1.datasciencejob.oc1.iad.example
      projectId: ocid1.datascienceproject.oc1.iad.example
      compartmentId: ocid1.compartment.oc1..example
`;

function load(yaml: string) {
  return loadConfig(ENV, (path) => {
    if (path !== CONFIG_PATH) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    return yaml;
  });
}

function problems(yaml: string): string[] {
  try {
    load(yaml);
  } catch (error) {
    if (isMlopsError(error)) return (error.details?.problems as string[] | undefined) ?? [];
    throw error;
  }
  throw new Error('expected loadConfig to throw');
}

const model = (body: string) => `${HEAD}models:\n  fraud-model:\n${body.replace(/^/gm, '    ')}\n`;

describe('the second-stage config keys', () => {
  it('loads mlops.example.yaml, a three-environment model among them', () => {
    const config = load(readFileSync(new URL('../../mlops.example.yaml', import.meta.url), 'utf8'));
    const fraud = config.file.models['fraud-model'];
    expect(fraud?.environments?.map((environment) => [environment.name, environment.alias])).toEqual([
      ['dev', 'dev'],
      ['qa', 'qa'],
      ['prod', 'champion'],
    ]);
    expect(fraud?.alias).toBeUndefined();
    expect(fraud?.environments?.[1]?.soak).toBe(2 * 3_600_000);
    expect(fraud?.environments?.[2]).toMatchObject({ confirm: 'typed', approvals: { required: 2, ttl: 24 * 3_600_000 }, deployment: { context: 'oke-prod', timeout: 600_000 } });
    expect(fraud?.retrain).toMatchObject({ onAlarms: ['fraud-model-*'], auto: false, cooldown: 6 * 3_600_000, schedule: '0 3 * * 1' });
    expect(config.file.roles.gateOverriders).toEqual(['S0LEADS']);
    expect(config.file.alerts).toEqual({ logTail: true, charts: true, redact: ['corp-[A-Za-z0-9]{32}'] });
    expect(config.file.models['churn-model']?.alias).toBe('champion');
  });

  it('defaults alerts on and leaves models without environments as before', () => {
    const config = load(`${HEAD}models:\n  fraud-model: {}\n`);
    expect(config.file.alerts).toEqual({ logTail: true, charts: true, redact: [] });
    expect(config.file.models['fraud-model']).toMatchObject({ alias: 'champion', metrics: {}, gates: [] });
  });

  it('refuses duplicate environment names and aliases, naming the key', () => {
    const found = problems(model('environments:\n  - { name: dev, alias: dev }\n  - { name: dev, alias: qa }\n  - { name: prod, alias: qa }'));
    expect(found).toContain(`${CONFIG_PATH}: models.fraud-model.environments[1].name: duplicate environment name "dev"`);
    expect(found).toContain(`${CONFIG_PATH}: models.fraud-model.environments[2].alias: alias "qa" is already used by another environment`);
  });

  it('refuses a model-level alias or deployment beside environments', () => {
    const found = problems(model('alias: champion\ndeployment: { namespace: inference, name: fraud-model }\nenvironments:\n  - { name: dev, alias: dev }'));
    expect(found).toContain(`${CONFIG_PATH}: models.fraud-model.alias: belongs in each of environments[] when the model has environments`);
    expect(found).toContain(`${CONFIG_PATH}: models.fraud-model.deployment: belongs in each of environments[] when the model has environments`);
  });

  it('allows autoPromote only on the first environment with approvals.required 0, and soak only after the first', () => {
    const found = problems(model('environments:\n  - { name: dev, alias: dev, autoPromote: true, soak: 1h }\n  - { name: qa, alias: qa, autoPromote: true, approvals: { required: 0 } }'));
    expect(found).toContain(`${CONFIG_PATH}: models.fraud-model.environments[0].autoPromote: needs approvals.required: 0 in the same environment`);
    expect(found).toContain(`${CONFIG_PATH}: models.fraud-model.environments[0].soak: the first environment has no previous environment to soak in`);
    expect(found).toContain(`${CONFIG_PATH}: models.fraud-model.environments[1].autoPromote: only the first environment can be promoted to automatically`);
  });

  it('refuses maxRegression without a direction and a min above a max', () => {
    const found = problems(model('metrics: { loss: lower }\ngates:\n  - { metric: auc, maxRegression: 0.01 }\n  - { metric: loss, max: 0.2 }\nenvironments:\n  - { name: dev, alias: dev, gates: [ { metric: loss, min: 0.5 } ] }'));
    expect(found).toContain(`${CONFIG_PATH}: models.fraud-model.gates[0].maxRegression: needs a direction for "auc" in metrics (higher or lower)`);
    expect(found).toContain(`${CONFIG_PATH}: models.fraud-model.environments[0].gates[0].min: 0.5 is above the max 0.2 of "loss"`);
  });

  it('refuses unknown gate keys and a metric direction other than higher or lower', () => {
    const found = problems(model('metrics: { loss: smaller }\ngates:\n  - { metric: loss, below: 3 }'));
    expect(found.some((problem) => problem.startsWith(`${CONFIG_PATH}: models.fraud-model.gates[0]`))).toBe(true);
    expect(found.some((problem) => problem.startsWith(`${CONFIG_PATH}: models.fraud-model.metrics.loss`))).toBe(true);
  });

  it('refuses a train or retrain naming no train target, a bad cron, and auto without a cooldown', () => {
    const found = problems(model('train: nope\nretrain:\n  train: missing\n  auto: true\n  schedule: "every monday"'));
    expect(found).toContain(`${CONFIG_PATH}: models.fraud-model.train: names no train target ("nope" is not under train)`);
    expect(found).toContain(`${CONFIG_PATH}: models.fraud-model.retrain.train: names no train target ("missing" is not under train)`);
    expect(found).toContain(`${CONFIG_PATH}: models.fraud-model.retrain.schedule: must be a cron expression such as "0 3 * * 1"`);
    expect(found).toContain(`${CONFIG_PATH}: models.fraud-model.retrain.cooldown: is required with auto: true (how often an alarm may start a retrain)`);
  });

  it('refuses a retrain with no train target at all, and an invalid redact pattern', () => {
    const found = problems(`${model('retrain: { onAlarms: [x] }')}alerts:\n  redact: ['(unclosed']\n`);
    expect(found).toContain(`${CONFIG_PATH}: models.fraud-model.retrain.train: names no train target: set train on the model or retrain.train`);
    expect(found).toContain(`${CONFIG_PATH}: alerts.redact[0]: must be a valid regular expression`);
  });
});
