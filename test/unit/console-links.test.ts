import { describe, expect, it } from 'vitest';
import {
  alarmLink,
  buildPipelineLink,
  buildRunLink,
  deployPipelineLink,
  jobLink,
  jobRunLink,
  modelDeploymentLink,
} from '../../src/adapters/oci/console-links.js';

const JOB_RUN = 'ocid1.datasciencejobrun.oc1.iad.amaaaaaanif7xwiahljfiyubjwxtvkdkmuyn3z3ywk2bvvx3rsnrnfsymxoq';
const JOB = 'ocid1.datasciencejob.oc1.iad.amaaaaaanif7xwiaq4ihtbljqyxomf5ssrmbcpovxlkvbcxmc5zqh4yvbpfa';
const MODEL_DEPLOYMENT = 'ocid1.datasciencemodeldeployment.oc1.iad.amaaaaaanif7xwiazjdgs3wm2vj5pjc2ahkbdryj7jqmobxp6gphtoevn5pa';
const PROJECT = 'ocid1.devopsproject.oc1.iad.amaaaaaanif7xwiakbmw3ugcpm6i4jzb2yhvcw7ej3o3aqf4lqgbhxmnzlra';
const BUILD_PIPELINE = 'ocid1.devopsbuildpipeline.oc1.iad.amaaaaaanif7xwia5zsurmo3tqmzyvsdq4i3ypw2dwacvbkqh7qqg6j4jwnq';
const BUILD_RUN = 'ocid1.devopsbuildrun.oc1.iad.amaaaaaanif7xwiaq3n5vxlmkbm5gk7wpkbvwkktu7szocqu7jgtzq4i2q6q';
const DEPLOY_PIPELINE = 'ocid1.devopsdeploypipeline.oc1.iad.amaaaaaanif7xwiagdwsvfw4hbyezx5qejb2t5d5rcqbb6hq5yfvqkeib6ga';
const ALARM = 'ocid1.alarm.oc1.iad.aaaaaaaaq3yk7lw3pnbt2xtzpfhbbpjecp6lzrcebrpmcuhtdbfcwsmi5qva';

describe('OCI console links', () => {
  it('link a Data Science job run, job and model deployment in their region', () => {
    expect(jobRunLink(JOB_RUN, 'us-ashburn-1')).toBe(`https://cloud.oracle.com/data-science/job-runs/${JOB_RUN}?region=us-ashburn-1`);
    expect(jobLink(JOB, 'us-ashburn-1')).toBe(`https://cloud.oracle.com/data-science/jobs/${JOB}?region=us-ashburn-1`);
    expect(modelDeploymentLink(MODEL_DEPLOYMENT, 'eu-frankfurt-1')).toBe(`https://cloud.oracle.com/data-science/model-deployments/${MODEL_DEPLOYMENT}?region=eu-frankfurt-1`);
  });

  it('link a build run through its project and build pipeline', () => {
    expect(buildRunLink({ projectId: PROJECT, buildPipelineId: BUILD_PIPELINE, buildRunId: BUILD_RUN }, 'us-ashburn-1')).toBe(
      `https://cloud.oracle.com/devops-build/projects/${PROJECT}/build-pipelines/${BUILD_PIPELINE}/build-runs/${BUILD_RUN}?region=us-ashburn-1`,
    );
    expect(buildPipelineLink({ projectId: PROJECT, buildPipelineId: BUILD_PIPELINE })).toBe(`https://cloud.oracle.com/devops-build/projects/${PROJECT}/build-pipelines/${BUILD_PIPELINE}`);
  });

  it('link a deploy pipeline (a single deployment has no known page)', () => {
    expect(deployPipelineLink({ projectId: PROJECT, deployPipelineId: DEPLOY_PIPELINE }, 'us-phoenix-1')).toBe(
      `https://cloud.oracle.com/devops-deployment/projects/${PROJECT}/pipelines/${DEPLOY_PIPELINE}?region=us-phoenix-1`,
    );
  });

  it('link an alarm the way alarm messages do', () => {
    expect(alarmLink(ALARM, 'us-ashburn-1')).toBe(`https://cloud.oracle.com/monitoring/alarms/${ALARM}?region=us-ashburn-1`);
  });

  it('accept OCIDs with an empty region part', () => {
    expect(alarmLink('ocid1.alarm.oc1..aaaaaaaabc')).toBe('https://cloud.oracle.com/monitoring/alarms/ocid1.alarm.oc1..aaaaaaaabc');
  });

  it('leave the region out when it is unknown, so the console opens the home region', () => {
    expect(jobRunLink(JOB_RUN)).toBe(`https://cloud.oracle.com/data-science/job-runs/${JOB_RUN}`);
  });

  it('leave out a region that is not a region identifier instead of putting it into the URL', () => {
    expect(jobRunLink(JOB_RUN, 'us-ashburn-1&foo=bar')).toBe(`https://cloud.oracle.com/data-science/job-runs/${JOB_RUN}`);
    expect(jobRunLink(JOB_RUN, '')).toBe(`https://cloud.oracle.com/data-science/job-runs/${JOB_RUN}`);
  });

  it.each([
    ['an empty id', ''],
    ['a name instead of an OCID', 'fraud-model'],
    ['a path traversal', 'ocid1.datasciencejobrun.oc1.iad.abc/../../evil'],
    ['a query', 'ocid1.datasciencejobrun.oc1.iad.abc?x=1'],
    ['Slack link markup', 'ocid1.datasciencejobrun.oc1.iad.abc|click>'],
    ['another scheme', 'https://evil.example/ocid1.datasciencejobrun.oc1.iad.abc'],
    ['an over-long id', `ocid1.datasciencejobrun.oc1.iad.${'a'.repeat(300)}`],
  ])('give no link for %s', (_case, id) => {
    expect(jobRunLink(id, 'us-ashburn-1')).toBeUndefined();
    expect(alarmLink(id)).toBeUndefined();
  });

  it('give no build-run link unless every part is an OCID', () => {
    expect(buildRunLink({ projectId: 'my-project', buildPipelineId: BUILD_PIPELINE, buildRunId: BUILD_RUN })).toBeUndefined();
    expect(buildRunLink({ projectId: PROJECT, buildPipelineId: '', buildRunId: BUILD_RUN })).toBeUndefined();
    expect(deployPipelineLink({ projectId: PROJECT, deployPipelineId: 'x/y' })).toBeUndefined();
  });
});
