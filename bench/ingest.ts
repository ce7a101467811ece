import { CpuMeter } from './cpu.js';
import { runLoad, type LoadResult } from './load.js';
import { ingestShots } from './oci-events.js';

export interface IngestStep {
  rate: number;
  result: LoadResult;
  held: boolean;
  /** Percent of one core per watched process (and `generator`, this process) during the step. */
  cpu: Record<string, number>;
  /** A first try that failed and was repeated (the next entry is the repeat). */
  retried?: boolean;
}

export interface IngestCeiling {
  steps: IngestStep[];
  /** The highest stepped rate that held; undefined when even the first did not. */
  best: IngestStep | undefined;
}

/** Holding a rate: every delivery answered 2xx, p99 under the bound, and the generator kept its schedule. */
export const INGEST_P99_BOUND_MS = 50;

/**
 * Steps the delivery rate up until p99 reaches the bound (or anything fails), spreading deliveries round
 * robin over `targets`. OCI's 5 s answer window is the timeout. A short warm-up comes first; a failed
 * step is repeated once before the search stops.
 */
export async function findIngestCeiling(
  targets: readonly string[],
  rates: readonly number[],
  stepMs: number,
  pauseMs: number,
  watch: Record<string, number | undefined> = {},
): Promise<IngestCeiling> {
  await runLoad({ targets, rate: 200, shots: ingestShots(200, targets.length), timeoutMs: 5_000 });
  const steps: IngestStep[] = [];
  const attempt = async (rate: number): Promise<IngestStep> => {
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
    const shots = ingestShots(Math.round((rate * stepMs) / 1000), targets.length);
    const meter = new CpuMeter(watch);
    meter.start();
    const result = await runLoad({ targets, rate, shots, timeoutMs: 5_000 });
    const cpu = meter.stop();
    return { rate, result, held: result.errors === 0 && result.p99 < INGEST_P99_BOUND_MS, cpu };
  };
  for (const rate of rates) {
    let step = await attempt(rate);
    // One stall (a GC pause, another session's burst of work) should not end the search: a step that
    // fails is tried once more, and both tries are reported.
    if (!step.held) {
      steps.push({ ...step, retried: true });
      step = await attempt(rate);
    }
    steps.push(step);
    if (!step.held) break;
  }
  const best = [...steps].reverse().find((step) => step.held && !step.retried);
  return { steps, best };
}
