import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { nodeVersionProblem, preflightProblems, redisProblem } from '../../scripts/preflight.cjs';

describe('the Node version check (npm ci, start, test, demo)', () => {
  it.each(['v22.12.0', 'v22.20.1', 'v23.0.0', 'v24.21.0', '24.0.0', 'v30.1.2'])('lets %s run the project', (version) => {
    expect(nodeVersionProblem(version)).toBeUndefined();
  });

  it.each(['v22.11.0', 'v22.0.0', 'v20.20.2', 'v18.19.1', 'v16.20.2', 'v8.17.0', 'garbage', ''])('refuses %j in one line naming found, needed and the command that brings it', (version) => {
    const problem = nodeVersionProblem(version);
    expect(problem).toBeDefined();
    expect(problem).not.toContain('\n');
    expect(problem).toContain(`found ${version}`);
    expect(problem).toContain('>= 22.12');
    expect(problem).toContain('scripts/dev test');
  });

  it('is what the npm scripts run before anything else', async () => {
    const { default: packageJson } = (await import('../../package.json', { with: { type: 'json' } })) as { default: { scripts: Record<string, string> } };
    for (const [script, task] of [['preinstall', 'install'], ['prestart', 'start'], ['pretest', 'test'], ['predemo', 'demo']] as const) {
      expect(packageJson.scripts[script], script).toMatch(new RegExp(`^node scripts/preflight\\.cjs ${task}( |$)`));
    }
  });

  it('exits 1 with that one line when run by an older Node, and 0 under this one', () => {
    const ok = spawnSync(process.execPath, ['scripts/preflight.cjs', 'start'], { encoding: 'utf8' });
    expect(ok.status).toBe(0);
    expect(ok.stderr).toBe('');
    // An old Node is simulated by a preloaded module that reports another version: the script only reads process.version.
    const old = spawnSync(process.execPath, ['--import', 'data:text/javascript,Object.defineProperty(process,"version",{value:"v20.19.0"})', 'scripts/preflight.cjs', 'start'], { encoding: 'utf8' });
    expect(old.status).toBe(1);
    expect(old.stderr.trim().split('\n')).toEqual([nodeVersionProblem('v20.19.0')]);
  });
});

describe('the redis-server check', () => {
  it('needs nothing when redis-server is on the PATH', () => {
    for (const task of ['test', 'demo', 'start']) expect(redisProblem(task, {}, true)).toBeUndefined();
  });

  it('tests always need redis-server, REDIS_URL or not', () => {
    expect(redisProblem('test', { REDIS_URL: 'redis://127.0.0.1:6379' }, false)).toMatch(/^the tests start their own redis-server .*apt-get install redis-server.*brew install redis.*scripts\/dev test/);
  });

  it('the demo can use REDIS_URL instead, and says so', () => {
    expect(redisProblem('demo', { REDIS_URL: 'redis://10.0.0.5:6379' }, false)).toBeUndefined();
    expect(redisProblem('demo', { REDIS_URL: '  ' }, false)).toContain('or set REDIS_URL');
  });

  it('npm start connects to REDIS_URL and needs no local redis-server', () => {
    expect(redisProblem('start', {}, false)).toBeUndefined();
  });

  it('reports the Node version before Redis, one problem per line', () => {
    const problems = preflightProblems('test', 'v18.0.0', {}, false);
    expect(problems).toHaveLength(2);
    expect(problems[0]).toContain('found v18.0.0');
    expect(problems.every((line) => !line.includes('\n'))).toBe(true);
  });
});
