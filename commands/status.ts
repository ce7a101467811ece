import { isTerminal } from '../src/domain/run-state.js';
import { formatDuration, runDurationMs, type Run } from '../src/domain/run.js';
import { code, escapeMrkdwn, link, mention, slackDate } from '../src/slack/mrkdwn.js';
import { stateLabel } from '../src/slack/run-message.js';
import type { Context } from '../src/context.js';
import { approvalTargetLabel, type Approval } from '../src/domain/approval.js';
import type { DeploymentConfig, EnvironmentConfig } from '../src/config/config-file.js';
import { revisionOf, rolloutStatus, templateImages } from '../src/domain/rollback.js';
import { toMlopsError } from '../src/errors.js';
import { messageLink } from '../src/slack/permalink.js';
import { UsageError, type Reply, type Subcommand } from './command.js';
import { nextScheduledRetrain } from '../jobs/retrain.js';

/** The model's next scheduled retrain, when it has retrain.schedule. */
async function nextRetrainLine(model: string, context: Context): Promise<string | undefined> {
  const schedule = context.config.file.models[model]?.retrain?.schedule;
  if (!schedule) return undefined;
  const next = await nextScheduledRetrain(context, model).catch(() => undefined);
  return `Next scheduled retrain: ${next ? slackDate(next.toISOString()) : '_not scheduled yet_'} (${code(schedule)}, UTC)`;
}

/** A Deployment's revision, images and readiness in its cluster; a cluster that does not answer says so. */
async function deploymentLine(context: Context, deployment: DeploymentConfig): Promise<string> {
  const label = `${deployment.namespace}/${deployment.name}${deployment.context ? ` (context ${deployment.context})` : ''}`;
  try {
    const current = await (await context.kube(deployment.context)).getDeployment(deployment.namespace, deployment.name);
    const status = current.status ?? {};
    const ready = typeof status.readyReplicas === 'number' ? status.readyReplicas : 0;
    const wanted = typeof current.spec?.replicas === 'number' ? current.spec.replicas : 0;
    const images = templateImages(current.spec?.template).map((image) => code(image)).join(', ');
    return `Deployment ${code(label)}: revision ${revisionOf(current) ?? '?'} · ${images || '_no images_'} · ${ready}/${wanted} ready · ${escapeMrkdwn(rolloutStatus(current).message)}`;
  } catch (error) {
    return `Deployment ${code(label)}: _${escapeMrkdwn(toMlopsError(error).userMessage)}_`;
  }
}

const pendingLine = (approval: Approval) =>
  `v${approval.version} → ${code(approvalTargetLabel(approval))}, ${approval.approvers.length}/${approval.required}, ${link(messageLink(approval.channel, approval.ts), 'open')}`;

/**
 * A model with environments: each environment in path order with the version serving there and since when,
 * its pending request, and its Deployment in its cluster. Clusters are asked at once, so one that does not
 * answer delays nothing else.
 */
async function environmentsStatus(context: Context, model: string, environments: readonly EnvironmentConfig[], aliases: Readonly<Record<string, string>> | undefined, pending: readonly Approval[]): Promise<string[]> {
  const now = context.now();
  const sections = await Promise.all(
    environments.map(async (environment) => {
      const version = aliases?.[environment.alias];
      let serving = aliases ? '_nothing yet_' : '_unknown (MLflow did not answer)_';
      if (version) {
        const since = await context.aliasMoves.since(model, environment.alias, version, now);
        serving = `${link(context.mlflow?.modelVersionUrl(model, version), `v${version}`)} since ${slackDate(since.toISOString())}`;
      }
      const lines = [`*${escapeMrkdwn(environment.name)}* (${code(`@${environment.alias}`)}): ${serving}`];
      const waiting = pending.filter((approval) => approval.environment?.name === environment.name);
      for (const approval of waiting) lines.push(`   Pending: ${pendingLine(approval)}`);
      if (environment.deployment) lines.push(`   ${await deploymentLine(context, environment.deployment)}`);
      return lines.join('\n');
    }),
  );
  return [`Path: ${environments.map((environment) => escapeMrkdwn(environment.name)).join(' → ')}`, ...sections];
}

/** A model: who holds each alias and stage in MLflow (each environment of its path), its latest versions, deployments and pending requests. */
async function modelStatus(model: string, context: Context): Promise<Reply> {
  const lines: string[] = [`*${code(model)}*`];
  const config = context.config.file.models[model];
  const registered = context.mlflow ? await context.mlflow.getRegisteredModel(model).catch((error: unknown) => toMlopsError(error)) : undefined;
  const pending = (await context.approvals.pending(context.now())).filter((approval) => approval.model === model);
  if (config?.environments) {
    if (registered instanceof Error) lines.push(`MLflow: _${escapeMrkdwn(registered.userMessage)}_`);
    lines.push(...(await environmentsStatus(context, model, config.environments, registered instanceof Error ? undefined : registered?.aliases, pending)));
    if (registered && !(registered instanceof Error)) {
      const latest = [...new Set(registered.latestVersions.map((version) => version.version))].sort((a, b) => Number(b) - Number(a)).slice(0, 5);
      lines.push(`Latest versions: ${latest.length > 0 ? latest.map((version) => `v${version}`).join(', ') : '_none_'}`);
    }
    const next = await nextRetrainLine(model, context);
    if (next) lines.push(next);
    return { text: lines.join('\n') };
  }
  if (registered instanceof Error) {
    lines.push(`MLflow: _${escapeMrkdwn(registered.userMessage)}_`);
  } else if (registered) {
    const aliases = Object.entries(registered.aliases).map(([alias, version]) => `${code(`@${alias}`)} → ${link(context.mlflow?.modelVersionUrl(model, version), `v${version}`)}`);
    const stages = Object.entries(registered.stages).map(([stage, version]) => `${escapeMrkdwn(stage)} → v${version}`);
    const latest = [...new Set(registered.latestVersions.map((version) => version.version))].sort((a, b) => Number(b) - Number(a)).slice(0, 5);
    lines.push(`Aliases: ${aliases.length > 0 ? aliases.join(', ') : '_none_'}`);
    if (stages.length > 0) lines.push(`Stages: ${stages.join(', ')}`);
    lines.push(`Latest versions: ${latest.length > 0 ? latest.map((version) => `v${version}`).join(', ') : '_none_'}`);
  } else {
    lines.push('_MLflow is not configured (MLFLOW_TRACKING_URI)._');
  }
  if (config?.deployment) lines.push(await deploymentLine(context, config.deployment));
  const retrain = await nextRetrainLine(model, context);
  if (retrain) lines.push(retrain);
  lines.push(pending.length === 0 ? 'Pending approvals: _none_' : `Pending approvals:\n${pending.map((approval) => `• ${pendingLine(approval)}`).join('\n')}`);
  return { text: lines.join('\n') };
}

const USAGE = 'status [<model>|<target>|audit]';
const RECENT = 15;

function runLine(run: Run, now: Date): string {
  const duration = runDurationMs(run, now);
  const took = duration === undefined ? '' : ` · ${formatDuration(duration)}${isTerminal(run.state) ? '' : ' so far'}`;
  const who = run.startedBy ? ` · by ${mention(run.startedBy)}` : '';
  const target = run.target ? `${code(run.target)} ` : '';
  return `${stateLabel(run.state)} · ${target}${link(run.details.consoleUrl, run.name)}${took}${who} · ${slackDate(run.stateAt)}`;
}

/** `/mlops status`: recent runs with state and links; `status <target>` one target's runs; `status audit` the audit log. */
export function createStatusCommand(): Subcommand {
  return {
    name: 'status',
    usage: USAGE,
    summary:
      'Recent runs with state and links; a target for its runs; a model for its alias holders (each environment of its path with since when), versions, deployment revision and readiness in each cluster, and pending approvals; `audit` for the latest audit entries.',
    who: 'anyone',
    async run(input, { context }): Promise<Reply> {
      const now = context.now();
      const [subject, ...extra] = input.args;
      if (extra.length > 0) throw new UsageError('Too many arguments.', USAGE);
      if (subject === 'audit') {
        const entries = await context.audit.latest(RECENT);
        if (entries.length === 0) return { text: 'The audit log is empty.' };
        const lines = entries.map(
          (entry) =>
            `${slackDate(entry.at)} · ${entry.actor === 'system' ? 'system' : mention(entry.actor)} · ${code(entry.action)} ${escapeMrkdwn(entry.subject)} → ${escapeMrkdwn(entry.outcome)}${entry.jobId ? ` (job ${code(entry.jobId)})` : ''}`,
        );
        return { text: `*Latest audit entries*\n${lines.join('\n')}` };
      }
      if (subject !== undefined && Object.hasOwn(context.config.file.models, subject)) return modelStatus(subject, context);
      if (subject !== undefined) {
        if (!Object.hasOwn(context.config.file.train, subject)) {
          const targets = Object.keys(context.config.file.train).map((name) => code(name));
          throw new UsageError(`Unknown target ${code(subject)}.${targets.length > 0 ? ` Targets: ${targets.join(', ')}.` : ''}`, USAGE);
        }
        const runs = await context.runs.recent(10, subject);
        if (runs.length === 0) return { text: `No runs of ${code(subject)} yet. Start one with \`/mlops train ${escapeMrkdwn(subject)}\`.` };
        return { text: `*Latest runs of ${code(subject)}*\n${runs.map((run) => runLine(run, now)).join('\n')}` };
      }
      const sections: string[] = [];
      for (const target of Object.keys(context.config.file.train)) {
        const runs = await context.runs.recent(3, target);
        sections.push(`*${code(target)}*\n${runs.length === 0 ? '_no runs yet_' : runs.map((run) => runLine(run, now)).join('\n')}`);
      }
      const others = (await context.runs.recent(RECENT)).filter((run) => !run.target).slice(0, 10);
      if (others.length > 0) sections.push(`*Other pipeline activity*\n${others.map((run) => runLine(run, now)).join('\n')}`);
      if (sections.length === 0) return { text: 'No runs seen yet, and no train targets are configured.' };
      return { text: sections.join('\n\n') };
    },
  };
}
