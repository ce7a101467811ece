import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { QUEUE_NAMES, QUEUE_PREFIX } from '../src/queues.js';

/** Reads the bot's BullMQ queues from outside, to see when the workers have caught up. */
export class QueueDepth {
  private readonly connection: Redis;
  private readonly queues: Queue[];

  constructor(redisUrl: string) {
    this.connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
    this.queues = [QUEUE_NAMES.notifications, QUEUE_NAMES.slackStatus].map((name) => new Queue(name, { connection: this.connection, prefix: QUEUE_PREFIX }));
  }

  /** Jobs waiting or running in the notifications queue. */
  async notificationsBacklog(): Promise<number> {
    const [notifications] = this.queues;
    if (!notifications) return 0;
    const counts = await notifications.getJobCounts('wait', 'active', 'prioritized');
    return Object.values(counts).reduce((sum, count) => sum + count, 0);
  }

  /** Polls until the notifications queue is empty (or `capMs` passes); ms it took and what was left. */
  async drain(capMs: number): Promise<{ ms: number; left: number }> {
    const started = performance.now();
    for (;;) {
      const left = await this.notificationsBacklog();
      if (left === 0 || performance.now() - started > capMs) return { ms: performance.now() - started, left };
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.queues.map((queue) => queue.close()));
    await this.connection.quit().catch(() => this.connection.disconnect());
  }
}
