import type { Redis } from 'ioredis';
import { z } from 'zod';
import { keys } from './adapters/redis/keys.js';
import type { SlackGateway } from './adapters/slack-api/slack-gateway.js';
import type { ConfigFile, RoleName } from './config/config-file.js';
import { decide, groupsIn, type Decision } from './domain/policy.js';
import type { Logger } from './log.js';
import { escapeMrkdwn, mention } from './slack/mrkdwn.js';

const MEMBERSHIP_TTL_SECONDS = 300;
const members = z.array(z.string());

/**
 * Role checks on Slack IDs. User-group membership comes from usergroups.users.list (Tier 2), cached in
 * Redis for five minutes so every replica shares it, and dropped early on subteam_members_changed.
 */
export class Authorizer {
  constructor(
    private readonly roles: ConfigFile['roles'],
    private readonly slack: SlackGateway,
    private readonly redis: Redis,
    private readonly logger: Logger,
  ) {}

  async check(role: RoleName, userId: string): Promise<Decision> {
    const holders = this.roles[role];
    if (holders.includes(userId)) return { allowed: true, via: userId };
    const groups = new Map<string, readonly string[]>();
    for (const group of groupsIn(holders)) groups.set(group, await this.groupMembers(group));
    return decide(role, holders, userId, groups);
  }

  async forget(groupId: string): Promise<void> {
    await this.redis.del(keys.groupMembers(groupId));
  }

  private async groupMembers(groupId: string): Promise<readonly string[]> {
    const cached = await this.redis.get(keys.groupMembers(groupId));
    if (cached !== null) {
      const parsed = members.safeParse(safeJson(cached));
      if (parsed.success) return parsed.data;
    }
    try {
      const users = await this.slack.usergroupMembers(groupId);
      await this.redis.set(keys.groupMembers(groupId), JSON.stringify(users), 'EX', MEMBERSHIP_TTL_SECONDS);
      return users;
    } catch (error) {
      // A group we cannot read (free plan, deleted group) grants nothing; the refusal names it.
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

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
