import { Redis, type RedisOptions } from 'ioredis';

/**
 * `command`: the stores and the producer side of the queues. Commands fail fast while Redis is down
 * (no offline queue), so an OCI delivery is answered 503 within the deadline instead of hanging.
 * `worker`: BullMQ workers, which need blocking commands that wait for reconnection.
 */
export type RedisPurpose = 'command' | 'worker';

export function createRedis(url: string, purpose: RedisPurpose, connectionName: string): Redis {
  const common: RedisOptions = {
    connectionName: `mlops-chatops:${connectionName}`,
    connectTimeout: 2_000,
    retryStrategy: (attempt) => Math.min(100 * 2 ** attempt, 2_000),
  };
  const options: RedisOptions =
    purpose === 'command'
      ? { ...common, enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 2_000 }
      : { ...common, maxRetriesPerRequest: null, enableReadyCheck: true };
  return new Redis(url, options);
}

/** Resolves once the connection is ready, or rejects after `timeoutMs`. */
export async function waitUntilReady(redis: Redis, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`Redis not ready after ${timeoutMs} ms (status ${redis.status})`));
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      redis.off('ready', onReady);
    };
    redis.on('ready', onReady);
  });
}
