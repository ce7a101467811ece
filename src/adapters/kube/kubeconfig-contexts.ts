import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';
import type { ModelConfig } from '../../config/config-file.js';
import { contextKey } from '../../domain/environments.js';

/** The error for a context KUBECONFIG does not have, the same at start-up and when a client is built. */
export function missingContextMessage(key: string, context: string, kubeconfigPath: string, known: readonly string[]): string {
  return `${key}: "${context}" is not a context of KUBECONFIG (${kubeconfigPath}); it has ${known.length > 0 ? known.map((name) => `"${name}"`).join(', ') : 'none'}`;
}

/** The error for a context named without KUBECONFIG. */
export function noKubeconfigMessage(key: string, context: string): string {
  return `${key}: "${context}" needs KUBECONFIG, which is not set`;
}

const kubeconfigSchema = z.object({ contexts: z.array(z.object({ name: z.string() }).loose()).nullish() }).loose();

/**
 * The kubeconfig contexts the config names (`deployment.context`) that KUBECONFIG cannot provide, each
 * naming its config key: checked at start-up by reading the file as YAML, without loading the Kubernetes
 * client (which rollbacks and status load on first use and check again there).
 */
export function kubeContextProblems(models: Readonly<Record<string, ModelConfig>>, kubeconfigPath: string | undefined, read: (path: string) => string = (path) => readFileSync(path, 'utf8')): string[] {
  const named = new Set<string>();
  for (const model of Object.values(models)) {
    if (model.deployment?.context) named.add(model.deployment.context);
    for (const environment of model.environments ?? []) if (environment.deployment?.context) named.add(environment.deployment.context);
  }
  if (named.size === 0) return [];
  if (!kubeconfigPath) return [...named].map((context) => noKubeconfigMessage(contextKey(models, context), context));
  let known: string[];
  try {
    const parsed = kubeconfigSchema.safeParse(parse(read(kubeconfigPath)));
    if (!parsed.success) return [`KUBECONFIG: ${kubeconfigPath} is not a kubeconfig`];
    known = (parsed.data.contexts ?? []).map((context) => context.name);
  } catch (error) {
    // A file system error carries its code (ENOENT, EACCES); YAML's own errors have codes too, so tell them apart.
    const reason = error instanceof Error && 'syscall' in error && 'code' in error ? String(error.code) : 'not YAML';
    return [`KUBECONFIG: cannot read ${kubeconfigPath} (${reason})`];
  }
  return [...named]
    .filter((context) => !known.includes(context))
    .map((context) => missingContextMessage(contextKey(models, context), context, kubeconfigPath, known));
}
