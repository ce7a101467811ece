export type Tokens = { ok: true; tokens: string[] } | { ok: false; error: string };

const MAX_TEXT = 2_000;
const MAX_TOKENS = 40;
/** Slack clients often turn typed quotes into typographic ones; both open and close a quoted value. */
const QUOTES = new Set(['"', '\u201c', '\u201d']);

/**
 * Splits command text on white space, keeping "quoted values" (with \" and \\ escapes) together, so
 * `train fraud-model note="new features"` gives three tokens.
 */
export function tokenize(text: string): Tokens {
  if (text.length > MAX_TEXT) return { ok: false, error: `the command is longer than ${MAX_TEXT} characters` };
  const tokens: string[] = [];
  let current = '';
  let inToken = false;
  let quoted = false;
  for (let index = 0; index < text.length; index++) {
    const char = text[index] ?? '';
    if (quoted) {
      if (char === '\\' && index + 1 < text.length && (QUOTES.has(text[index + 1] ?? '') || text[index + 1] === '\\')) {
        current += text[++index] ?? '';
      } else if (QUOTES.has(char)) {
        quoted = false;
      } else {
        current += char;
      }
    } else if (QUOTES.has(char)) {
      quoted = true;
      inToken = true;
    } else if (/\s/.test(char)) {
      if (inToken) tokens.push(current);
      current = '';
      inToken = false;
    } else {
      current += char;
      inToken = true;
    }
  }
  if (quoted) return { ok: false, error: 'a quoted value is not closed' };
  if (inToken) tokens.push(current);
  if (tokens.length > MAX_TOKENS) return { ok: false, error: `too many arguments (at most ${MAX_TOKENS})` };
  return { ok: true, tokens };
}

export type KeyValues = { ok: true; values: Record<string, string> } | { ok: false; error: string };

const KEY = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

/** `key=value` pairs; keys are identifiers (OCI build argument names must be), each given once. */
export function parseKeyValues(tokens: readonly string[], maxPairs = 20): KeyValues {
  if (tokens.length > maxPairs) return { ok: false, error: `too many arguments (at most ${maxPairs} key=value pairs)` };
  const values: Record<string, string> = {};
  for (const token of tokens) {
    const equals = token.indexOf('=');
    if (equals <= 0) return { ok: false, error: `"${token}" is not key=value` };
    const key = token.slice(0, equals);
    const value = token.slice(equals + 1);
    if (!KEY.test(key)) return { ok: false, error: `"${key}" is not a valid key (letters, digits and _, starting with a letter)` };
    if (Object.hasOwn(values, key)) return { ok: false, error: `"${key}" is given twice` };
    if (value.length > 1000) return { ok: false, error: `the value of "${key}" is longer than 1000 characters` };
    values[key] = value;
  }
  return { ok: true, values };
}
