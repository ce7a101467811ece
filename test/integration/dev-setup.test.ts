import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

/**
 * scripts/setup.sh, which scripts/dev runs before the demo or the tests, on a machine made of stand-ins: a
 * checkout with its scripts and lock file, a PATH holding only basic tools, a `node` that reports
 * v20.19.0 (this Node 24 with its version replaced) and an `npm` that logs what it is asked and does
 * the installing it would do, without the network.
 */
const REAL_NODE = process.execPath;
const OLD_NODE = `#!/bin/sh\nexec "${REAL_NODE}" --import 'data:text/javascript,Object.defineProperty(process,"version",{value:"v20.19.0"})' "$@"\n`;
/** npm: logs "cwd: args"; `install ... node@24` puts a working Node 24 where the npm package would. */
const FAKE_NPM = `#!/bin/sh
echo "$(pwd): $*" >> "$NPM_LOG"
case "$*" in
  "config get globalconfig") echo "$FAKE_GLOBAL_NPMRC" ;;
  install*node@24*) mkdir -p node_modules/node/bin && printf '#!/bin/sh\\nexec "${REAL_NODE}" "$@"\\n' > node_modules/node/bin/node && chmod +x node_modules/node/bin/node ;;
  ci*) mkdir -p node_modules ;;
esac
`;

describe('scripts/setup.sh: what the two commands bring, and only once', () => {
  let dir: string;
  let env: Record<string, string>;

  const executable = (path: string, text: string) => {
    writeFileSync(path, text);
    chmodSync(path, 0o755);
  };
  /** Runs bash with setup.sh sourced, then `commands`; the PATH holds the stand-ins and basic tools only. */
  const run = (commands: string, extra: Record<string, string> = {}) => spawnSync('bash', ['-c', `source "${join(dir, 'checkout/scripts/setup.sh')}" && ${commands}`], { env: { ...env, ...extra }, encoding: 'utf8' });
  const npmCalls = () => (existsSync(env.NPM_LOG ?? '') ? readFileSync(env.NPM_LOG ?? '', 'utf8').trim().split('\n') : []);

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mlops-setup-'));
    mkdirSync(join(dir, 'checkout/scripts'), { recursive: true });
    for (const file of ['scripts/setup.sh', 'scripts/preflight.cjs', 'package-lock.json']) copyFileSync(file, join(dir, 'checkout', file));
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    for (const tool of ['bash', 'sh', 'uname', 'grep', 'mkdir', 'cat', 'id', 'dirname', 'env', 'chmod']) symlinkSync(execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim(), join(bin, tool));
    executable(join(bin, 'node'), OLD_NODE);
    executable(join(bin, 'npm'), FAKE_NPM);
    writeFileSync(join(dir, 'npmrc'), 'cafile=/etc/ssl/machine.pem\n');
    env = { PATH: bin, HOME: join(dir, 'home'), NPM_LOG: join(dir, 'npm.log'), FAKE_GLOBAL_NPMRC: join(dir, 'npmrc'), MLOPS_NODE24_HOME: join(dir, 'home/.cache/mlops-chatops/node24') };
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('with an old Node, installs node@24 into the cache (not globally) once, and keeps npm on the machine\'s npmrc', () => {
    const first = run('use_node && node --version && echo "globalconfig=$NPM_CONFIG_GLOBALCONFIG"');
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toContain(`${process.version}\n`);
    expect(first.stdout).toContain(`globalconfig=${join(dir, 'npmrc')}`);
    expect(first.stderr).toContain('installing Node 24 (npm package node@24)');
    const installs = npmCalls().filter((call) => call.includes('node@24'));
    expect(installs).toHaveLength(1);
    expect(installs[0]).toMatch(new RegExp(`^${env.MLOPS_NODE24_HOME ?? ''}: install --no-save .*node@24$`));
    expect(installs[0]).not.toMatch(/ (-g|--global)\b/);

    const again = run('use_node && node --version');
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout.trim()).toBe(process.version);
    expect(again.stderr).toBe('');
    expect(npmCalls().filter((call) => call.includes('node@24'))).toHaveLength(1);
  });

  it('uses a Node that is new enough as it is', () => {
    executable(join(dir, 'bin/node'), `#!/bin/sh\nexec "${REAL_NODE}" "$@"\n`);
    const result = run('use_node && node --version');
    expect(result.status, result.stderr).toBe(0);
    expect(npmCalls()).toEqual([]);
  });

  it('runs npm ci once, and again only when package-lock.json changes', () => {
    executable(join(dir, 'bin/node'), `#!/bin/sh\nexec "${REAL_NODE}" "$@"\n`);
    expect(run('ensure_deps').status).toBe(0);
    expect(run('ensure_deps').status).toBe(0);
    expect(npmCalls().filter((call) => / ci\b/.test(call))).toHaveLength(1);
    writeFileSync(join(dir, 'checkout/package-lock.json'), `${readFileSync(join(dir, 'checkout/package-lock.json'), 'utf8')}\n`);
    expect(run('ensure_deps').status).toBe(0);
    expect(npmCalls().filter((call) => / ci\b/.test(call))).toHaveLength(2);
  });

  it('without redis-server, apt or Homebrew: one line saying what to install, and exit 1; the demo may use REDIS_URL instead', () => {
    const result = run('ensure_redis test');
    expect(result.status).toBe(1);
    const line = process.platform === 'darwin' ? 'setup: redis-server is missing: install Homebrew (https://brew.sh) and run again, or run: brew install redis' : "setup: redis-server is missing: install Redis 7 or later with your system's package manager so that redis-server is on the PATH, then run again";
    expect(result.stderr.trim().split('\n')).toEqual([line]);
    expect(run('ensure_redis demo', { REDIS_URL: 'redis://10.0.0.5:6379' }).status).toBe(0);
  });

  it('says what to do when there is neither a new enough Node nor npm', () => {
    rmSync(join(dir, 'bin/npm'));
    const result = run('use_node');
    expect(result.status).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual(['setup: needs Node.js >= 22.12, or npm to fetch Node 24 with: install Node.js 24 (https://nodejs.org) and run again']);
  });
});
