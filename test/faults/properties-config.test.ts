import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { stringify } from 'yaml';
import { parseConfirmHosts } from '../../src/config/confirm-hosts.js';
import { parseDuration } from '../../src/config/duration.js';
import { loadConfig } from '../../src/config/load-config.js';
import { MlopsError } from '../../src/errors.js';
import { anyText } from '../helpers/arbitraries.js';
import { baseConfigFile } from '../helpers/bot-harness.js';
import { recordReliability } from './reliability.js';

const RUNS = 300;
const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const BASE_ENV = { SLACK_BOT_TOKEN: 'xoxb-1', SLACK_SIGNING_SECRET: 'secret', MLOPS_CONFIG: '/virtual/mlops.yaml', MLFLOW_TRACKING_URI: 'https://mlflow.example' };

/** loadConfig either returns a config or throws one CONFIG_INVALID MlopsError listing every problem. */
function loadOrProblems(env: Record<string, string | undefined>, yaml: string): { ok: true } | { ok: false; problems: string[] } {
  try {
    loadConfig(env, () => yaml);
    return { ok: true };
  } catch (error) {
    expect(error).toBeInstanceOf(MlopsError);
    expect((error as MlopsError).code).toBe('CONFIG_INVALID');
    const problems = ((error as MlopsError).details.problems ?? []) as string[];
    expect(problems.length).toBeGreaterThan(0);
    return { ok: false, problems };
  }
}

describe('configuration parsers (property-based)', () => {
  test('durations: generated unit sequences sum exactly; near-misses and arbitrary text are undefined, never a throw', (ctx) => {
    let cases = 0;
    const part = fc.tuple(fc.integer({ min: 0, max: 10_000 }), fc.constantFrom(...(Object.keys(UNIT_MS) as (keyof typeof UNIT_MS)[])));
    fc.assert(
      fc.property(fc.array(part, { minLength: 1, maxLength: 5 }), fc.constantFrom('', ' ', '\t'), (parts, pad) => {
        cases++;
        const total = parts.reduce((sum, [count, unit]) => sum + count * UNIT_MS[unit], 0);
        expect(parseDuration(`${pad}${parts.map(([count, unit]) => `${count}${unit}`).join('')}${pad}`)).toBe(total > 0 ? total : undefined);
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(fc.array(part, { minLength: 1, maxLength: 3 }), fc.constantFrom(' ', '-', '1', 'x', 'M', 'H', '.5', 'sec', ',', ''), fc.nat(3), (parts, junk, where) => {
        cases++;
        const text = parts.map(([count, unit]) => `${count}${unit}`).join('');
        // A unit-less number, a junk separator, an upper-case or unknown unit: never a duration.
        const broken = [`${text}${junk === '' ? '5' : junk === '1' ? '1' : junk}`, `${junk}${text}`, text.replace(/[a-z]+$/, junk === '' ? '' : junk.toUpperCase())][where % 3] ?? text;
        if (/^\s*(?:\d+(?:ms|s|m|h|d))+\s*$/.test(broken)) return;
        expect(parseDuration(broken)).toBeUndefined();
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(anyText(40), (text) => {
        cases++;
        const result = parseDuration(text);
        expect(result === undefined || (Number.isFinite(result) && result > 0)).toBe(true);
      }),
      { numRuns: RUNS },
    );
    recordReliability(ctx, { area: 'Parsers', fault: 'durations (90s, 1d12h): generated sequences, broken units/separators, arbitrary text', cases, outcome: `all ${cases} gave the generated sum or undefined; nothing thrown` });
  });

  test('OCI_CONFIRM_HOSTS: generated host patterns and origins become exactly those rules; anything else is named in errors, never thrown', (ctx) => {
    let cases = 0;
    const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?$/);
    const host = fc.tuple(fc.array(label, { minLength: 1, maxLength: 3 }), fc.stringMatching(/^[a-z]{2,6}$/), fc.boolean()).map(([labels, tld, wildcard]) => `${wildcard ? '*.' : ''}${labels.join('.')}.${tld}`);
    const origin = fc.tuple(fc.constantFrom('http', 'https'), fc.constantFrom('127.0.0.1', 'localhost', 'example.org'), fc.integer({ min: 1, max: 65535 })).map(([scheme, name, port]) => `${scheme}://${name}:${port}`);
    fc.assert(
      fc.property(fc.array(fc.oneof(host.map((pattern) => ({ kind: 'host' as const, pattern })), origin.map((text) => ({ kind: 'origin' as const, text }))), { minLength: 1, maxLength: 5 }), (entries) => {
        cases++;
        const { rules, errors } = parseConfirmHosts(entries.map((entry) => ` ${entry.kind === 'host' ? entry.pattern.toUpperCase() : entry.text} `).join(','));
        expect(errors).toEqual([]);
        expect(rules).toEqual(entries.map((entry) => (entry.kind === 'host' ? { kind: 'host', pattern: entry.pattern } : { kind: 'origin', origin: new URL(entry.text).origin })));
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(anyText(60), (text) => {
        cases++;
        const { rules, errors } = parseConfirmHosts(text);
        for (const error of errors) expect(error).toMatch(/is not a valid origin|must be an origin such as|is neither a host pattern|lists no host/);
        for (const rule of rules) expect(rule.kind === 'host' ? /^(\*\.)?[a-z0-9.-]+$/.test(rule.pattern) : /^https?:\/\//.test(rule.origin)).toBe(true);
      }),
      { numRuns: RUNS },
    );
    for (const bad of ['*', '*.com', 'http://a.example:1/path', 'https://user@a.example', 'ftp://a.example', 'a..example', '-a.example', '*.*.example', '127.0.0.1', '[::1]']) {
      cases++;
      expect(parseConfirmHosts(bad).errors.length, bad).toBe(1);
    }
    recordReliability(ctx, { area: 'Parsers', fault: 'OCI_CONFIRM_HOSTS lists: generated patterns and origins (any case, padded), arbitrary text, 10 known-bad entries', cases, outcome: `all ${cases} gave exactly the generated rules or named errors; nothing thrown` });
  });

  test('config loading: arbitrary YAML and environment throw only CONFIG_INVALID naming problems; generated valid files load', (ctx) => {
    let cases = 0;
    const channel = fc.stringMatching(/^C[A-Z0-9]{2,10}$/);
    const principal = fc.stringMatching(/^[UWS][A-Z0-9]{2,10}$/);
    fc.assert(
      fc.property(channel, fc.array(principal, { maxLength: 4 }), fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 1000 }), fc.constantFrom('m', 'h', 'd'), (defaultChannel, approvers, required, ttl, unit) => {
        cases++;
        const file = baseConfigFile({ slack: { defaultChannel }, roles: { approvers }, approvals: { required, ttl: `${ttl}${unit}` } });
        const config = loadConfig(BASE_ENV, () => stringify(file));
        expect(config.file.slack.defaultChannel).toBe(defaultChannel);
        expect(config.file.roles.approvers).toEqual(approvers);
        expect(config.file.approvals).toEqual({ required, allowSelfApproval: false, ttl: ttl * UNIT_MS[unit] });
      }),
      { numRuns: 150 },
    );
    const yamlish = fc.oneof(anyText(200), fc.jsonValue({ maxDepth: 4 }).map((value) => stringify(value)), fc.constantFrom('a: [', 'a: 1\na: 2', '*x', '!!js/function "x"', '&a [*a]', 'slack: {defaultChannel: C1}', 'routes: 5'));
    fc.assert(
      fc.property(yamlish, (yaml) => {
        cases++;
        loadOrProblems(BASE_ENV, yaml);
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom('SLACK_BOT_TOKEN', 'SLACK_SIGNING_SECRET', 'PORT', 'REDIS_URL', 'ROLE', 'OCI_CONFIRM_HOSTS', 'OCI_AUTH', 'OCI_REGION', 'MLFLOW_TRACKING_URI', 'MLFLOW_TRACKING_USERNAME', 'LOG_LEVEL', 'SLACK_API_URL', 'OCI_NOTIFICATIONS_USER'), anyText(30)), (overrides) => {
        cases++;
        const result = loadOrProblems({ ...BASE_ENV, ...overrides }, stringify(baseConfigFile()));
        if (!result.ok) for (const problem of result.problems) expect(problem).toMatch(/^[A-Z_]+: |^\/virtual\/mlops\.yaml: /);
      }),
      { numRuns: RUNS },
    );
    recordReliability(ctx, { area: 'Parsers', fault: 'config file and environment: generated valid files; arbitrary YAML (anchors, duplicate keys, tags); arbitrary values for 13 variables', cases, outcome: `all ${cases} loaded as generated or threw one CONFIG_INVALID naming each bad key; nothing else thrown` });
  });
});
