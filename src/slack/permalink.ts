/** A link to a message that opens it in the reader's workspace. */
export function messageLink(channel: string | undefined, ts: string | undefined): string | undefined {
  if (!channel || !ts || !/^[CGD][A-Z0-9]+$/.test(channel) || !/^\d+\.\d+$/.test(ts)) return undefined;
  return `https://slack.com/archives/${channel}/p${ts.replace('.', '')}`;
}
