import type { LoadResult } from './load.js';

export interface Row {
  item: string;
  figure: string;
  bot: string;
  baseline: string;
  target: string;
  met: boolean | undefined;
  notes: string;
}

export function ms(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  return value < 10 ? value.toFixed(1) : String(Math.round(value));
}

export function seconds(valueMs: number | undefined): string {
  return valueMs === undefined || !Number.isFinite(valueMs) ? 'n/a' : `${(valueMs / 1000).toFixed(1)} s`;
}

export function mb(value: number): string {
  return Number.isFinite(value) ? `${Math.round(value)} MB` : 'n/a';
}

export function failures(result: LoadResult): string {
  const parts = Object.entries(result.failures).map(([reason, count]) => `${count}× ${reason}`);
  return parts.length === 0 ? '0 errors' : `${result.errors} errors (${parts.join(', ')})`;
}

export function latency(result: LoadResult): string {
  return `p50 ${ms(result.p50)} / p99 ${ms(result.p99)} / max ${ms(result.max)} ms, ${failures(result)}`;
}

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, '<br>');

/** One markdown table, the machine line above it and the run's notes below. */
export function renderTable(title: string, machine: string, rows: readonly Row[], footer: readonly string[]): string {
  const lines = [
    `## ${title}`,
    '',
    `Machine: ${machine}.`,
    '',
    '| # | figure | mlops-chatops | baseline (measured the same way) | target | met | notes |',
    '|---|---|---|---|---|---|---|',
    ...rows.map((row) => `| ${[row.item, row.figure, row.bot, row.baseline, row.target, row.met === undefined ? '—' : row.met ? 'yes' : '**no**', row.notes].map(cell).join(' | ')} |`),
    '',
    ...footer.map((line) => `- ${line}`),
    '',
  ];
  return lines.join('\n');
}
