import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseKeyValues, tokenize } from '../../src/domain/command-line.js';
import { anyText } from '../helpers/arbitraries.js';

function tokens(text: string): string[] {
  const result = tokenize(text);
  if (!result.ok) throw new Error(`expected tokens, got: ${result.error}`);
  return result.tokens;
}

describe('tokenize', () => {
  it('splits on any white space', () => {
    expect(tokens('  train   fraud-model\tepochs=10\n')).toEqual(['train', 'fraud-model', 'epochs=10']);
    expect(tokens('')).toEqual([]);
    expect(tokens('   ')).toEqual([]);
  });

  it('keeps a quoted value together, inside or around a key=value', () => {
    expect(tokens('train fraud-model note="new features" "two words"')).toEqual(['train', 'fraud-model', 'note=new features', 'two words']);
  });

  it('accepts the typographic quotes Slack clients substitute', () => {
    expect(tokens('train fraud-model note=\u201cnew features\u201d')).toEqual(['train', 'fraud-model', 'note=new features']);
    expect(tokens('note=\u201dmixed quotes"')).toEqual(['note=mixed quotes']);
  });

  it('keeps an empty quoted value as an empty token', () => {
    expect(tokens('note="" x')).toEqual(['note=', 'x']);
    expect(tokens('""')).toEqual(['']);
  });

  it('unescapes \\" and \\\\ inside quotes and leaves other backslashes alone', () => {
    expect(tokens('msg="say \\"hi\\" to C:\\\\temp"')).toEqual(['msg=say "hi" to C:\\temp']);
    expect(tokens('msg="a\\nb"')).toEqual(['msg=a\\nb']);
    expect(tokens('path=C:\\temp')).toEqual(['path=C:\\temp']);
  });

  it('refuses a quote that is never closed', () => {
    expect(tokenize('train fraud-model note="unfinished')).toEqual({ ok: false, error: 'a quoted value is not closed' });
    expect(tokenize('note="ends with escape\\"')).toEqual({ ok: false, error: 'a quoted value is not closed' });
  });

  it('refuses text over 2000 characters and more than 40 tokens', () => {
    expect(tokenize('x'.repeat(2_001))).toEqual({ ok: false, error: 'the command is longer than 2000 characters' });
    expect(tokenize('x'.repeat(2_000)).ok).toBe(true);
    expect(tokenize(Array.from({ length: 41 }, (_, index) => `t${index}`).join(' '))).toEqual({ ok: false, error: 'too many arguments (at most 40)' });
    expect(tokens(Array.from({ length: 40 }, (_, index) => `t${index}`).join(' '))).toHaveLength(40);
  });

  it('never throws, for any text', () => {
    // Mostly the characters the tokenizer treats specially, so quotes and escapes meet in every order.
    const special = fc.string({ unit: fc.constantFrom('"', '\u201c', '\u201d', '\\', ' ', '\t', '\n', 'a', '='), maxLength: 60 });
    fc.assert(
      fc.property(fc.oneof(special, anyText(200)), (text) => {
        const result = tokenize(text);
        return result.ok ? Array.isArray(result.tokens) : result.error.length > 0;
      }),
      { numRuns: 200 },
    );
  });

  it('round-trips simple tokens joined by spaces', () => {
    const simpleToken = fc.stringMatching(/^[A-Za-z0-9_=./:@<>!-]{1,20}$/);
    fc.assert(
      fc.property(fc.array(simpleToken, { maxLength: 40 }), (parts) => {
        expect(tokenize(parts.join(' '))).toEqual({ ok: true, tokens: parts });
      }),
      { numRuns: 150 },
    );
  });
});

describe('parseKeyValues', () => {
  it('reads key=value pairs, keeping = inside values', () => {
    expect(parseKeyValues(['epochs=10', 'lr=0.01', 'filter=a=b', 'empty='])).toEqual({ ok: true, values: { epochs: '10', lr: '0.01', filter: 'a=b', empty: '' } });
    expect(parseKeyValues([])).toEqual({ ok: true, values: {} });
  });

  it('refuses a token without a key', () => {
    expect(parseKeyValues(['epochs'])).toEqual({ ok: false, error: '"epochs" is not key=value' });
    expect(parseKeyValues(['=10'])).toEqual({ ok: false, error: '"=10" is not key=value' });
  });

  it.each(['1epochs', 'learning-rate', 'a b', 'é', `k${'x'.repeat(64)}`])('refuses the key %s', (key) => {
    const result = parseKeyValues([`${key}=1`]);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toContain('is not a valid key');
  });

  it('refuses a key given twice', () => {
    expect(parseKeyValues(['epochs=10', 'epochs=20'])).toEqual({ ok: false, error: '"epochs" is given twice' });
  });

  it('refuses __proto__ and leaves every prototype untouched', () => {
    const result = parseKeyValues(['__proto__=x', 'polluted=yes']);
    expect(result.ok).toBe(false);
    const probe: Record<string, unknown> = {};
    expect(probe.polluted).toBeUndefined();
  });

  it('stores constructor and toString as plain own values, once each', () => {
    const result = parseKeyValues(['constructor=x', 'toString=y', 'hasOwnProperty=z']);
    expect(result).toEqual({ ok: true, values: { constructor: 'x', toString: 'y', hasOwnProperty: 'z' } });
    expect(parseKeyValues(['constructor=x', 'constructor=y']).ok).toBe(false);
    expect(({} as Record<string, unknown>).constructor).toBe(Object);
  });

  it('limits the number of pairs and the length of a value', () => {
    const many = Array.from({ length: 21 }, (_, index) => `k${index}=v`);
    expect(parseKeyValues(many)).toEqual({ ok: false, error: 'too many arguments (at most 20 key=value pairs)' });
    expect(parseKeyValues(many.slice(0, 3), 2).ok).toBe(false);
    expect(parseKeyValues([`note=${'x'.repeat(1_001)}`])).toEqual({ ok: false, error: 'the value of "note" is longer than 1000 characters' });
    expect(parseKeyValues([`note=${'x'.repeat(1_000)}`]).ok).toBe(true);
  });
});
