import { readdirSync, readFileSync } from 'node:fs';

/** CPU seconds (user + system) a process has used so far, from /proc; NaN when it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return ticks / 100;
  } catch {
    return Number.NaN;
  }
}

/** The pid of the first process whose command line contains every one of `parts`. */
export function findPid(...parts: string[]): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (parts.every((part) => cmdline.includes(part))) return Number(entry);
    } catch {
      // Gone meanwhile.
    }
  }
  return undefined;
}

/** Jiffies (1/100 s) the whole machine spent busy, over all cores, from /proc/stat. */
export function machineBusySeconds(): number {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const [, ...values] = line.trim().split(/\s+/);
    const ticks = values.map(Number);
    const total = ticks.slice(0, 8).reduce((sum, value) => sum + value, 0);
    const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
    return (total - idle) / 100;
  } catch {
    return Number.NaN;
  }
}

/** Percent of one core the machine was busy over `ms`, before the bench starts anything. */
export async function machineBusyPercent(ms: number): Promise<number> {
  const before = machineBusySeconds();
  await new Promise((resolve) => setTimeout(resolve, ms));
  return ((machineBusySeconds() - before) / (ms / 1000)) * 100;
}

/** Share of one core each watched process used between `start()` and `stop()`, in percent, plus `generator` (this process) and `others`. */
export class CpuMeter {
  private readonly before = new Map<string, number>();
  private started = 0;

  constructor(private readonly pids: Record<string, number | undefined>) {}

  start(): void {
    this.started = performance.now();
    for (const [name, pid] of Object.entries(this.pids)) this.before.set(name, pid === undefined ? Number.NaN : cpuSeconds(pid));
    this.before.set('generator', process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6);
    this.before.set('machine', machineBusySeconds());
  }

  stop(): Record<string, number> {
    const seconds = (performance.now() - this.started) / 1000;
    const out: Record<string, number> = {};
    for (const [name, pid] of Object.entries(this.pids)) {
      out[name] = ((cpuSeconds(pid ?? -1) - (this.before.get(name) ?? Number.NaN)) / seconds) * 100;
    }
    const usage = process.cpuUsage();
    out.generator = ((usage.user / 1e6 + usage.system / 1e6 - (this.before.get('generator') ?? Number.NaN)) / seconds) * 100;
    // Everything the bench did not start (other sessions' builds and tests share this machine).
    const machine = ((machineBusySeconds() - (this.before.get('machine') ?? Number.NaN)) / seconds) * 100;
    out.others = Math.max(0, machine - Object.values(out).reduce((sum, percent) => sum + (Number.isFinite(percent) ? percent : 0), 0));
    return out;
  }
}
