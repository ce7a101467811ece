import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { UsageError } from '../../commands/command.js';
import { parsePromoteArgs } from '../../commands/promote.js';
import { parseRollbackOptions } from '../../commands/rollback.js';
import { parseKeyValues, tokenize } from '../../src/domain/command-line.js';
import { anyText } from '../helpers/arbitraries.js';
import { recordReliability } from './reliability.js';

const RUNS = 400;
const QUOTES = ['"', '\u201c', '\u201d'];
const SPACES = [' ', '\t', '\n', '\u00a0', '\u2003', '  '];

/** A token as a user may type it: bare when it can be, otherwise quoted with \" and \\ escapes; sometimes split into bare and quoted pieces. */
function serialize(token: string, quoteAlways: boolean, quote: string): string {
  const bare = token !== '' && !/[\s"\u201c\u201d\\]/.test(token);
  if (bare && !quoteAlways) return token;
  return `${quote}${token.replace(/[\\"\u201c\u201d]/g, (char) => `\\${char}`)}${quote}`;
}

const token = fc.oneof(anyText(20), fc.stringMatching(/^[a-z0-9_=.-]{1,12}$/));
const commandLine = fc.array(fc.record({ token, quoteAlways: fc.boolean(), quote: fc.constantFrom(...QUOTES), space: fc.constantFrom(...SPACES) }), { maxLength: 12 });
const render = (parts: readonly { token: string; quoteAlways: boolean; quote: string; space: string }[]) => parts.map((part) => `${serialize(part.token, part.quoteAlways, part.quote)}${part.space}`).join('');

const keyArb = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_]{0,20}$/);

describe('command-line grammar (property-based)', () => {
  test('tokenize gives back exactly the tokens a generated command line was built from', (ctx) => {
    fc.assert(
      fc.property(commandLine, fc.constantFrom(...SPACES, ''), (parts, lead) => {
        const result = tokenize(`${lead}${render(parts)}`);
        expect(result).toEqual({ ok: true, tokens: parts.map((part) => part.token) });
      }),
      { numRuns: RUNS },
    );
    recordReliability(ctx, { area: 'Parsers', fault: 'tokenize: generated command lines (bare, quoted, typographic quotes, escapes, Unicode spaces)', cases: RUNS, outcome: `${RUNS} of ${RUNS} gave back the generating tokens` });
  });

  test('tokenize refuses exactly the near-misses of its grammar, naming the problem, and never throws on any text', (ctx) => {
    let unclosed = 0;
    let long = 0;
    let many = 0;
    fc.assert(
      fc.property(commandLine, fc.constantFrom(...QUOTES), anyText(15), (parts, quote, tail) => {
        // An opening quote with no closing one.
        const open = tokenize(`${render(parts)}${quote}${tail.replace(/["\u201c\u201d]/g, '')}`);
        expect(open).toEqual({ ok: false, error: 'a quoted value is not closed' });
        unclosed++;
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(fc.integer({ min: 2001, max: 5000 }), fc.integer({ min: 41, max: 80 }), (length, count) => {
        expect(tokenize('a'.repeat(length))).toEqual({ ok: false, error: 'the command is longer than 2000 characters' });
        expect(tokenize(Array.from({ length: count }, () => 'x').join(' '))).toEqual({ ok: false, error: 'too many arguments (at most 40)' });
        expect(tokenize(Array.from({ length: 40 }, () => 'x').join(' '))).toMatchObject({ ok: true });
        expect(tokenize('a'.repeat(2000))).toMatchObject({ ok: true });
        long++;
        many++;
      }),
      { numRuns: 100 },
    );
    let garbage = 0;
    fc.assert(
      fc.property(anyText(300), (text) => {
        const result = tokenize(text);
        garbage++;
        if (!result.ok) {
          expect(result.error).toMatch(/quoted value is not closed|longer than|too many arguments/);
          return;
        }
        // Whatever it accepted, its tokens written back out read the same again.
        expect(tokenize(result.tokens.map((part) => serialize(part, false, '"')).join(' '))).toEqual(result);
        for (const part of result.tokens) expect(part.length).toBeLessThanOrEqual(text.length);
      }),
      { numRuns: RUNS },
    );
    const cases = unclosed + long + many + garbage;
    recordReliability(ctx, { area: 'Parsers', fault: 'tokenize: unclosed quotes, >2000 characters, >40 tokens, arbitrary text', cases, outcome: `${unclosed} unclosed and ${long + many} over-limit lines refused with the named problem; ${garbage} arbitrary texts parsed or refused without throwing, accepted ones stable when re-serialized` });
  });

  test('parseKeyValues accepts exactly identifier=value pairs given once, naming the bad token otherwise', (ctx) => {
    let cases = 0;
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(keyArb, anyText(40)), { selector: ([key]) => key, maxLength: 20 }), (pairs) => {
        cases++;
        expect(parseKeyValues(pairs.map(([key, value]) => `${key}=${value}`))).toEqual({ ok: true, values: Object.fromEntries(pairs) });
      }),
      { numRuns: RUNS },
    );
    const nearMiss = fc.oneof(
      anyText(20).filter((text) => !text.includes('=') || text.startsWith('=')).map((text) => ({ token: text, error: `"${text}" is not key=value` })),
      fc.tuple(fc.stringMatching(/^([0-9_][A-Za-z0-9_]{0,5}|[A-Za-z][A-Za-z0-9_]{0,4}[-.:@ ][A-Za-z0-9]{0,3})$/), anyText(10)).map(([key, value]) => ({ token: `${key}=${value}`, error: `"${key}" is not a valid key (letters, digits and _, starting with a letter)` })),
      fc.tuple(keyArb, fc.integer({ min: 1001, max: 1500 })).map(([key, length]) => ({ token: `${key}=${'v'.repeat(length)}`, error: `the value of "${key}" is longer than 1000 characters` })),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(keyArb, anyText(10)), { maxLength: 5 }), nearMiss, (before, bad) => {
        cases++;
        const good = [...new Map(before).entries()].filter(([key]) => !bad.token.startsWith(`${key}=`)).map(([key, value]) => `${key}=${value}`);
        expect(parseKeyValues([...good, bad.token])).toEqual({ ok: false, error: bad.error });
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(keyArb, anyText(10), anyText(10), fc.integer({ min: 21, max: 40 }), (key, first, second, count) => {
        cases++;
        expect(parseKeyValues([`${key}=${first}`, `${key}=${second}`])).toEqual({ ok: false, error: `"${key}" is given twice` });
        expect(parseKeyValues(Array.from({ length: count }, (_, index) => `k${index}=v`))).toEqual({ ok: false, error: 'too many arguments (at most 20 key=value pairs)' });
      }),
      { numRuns: 100 },
    );
    recordReliability(ctx, { area: 'Parsers', fault: 'key=value arguments: generated valid pairs; missing =, bad keys, long values, repeated keys, too many pairs', cases, outcome: `all ${cases} accepted with the generated values or refused with the exact problem` });
  });

  test('promote and rollback arguments: generated valid forms parse to what was built; anything else is a UsageError', (ctx) => {
    const models = ['fraud-model', 'churn-model'];
    let cases = 0;
    const version = fc.integer({ min: 1, max: 2_000_000_000 }).map(String);
    const alias = fc.stringMatching(/^[A-Za-z0-9_-]{1,30}$/).filter((value) => !/^latest$/i.test(value) && !/^[vV]\d+$/.test(value));
    const stage = fc.constantFrom('Staging', 'Production', 'Archived');
    fc.assert(
      fc.property(fc.constantFrom(...models), version, fc.option(fc.oneof(alias.map((value) => ({ kind: 'alias' as const, alias: value })), stage.map((value) => ({ kind: 'stage' as const, stage: value }))), { nil: undefined }), fc.boolean(), (model, ver, target, upper) => {
        cases++;
        const options = target === undefined ? [] : target.kind === 'alias' ? ['--alias', target.alias] : ['--stage', upper ? target.stage.toUpperCase() : target.stage.toLowerCase()];
        expect(parsePromoteArgs([model, ver, ...options], models)).toEqual({ model, version: ver, ...(target ? { target } : {}) });
      }),
      { numRuns: RUNS },
    );
    const usageOnly = (run: () => unknown) => {
      try {
        run();
      } catch (error) {
        expect(error).toBeInstanceOf(UsageError);
      }
    };
    fc.assert(
      fc.property(fc.array(anyText(12), { maxLength: 6 }), (args) => {
        cases++;
        usageOnly(() => parsePromoteArgs(args, models));
        usageOnly(() => parseRollbackOptions(args));
      }),
      { numRuns: RUNS },
    );
    // Near-misses name the problem.
    fc.assert(
      fc.property(fc.constantFrom(...models), fc.oneof(fc.constant('0'), fc.constant('01'), fc.constant('v2'), fc.constant('2.0'), fc.constant('-1'), fc.constant('12345678901'), anyText(5).filter((text) => !/^[1-9]\d{0,9}$/.test(text) && text !== '')), (model, badVersion) => {
        cases++;
        expect(() => parsePromoteArgs([model, badVersion], models)).toThrow('is not a model version number');
        expect(() => parsePromoteArgs(['no-such-model', '1'], models)).toThrow('Unknown model');
        expect(() => parsePromoteArgs([model, '1', '--alias', 'latest'], models)).toThrow('is not a usable MLflow alias');
        expect(() => parsePromoteArgs([model, '1', '--stage', 'Prod'], models)).toThrow('is not a stage');
        expect(() => parsePromoteArgs([model, '1', '--alias'], models)).toThrow('Give one of');
        expect(() => parsePromoteArgs([model, '1', '--label', 'x'], models)).toThrow('Unknown option');
      }),
      { numRuns: 100 },
    );
    fc.assert(
      fc.property(fc.option(fc.integer({ min: 1, max: 2_000_000_000 }), { nil: undefined }), fc.boolean(), fc.boolean(), (revision, dryRun, dryFirst) => {
        cases++;
        const revisionPart = revision === undefined ? [] : ['--to-revision', String(revision)];
        const dryPart = dryRun ? ['--dry-run'] : [];
        expect(parseRollbackOptions(dryFirst ? [...dryPart, ...revisionPart] : [...revisionPart, ...dryPart])).toEqual({ toRevision: revision ?? 0, dryRun });
        expect(() => parseRollbackOptions([...dryPart, '--dry-run', '--dry-run'])).toThrow('Unexpected');
        expect(() => parseRollbackOptions(['--to-revision', '0'])).toThrow('Unexpected');
        expect(() => parseRollbackOptions(['--to-revision', String(revision ?? 1), '--to-revision', '2'])).toThrow('Unexpected');
      }),
      { numRuns: 200 },
    );
    recordReliability(ctx, { area: 'Parsers', fault: 'promote <model> <version> [--alias|--stage] and rollback [--to-revision N] [--dry-run]: generated valid forms, near-misses, arbitrary argument lists', cases, outcome: `all ${cases} parsed to the generated value or threw UsageError naming the problem; nothing else thrown` });
  });
});
