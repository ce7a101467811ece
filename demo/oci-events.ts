import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FakeOciApi, FakeResource } from '../test/fakes/fake-oci-api.js';
import { COMPARTMENT_ID, FRAUD } from './sample-project.js';
import type { TrainingScript } from './training-script.js';

/**
 * OCI as it behaves on its own: runs started through the API move ACCEPTED → IN_PROGRESS → a final state
 * over a few seconds, and every change reaches the bot as OCI Notifications delivers it (the recorded event
 * shapes in test/fixtures/oci, re-addressed to the run). Events the console fires go the same way.
 */

export interface NotificationTarget {
  url: string;
  user: string;
  password: string;
}

/** The repository root (where package.json is), whether running from demo/ or dist/demo/. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

const FIXTURES = join(repoRoot(), 'test', 'fixtures', 'oci');

function fixture(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(FIXTURES, name), 'utf8')) as Record<string, unknown>;
}

/** A recorded event re-addressed to one resource, with a fresh event ID and time. */
function eventFor(fixtureName: string, resource: FakeResource, eventType?: string): Record<string, unknown> {
  const event = fixture(fixtureName);
  const data = (event.data ?? {}) as Record<string, unknown>;
  // additionalDetails describe the run the event is about: its pipeline or job, and why it failed.
  const recorded = (data.additionalDetails ?? {}) as Record<string, unknown>;
  const additionalDetails = Object.fromEntries(
    Object.keys(recorded)
      .map((name) => [name, resource[name]] as const)
      .filter(([, value]) => typeof value === 'string'),
  );
  return {
    ...event,
    ...(eventType ? { eventType } : {}),
    eventID: randomUUID(),
    eventTime: new Date().toISOString(),
    data: { ...data, additionalDetails, resourceId: resource.id, resourceName: typeof resource.displayName === 'string' ? resource.displayName : resource.id, compartmentId: COMPARTMENT_ID, compartmentName: 'mlops-demo' },
  };
}

export type DemoEventName = 'build-succeeded' | 'training-failed' | 'deployment-failed' | 'alarm-firing' | 'accuracy-alarm';

export const DEMO_EVENTS: Readonly<Record<DemoEventName, string>> = {
  'build-succeeded': 'Build succeeded',
  'training-failed': 'Training failed',
  'deployment-failed': 'Deployment failed',
  'alarm-firing': 'Alarm firing',
  'accuracy-alarm': 'Accuracy alarm',
};

/** The retraining loop's alarm: fraud-model's accuracy dropped (a custom metric the model deployment reports). */
function accuracyAlarm(): Record<string, unknown> {
  const alarm = fixture('alarm-ok-to-firing.json');
  const recorded = Array.isArray(alarm.alarmMetaData) && typeof alarm.alarmMetaData[0] === 'object' ? (alarm.alarmMetaData[0] as Record<string, unknown>) : {};
  const query = 'Accuracy[1h].mean() < 0.9';
  const id = 'ocid1.alarm.oc1.iad.demofraudaccuracy';
  const now = Date.now();
  return {
    ...alarm,
    dedupeKey: randomUUID(),
    title: 'fraud-model-accuracy-drop',
    body: 'Accuracy of fraud-model on labelled traffic fell below 0.90',
    severity: 'WARNING',
    timestampEpochMillis: now,
    timestamp: new Date(now).toISOString(),
    alarmMetaData: [
      {
        ...recorded,
        id,
        severity: 'WARNING',
        namespace: 'custom_model_quality',
        query,
        totalMetricsFiring: 1,
        dimensions: [{ model: FRAUD.model, region: 'us-ashburn-1' }],
        alarmUrl: `https://cloud.oracle.com/monitoring/alarms/${id}?region=us-ashburn-1`,
        alarmSummary: `Alarm "fraud-model-accuracy-drop" is in a "FIRING" state; because 1 metric meets the trigger rule: "${query}"`,
        metricValues: [{ 'Accuracy[1h].mean()': '0.86' }],
      },
    ],
  };
}

const STEP_MS = 1_500;

/** A training job's output up to an out-of-memory kill, one line per log entry. */
function trainingLog(started: number): string[] {
  const epochs = Array.from({ length: 36 }, (_, i) => `epoch ${i + 1}/50 - loss: ${(0.62 - i * 0.008).toFixed(4)} - auc: ${(0.81 + i * 0.003).toFixed(4)} - ${40 + (i % 7)}s`);
  return [
    `started at ${new Date(started).toISOString()} on VM.GPU.A10.1`,
    'Downloading fraud dataset from oci://training-data@demo/fraud/2026-12-01/',
    'export MLFLOW_TRACKING_TOKEN=demo-mlflow-token-Ab12Cd34Ef56Gh78',
    ...epochs,
    'Traceback (most recent call last):',
    '  File "/home/datascience/train.py", line 142, in <module>',
    '    model.fit(features, labels, batch_size=args.batch_size)',
    'numpy.core._exceptions._ArrayMemoryError: Unable to allocate 7.45 GiB for an array with shape (1000000, 1000)',
    'Killed (exit code 137)',
  ];
}

export class DemoCloud {
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;
  private counter = 0;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly oci: FakeOciApi,
    private readonly target: NotificationTarget,
    private readonly log: (line: string) => void,
    /** What a deploy pipeline does once its deployment succeeds (the sample project rolls the model out). */
    private readonly deployed: (deployment: FakeResource) => void = () => undefined,
    /** The training script: a retrain registers its version in MLflow. */
    private readonly script?: TrainingScript,
  ) {
    this.unsubscribe = oci.onCreated((resource) => void this.progress(resource, 'SUCCEEDED'));
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe();
    for (const timer of this.timers) clearTimeout(timer);
  }

  /** Delivers one event to the bot as OCI Notifications does (Basic auth, x-oci-ns-* headers). */
  async deliver(event: Record<string, unknown>): Promise<number> {
    const response = await fetch(this.target.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Basic ${Buffer.from(`${this.target.user}:${this.target.password}`).toString('base64')}`,
        'x-oci-ns-messageid': randomUUID(),
        'x-oci-ns-messagetype': 'Notification',
        'x-oci-ns-topicname': 'mlops-demo',
      },
      body: JSON.stringify(event),
    });
    await response.arrayBuffer();
    if (response.status !== 200) this.log(`OCI Notifications: the bot answered ${response.status} to ${String(event.eventType ?? event.type)}`);
    return response.status;
  }

  /** One of the console's event buttons. */
  async fire(name: DemoEventName): Promise<void> {
    const n = ++this.counter;
    switch (name) {
      case 'build-succeeded': {
        const run = this.oci.seedBuildRun({ lifecycleState: 'SUCCEEDED', displayName: `churn-model-build-${n}`, buildPipelineId: 'ocid1.devopsbuildpipeline.oc1.iad.demochurnbuild' });
        await this.deliver(eventFor('devops-updatebuildrun.json', run));
        return;
      }
      case 'training-failed': {
        const started = Date.now() - 5 * 60_000;
        const log = { compartmentId: COMPARTMENT_ID, logGroupId: 'ocid1.loggroup.oc1.iad.demotraining', logId: 'ocid1.log.oc1.iad.demojobruns' };
        const run = this.oci.seedJobRun({ lifecycleState: 'FAILED', displayName: `fraud-model-nightly-${n}`, jobId: FRAUD.jobId, projectId: FRAUD.projectId, compartmentId: COMPARTMENT_ID, lifecycleDetails: 'Job run failed: exit code 137 (out of memory)', timeStarted: new Date(started).toISOString(), timeFinished: new Date(Date.now() - 30_000).toISOString(), logDetails: { logGroupId: log.logGroupId, logId: log.logId } });
        // What the job printed before it was killed, with a credential in it that the bot must redact.
        this.oci.telemetry.addLogEntries(log, trainingLog(started).map((message, i) => ({ time: new Date(started + i * 5_000).toISOString(), message, source: run.id })));
        await this.deliver(eventFor('datascience-failedjobrun.json', run));
        return;
      }
      case 'deployment-failed': {
        // The sample pipeline's canary comes up, then the traffic shift fails.
        const deployment = this.oci.seedDeployment({ lifecycleState: 'ACCEPTED', displayName: `fraud-model-deploy-${n}`, deployPipelineId: FRAUD.deployPipelineId });
        this.oci.startDeployment(deployment.id);
        this.oci.advanceDeployment(deployment.id);
        this.oci.failStage(deployment.id, 'Update ingress weights', 'Stage "Shift 10% to the canary" failed: readiness probe failed on 2 of 3 canary pods');
        await this.deliver(eventFor('devops-updatedeployment.json', deployment));
        return;
      }
      case 'alarm-firing': {
        // The recorded alarm, re-aimed at the inference Deployment's latency metric (the dimension names the model).
        const alarm = fixture('alarm-ok-to-firing.json');
        const recorded = Array.isArray(alarm.alarmMetaData) && typeof alarm.alarmMetaData[0] === 'object' ? (alarm.alarmMetaData[0] as Record<string, unknown>) : {};
        const query = 'RequestLatencyP95[5m].mean() > 800';
        const alarmId = `ocid1.alarm.oc1.iad.demolatency${n}`;
        const metadata = {
          ...recorded,
          id: alarmId,
          namespace: 'oci_datascience_modeldeploy',
          query,
          totalMetricsFiring: 1,
          dimensions: [{ resourceDisplayName: FRAUD.model, resourceId: `ocid1.datasciencemodeldeployment.oc1.iad.demo${n}`, region: 'us-ashburn-1' }],
          alarmSummary: `Alarm "fraud-model latency" is in a "FIRING" state; because 1 metric meets the trigger rule: "${query}", with a trigger delay of 5 minutes`,
          metricValues: [{ 'RequestLatencyP95[5m].mean()': '1240' }],
        };
        const now = Date.now();
        this.oci.telemetry.seedAlarm({ id: alarmId, displayName: 'fraud-model latency', metricCompartmentId: COMPARTMENT_ID, namespace: 'oci_datascience_modeldeploy', query, resolution: '1m' });
        const resourceId = metadata.dimensions[0]?.resourceId ?? '';
        // An hour of p95 latency around 300 ms that climbs past 800 ms in the last ten minutes.
        this.oci.telemetry.seedMetric({
          compartmentId: COMPARTMENT_ID,
          namespace: 'oci_datascience_modeldeploy',
          name: 'RequestLatencyP95',
          dimensions: { resourceId, resourceDisplayName: FRAUD.model },
          points: Array.from({ length: 61 }, (_, i) => ({ at: now - (60 - i) * 60_000, value: i < 50 ? 280 + ((i * 37) % 60) : 900 + ((i * 53) % 400) })),
        });
        // It fired when the latency had stayed above the threshold for its trigger delay.
        const firedAt = now - 8 * 60_000;
        await this.deliver({ ...alarm, dedupeKey: randomUUID(), title: 'fraud-model latency', body: 'p95 latency of fraud-model above 800 ms', timestampEpochMillis: firedAt, timestamp: new Date(firedAt).toISOString(), alarmMetaData: [metadata] });
        return;
      }
      case 'accuracy-alarm':
        // Its Retrain button starts the retrain; the training script then registers the new version.
        this.script?.expectRetrain();
        await this.deliver(accuracyAlarm());
        return;
    }
  }

  /** A whole pipeline run: a build, a training job and a deployment, each moving through its states. */
  async playPipeline(): Promise<void> {
    const n = ++this.counter;
    const build = this.oci.seedBuildRun({ lifecycleState: 'ACCEPTED', displayName: `churn-model-build-${n}`, buildPipelineId: 'ocid1.devopsbuildpipeline.oc1.iad.demochurnbuild' });
    await this.progress(build, 'SUCCEEDED', true);
    const training = this.oci.seedJobRun({ lifecycleState: 'ACCEPTED', displayName: `fraud-model-train-${n}`, jobId: FRAUD.jobId, projectId: FRAUD.projectId, compartmentId: COMPARTMENT_ID });
    await this.progress(training, 'SUCCEEDED', true);
    const deployment = this.oci.seedDeployment({ lifecycleState: 'ACCEPTED', displayName: `fraud-model-deploy-${n}`, deployPipelineId: FRAUD.deployPipelineId });
    // Nobody is asked here: someone approves the canary in the OCI console, which the message shows as such.
    await this.progress(deployment, 'SUCCEEDED', true, true);
  }

  /** Moves a run through its states a step at a time, notifying the bot of each. */
  private async progress(resource: FakeResource, final: 'SUCCEEDED' | 'FAILED', announceCreation = false, approveInConsole = false): Promise<void> {
    const kind = resource.id.split('.')[1] ?? '';
    const events = EVENTS_BY_KIND[kind];
    if (!events) return;
    try {
      if (announceCreation) await this.deliver(eventFor(events.created, resource, events.createdType));
      if (kind === 'devopsdeployment' && final === 'SUCCEEDED' && this.hasStages(resource)) {
        await this.runStages(resource, events.updated, approveInConsole);
        return;
      }
      for (const state of ['IN_PROGRESS', final]) {
        await this.pause(STEP_MS);
        if (this.stopped) return;
        this.oci.setState(resource.id, state);
        if (kind === 'devopsdeployment' && state === 'SUCCEEDED') this.deployed(resource);
        if (kind === 'datasciencejobrun' && state === 'SUCCEEDED') await this.script?.succeeded(resource);
        const finished = state === 'SUCCEEDED' ? events.succeeded : state === 'FAILED' ? events.failed : events.updated;
        await this.deliver(eventFor(finished.fixture, resource, finished.type));
      }
    } catch (error) {
      if (!this.stopped) this.log(`the OCI stand-in could not move ${resource.id}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  private hasStages(resource: FakeResource): boolean {
    const progress = resource.deploymentExecutionProgress as { deployStageExecutionProgress?: Record<string, unknown> } | undefined;
    return Object.keys(progress?.deployStageExecutionProgress ?? {}).length > 0;
  }

  /**
   * A deploy pipeline with stages: one stage a step, as OCI runs them; an approval stage waits until it is
   * decided (from Slack, through approveDeployment), then the pipeline goes on. OCI sends no event per
   * stage (the bot polls); the start and the end are notified.
   */
  private async runStages(resource: FakeResource, updated: EventShape, approveInConsole: boolean): Promise<void> {
    this.oci.startDeployment(resource.id);
    await this.deliver(eventFor(updated.fixture, resource, updated.type));
    while (!this.stopped) {
      await this.pause(STEP_MS);
      const state = resource.lifecycleState;
      if (state !== 'IN_PROGRESS') {
        if (state === 'SUCCEEDED') this.deployed(resource);
        await this.deliver(eventFor(updated.fixture, resource, updated.type));
        return;
      }
      const progress = resource.deploymentExecutionProgress as { deployStageExecutionProgress?: Record<string, { deployStageId?: string; deployStageType?: string; status?: string }> } | undefined;
      const stages = Object.values(progress?.deployStageExecutionProgress ?? {});
      const waiting = stages.find((stage) => stage.status === 'IN_PROGRESS' && /APPROVAL$/.test(stage.deployStageType ?? ''));
      if (!waiting) this.oci.advanceDeployment(resource.id);
      else if (approveInConsole && waiting.deployStageId) this.oci.decideInConsole(resource.id, waiting.deployStageId, 'APPROVE');
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      this.timers.add(timer);
    });
  }
}

interface EventShape {
  fixture: string;
  type?: string;
}

/** Which notification OCI sends for each change, per resource type (oci.md, event types). */
const EVENTS_BY_KIND: Record<string, { created: string; createdType?: string; updated: EventShape; succeeded: EventShape; failed: EventShape } | undefined> = {
  datasciencejobrun: {
    created: 'datascience-createjobrun-end.json',
    updated: { fixture: 'datascience-createjobrun-end.json', type: 'com.oraclecloud.datascience.updatejobrun' },
    succeeded: { fixture: 'datascience-succeededjobrun.json' },
    failed: { fixture: 'datascience-failedjobrun.json' },
  },
  devopsbuildrun: {
    created: 'devops-createbuildrun.json',
    updated: { fixture: 'devops-updatebuildrun.json' },
    succeeded: { fixture: 'devops-updatebuildrun.json' },
    failed: { fixture: 'devops-updatebuildrun.json' },
  },
  devopsdeployment: {
    created: 'devops-createdeployment.json',
    updated: { fixture: 'devops-updatedeployment.json' },
    succeeded: { fixture: 'devops-updatedeployment.json' },
    failed: { fixture: 'devops-updatedeployment.json' },
  },
};


