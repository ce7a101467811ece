/**
 * OCI console deep links (reference/oci.md §5). Pure string building, no SDK. Every id must look like an
 * OCID, or there is no link (undefined): ids come from events and user input and end up in Slack
 * messages, so nothing else is put into a URL. A region is added as `?region=` when it is known and
 * looks like a region identifier; without it the console opens the user's home region.
 *
 * Sources: the alarm and model-deployment links are Oracle's own (alarmUrl in alarm messages, the ADS
 * `console_link`); job, job run, build pipeline and deploy pipeline paths come from Oracle's ADS and
 * gdk-vscode-extensions; the build-run path is third party and unconfirmed by Oracle. A single DevOps
 * deployment has no known link, so callers link its deploy pipeline.
 */

const CONSOLE = 'https://cloud.oracle.com';
const OCID = /^ocid1\.[a-z0-9]+\.[a-z0-9-]+\.[a-z0-9-]*(\.[a-z0-9-]+)?\.[A-Za-z0-9_-]+$/;
const REGION = /^[a-z]+-[a-z]+-\d+$/;

function isOcid(value: string): boolean {
  return value.length <= 255 && OCID.test(value);
}

function link(segments: string[], ids: string[], region: string | undefined): string | undefined {
  if (!ids.every(isOcid)) return undefined;
  const path = segments.join('/');
  return region !== undefined && REGION.test(region) ? `${CONSOLE}/${path}?region=${region}` : `${CONSOLE}/${path}`;
}

/** `https://cloud.oracle.com/data-science/job-runs/<jobRunOcid>?region=<region>` */
export function jobRunLink(jobRunId: string, region?: string): string | undefined {
  return link(['data-science', 'job-runs', jobRunId], [jobRunId], region);
}

/** `https://cloud.oracle.com/data-science/jobs/<jobOcid>?region=<region>` */
export function jobLink(jobId: string, region?: string): string | undefined {
  return link(['data-science', 'jobs', jobId], [jobId], region);
}

/** `https://cloud.oracle.com/data-science/model-deployments/<modelDeploymentOcid>?region=<region>` */
export function modelDeploymentLink(modelDeploymentId: string, region?: string): string | undefined {
  return link(['data-science', 'model-deployments', modelDeploymentId], [modelDeploymentId], region);
}

/** `https://cloud.oracle.com/devops-build/projects/<projectOcid>/build-pipelines/<buildPipelineOcid>?region=<region>` */
export function buildPipelineLink(ids: { projectId: string; buildPipelineId: string }, region?: string): string | undefined {
  return link(['devops-build', 'projects', ids.projectId, 'build-pipelines', ids.buildPipelineId], [ids.projectId, ids.buildPipelineId], region);
}

/**
 * `https://cloud.oracle.com/devops-build/projects/<projectOcid>/build-pipelines/<buildPipelineOcid>/build-runs/<buildRunOcid>?region=<region>`;
 * projectId and buildPipelineId are on the build run (getBuildRun).
 */
export function buildRunLink(ids: { projectId: string; buildPipelineId: string; buildRunId: string }, region?: string): string | undefined {
  return link(
    ['devops-build', 'projects', ids.projectId, 'build-pipelines', ids.buildPipelineId, 'build-runs', ids.buildRunId],
    [ids.projectId, ids.buildPipelineId, ids.buildRunId],
    region,
  );
}

/** `https://cloud.oracle.com/devops-deployment/projects/<projectOcid>/pipelines/<deployPipelineOcid>?region=<region>` */
export function deployPipelineLink(ids: { projectId: string; deployPipelineId: string }, region?: string): string | undefined {
  return link(['devops-deployment', 'projects', ids.projectId, 'pipelines', ids.deployPipelineId], [ids.projectId, ids.deployPipelineId], region);
}

/** `https://cloud.oracle.com/monitoring/alarms/<alarmOcid>?region=<region>` */
export function alarmLink(alarmId: string, region?: string): string | undefined {
  return link(['monitoring', 'alarms', alarmId], [alarmId], region);
}

/** `https://cloud.oracle.com/data-science/pipeline-runs/<pipelineRunOcid>` (path by analogy with job runs; unconfirmed by Oracle). */
export function pipelineRunLink(pipelineRunId: string, region?: string): string | undefined {
  return link(['data-science', 'pipeline-runs', pipelineRunId], [pipelineRunId], region);
}

type LinkedSubject = 'buildRun' | 'deployment' | 'jobRun' | 'pipelineRun' | 'modelDeployment' | 'model' | 'alarm';

/** The console page for a tracked run, from its OCID and the project/pipeline ids OCI reported with it. */
export function consoleUrlFor(subject: LinkedSubject, resourceId: string, details: Record<string, string>, region: string | undefined): string | undefined {
  const { projectId, pipelineId } = details;
  switch (subject) {
    case 'jobRun':
      return jobRunLink(resourceId, region);
    case 'pipelineRun':
      return pipelineRunLink(resourceId, region);
    case 'modelDeployment':
      return modelDeploymentLink(resourceId, region);
    case 'model':
      return link(['data-science', 'models', resourceId], [resourceId], region);
    case 'buildRun':
      return projectId && pipelineId ? buildRunLink({ projectId, buildPipelineId: pipelineId, buildRunId: resourceId }, region) : undefined;
    case 'deployment':
      return projectId && pipelineId ? deployPipelineLink({ projectId, deployPipelineId: pipelineId }, region) : undefined;
    case 'alarm':
      return alarmLink(resourceId, region);
  }
}

/** `https://cloud.oracle.com/logging/log-groups/<logGroupOcid>/logs/<logOcid>?region=<region>` (path UNCONFIRMED by Oracle docs). */
export function logLink(ids: { logGroupId: string; logId: string }, region?: string): string | undefined {
  return link(['logging', 'log-groups', ids.logGroupId, 'logs', ids.logId], [ids.logGroupId, ids.logId], region);
}
