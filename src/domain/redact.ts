/**
 * Removes secrets from log lines before they reach Slack. Pure: the same lines and patterns always give
 * the same output. Each built-in rule keeps the context a reader needs (the key name, the URL's user, the
 * "Bearer" word) and replaces only the secret with REDACTED; a private key block is replaced whole, also
 * when it spans several log lines (each line of a job's output is its own log entry).
 */
export const REDACTED = '[REDACTED]';

interface Rule {
  pattern: RegExp;
  replace: (match: string, ...groups: string[]) => string;
}

const KEY_NAMES = String.raw`(?:password|passwd|pwd|pass_?phrase|secret(?:_?key)?|client_?secret|api_?key|access_?key(?:_?id)?|secret_?access_?key|auth_?token|access_?token|refresh_?token|token|private_?key|credentials?)`;

/**
 * Order matters: the specific token shapes run before the generic key=value and long-base64 rules, so a
 * `token=xoxb-…` keeps its key and loses its value exactly once.
 */
const RULES: Rule[] = [
  // A private key on one line (an env dump, a JSON string with \n escapes).
  { pattern: /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z0-9 ]*PRIVATE KEY-----/g, replace: () => `-----BEGIN PRIVATE KEY----- ${REDACTED} -----END PRIVATE KEY-----` },
  // Authorization headers: Bearer / Basic / OCI's Signature header.
  { pattern: /\b(Bearer|Basic)\s+[A-Za-z0-9\-._~+/]{8,}=*/gi, replace: (_m, scheme) => `${scheme} ${REDACTED}` },
  { pattern: /\b(Signature\s+version="\d+",keyId=")[^"]*("[^\s]*)/g, replace: (_m, head) => `${head}${REDACTED}"` },
  // Slack tokens (bot, user, app-level, config, refresh) and webhook URLs.
  { pattern: /\bxox[abposre]-[A-Za-z0-9-]{8,}/g, replace: () => REDACTED },
  { pattern: /\bxapp-\d-[A-Za-z0-9-]{8,}/g, replace: () => REDACTED },
  { pattern: /(https:\/\/hooks\.slack\.com\/(?:services|workflows|triggers)\/)[A-Za-z0-9/_-]+/g, replace: (_m, head) => `${head}${REDACTED}` },
  // Passwords in URLs: scheme://user:password@host keeps the user.
  { pattern: /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)[^\s@/]+@/gi, replace: (_m, head) => `${head}${REDACTED}@` },
  // AWS access key ids, GitHub and GitLab tokens, JWTs.
  { pattern: /\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[A-Z0-9]{16}\b/g, replace: () => REDACTED },
  { pattern: /\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}|glpat-[A-Za-z0-9_-]{20,})\b/g, replace: () => REDACTED },
  { pattern: /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g, replace: () => REDACTED },
  // key=value, key: value, "key": "value" with a secret-sounding key (OCI auth tokens, passwords, AWS secrets).
  {
    pattern: new RegExp(String.raw`(["']?\b[A-Za-z0-9_.-]*${KEY_NAMES}["']?\s*[:=]\s*["']?)([^\s"',;}&]{3,})`, 'gi'),
    replace: (_m, head) => `${head}${REDACTED}`,
  },
  // Long base64 / base64url runs mixing upper case, lower case and digits: keys and secrets, but not OCIDs
  // (lower case), hex digests (no upper case) or words.
  {
    pattern: /(?<![A-Za-z0-9+/_.-])[A-Za-z0-9+/_-]{40,}={0,2}(?![A-Za-z0-9+/_-])/g,
    replace: (match) => (/[A-Z]/.test(match) && /[a-z]/.test(match) && /\d/.test(match) ? REDACTED : match),
  },
];

const PEM_BEGIN = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;
const PEM_END = /-----END [A-Z0-9 ]*PRIVATE KEY-----/;

export interface Redactor {
  /** One line (or any text) with every secret replaced. */
  text(input: string): string;
  /** Lines in order: a private key spread over several lines is removed from its BEGIN line to its END line. */
  lines(input: readonly string[]): string[];
}

/** Compiles the operator's extra patterns (alerts.redact, validated at start-up) on top of the built-in rules. */
export function createRedactor(extraPatterns: readonly string[] = []): Redactor {
  const extra: Rule[] = extraPatterns.map((source) => ({ pattern: new RegExp(source, 'g'), replace: () => REDACTED }));
  const rules = [...RULES, ...extra];
  const text = (input: string): string => rules.reduce((out, rule) => out.replace(rule.pattern, rule.replace as (match: string, ...rest: unknown[]) => string), input);
  const lines = (input: readonly string[]): string[] => {
    const out: string[] = [];
    let inKey = false;
    for (const line of input) {
      if (inKey) {
        const end = PEM_END.exec(line);
        if (end) {
          inKey = false;
          out.push(`-----END PRIVATE KEY-----${text(line.slice(end.index + end[0].length))}`);
        }
        continue;
      }
      const begins = PEM_BEGIN.exec(line);
      if (begins && !PEM_END.test(line.slice(begins.index))) {
        inKey = true;
        out.push(`${text(line.slice(0, begins.index))}-----BEGIN PRIVATE KEY----- ${REDACTED}`);
        continue;
      }
      out.push(text(line));
    }
    return out;
  };
  return { text, lines };
}
