import type { Subject } from '../domain/oci-notification.js';

const CONSOLE = 'https://cloud.oracle.com';
const OCID = /^ocid1\.[a-z0-9]+\.[a-z0-9-]+\.[a-z0-9-]*\.[A-Za-z0-9._-]+$/;

function withRegion(path: string, region: string | undefined): string {
  return region ? `${CONSOLE}${path}?region=${encodeURIComponent(region)}` : `${CONSOLE}${path}`;
}

/**
 * The OCI console page for a tracked resource (reference/oci.md §5). Build runs need their project and
 * build pipeline; a single DevOps deployment has no known deep link, so its deploy pipeline is linked.
 * Only OCIDs are put into URLs.
 */
export function consoleUrlFor(subject: Subject, resourceId: string, details: Record<string, string>, region: string | undefined): string | undefined {
  if (!OCID.test(resourceId)) return undefined;
  const project = details.projectId && OCID.test(details.projectId) ? details.projectId : undefined;
  const pipeline = details.pipelineId && OCID.test(details.pipelineId) ? details.pipelineId : undefined;
  switch (subject) {
    case 'jobRun':
      return withRegion(`/data-science/job-runs/${resourceId}`, region);
    case 'pipelineRun':
      return withRegion(`/data-science/pipeline-runs/${resourceId}`, region);
    case 'modelDeployment':
      return withRegion(`/data-science/model-deployments/${resourceId}`, region);
    case 'model':
      return withRegion(`/data-science/models/${resourceId}`, region);
    case 'buildRun':
      return project && pipeline ? withRegion(`/devops-build/projects/${project}/build-pipelines/${pipeline}/build-runs/${resourceId}`, region) : undefined;
    case 'deployment':
      return project && pipeline ? withRegion(`/devops-deployment/projects/${project}/pipelines/${pipeline}`, region) : undefined;
    case 'alarm':
      return withRegion(`/monitoring/alarms/${resourceId}`, region);
  }
}
