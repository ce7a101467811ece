import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/**
 * A lease in Redis: only its holder can release it, and it expires by itself if the holder dies, so a
 * crashed worker never blocks a run (or a Deployment) for longer than the lease.
 */
export class Lease {
  constructor(
    private readonly redis: Redis,
    readonly key: string,
    private readonly token: string,
  ) {}

  static async acquire(redis: Redis, key: string, ttlMs: number): Promise<Lease | undefined> {
    const token = randomUUID();
    const ok = await redis.set(key, token, 'PX', ttlMs, 'NX');
    return ok === 'OK' ? new Lease(redis, key, token) : undefined;
  }

  async release(): Promise<void> {
    await this.redis.eval(RELEASE, 1, this.key, this.token);
  }
}
