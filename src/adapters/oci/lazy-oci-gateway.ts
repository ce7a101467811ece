import type { Env } from '../../config/env.js';
import type { OciDeploymentActions, OciLogSearch, OciMonitoring, OciReader, OciStarter } from '../../context.js';
import type { Logger } from '../../log.js';
import type { OciGateway } from './oci-gateway.js';

/**
 * The OCI gateway, loaded on first use: the oci-sdk service packages cost ~60 MB of memory, and a
 * `web` replica that only ingests notifications never calls OCI.
 */
export function lazyOciGateway(env: Env, logger: Logger): OciReader & OciStarter & OciDeploymentActions & { close(): Promise<void> } {
  let gateway: Promise<OciGateway> | undefined;
  const load = () =>
    (gateway ??= import('./oci-gateway.js')
      .then(({ OciGateway: Gateway }) => new Gateway(env, logger))
      .catch((error: unknown) => {
        gateway = undefined;
        throw error;
      }));
  return {
    getBuildRun: async (id) => (await load()).getBuildRun(id),
    getDeployment: async (id) => (await load()).getDeployment(id),
    getJobRun: async (id) => (await load()).getJobRun(id),
    getPipelineRun: async (id) => (await load()).getPipelineRun(id),
    createJobRun: async (request) => (await load()).createJobRun(request),
    createPipelineRun: async (request) => (await load()).createPipelineRun(request),
    createBuildRun: async (request) => (await load()).createBuildRun(request),
    createDeployment: async (request) => (await load()).createDeployment(request),
    approveDeployment: async (request) => (await load()).approveDeployment(request),
    cancelDeployment: async (request) => (await load()).cancelDeployment(request),
    getDeployStage: async (id) => (await load()).getDeployStage(id),
    close: async () => {
      if (gateway) await (await gateway).close();
    },
  };
}

/** Loads a gateway module on first use, for the same reason; a failed load is tried again next time. */
function lazy<G extends { close(): Promise<void> }>(load: () => Promise<G>): { get: () => Promise<G>; close: () => Promise<void> } {
  let gateway: Promise<G> | undefined;
  const get = () =>
    (gateway ??= load().catch((error: unknown) => {
      gateway = undefined;
      throw error;
    }));
  return { get, close: async () => (gateway ? (await gateway).close() : undefined) };
}

export function lazyLogSearch(env: Env, logger: Logger): OciLogSearch & { close(): Promise<void> } {
  const gateway = lazy(() => import('./log-search-gateway.js').then(({ LogSearchGateway }) => new LogSearchGateway(env, logger)));
  return { searchLogs: async (request, options) => (await gateway.get()).searchLogs(request, options), close: gateway.close };
}

export function lazyMonitoring(env: Env, logger: Logger): OciMonitoring & { close(): Promise<void> } {
  const gateway = lazy(() => import('./monitoring-gateway.js').then(({ MonitoringGateway }) => new MonitoringGateway(env, logger)));
  return {
    getAlarm: async (alarmId) => (await gateway.get()).getAlarm(alarmId),
    summarizeMetricsData: async (request) => (await gateway.get()).summarizeMetricsData(request),
    close: gateway.close,
  };
}
