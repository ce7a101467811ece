import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { MlopsError } from '../errors.js';
import { configFileSchema, type ConfigFile } from './config-file.js';
import { envSchema, type Env } from './env.js';

export interface Config {
  env: Env;
  file: ConfigFile;
  /** Absolute path of the config file, for messages. */
  filePath: string;
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.map((part) => (typeof part === 'number' ? `[${part}]` : String(part))).join('.').replace(/\.\[/g, '[');
}

function describeIssues(issues: readonly z.core.$ZodIssue[], prefix = ''): string[] {
  return issues.map((issue) => {
    const where = formatPath(issue.path);
    return `${prefix}${where === '' ? '(root)' : where}: ${issue.message}`;
  });
}

/**
 * Reads the environment and the YAML config file once, at start-up. Any problem throws one
 * CONFIG_INVALID error whose message names every bad key, so an operator fixes them all in one go.
 */
export function loadConfig(rawEnv: NodeJS.ProcessEnv, readFile: (path: string) => string = (path) => readFileSync(path, 'utf8')): Config {
  const problems: string[] = [];
  const envResult = envSchema.safeParse(rawEnv);
  if (!envResult.success) problems.push(...describeIssues(envResult.error.issues));

  const filePath = resolve(rawEnv.MLOPS_CONFIG?.trim() || './mlops.yaml');
  let file: ConfigFile | undefined;
  let text: string | undefined;
  try {
    text = readFile(filePath);
  } catch (error) {
    const reason = error instanceof Error && 'code' in error ? String(error.code) : 'unreadable';
    problems.push(`MLOPS_CONFIG: cannot read ${filePath} (${reason})`);
  }
  if (text !== undefined) {
    const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
    if (document.errors.length > 0) {
      problems.push(...document.errors.map((error) => `${filePath}: YAML ${error.message.split('\n')[0] ?? ''}`));
    } else {
      let data: unknown;
      let readable = true;
      try {
        // An alias to no anchor (`*x`) or an alias explosion only fails here, not while parsing.
        data = document.toJS({ maxAliasCount: 100 }) as unknown;
      } catch (error) {
        readable = false;
        problems.push(`${filePath}: YAML ${error instanceof Error ? error.message.split('\n')[0] ?? '' : String(error)}`);
      }
      if (readable) {
        const fileResult = configFileSchema.safeParse(data ?? {});
        if (fileResult.success) file = fileResult.data;
        else problems.push(...describeIssues(fileResult.error.issues, `${filePath}: `));
      }
    }
  }

  if (envResult.success && file && Object.keys(file.models).length > 0 && !envResult.data.MLFLOW_TRACKING_URI) {
    problems.push('MLFLOW_TRACKING_URI: is required when the config file lists models (promotion talks to MLflow)');
  }

  if (problems.length > 0 || !envResult.success || !file) {
    throw new MlopsError('CONFIG_INVALID', `Invalid configuration:\n  - ${problems.join('\n  - ')}`, {
      details: { problems },
    });
  }
  return { env: envResult.data, file, filePath };
}
