import type { RoleName } from '../config/config-file.js';

export type Decision = { allowed: true; via: string } | { allowed: false; role: RoleName; holders: readonly string[] };

/**
 * Decides on immutable Slack IDs only: a principal is a user (U.../W...) or a user group (S...) whose
 * members the caller resolved. Display names are never consulted, so renaming oneself changes nothing.
 */
export function decide(
  role: RoleName,
  holders: readonly string[],
  userId: string,
  groupMembers: ReadonlyMap<string, readonly string[]>,
): Decision {
  for (const principal of holders) {
    if (principal === userId) return { allowed: true, via: principal };
    if (principal.startsWith('S') && groupMembers.get(principal)?.includes(userId)) return { allowed: true, via: principal };
  }
  return { allowed: false, role, holders };
}

export function groupsIn(holders: readonly string[]): string[] {
  return holders.filter((principal) => principal.startsWith('S'));
}
