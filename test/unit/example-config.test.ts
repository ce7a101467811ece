import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { configFileSchema } from '../../src/config/config-file.js';
import { loadConfig } from '../../src/config/load-config.js';

const EXAMPLE = readFileSync(new URL('../../mlops.example.yaml', import.meta.url), 'utf8');

/** What the walk needs of a zod 4 schema's definition. */
interface Definition {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  in?: z.ZodType;
  element?: z.ZodType;
  valueType?: z.ZodType;
  options?: z.ZodType[];
}
const definition = (schema: z.ZodType) => schema._zod.def as unknown as Definition;
const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Key paths (`models.*.environments[].alias`) the schema accepts, or, given a value, the ones the value
 * uses: record keys (target, model and metric names) become `*`, array items `[]`.
 */
function keyPaths(schema: z.ZodType, value: unknown, path: string, out: Set<string>, walkAll: boolean): void {
  const def = definition(schema);
  switch (def.type) {
    case 'object':
      for (const [key, child] of Object.entries(def.shape ?? {})) {
        if (!walkAll && !(isRecord(value) && Object.hasOwn(value, key))) continue;
        const childPath = path ? `${path}.${key}` : key;
        out.add(childPath);
        keyPaths(child, isRecord(value) ? value[key] : undefined, childPath, out, walkAll);
      }
      return;
    case 'record':
      if (walkAll) keyPaths(def.valueType as z.ZodType, undefined, `${path}.*`, out, walkAll);
      else if (isRecord(value)) for (const item of Object.values(value)) keyPaths(def.valueType as z.ZodType, item, `${path}.*`, out, walkAll);
      return;
    case 'array':
      if (walkAll) keyPaths(def.element as z.ZodType, undefined, `${path}[]`, out, walkAll);
      else if (Array.isArray(value)) for (const item of value) keyPaths(def.element as z.ZodType, item, `${path}[]`, out, walkAll);
      return;
    case 'union':
      for (const option of def.options ?? []) keyPaths(option, value, path, out, walkAll);
      return;
    case 'optional':
    case 'default':
    case 'prefault':
    case 'nullable':
      keyPaths(def.innerType as z.ZodType, value, path, out, walkAll);
      return;
    case 'pipe':
      keyPaths(def.in as z.ZodType, value, path, out, walkAll);
      return;
    default:
      return; // a leaf: string, number, boolean, enum, transform
  }
}

describe('mlops.example.yaml', () => {
  it('loads as a valid config file', () => {
    const config = loadConfig({ SLACK_BOT_TOKEN: 'xoxb-1-2-abc', SLACK_SIGNING_SECRET: 'secret', MLOPS_CONFIG: '/etc/mlops/mlops.yaml', MLFLOW_TRACKING_URI: 'http://mlflow:5000' }, () => EXAMPLE);
    expect(Object.keys(config.file.models)).toEqual(['fraud-model', 'churn-model', 'legacy-model']);
    expect(config.file.routes.map((route) => Object.keys(route.match).sort())).toContainEqual(['compartmentId', 'kind', 'resourceName']);
  });

  it('shows every key the config accepts', () => {
    const accepted = new Set<string>();
    keyPaths(configFileSchema, undefined, '', accepted, true);
    const shown = new Set<string>();
    keyPaths(configFileSchema, parse(EXAMPLE), '', shown, false);
    expect(accepted.size).toBeGreaterThan(50); // the walk does reach into the schema
    expect([...accepted].filter((path) => !shown.has(path))).toEqual([]);
  });

  it('gives every line that sets a key a comment, on the line itself', () => {
    const uncommented = EXAMPLE.split('\n').filter((line) => /^\s*(- )?[A-Za-z][\w-]*:/.test(line) && !/\s#\s/.test(line));
    expect(uncommented).toEqual([]);
  });
});
