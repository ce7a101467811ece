import type { Redis } from 'ioredis';
import { z } from 'zod';
import { KEY_PREFIX } from './keys.js';

/** How the bot learned that an alias points at a version. */
export const ALIAS_MOVE_SOURCES = ['bot', 'webhook', 'observed'] as const;
export type AliasMoveSource = (typeof ALIAS_MOVE_SOURCES)[number];

export interface AliasMove {
  version: string;
  /** When the alias moved to the version; for `observed`, when the bot first saw it there. */
  at: string;
  source: AliasMoveSource;
}

const moveSchema = z.object({ version: z.string(), at: z.string(), source: z.enum(ALIAS_MOVE_SOURCES) }) satisfies z.ZodType<AliasMove>;

const key = (model: string) => `${KEY_PREFIX}:alias-moves:${model}`;

/**
 * Keeps the record when it already names the version (the earliest knowledge wins: the bot's own move
 * before MLflow's webhook echo of it), replaces it otherwise. One step, so two replicas agree.
 */
const RECORD = `
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if raw then
  local ok, current = pcall(cjson.decode, raw)
  if ok and type(current) == 'table' and current.version == ARGV[2] then return raw end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return ARGV[3]
`;

/**
 * When each MLflow alias of a model last moved, in Redis (one hash per model, a field per alias): the
 * bot's own promotions and MLflow's alias webhooks record moves; an alias the bot has no record of counts
 * from the first time the bot sees it, never from a guess in the past. Soak checks and `/mlops status`
 * read it.
 */
export class AliasMoveStore {
  constructor(private readonly redis: Redis) {}

  /** Records that `alias` now points at `version` since `at` (kept if the record already names that version). */
  async record(model: string, alias: string, version: string, at: Date, source: AliasMoveSource): Promise<AliasMove> {
    const move: AliasMove = { version, at: at.toISOString(), source };
    return parse(await this.redis.eval(RECORD, 1, key(model), alias, version, JSON.stringify(move))) ?? move;
  }

  /** Since when `alias` has pointed at `version`: the recorded move, or now (recorded as first seen). */
  async since(model: string, alias: string, version: string, now: Date): Promise<Date> {
    const move = await this.record(model, alias, version, now, 'observed');
    return new Date(move.at);
  }

  /** The alias was removed in MLflow. */
  async forget(model: string, alias: string): Promise<void> {
    await this.redis.hdel(key(model), alias);
  }

  async get(model: string, alias: string): Promise<AliasMove | undefined> {
    return parse(await this.redis.hget(key(model), alias));
  }
}

function parse(raw: unknown): AliasMove | undefined {
  if (typeof raw !== 'string') return undefined;
  try {
    const parsed = moveSchema.safeParse(JSON.parse(raw));
    return parsed.success && Number.isFinite(Date.parse(parsed.data.at)) ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
