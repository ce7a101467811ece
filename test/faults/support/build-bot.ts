import { execFileSync } from 'node:child_process';

/** Vitest global setup for the faults suite: compiles the bot once, since every test file spawns dist/src/main.js. */
export default function buildBot(): void {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
}
