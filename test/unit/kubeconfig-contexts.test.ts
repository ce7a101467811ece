import { describe, expect, it } from 'vitest';
import { kubeContextProblems } from '../../src/adapters/kube/kubeconfig-contexts.js';
import type { ModelConfig } from '../../src/config/config-file.js';

const deployment = (context?: string) => ({ ...(context ? { context } : {}), namespace: 'inference', name: 'fraud-model', timeout: 600_000 });
const MODELS: Record<string, ModelConfig> = {
  'fraud-model': {
    alias: undefined,
    archiveExisting: true,
    metrics: {},
    gates: [],
    environments: [
      { name: 'dev', alias: 'dev', autoPromote: false, confirm: 'click', gates: [], deployment: deployment('oke-dev') },
      { name: 'prod', alias: 'champion', autoPromote: false, confirm: 'click', gates: [], deployment: deployment('oke-prod') },
    ],
  },
  'churn-model': { alias: 'champion', archiveExisting: true, metrics: {}, gates: [], deployment: deployment() },
};
const KUBECONFIG = JSON.stringify({ apiVersion: 'v1', kind: 'Config', contexts: [{ name: 'oke-dev', context: { cluster: 'dev', user: 'dev' } }, { name: 'local', context: { cluster: 'local', user: 'local' } }] });

describe('kubeContextProblems: the contexts the config names, checked at start-up', () => {
  it('names the key of each context the kubeconfig does not have, and the contexts it has', () => {
    expect(kubeContextProblems(MODELS, '/etc/mlops-kube/config', () => KUBECONFIG)).toEqual([
      'models.fraud-model.environments[1].deployment.context: "oke-prod" is not a context of KUBECONFIG (/etc/mlops-kube/config); it has "oke-dev", "local"',
    ]);
  });

  it('needs KUBECONFIG when a context is named, and nothing when none is', () => {
    expect(kubeContextProblems(MODELS, undefined)).toEqual([
      'models.fraud-model.environments[0].deployment.context: "oke-dev" needs KUBECONFIG, which is not set',
      'models.fraud-model.environments[1].deployment.context: "oke-prod" needs KUBECONFIG, which is not set',
    ]);
    expect(kubeContextProblems({ 'churn-model': MODELS['churn-model'] as ModelConfig }, undefined)).toEqual([]);
  });

  it('reports an unreadable or malformed kubeconfig instead of throwing', () => {
    const missing = () => {
      throw Object.assign(new Error('no such file'), { code: 'ENOENT', syscall: 'open' });
    };
    expect(kubeContextProblems(MODELS, '/nowhere', missing)).toEqual(['KUBECONFIG: cannot read /nowhere (ENOENT)']);
    expect(kubeContextProblems(MODELS, '/bad', () => 'contexts: [unclosed')).toEqual(['KUBECONFIG: cannot read /bad (not YAML)']);
    expect(kubeContextProblems(MODELS, '/list', () => '- 1\n- 2')).toEqual(['KUBECONFIG: /list is not a kubeconfig']);
  });
});
