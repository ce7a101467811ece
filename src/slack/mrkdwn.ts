/**
 * Text from outside (event fields, command arguments) is shown literally: Slack's control characters are
 * escaped so `<!channel>` or `<@U123>` in a resource name cannot ping anyone or forge a link, and `@here`
 * style words get a zero-width joiner so clients do not highlight them.
 */
export function escapeMrkdwn(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/@(channel|here|everyone)\b/gi, '@\u2060$1');
}

/** Inline code that cannot be broken out of. */
export function code(text: string): string {
  return `\`${escapeMrkdwn(text).replace(/`/g, "'")}\``;
}

/** A link whose label is escaped and whose URL is refused unless it is plain https. */
export function link(url: string | undefined, label: string): string {
  const safeLabel = escapeMrkdwn(label).replace(/\|/g, '¦');
  if (!url || !/^https:\/\/[^\s<>|]+$/.test(url)) return safeLabel;
  return `<${url}|${safeLabel}>`;
}

/** A mention of a Slack user (U/W) or user group (S) by ID; anything else renders as nothing. */
export function mention(principal: string | undefined): string {
  if (!principal) return '';
  if (/^[UW][A-Z0-9]+$/.test(principal)) return `<@${principal}>`;
  if (/^S[A-Z0-9]+$/.test(principal)) return `<!subteam^${principal}>`;
  return '';
}

/** Plain text (headers, button labels) truncated to Slack's limit. */
export function plain(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** Slack's date token: readers see the time in their own time zone. */
export function slackDate(iso: string): string {
  const seconds = Math.floor(Date.parse(iso) / 1000);
  if (!Number.isFinite(seconds)) return escapeMrkdwn(iso);
  return `<!date^${seconds}^{date_short_pretty} {time_secs}|${new Date(seconds * 1000).toISOString()}>`;
}
