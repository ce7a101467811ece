import type { Redis } from 'ioredis';
import { z } from 'zod';
import { keys } from './adapters/redis/keys.js';
import type { SlackGateway } from './adapters/slack-api/slack-gateway.js';
import type { ConfigFile, RoleName } from './config/config-file.js';
import { decide, groupsIn, type Decision } from './domain/policy.js';
import { isMlopsError, MlopsError } from './errors.js';
import type { Logger } from './log.js';
import { escapeMrkdwn, mention } from './slack/mrkdwn.js';

/** Membership is fresh for five minutes; a stale copy is kept a day to ride out Slack hiccups. */
const FRESH_MS = 300_000;
const KEEP_SECONDS = 24 * 3600;
const cached = z.object({ users: z.array(z.string()), at: z.number() });

/**
 * Role checks on Slack IDs. User-group membership comes from usergroups.users.list (Tier 2), cached in
 * Redis so every replica shares it, fetched once per process at a time, and dropped early on
 * subteam_members_changed. When Slack cannot answer (429, outage) the last known membership is used; with
 * none, the check fails with a retryable error rather than refusing a real member.
 */
export class Authorizer {
  private readonly inFlight = new Map<string, Promise<readonly string[]>>();

  constructor(
    private readonly roles: ConfigFile['roles'],
    private readonly slack: SlackGateway,
    private readonly redis: Redis,
    private readonly logger: Logger,
  ) {}

  async check(role: RoleName, userId: string): Promise<Decision> {
    return this.checkHolders(role, this.roles[role], userId);
  }

  /** The role held by other principals than the config's: an environment's own approvers replace roles.approvers there. */
  async checkHolders(role: RoleName, holders: readonly string[], userId: string): Promise<Decision> {
    if (holders.includes(userId)) return { allowed: true, via: userId };
    const groups = new Map<string, readonly string[]>();
    for (const group of groupsIn(holders)) groups.set(group, await this.groupMembers(group));
    return decide(role, holders, userId, groups);
  }

  async forget(groupId: string): Promise<void> {
    await this.redis.del(keys.groupMembers(groupId));
  }

  private groupMembers(groupId: string): Promise<readonly string[]> {
    let pending = this.inFlight.get(groupId);
    if (!pending) {
      pending = this.load(groupId).finally(() => this.inFlight.delete(groupId));
      this.inFlight.set(groupId, pending);
    }
    return pending;
  }

  private async load(groupId: string): Promise<readonly string[]> {
    const entry = cached.safeParse(safeJson(await this.redis.get(keys.groupMembers(groupId))));
    if (entry.success && Date.now() - entry.data.at < FRESH_MS) return entry.data.users;
    try {
      const users = await this.slack.usergroupMembers(groupId);
      await this.redis.set(keys.groupMembers(groupId), JSON.stringify({ users, at: Date.now() }), 'EX', KEEP_SECONDS);
      return users;
    } catch (error) {
      if (entry.success) {
        this.logger.warn({ err: error, groupId }, 'user group membership stale');
        return entry.data.users;
      }
      if (isMlopsError(error) && error.retryable) {
        throw new MlopsError(error.code, `membership of ${groupId} unavailable`, {
          userMessage: 'Slack could not tell the bot who is in the user groups that hold this role just now; try again in a minute.',
          cause: error,
        });
      }
      // A group Slack will never list (deleted, free plan) grants nothing; the refusal names it.
      this.logger.warn({ err: error, groupId }, 'user group membership unavailable');
      return [];
    }
  }
}

/** The ephemeral answer to a refused action: which role, and who holds it, so the user knows whom to ask. */
export function refusalText(decision: Extract<Decision, { allowed: false }>, action: string): string {
  const holders = decision.holders.map(mention).filter(Boolean);
  const who = holders.length > 0 ? `It is held by ${holders.join(', ')}.` : 'Nobody holds it yet: add Slack IDs under `roles` in the config file.';
  return `:no_entry: ${escapeMrkdwn(action)} needs the *${decision.role}* role. ${who}`;
}

function safeJson(text: string | null): unknown {
  if (text === null) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
