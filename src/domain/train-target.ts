import type { TrainTarget } from '../config/config-file.js';
import type { Subject } from './oci-notification.js';

/** What a run of a train target is, for its message and for routing. */
export function trainTargetKind(target: TrainTarget): { kind: 'training' | 'build'; subject: Extract<Subject, 'jobRun' | 'pipelineRun' | 'buildRun'> } {
  if ('dataScienceJob' in target) return { kind: 'training', subject: 'jobRun' };
  if ('dataSciencePipeline' in target) return { kind: 'training', subject: 'pipelineRun' };
  return { kind: 'build', subject: 'buildRun' };
}

/** The OCID a run of this target is started from: its job, Data Science pipeline or build pipeline. */
export function trainTargetSourceId(target: TrainTarget): string {
  if ('dataScienceJob' in target) return target.dataScienceJob.jobId;
  if ('dataSciencePipeline' in target) return target.dataSciencePipeline.pipelineId;
  return target.devopsBuild.buildPipelineId;
}
