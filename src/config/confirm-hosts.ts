/**
 * OCI_CONFIRM_HOSTS: which ConfirmationURLs the bot may GET. A host pattern (`*.oraclecloud.com`,
 * `notification.us-ashburn-1.oci.oraclecloud.com`) allows that host over https on the default port; an
 * origin (`http://127.0.0.1:8080`) allows exactly that scheme, host and port, for local tests.
 */
export type ConfirmHostRule = { kind: 'host'; pattern: string } | { kind: 'origin'; origin: string };

const HOST_PATTERN = /^(\*\.)?([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$/;

export function parseConfirmHosts(text: string): { rules: ConfirmHostRule[]; errors: string[] } {
  const rules: ConfirmHostRule[] = [];
  const errors: string[] = [];
  for (const raw of text.split(',')) {
    const entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    if (entry.includes('://')) {
      let url: URL;
      try {
        url = new URL(entry);
      } catch {
        errors.push(`"${entry}" is not a valid origin`);
        continue;
      }
      if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password || url.search || url.hash || (url.pathname !== '/' && url.pathname !== '')) {
        errors.push(`"${entry}" must be an origin such as http://127.0.0.1:8080`);
        continue;
      }
      rules.push({ kind: 'origin', origin: url.origin });
    } else if (HOST_PATTERN.test(entry)) {
      rules.push({ kind: 'host', pattern: entry });
    } else {
      errors.push(`"${entry}" is neither a host pattern (*.oraclecloud.com) nor an origin (https://host:port)`);
    }
  }
  if (rules.length === 0 && errors.length === 0) errors.push('lists no host');
  return { rules, errors };
}
