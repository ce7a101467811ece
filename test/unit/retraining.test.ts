import { describe, expect, it } from 'vitest';
import { configFileSchema } from '../../src/config/config-file.js';
import { modelsToRetrain, retrainTarget } from '../../src/domain/retrain.js';
import type { Run } from '../../src/domain/run.js';
import { trainTargetKind, trainTargetSourceId } from '../../src/domain/train-target.js';
import { metricsLine, renderVersionRegistered } from '../../src/slack/approval-message.js';
import type { ButtonElement } from '../../src/slack/blocks.js';
import { RETRAIN_ACTION, renderFailureAlert, renderRunMessage } from '../../src/slack/run-message.js';
import { blockKitProblems } from '../fakes/fake-slack-api.js';

const ALARM_ID = 'ocid1.alarm.oc1.iad.fraudaccuracy';

const file = configFileSchema.parse({
  slack: { defaultChannel: 'C0DEFAULT' },
  train: {
    'fraud-job': { dataScienceJob: { jobId: 'ocid1.datasciencejob.oc1.iad.j', projectId: 'ocid1.datascienceproject.oc1.iad.p', compartmentId: 'ocid1.compartment.oc1..c' } },
    'fraud-pipeline': { dataSciencePipeline: { pipelineId: 'ocid1.datasciencepipeline.oc1.iad.p', projectId: 'ocid1.datascienceproject.oc1.iad.p', compartmentId: 'ocid1.compartment.oc1..c' } },
    'churn-build': { devopsBuild: { buildPipelineId: 'ocid1.devopsbuildpipeline.oc1.iad.b' } },
  },
  models: {
    'fraud-model': { train: 'fraud-job', retrain: { onAlarms: ['fraud-model-*'] } },
    'fraud-shadow': { train: 'fraud-job', retrain: { train: 'fraud-pipeline', onAlarms: [ALARM_ID] } },
    'churn-model': { train: 'churn-build', retrain: { onAlarms: ['churn-*'], auto: true, cooldown: '6h' } },
    quiet: { train: 'churn-build' },
  },
});

function alarmRun(overrides: Partial<Run> = {}): Run {
  return {
    key: `alarm:${ALARM_ID}#2026-12-05T10:00:00.000Z`,
    resourceId: ALARM_ID,
    subject: 'alarm',
    kind: 'alarm',
    name: 'fraud-model-accuracy-drop',
    state: 'FIRING',
    stateAt: '2026-12-05T10:00:00.000Z',
    details: { severity: 'WARNING', retrain: 'fraud-model,fraud-shadow' },
    history: [{ state: 'FIRING', at: '2026-12-05T10:00:00.000Z' }],
    version: 1,
    ...overrides,
  };
}

const retrainButtons = (blocks: unknown[]) =>
  blocks.flatMap((block) => ((block as { elements?: ButtonElement[] }).elements ?? []).filter((element) => RETRAIN_ACTION.test(element.action_id ?? '')));

describe('which models an alarm retrains', () => {
  it('matches onAlarms globs against the title (case-insensitively) and OCIDs exactly, in config order', () => {
    expect(modelsToRetrain(file.models, { title: 'fraud-model-accuracy-drop', alarmId: ALARM_ID })).toEqual(['fraud-model', 'fraud-shadow']);
    expect(modelsToRetrain(file.models, { title: 'Fraud-Model-latency', alarmId: 'ocid1.alarm.oc1.iad.other' })).toEqual(['fraud-model']);
    expect(modelsToRetrain(file.models, { title: 'churn-drift', alarmId: 'ocid1.alarm.oc1.iad.x' })).toEqual(['churn-model']);
    expect(modelsToRetrain(file.models, { title: 'disk full', alarmId: 'ocid1.alarm.oc1.iad.disk' })).toEqual([]);
  });

  it('retrains with retrain.train when set, else the model’s train target', () => {
    expect(retrainTarget(file.models['fraud-shadow'])).toBe('fraud-pipeline');
    expect(retrainTarget(file.models['fraud-model'])).toBe('fraud-job');
    expect(retrainTarget(undefined)).toBeUndefined();
  });

  it('knows every kind of train target: job, Data Science pipeline and build pipeline', () => {
    expect(trainTargetKind(file.train['fraud-pipeline'] ?? { devopsBuild: { buildPipelineId: '' } })).toEqual({ kind: 'training', subject: 'pipelineRun' });
    expect(Object.values(file.train).map(trainTargetSourceId)).toEqual(['ocid1.datasciencejob.oc1.iad.j', 'ocid1.datasciencepipeline.oc1.iad.p', 'ocid1.devopsbuildpipeline.oc1.iad.b']);
  });

  it('refuses a Data Science pipeline target whose pipelineId is not a pipeline OCID, naming the key', () => {
    const parsed = configFileSchema.safeParse({ slack: { defaultChannel: 'C0DEFAULT' }, train: { bad: { dataSciencePipeline: { pipelineId: 'ocid1.datasciencejob.oc1.iad.j', projectId: 'ocid1.datascienceproject.oc1.iad.p', compartmentId: 'ocid1.compartment.oc1..c' } } } });
    expect(parsed.success).toBe(false);
  });
});

describe('Retrain buttons and the retrain run message', () => {
  it('a firing alarm shows one Retrain button per model, each with a unique action id and its model in the value', () => {
    const message = renderRunMessage(alarmRun());
    const buttons = retrainButtons(message.blocks);
    expect(buttons.map((button) => button.action_id)).toEqual(['run.retrain.fraud-model', 'run.retrain.fraud-shadow']);
    expect(buttons.map((button) => JSON.parse(button.value ?? '{}') as unknown)).toEqual([
      { run: alarmRun().key, model: 'fraud-model' },
      { run: alarmRun().key, model: 'fraud-shadow' },
    ]);
    expect(blockKitProblems(message.blocks)).toEqual([]);
    expect(retrainButtons(renderFailureAlert(alarmRun(), 'S0ONCALL').blocks)).toHaveLength(2);
  });

  it('a resolved alarm, or one naming no model, has no Retrain button', () => {
    expect(retrainButtons(renderRunMessage(alarmRun({ state: 'RESOLVED' })).blocks)).toEqual([]);
    expect(retrainButtons(renderRunMessage(alarmRun({ details: { severity: 'WARNING' } })).blocks)).toEqual([]);
  });

  it('a retrain run says which model it retrains and links the alarm it came from, or the tick it was scheduled for', () => {
    const run: Run = {
      ...alarmRun(),
      key: 'train-abc',
      resourceId: 'ocid1.datasciencejobrun.oc1.iad.r',
      subject: 'jobRun',
      kind: 'training',
      name: 'fraud-job-20261205',
      state: 'ACCEPTED',
      details: { retrainOf: 'fraud-model', trigger: 'alarm-auto', alarmRunKey: alarmRun().key, alarmTitle: 'fraud-model-accuracy-drop' },
    };
    const text = JSON.stringify(renderRunMessage(run, new Date('2026-12-05T10:01:00Z'), { alarm: 'https://slack.com/archives/C0ALARMS/p1796478661584000' }).blocks);
    expect(text).toContain('*Retrain of*\\n`fraud-model`, started automatically by alarm <https://slack.com/archives/C0ALARMS/p1796478661584000|fraud-model-accuracy-drop>');
    const scheduled = JSON.stringify(renderRunMessage({ ...run, details: { retrainOf: 'fraud-model', trigger: 'schedule', scheduledFor: '2026-12-07T03:00:00.000Z' } }).blocks);
    expect(scheduled).toContain('`fraud-model`, scheduled for <!date^');
  });
});

describe('the version-registered message', () => {
  it('shows the run’s metrics and further lines, then Request promotion', () => {
    const message = renderVersionRegistered('fraud-model', '7', 'https://mlflow.example.com/#/models/fraud-model/versions/7', '@champion', { metrics: { loss: 0.21, auc: 0.953 }, lines: ['*Gates* all passed'] });
    const texts = message.blocks.map((block) => JSON.stringify(block));
    expect(texts[1]).toContain('*Metrics* `auc` 0.953 · `loss` 0.21');
    expect(texts[2]).toContain('*Gates* all passed');
    expect(texts[3]).toContain('Request promotion to @champion');
    expect(metricsLine({})).toBeUndefined();
    expect(blockKitProblems(message.blocks)).toEqual([]);
  });
});
