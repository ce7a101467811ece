/**
 * An HTTP Retry-After header in milliseconds from `now`: delta seconds ("120") or an HTTP date. Undefined
 * when absent or unreadable; a date in the past is 0.
 */
export function parseRetryAfter(header: string | null | undefined, now: number = Date.now()): number | undefined {
  if (!header) return undefined;
  const trimmed = header.trim();
  const ms = /^\d+$/.test(trimmed) ? Number(trimmed) * 1000 : /[a-z]/i.test(trimmed) ? Date.parse(trimmed) - now : Number.NaN;
  return Number.isFinite(ms) ? Math.max(0, ms) : undefined;
}
