import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../src/config/duration.js';

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['90s', 90_000],
    ['15m', 900_000],
    ['24h', 86_400_000],
    ['7d', 604_800_000],
    ['1d12h', 129_600_000],
    ['1h30m15s', 5_415_000],
    [' 2h ', 7_200_000],
  ])('reads %s as %i ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it('refuses a duration so long that now + it is no longer a valid Date', () => {
    expect(parseDuration('11574074d')).toBe(999_999_993_600_000);
    expect(parseDuration('11574075d')).toBeUndefined();
    expect(parseDuration('99999999999999999999d')).toBeUndefined();
  });

  it.each(['', '24', 'h', '1.5h', '-1h', '1 h', '1w', '0s', '0h0m', 'soon', '24h!'])('refuses %s', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});
