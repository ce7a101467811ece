import type { TestContext } from 'vitest';

/** One row of RELIABILITY.md: a fault or input class, how many cases were tried and what happened. */
export interface ReliabilityEntry {
  /** Where the fault is applied, e.g. "Redis", "Slack API", "Slack requests", "parsers". */
  readonly area: string;
  /** The fault or input class, e.g. "stopped for 3 s during a burst of 1,000 notifications". */
  readonly fault: string;
  /** How many distinct cases (deliveries, requests, generated inputs) were tried. */
  readonly cases: number;
  /** What the suite measured, e.g. "lost 0, duplicated 0; 212 refused with 503 and redelivered". */
  readonly outcome: string;
}

declare module 'vitest' {
  interface TaskMeta {
    reliability?: ReliabilityEntry[];
  }
}

/**
 * Records a row for RELIABILITY.md on the running test. The reporter marks the row with the test's
 * own result, so a row only reads "passed" when the assertions after it held too.
 */
export function recordReliability(context: TestContext, entry: ReliabilityEntry): void {
  const rows = (context.task.meta.reliability ??= []);
  rows.push(entry);
}
