import { FakeMlflow } from '../test/fakes/fake-mlflow.js';
import type { FakeResource } from '../test/fakes/fake-oci-api.js';
import { FRAUD } from './sample-project.js';

/**
 * The sample project's training script, as far as the bot can see it: a retrain of fraud-model (the job
 * run the bot starts after the accuracy alarm) logs its metrics to MLflow, tags its MLflow run with the
 * MLOPS_RUN_KEY the bot gave the job run (docs/retraining.md), registers the model, and MLflow sends its
 * model_version.created webhook to the bot.
 */

export interface MlflowWebhook {
  url: string;
  secret: string;
}

/** The run key the bot put in a job run's environment. */
function runKeyOf(run: FakeResource): string | undefined {
  const overrides = run.jobConfigurationOverrideDetails as { environmentVariables?: Record<string, unknown> } | undefined;
  const key = overrides?.environmentVariables?.MLOPS_RUN_KEY;
  return typeof key === 'string' ? key : undefined;
}

export class TrainingScript {
  /** Set when the accuracy alarm fires: the next fraud-model job run the bot starts is its retrain. */
  private expecting = false;
  private retrains = 0;

  constructor(
    private readonly mlflow: FakeMlflow,
    private readonly webhook: MlflowWebhook,
    private readonly log: (line: string) => void,
  ) {}

  expectRetrain(): void {
    this.expecting = true;
  }

  /** A job run finished: a retrain registers its model version, tagged with the bot's run key. */
  async succeeded(run: FakeResource): Promise<void> {
    const runKey = runKeyOf(run);
    if (!this.expecting || run.jobId !== FRAUD.jobId || !runKey) return;
    this.expecting = false;
    const n = ++this.retrains;
    const runId = this.mlflow.addRun({ auc: 0.95 + n / 1000, precision: 0.9, loss: 0.24 }, `fraud-retrain-${n}`, { 'mlops.run_key': runKey });
    const version = this.mlflow.addVersion(FRAUD.model, { runId });
    const response = await FakeMlflow.deliver(this.webhook.url, this.webhook.secret, 'model_version', 'created', this.mlflow.versionCreatedData(FRAUD.model, version));
    await response.arrayBuffer();
    if (response.status !== 200) this.log(`MLflow: the bot answered ${response.status} to model_version.created`);
  }
}
