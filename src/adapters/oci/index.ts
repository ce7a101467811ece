export { createAuthProvider, type AuthProviderOptions, type OciAuthProvider } from './auth-provider.js';
export {
  alarmLink,
  buildPipelineLink,
  buildRunLink,
  deployPipelineLink,
  jobLink,
  jobRunLink,
  modelDeploymentLink,
} from './console-links.js';
export { OciGateway, type CreateBuildRunInput, type CreateDeploymentInput, type CreateJobRunInput, type CreatePipelineRunInput, type OciGatewayOptions } from './oci-gateway.js';
export type { OciRun } from './oci-runs.js';
