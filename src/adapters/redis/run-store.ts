import type { Redis } from 'ioredis';
import { z } from 'zod';
import { RUN_STATES } from '../../domain/run-state.js';
import type { Run } from '../../domain/run.js';
import { keys } from './keys.js';

const stringRecord = z.record(z.string(), z.string());
const runSchema = z.object({
  key: z.string(),
  resourceId: z.string(),
  subject: z.enum(['buildRun', 'deployment', 'jobRun', 'pipelineRun', 'modelDeployment', 'model', 'alarm']),
  kind: z.enum(['build', 'training', 'deploy', 'model', 'alarm']),
  name: z.string(),
  compartmentId: z.string().optional(),
  compartmentName: z.string().optional(),
  state: z.enum(RUN_STATES),
  stateAt: z.string(),
  startedAt: z.string().optional(),
  finishedAt: z.string().optional(),
  details: stringRecord,
  history: z.array(z.object({ state: z.enum(RUN_STATES), at: z.string(), note: z.string().optional() })),
  startedBy: z.string().optional(),
  target: z.string().optional(),
  arguments: stringRecord.optional(),
  version: z.number().int(),
}) satisfies z.ZodType<Run>;

/** Where a run's Slack message lives and how much of the run it already shows. */
export interface RunMessage {
  channel: string;
  ts: string;
  /** The run version the root message shows. */
  renderedVersion: number;
  /** How many history entries the thread already narrates. */
  narrated: number;
  /** Whether on-call was already alerted for this run's failure. */
  alerted: boolean;
  /** When the root was last posted or updated (ms since the epoch; 0 when not known). */
  renderedAt: number;
}

const messageSchema = z.object({
  channel: z.string(),
  ts: z.string(),
  renderedVersion: z.coerce.number().int(),
  narrated: z.coerce.number().int(),
  alerted: z.enum(['0', '1']).transform((flag) => flag === '1'),
  // Absent from messages stored before it existed.
  renderedAt: z.coerce.number().int().default(0),
});

/** Runs are kept for 30 days after their last change: long enough for status and late OCI retries. */
const RUN_TTL_SECONDS = 30 * 24 * 3600;
const MAX_ATTEMPTS = 50;

/**
 * Compare-and-set: writes the run only if it is still exactly what the caller read, and maintains the
 * indexes in the same step. Works on a shared connection (unlike WATCH, which any other MULTI/EXEC on
 * the connection silently cancels) and lets folds of different runs proceed in parallel.
 */
const COMPARE_AND_SET = `
local current = redis.call('GET', KEYS[1]) or ''
if current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -1001)
if KEYS[3] ~= '' then
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[5])
  redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -201)
end
return 1
`;

const SWITCH_EPISODE = `
local current = redis.call('GET', KEYS[1]) or ''
if current ~= ARGV[1] then return current end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return ARGV[2]
`;

/**
 * Runs and their Slack messages, in Redis so every replica and every restart sees the same message.
 * Updates are optimistic: read, fold, compare-and-set, retry on conflict, so two workers folding events
 * of one run at the same time never lose either event.
 */
export class RunStore {
  constructor(private readonly redis: Redis) {}

  async get(runKey: string): Promise<Run | undefined> {
    const raw = await this.redis.get(keys.run(runKey));
    return raw === null ? undefined : parseRun(raw);
  }

  /** Several runs in one round trip, in the order asked; undefined for a run that is gone. */
  async getMany(runKeys: readonly string[]): Promise<Array<Run | undefined>> {
    if (runKeys.length === 0) return [];
    const raws = await this.redis.mget(runKeys.map((runKey) => keys.run(runKey)));
    return raws.map((raw) => (raw === null ? undefined : parseRun(raw)));
  }

  async update(runKey: string, change: (run: Run | undefined) => Run | undefined): Promise<{ before: Run | undefined; after: Run | undefined }> {
    const key = keys.run(runKey);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const raw = await this.redis.get(key);
      const before = raw === null ? undefined : parseRun(raw);
      const after = change(before);
      if (after === undefined || after === before) return { before, after: before };
      const score = Date.parse(after.stateAt) || Date.now();
      const written = await this.redis.eval(
        COMPARE_AND_SET,
        3,
        key,
        keys.recentRuns(),
        after.target ? keys.targetRuns(after.target) : '',
        raw ?? '',
        JSON.stringify(after),
        RUN_TTL_SECONDS,
        score,
        runKey,
      );
      if (Number(written) === 1) return { before, after };
      // Lost the race: back off a little, with jitter, so contending folds do not keep colliding.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(50, 2 * (attempt + 1))));
    }
    throw new Error(`run ${runKey} changed concurrently ${MAX_ATTEMPTS} times`);
  }

  async getMessage(runKey: string): Promise<RunMessage | undefined> {
    const raw = await this.redis.hgetall(keys.runMessage(runKey));
    if (!raw.ts) return undefined;
    const parsed = messageSchema.safeParse(raw);
    return parsed.success ? parsed.data : undefined;
  }

  async setMessage(runKey: string, message: RunMessage): Promise<void> {
    const key = keys.runMessage(runKey);
    await this.redis
      .multi()
      .hset(key, {
        channel: message.channel,
        ts: message.ts,
        renderedVersion: String(message.renderedVersion),
        narrated: String(message.narrated),
        alerted: message.alerted ? '1' : '0',
        renderedAt: String(message.renderedAt),
      })
      .expire(key, RUN_TTL_SECONDS)
      .exec();
  }

  /** The current episode of a long-lived resource (an alarm, a model deployment), if any. */
  async getEpisode(resourceId: string): Promise<string | undefined> {
    return (await this.redis.get(keys.episode(resourceId))) ?? undefined;
  }

  async setEpisode(resourceId: string, runKey: string): Promise<void> {
    await this.redis.set(keys.episode(resourceId), runKey, 'EX', RUN_TTL_SECONDS);
  }

  /**
   * Starts a new episode only if the current one is still `expected` (none: undefined), and returns the
   * episode that is current afterwards: two replicas opening an episode at once agree on one.
   */
  async switchEpisode(resourceId: string, expected: string | undefined, runKey: string): Promise<string> {
    const current = await this.redis.eval(SWITCH_EPISODE, 1, keys.episode(resourceId), expected ?? '', runKey, RUN_TTL_SECONDS);
    return typeof current === 'string' && current !== '' ? current : runKey;
  }

  /** Runs started from Slack are keyed before OCI names them; the OCID then points at that run. */
  async setAlias(resourceId: string, runKey: string): Promise<void> {
    await this.redis.set(keys.alias(resourceId), runKey, 'EX', RUN_TTL_SECONDS);
  }

  async resolveAlias(resourceId: string): Promise<string | undefined> {
    return (await this.redis.get(keys.alias(resourceId))) ?? undefined;
  }

  /** Forgets a run and its place in the recent lists (its message, if any, stays in Slack). */
  async remove(run: Run): Promise<void> {
    const multi = this.redis.multi().del(keys.run(run.key)).zrem(keys.recentRuns(), run.key);
    if (run.target) multi.zrem(keys.targetRuns(run.target), run.key);
    await multi.exec();
  }

  /** Most recent runs first, optionally of one train target. */
  async recent(limit: number, target?: string): Promise<Run[]> {
    const runKeys = await this.redis.zrevrange(target ? keys.targetRuns(target) : keys.recentRuns(), 0, limit - 1);
    if (runKeys.length === 0) return [];
    return (await this.getMany(runKeys)).filter((run) => run !== undefined);
  }
}

function parseRun(raw: string): Run | undefined {
  try {
    const parsed = runSchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
