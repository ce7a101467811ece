import type { Redis } from 'ioredis';
import type { Logger } from '../../log.js';
import { keys } from './keys.js';

export interface AuditEntry {
  /** Slack user ID, or `system` for worker outcomes. */
  actor: string;
  /** `command.train`, `button.retry`, `job.train`, ... */
  action: string;
  subject: string;
  outcome: string;
  jobId?: string;
  detail?: string;
}

export interface StoredAuditEntry extends AuditEntry {
  id: string;
  at: string;
}

/** Bounded: the newest ~10,000 entries stay in Redis; the structured log keeps everything. */
const MAX_ENTRIES = 10_000;

/** Every command, approval and job outcome: a Redis stream every replica appends to, and a log line. */
export class AuditLog {
  constructor(
    private readonly redis: Redis,
    private readonly logger: Logger,
  ) {}

  async record(entry: AuditEntry): Promise<void> {
    this.logger.info({ audit: entry }, 'audit');
    const fields = Object.entries(entry).flatMap(([key, value]) => (value === undefined ? [] : [key, String(value).slice(0, 500)]));
    try {
      await this.redis.xadd(keys.audit(), 'MAXLEN', '~', MAX_ENTRIES, '*', ...fields);
    } catch (error) {
      // The log line above already holds the entry; an outage must not undo the action it records.
      this.logger.warn({ err: error }, 'audit entry not stored');
    }
  }

  async latest(count: number): Promise<StoredAuditEntry[]> {
    const rows = await this.redis.xrevrange(keys.audit(), '+', '-', 'COUNT', count);
    return rows.map(([id, flat]) => {
      const fields: Record<string, string> = {};
      for (let index = 0; index + 1 < flat.length; index += 2) fields[flat[index] ?? ''] = flat[index + 1] ?? '';
      const millis = Number(id.split('-')[0]);
      return {
        id,
        at: new Date(Number.isFinite(millis) ? millis : 0).toISOString(),
        actor: fields.actor ?? '',
        action: fields.action ?? '',
        subject: fields.subject ?? '',
        outcome: fields.outcome ?? '',
        ...(fields.jobId ? { jobId: fields.jobId } : {}),
        ...(fields.detail ? { detail: fields.detail } : {}),
      };
    });
  }
}
