import type { FakeKubeApi } from '../test/fakes/fake-kube-api.js';
import type { FakeMlflow } from '../test/fakes/fake-mlflow.js';
import type { FakeOciApi, FakeResource } from '../test/fakes/fake-oci-api.js';
import type { FakeSlackUser } from '../test/fakes/fake-slack-api.js';

/**
 * The sample project the demo starts with: two models in MLflow (fraud-model's version 3 fails a quality gate), a Data Science training job, a DevOps
 * build pipeline, and inference Deployments in two Kubernetes clusters with a few revisions. churn-model
 * is promoted along dev → qa → prod: dev in its own cluster (kubeconfig context oke-dev), prod beside
 * fraud-model (oke-prod, the current context). The bot sees it only through its configuration file and
 * the stand-ins' APIs.
 */

export interface SampleUser {
  id: string;
  name: string;
  role: string;
}

export const SAMPLE_USERS: readonly SampleUser[] = [
  { id: 'U0DANA', name: 'dana', role: 'data scientist' },
  { id: 'U0AVERY', name: 'avery', role: 'approver' },
  { id: 'U0BLAKE', name: 'blake', role: 'approver, gate overrider' },
  { id: 'U0CASEY', name: 'casey', role: 'on-call engineer' },
];

export const CHANNELS: Readonly<Record<string, string>> = {
  C0MLOPS: 'mlops',
  C0TRAIN: 'ml-training',
  C0MODELS: 'model-registry',
  C0DEPLOY: 'deployments',
};

export const USERGROUPS: Readonly<Record<string, readonly string[]>> = {
  S0DS: ['U0DANA'],
  S0SRE: ['U0CASEY'],
  S0ONCALL: ['U0CASEY'],
};

/** The handles Slack shows for the user groups. */
export const USERGROUP_HANDLES: Readonly<Record<string, string>> = { S0DS: 'data-science', S0SRE: 'sre', S0ONCALL: 'oncall' };

export const NAMESPACE = 'inference';
export const COMPARTMENT_ID = 'ocid1.compartment.oc1..demo';
export const FRAUD = {
  model: 'fraud-model',
  jobId: 'ocid1.datasciencejob.oc1.iad.demofraudtrain',
  projectId: 'ocid1.datascienceproject.oc1.iad.demoproject',
  deployPipelineId: 'ocid1.devopsdeploypipeline.oc1.iad.demofrauddeploy',
} as const;
export const CHURN = {
  model: 'churn-model',
  buildPipelineId: 'ocid1.devopsbuildpipeline.oc1.iad.demochurnbuild',
  devDeployPipelineId: 'ocid1.devopsdeploypipeline.oc1.iad.demochurndev',
  prodDeployPipelineId: 'ocid1.devopsdeploypipeline.oc1.iad.demochurnprod',
} as const;
/** The kubeconfig contexts of the two clusters. */
export const CLUSTERS = { dev: 'oke-dev', prod: 'oke-prod' } as const;
/** churn-model's promotion path: environment, MLflow alias. */
export const CHURN_PATH = [
  { name: 'dev', alias: 'dev' },
  { name: 'qa', alias: 'qa' },
  { name: 'prod', alias: 'champion' },
] as const;
const DEVOPS_PROJECT = 'ocid1.devopsproject.oc1.iad.demoproject';

export function slackUsers(): Record<string, FakeSlackUser> {
  return Object.fromEntries(SAMPLE_USERS.map((user) => [user.id, { name: user.name, realName: `${user.name[0]?.toUpperCase() ?? ''}${user.name.slice(1)} (${user.role})` }]));
}

/** The bot's mlops.yaml for the sample project, as a user would write it. */
export function demoConfigFile(): Record<string, unknown> {
  return {
    slack: { defaultChannel: 'C0MLOPS', oncall: 'S0ONCALL' },
    routes: [
      { match: { kind: 'training' }, channel: 'C0TRAIN' },
      { match: { kind: 'build' }, channel: 'C0TRAIN' },
      { match: { kind: 'model' }, channel: 'C0MODELS' },
      { match: { kind: 'deploy' }, channel: 'C0DEPLOY' },
      { match: { kind: 'alarm' }, channel: 'C0DEPLOY' },
    ],
    roles: { trainers: ['S0DS'], approvers: ['U0AVERY', 'U0BLAKE'], deployers: ['S0SRE'], gateOverriders: ['U0BLAKE'] },
    approvals: { required: 1, allowSelfApproval: false, ttl: '24h' },
    train: {
      [FRAUD.model]: { dataScienceJob: { jobId: FRAUD.jobId, projectId: FRAUD.projectId, compartmentId: COMPARTMENT_ID } },
      [CHURN.model]: { devopsBuild: { buildPipelineId: CHURN.buildPipelineId } },
    },
    models: {
      [FRAUD.model]: {
        alias: 'champion',
        deployPipelineId: FRAUD.deployPipelineId,
        deployment: { namespace: NAMESPACE, name: FRAUD.model, timeout: '2m' },
        // The retraining loop: its accuracy alarm offers a Retrain of the model's training job.
        train: FRAUD.model,
        retrain: { onAlarms: ['fraud-model-accuracy*'] },
        // Quality gates: version 3 fails them, so its request needs a gate overrider's reason.
        metrics: { auc: 'higher', precision: 'higher', loss: 'lower' },
        gates: [
          { metric: 'auc', min: 0.9 },
          { metric: 'auc', maxRegression: 0.01 },
        ],
      },
      [CHURN.model]: {
        environments: [
          {
            name: 'dev',
            alias: 'dev',
            approvals: { required: 0 },
            deployPipelineId: CHURN.devDeployPipelineId,
            deployment: { context: CLUSTERS.dev, namespace: NAMESPACE, name: CHURN.model, timeout: '2m' },
          },
          { name: 'qa', alias: 'qa', approvals: { required: 1, approvers: ['U0BLAKE'] } },
          {
            name: 'prod',
            alias: 'champion',
            approvals: { required: 2, approvers: ['U0AVERY', 'U0BLAKE'] },
            deployPipelineId: CHURN.prodDeployPipelineId,
            deployment: { context: CLUSTERS.prod, namespace: NAMESPACE, name: CHURN.model, timeout: '2m' },
          },
        ],
      },
    },
  };
}

/** How long each pod takes to come up when the Deployment rolls out (a rollback then takes a few seconds). */
const ROLLOUT_STEP_MS = 600;

const modelImage = (model: string, version: string) => `registry.example.com/ml/${model}:model-v${version}`;

/** The two fake clusters, by kubeconfig context. */
export interface DemoClusters {
  prod: FakeKubeApi;
  dev: FakeKubeApi;
}

/**
 * The sample deploy pipelines: a successful deployment started by a promotion (MODEL_NAME, MODEL_VERSION
 * and, for an environment, ENVIRONMENT arguments) sets the model's inference Deployment in that
 * environment's cluster to that version's image, a new revision that rolls out.
 */
export function applyDeployment(clusters: DemoClusters, deployment: FakeResource): void {
  const items = (deployment.deploymentArguments as { items?: { name: string; value: string }[] } | undefined)?.items ?? [];
  const argument = (name: string) => items.find((item) => item.name === name)?.value;
  const model = argument('MODEL_NAME');
  const version = argument('MODEL_VERSION');
  const kube = argument('ENVIRONMENT') === 'dev' ? clusters.dev : clusters.prod;
  if (!model || !version || !kube.deployment(NAMESPACE, model)) return;
  kube.setImage(NAMESPACE, model, modelImage(model, version), { changeCause: `deploy ${model} model v${version}` });
}

export function seedSampleProject(stand: { oci: FakeOciApi; mlflow: FakeMlflow; clusters: DemoClusters }): void {
  const { oci, mlflow, clusters } = stand;
  oci.seedJob({ id: FRAUD.jobId, displayName: 'fraud-model-train', projectId: FRAUD.projectId, compartmentId: COMPARTMENT_ID });
  for (const pipeline of [CHURN.buildPipelineId, FRAUD.deployPipelineId, CHURN.devDeployPipelineId, CHURN.prodDeployPipelineId]) {
    oci.registerPipeline(pipeline, { projectId: DEVOPS_PROJECT, compartmentId: COMPARTMENT_ID });
  }

  const champion = mlflow.addRun({ auc: 0.91, precision: 0.84, loss: 0.31 }, 'fraud-baseline');
  const candidate = mlflow.addRun({ auc: 0.94, precision: 0.88, loss: 0.27 }, 'fraud-new-features');
  const v1 = mlflow.addVersion(FRAUD.model, { runId: champion });
  mlflow.addVersion(FRAUD.model, { runId: candidate });
  mlflow.addVersion(FRAUD.model, { runId: mlflow.addRun({ auc: 0.88, precision: 0.91, loss: 0.29 }, 'fraud-high-recall') });
  mlflow.setAliasDirectly(FRAUD.model, 'champion', v1);
  const churnV1 = mlflow.addVersion(CHURN.model, { runId: mlflow.addRun({ auc: 0.82 }, 'churn-baseline') });
  mlflow.addVersion(CHURN.model, { runId: mlflow.addRun({ auc: 0.83 }, 'churn-retrain') });
  mlflow.setAliasDirectly(CHURN.model, 'champion', churnV1);

  for (const [kube, name, versions] of [[clusters.prod, FRAUD.model, 3], [clusters.prod, CHURN.model, 2], [clusters.dev, CHURN.model, 1]] as const) {
    const image = (version: number) => `registry.example.com/ml/${name}:v${version}`;
    const template = (version: number) => ({ metadata: { labels: { app: name } }, spec: { containers: [{ name: 'model', image: image(version), ports: [{ containerPort: 8080 }] }] } });
    kube.createDeployment({ namespace: NAMESPACE, name, selector: { matchLabels: { app: name } }, template: template(1), replicas: 3, changeCause: `deploy ${name} v1` });
    for (let version = 2; version <= versions; version++) {
      kube.updateTemplate(NAMESPACE, name, () => template(version), { changeCause: `deploy ${name} v${version}` });
    }
    kube.setRolloutMode(NAMESPACE, name, 'stepwise', { stepMs: ROLLOUT_STEP_MS });
  }
}
