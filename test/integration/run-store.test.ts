import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunStore } from '../../src/adapters/redis/run-store.js';
import { applyRunUpdate } from '../../src/domain/run.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';

describe('RunStore: concurrent folds of one run lose nothing', () => {
  let redis: TestRedis;
  const clients: Redis[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    for (let index = 0; index < 2; index++) clients.push(new Redis(redis.url));
  });

  afterAll(async () => {
    for (const client of clients) client.disconnect();
    await redis.stop();
  });

  it('keeps every update when two replicas fold the same run at once, with other transactions on the same connections', async () => {
    const stores = clients.map((client) => new RunStore(client));
    const key = 'ocid1.datasciencejobrun.oc1.iad.concurrent';
    const updates = Array.from({ length: 24 }, (_, index) => index);
    await Promise.all(
      updates.map(async (index) => {
        const store = stores[index % 2] as RunStore;
        // Unrelated MULTI/EXEC traffic on the same connection (it would cancel a WATCH).
        await clients[index % 2]?.multi().set(`other:${index}`, '1').exec();
        await store.update(key, (run) => applyRunUpdate(run, { key, resourceId: key, subject: 'jobRun', kind: 'training', at: new Date(1_700_000_000_000 + index).toISOString(), details: { [`step${index}`]: 'seen' } }).run);
      }),
    );
    const run = await stores[0]?.get(key);
    expect(Object.keys(run?.details ?? {}).sort()).toEqual(updates.map((index) => `step${index}`).sort());
    expect((await stores[0]?.recent(5))?.map((recent) => recent.key)).toEqual([key]);
  });
});
