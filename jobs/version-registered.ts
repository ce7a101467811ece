import type { RunSummary } from '../src/adapters/mlflow/mlflow-client.js';
import type { Context } from '../src/context.js';
import { RUN_KEY_MLFLOW_TAG, STARTED_RUN_KEY } from '../src/domain/run.js';
import { isMlopsError } from '../src/errors.js';
import type { SlackStatusJob } from '../src/queues.js';
import { renderVersionRegistered } from '../src/slack/approval-message.js';
import { code } from '../src/slack/mrkdwn.js';
import { defaultTarget, modelChannel } from './promote.js';
import { noteInThread } from './retrain.js';

/**
 * A version MLflow registered. Its run is read with runs/get (the webhook carries the version's tags, not
 * the run's): a run tagged mlops.run_key with a run the bot started puts the "version registered" message
 * in that run's thread (and a line in the thread of the alarm that started it); any other version goes to
 * the model's channel. The run's metrics are shown either way. A run MLflow no longer has costs only the
 * metrics and the lineage; an MLflow outage is retried.
 */
export async function announceVersion(context: Context, data: Extract<SlackStatusJob, { kind: 'version' }>): Promise<void> {
  const { model, version, runId } = data;
  let run: RunSummary | undefined;
  if (runId && context.mlflow) {
    try {
      run = await context.mlflow.getRun(runId);
    } catch (error) {
      if (!isMlopsError(error) || error.retryable) throw error;
      context.logger.warn({ err: error, model, version, runId }, 'mlflow run of a new version not readable');
    }
  }
  const runKey = run?.tags[RUN_KEY_MLFLOW_TAG];
  const trained = runKey && STARTED_RUN_KEY.test(runKey) ? await context.runs.get(runKey) : undefined;
  // Promotion goes to the first environment of the path, else to the model's alias or stage.
  const first = context.config.file.models[model]?.environments?.[0];
  const target = defaultTarget(context, model);
  const label = first ? first.name : target.kind === 'alias' ? `@${target.alias}` : target.stage;
  // Gate results came through JSON: a NaN or infinite candidate value arrives as null (its note says why it failed).
  const gates = (data.gates ?? []).map((gate) => ({ ...gate, candidate: gate.candidate ?? undefined }));
  const message = renderVersionRegistered(model, version, context.mlflow?.modelVersionUrl(model, version), label, {
    ...(run ? { metrics: run.metrics } : {}),
    gates,
  });
  if (!trained) {
    await context.slack.postMessage({ channel: modelChannel(context, model), ...message });
    return;
  }
  await noteInThread(context, trained.key, message.text, { id: `version:${model}:${version}`, blocks: message.blocks });
  if (trained.details.alarmRunKey) {
    await noteInThread(context, trained.details.alarmRunKey, `:package: The retrain this alarm started registered version ${code(version)} of ${code(model)}.`, {
      id: `version:${model}:${version}`,
      linkRunKey: trained.key,
    });
  }
}
