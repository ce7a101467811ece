const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const DURATION = /^(?:(\d+)(ms|s|m|h|d))+$/;
const PART = /(\d+)(ms|s|m|h|d)/g;
/** About 31,000 years: anything longer is a typo, and now + duration must still be a valid Date. */
const MAX_MS = 1e15;

/** Parses "90s", "15m", "24h", "1d12h" into milliseconds; undefined when the text is not a duration or absurdly long. */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (!DURATION.test(trimmed)) return undefined;
  let total = 0;
  for (const match of trimmed.matchAll(PART)) {
    total += Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
  }
  return total > 0 && total <= MAX_MS ? total : undefined;
}
