import { writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import type { Reporter, TestModule } from 'vitest/node';
import type { ReliabilityEntry } from './reliability.js';

interface Row extends ReliabilityEntry {
  readonly result: 'passed' | 'FAILED' | 'skipped';
  readonly file: string;
}

const escapeCell = (text: string): string => text.replaceAll('|', '\\|').replaceAll('\n', ' ');

/** A file or name filter on the command line (`vitest run test/faults/x`, `-t name`) makes a partial run. */
function isFilteredRun(args: readonly string[]): boolean {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (arg === '--config' || arg === '-c') i++;
    else if (arg === '-t' || arg.startsWith('--testNamePattern')) return true;
    else if (!arg.startsWith('-') && arg !== 'run') return true;
  }
  return false;
}

/**
 * Writes RELIABILITY.md at the repository root from the rows the faults suite recorded with
 * recordReliability(). Only a full run (no file or name filter) rewrites it, so a partial run while
 * developing cannot leave a table that looks complete.
 */
export default class ReliabilityReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    if (isFilteredRun(process.argv.slice(2))) return;
    const rows: Row[] = [];
    for (const module of testModules) {
      const file = relative(process.cwd(), module.moduleId);
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        const result = state === 'passed' ? 'passed' : state === 'failed' ? 'FAILED' : 'skipped';
        const recorded = test.meta().reliability ?? [];
        if (recorded.length === 0) {
          rows.push({ area: 'unrecorded', fault: test.fullName, cases: 1, outcome: '—', result, file });
        }
        for (const entry of recorded) rows.push({ ...entry, result, file });
      }
    }
    if (rows.length === 0) return;
    rows.sort((a, b) => a.area.localeCompare(b.area) || a.file.localeCompare(b.file));
    const totalCases = rows.reduce((sum, row) => sum + row.cases, 0);
    const failed = rows.filter((row) => row.result !== 'passed').length;
    const lines = [
      '# Reliability',
      '',
      'Written by `npm run test:faults` (the faults suite in `test/faults/`, also run by `.ci/run`) against the',
      'real bot processes, a throwaway `redis-server` and the local stand-ins for Slack, OCI, MLflow and',
      'Kubernetes in `test/fakes/`. Each row is one fault or input class; "cases" counts the deliveries,',
      'requests or generated inputs tried; "result" is the result of the test that recorded the row.',
      '',
      `${rows.length} classes, ${totalCases.toLocaleString('en-US')} cases, ${failed === 0 ? 'all passed' : `${failed} not passed`}.`,
      '',
      '| area | fault or input class | cases | result | outcome | test file |',
      '|---|---|---:|---|---|---|',
      ...rows.map(
        (row) =>
          `| ${escapeCell(row.area)} | ${escapeCell(row.fault)} | ${row.cases.toLocaleString('en-US')} | ${row.result} | ${escapeCell(row.outcome)} | \`${row.file}\` |`,
      ),
      '',
    ];
    writeFileSync('RELIABILITY.md', lines.join('\n'));
  }
}
