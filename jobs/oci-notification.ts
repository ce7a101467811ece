import type { Job } from 'bullmq';
import type { Context, OciRunInfo } from '../src/context.js';
import type { AlarmNotification, ResourceEvent } from '../src/domain/oci-notification.js';
import { modelsToRetrain } from '../src/domain/retrain.js';
import { pickChannel } from '../src/domain/route.js';
import { fromOciLifecycleState, isTerminal } from '../src/domain/run-state.js';
import { hasOciResource, type RunUpdate } from '../src/domain/run.js';
import { foldAndShow, isRetry } from './fold-run.js';
import { ensureDeploymentPolling, stagesOf } from './deployment-poll.js';
import { isMlopsError } from '../src/errors.js';
import type { Logger } from '../src/log.js';
import { jobId, type NotificationJob } from '../src/queues.js';
import { consoleUrlFor } from '../src/adapters/oci/console-links.js';

/**
 * Folds one OCI notification into its run (asking OCI for the state when the event does not carry it),
 * then asks the Slack side to show the new version. Duplicate and stale deliveries change nothing and
 * therefore post nothing.
 */
export function createNotificationProcessor(context: Context) {
  return async (job: Job<NotificationJob>): Promise<void> => {
    const { notification } = job.data;
    const logger = context.logger.child({ job: job.id, queue: job.queueName, dedupeKey: notification.dedupeKey });
    const retry = { retry: isRetry(job) };
    switch (notification.type) {
      case 'event':
        await foldEvent(context, notification, logger, retry);
        return;
      case 'alarm':
        await foldAlarm(context, notification, retry);
        return;
      case 'generic': {
        const channel = pickChannel(context.config.file.routes, context.config.file.slack.defaultChannel, {
          kind: notification.kind,
          compartmentId: notification.compartmentId,
          resourceName: notification.resourceName,
        });
        await context.queues.slackStatus.add('notice', { kind: 'notice', channel, notice: notification }, { jobId: jobId('notice', notification.dedupeKey) });
        return;
      }
    }
  };
}

async function lookUp(context: Context, event: ResourceEvent): Promise<OciRunInfo | undefined> {
  switch (event.subject) {
    case 'buildRun':
      return context.oci.getBuildRun(event.resourceId);
    case 'deployment':
      return context.oci.getDeployment(event.resourceId);
    case 'jobRun':
      return event.state === undefined ? context.oci.getJobRun(event.resourceId) : undefined;
    case 'pipelineRun':
      return event.state === undefined ? context.oci.getPipelineRun(event.resourceId) : undefined;
    default:
      return undefined;
  }
}

/**
 * The run a resource's tag names, when the bot started the resource and the create call has not returned
 * yet (no alias): the run must exist, be of the event's subject and not be bound to another resource.
 * The alias is set here, so later events, and the create call's own fold, land on the same run.
 */
async function claimTaggedRun(context: Context, event: ResourceEvent): Promise<string | undefined> {
  if (!event.runTag) return undefined;
  const run = await context.runs.get(event.runTag);
  if (!run || run.subject !== event.subject) return undefined;
  if (run.resourceId !== event.resourceId && hasOciResource(run)) return undefined;
  await context.runs.setAlias(event.resourceId, run.key);
  return run.key;
}

async function foldEvent(context: Context, event: ResourceEvent, logger: Logger, retry: { retry: boolean }): Promise<void> {
  let info: OciRunInfo | undefined;
  let lookupError: string | undefined;
  try {
    info = await lookUp(context, event);
  } catch (error) {
    // A transient failure is retried by BullMQ; a final one (permission, not found) must not lose the
    // event, so the message is still updated with what the event itself says.
    if (!isMlopsError(error) || error.retryable) throw error;
    lookupError = error.userMessage;
    logger.warn({ err: error, resourceId: event.resourceId, code: error.code }, 'oci lookup refused');
  }

  const episodeKey = event.startsEpisode ? `${event.resourceId}#${event.eventTime}` : undefined;
  if (episodeKey) await context.runs.setEpisode(event.resourceId, episodeKey);
  const runKey =
    episodeKey ??
    (await context.runs.resolveAlias(event.resourceId)) ??
    (await claimTaggedRun(context, event)) ??
    (event.subject === 'modelDeployment' ? await context.runs.getEpisode(event.resourceId) : undefined) ??
    event.resourceId;

  const details: Record<string, string> = {};
  if (info?.lifecycleDetails) details.lifecycleDetails = info.lifecycleDetails;
  if (info?.projectId) details.projectId = info.projectId;
  if (info?.pipelineId) details.pipelineId = info.pipelineId;
  // A deploy pipeline started with ENVIRONMENT (by the bot or by hand): its Roll back acts on that environment.
  const environment = event.kind === 'deploy' ? info?.arguments?.ENVIRONMENT : undefined;
  if (environment && /^[a-z0-9][a-z0-9_-]{0,31}$/.test(environment)) details.environment = environment;
  if (event.details.lifecycleDetails) details.lifecycleDetails = event.details.lifecycleDetails;
  if (lookupError) details.lookupError = lookupError;
  const consoleUrl = consoleUrlFor(event.subject, event.resourceId, { ...event.details, ...details }, context.config.env.OCI_REGION);
  if (consoleUrl) details.consoleUrl = consoleUrl;

  const infoState = fromOciLifecycleState(info?.lifecycleState);
  const stages = info ? await stagesOf(context, info) : undefined;
  const at = info ? (info.timeFinished ?? info.timeUpdated ?? context.now().toISOString()) : event.eventTime;
  const update: RunUpdate = {
    key: runKey,
    resourceId: event.resourceId,
    subject: event.subject,
    kind: event.kind,
    at: at > event.eventTime ? at : event.eventTime,
    ...(infoState ?? event.state ? { state: infoState ?? event.state } : {}),
    ...((info?.displayName ?? event.resourceName) ? { name: info?.displayName ?? event.resourceName } : {}),
    ...((info?.compartmentId ?? event.compartmentId) ? { compartmentId: info?.compartmentId ?? event.compartmentId } : {}),
    ...(event.compartmentName ? { compartmentName: event.compartmentName } : {}),
    ...(info?.timeStarted ? { startedAt: info.timeStarted } : {}),
    ...(info?.timeFinished ? { finishedAt: info.timeFinished } : {}),
    ...(stages ? { stages } : {}),
    details,
    ...(event.subject === 'modelDeployment' ? { note: event.action } : {}),
  };
  await foldAndShow(context, update, retry);
  // Deployments emit no event per stage: poll while one runs (one poller per deployment, see deployment-poll.ts).
  const state = infoState ?? event.state;
  if (event.subject === 'deployment' && !lookupError && !(state && isTerminal(state))) await ensureDeploymentPolling(context, event.resourceId, runKey);
}

async function foldAlarm(context: Context, alarm: AlarmNotification, retry: { retry: boolean }): Promise<void> {
  const current = await context.runs.getEpisode(alarm.alarmId);
  const currentRun = current ? await context.runs.get(current) : undefined;
  let runKey = current;
  // An episode whose run is not written yet is being opened by another replica right now: join it.
  const opensEpisode = alarm.state === 'FIRING' && (!current || (currentRun?.state === 'RESOLVED' && alarm.timestamp > currentRun.stateAt));
  if (opensEpisode) {
    // Deliveries of one firing reach several replicas at once: the first to open the episode wins, the others join it.
    runKey = await context.runs.switchEpisode(alarm.alarmId, current, `alarm:${alarm.alarmId}#${alarm.timestamp}`);
  }
  if (!runKey) return; // an OK for an alarm we never saw firing: nothing to resolve
  const details: Record<string, string> = { severity: alarm.severity, transition: alarm.transition };
  if (alarm.summary) details.summary = alarm.summary;
  if (alarm.alarmUrl) details.consoleUrl = alarm.alarmUrl;
  if (alarm.totalMetricsFiring !== undefined) details.metrics = String(alarm.totalMetricsFiring);
  if (alarm.query) details.query = alarm.query;
  // The firing streams, so the alarm's chart draws those series rather than every stream of the metric.
  const resourceIds = alarm.streams.map((stream) => stream.dimensions.resourceId).filter((id): id is string => Boolean(id));
  if (resourceIds.length > 0) details.resourceIds = resourceIds.join(',');
  const model = Object.keys(context.config.file.models).find((name) => name === alarm.resourceName);
  if (model) details.model = model;
  // One Retrain button per model whose retrain.onAlarms names this alarm (Slack allows 25 buttons a block).
  const retrain = modelsToRetrain(context.config.file.models, alarm).slice(0, 20);
  if (retrain.length > 0) details.retrain = retrain.join(',');
  await foldAndShow(context, {
    key: runKey,
    resourceId: alarm.alarmId,
    subject: 'alarm',
    kind: 'alarm',
    at: alarm.timestamp,
    state: alarm.state,
    name: alarm.title,
    details,
    ...(alarm.transition === 'RESET' ? { note: 'reset: the metric stopped reporting' } : {}),
  }, retry);
  if (alarm.state !== 'FIRING') return;
  const episode = runKey;
  for (const name of retrain.filter((candidate) => context.config.file.models[candidate]?.retrain?.auto)) {
    await context.queues.retrain.add('alarm', { trigger: 'alarm', model: name, alarmRunKey: episode, alarmTitle: alarm.title, triggerId: alarm.dedupeKey }, { jobId: jobId('retrain', alarm.dedupeKey, name) });
  }
}
