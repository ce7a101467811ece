# shellcheck shell=bash
# What scripts/dev (and .ci/run) need before any npm script can run, brought in only when missing, so a
# second run installs nothing:
#   use_node       a Node.js >= 22.12 first on PATH: the machine's own, or Node 24 from the npm package
#                  node@24 in ~/.cache/mlops-chatops/node24 (MLOPS_NODE24_HOME), never the global setup
#   ensure_redis   redis-server on PATH: apt on Debian/Ubuntu, Homebrew on macOS, else one line and exit 1
#   ensure_deps    node_modules as package-lock.json says (npm ci, again only when the lock file changed)
# Sourced, not run: it changes the caller's PATH.

setup_say() { printf 'setup: %s\n' "$*" >&2; }
setup_fail() {
  printf 'setup: %s\n' "$*" >&2
  exit 1
}

setup_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

setup_node_ok() {
  command -v node >/dev/null 2>&1 && node "$setup_root/scripts/preflight.cjs" node >/dev/null 2>&1
}

use_node() {
  setup_node_ok && return 0
  local home="${MLOPS_NODE24_HOME:-$HOME/.cache/mlops-chatops/node24}"
  # The machine's npm settings (CA file, registry, proxy) live in the global npmrc of the npm that came
  # with it. Node 24 from the cache has another prefix, so npm run by it would look elsewhere: keep
  # pointing npm at the original file.
  if [ -z "${NPM_CONFIG_GLOBALCONFIG:-}" ] && command -v npm >/dev/null 2>&1; then
    local global_npmrc
    global_npmrc="$(npm config get globalconfig 2>/dev/null || true)"
    if [ -n "$global_npmrc" ] && [ -f "$global_npmrc" ]; then export NPM_CONFIG_GLOBALCONFIG="$global_npmrc"; fi
  fi
  if [ ! -x "$home/node_modules/node/bin/node" ]; then
    command -v npm >/dev/null 2>&1 || setup_fail "needs Node.js >= 22.12, or npm to fetch Node 24 with: install Node.js 24 (https://nodejs.org) and run again"
    setup_say "installing Node 24 (npm package node@24) into $home"
    mkdir -p "$home"
    [ -f "$home/package.json" ] || printf '{"name":"mlops-chatops-node24","private":true}\n' >"$home/package.json"
    (cd "$home" && npm install --no-save --no-audit --no-fund --loglevel=error node@24 >/dev/null) ||
      setup_fail "npm could not install node@24 into $home (see the npm output above); install Node.js 24 yourself and run again"
    [ -x "$home/node_modules/node/bin/node" ] ||
      setup_fail "npm installed node@24 without its binary (are install scripts disabled?); allow them for the package node, or install Node.js 24 yourself"
  fi
  export PATH="$home/node_modules/node/bin:$PATH"
  setup_node_ok || setup_fail "$home/node_modules/node/bin/node does not run here; remove $home and run again"
}

# Root runs the package manager itself; anyone else through sudo.
setup_as_root() {
  if [ "$(id -u)" = "0" ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    setup_fail "redis-server is missing and installing it needs root: run again as root or with sudo available, or install it yourself"
  fi
}

# $1: what needs it (test or demo); the demo can use a Redis at REDIS_URL instead.
ensure_redis() {
  command -v redis-server >/dev/null 2>&1 && return 0
  if [ "${1:-}" = "demo" ] && [ -n "${REDIS_URL:-}" ]; then return 0; fi
  if [ "$(uname -s)" = "Darwin" ]; then
    command -v brew >/dev/null 2>&1 || setup_fail "redis-server is missing: install Homebrew (https://brew.sh) and run again, or run: brew install redis"
    setup_say "installing redis-server (brew install redis)"
    brew install redis >/dev/null
  elif command -v apt-get >/dev/null 2>&1 && [ -r /etc/os-release ] && grep -qiE '^(ID|ID_LIKE)=.*(debian|ubuntu)' /etc/os-release; then
    setup_say "installing redis-server (apt-get install redis-server)"
    setup_as_root apt-get update -qq
    setup_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  else
    setup_fail "redis-server is missing: install Redis 7 or later with your system's package manager so that redis-server is on the PATH, then run again"
  fi
  command -v redis-server >/dev/null 2>&1 || setup_fail "redis-server is still not on the PATH after installing it; add its directory to PATH and run again"
}

# npm ci when node_modules was not installed from this package-lock.json (a stamp in node_modules).
ensure_deps() {
  local stamp="$setup_root/node_modules/.mlops-chatops-lock" lock
  lock="$(node -p "require('crypto').createHash('sha256').update(require('fs').readFileSync('$setup_root/package-lock.json')).digest('hex')")"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock" ]; then return 0; fi
  setup_say "installing the npm dependencies (npm ci)"
  (cd "$setup_root" && npm ci --no-audit --no-fund --loglevel=error) || setup_fail "npm ci failed (see above)"
  printf '%s\n' "$lock" >"$stamp"
}
