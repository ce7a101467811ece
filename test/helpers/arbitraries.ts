import fc from 'fast-check';

/**
 * Any text: Unicode graphemes mixed with the characters parsers trip on (lone surrogates, NUL, line
 * separators, JSON and Slack syntax). Cheaper than fast-check's `binary` unit, which costs about a second
 * to set up in each worker.
 */
export function anyText(maxLength: number): fc.Arbitrary<string> {
  const awkward = fc.constantFrom('\ud800', '\udfff', '\u0000', '\u2028', '\ufeff', '\t', '\n', '<', '>', '&', '|', '@', '{', '}', '[', '"', '\\', '\u201c', '\u201d');
  return fc.string({ unit: fc.oneof(awkward, fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 })), maxLength });
}

/** Lone surrogates replaced with U+FFFD (String#toWellFormed, which the ES2023 lib does not declare). */
export function wellFormed(text: string): string {
  return text.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}
