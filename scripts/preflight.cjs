// Runs before `npm ci`, `npm start`, `npm test` and `npm run demo` (package.json pre-scripts) under whatever
// Node.js the machine has, so it is written for old Node: CommonJS, no syntax newer than ES2015, no
// dependencies. It turns "wrong Node" and "no redis-server" into one line saying what to do, instead of
// a stack trace from deep inside a dependency.
'use strict';

var fs = require('fs');
var path = require('path');

var NEEDED = { major: 22, minor: 12 };
var NEEDED_TEXT = '>= ' + NEEDED.major + '.' + NEEDED.minor;
var BRING_IT = 'scripts/dev test (or scripts/dev demo) brings Node 24 into ~/.cache/mlops-chatops without touching your global setup';

/** The problem with this Node version ('v20.19.0' or '20.19.0'), or undefined when it can run the project. */
function nodeVersionProblem(found) {
  var match = /^v?(\d+)\.(\d+)\.(\d+)/.exec(String(found));
  if (match) {
    var major = Number(match[1]);
    var minor = Number(match[2]);
    if (major > NEEDED.major || (major === NEEDED.major && minor >= NEEDED.minor)) return undefined;
  }
  return 'mlops-chatops needs Node.js ' + NEEDED_TEXT + ' (24 recommended), found ' + String(found) + ': ' + BRING_IT + '.';
}

/** True when an executable file `name` is in one of the PATH directories. */
function onPath(name, pathVariable) {
  var dirs = String(pathVariable || '').split(path.delimiter);
  for (var i = 0; i < dirs.length; i++) {
    if (!dirs[i]) continue;
    try {
      fs.accessSync(path.join(dirs[i], name), fs.constants.X_OK);
      if (fs.statSync(path.join(dirs[i], name)).isFile()) return true;
    } catch (error) {
      // not in this directory
    }
  }
  return false;
}

/**
 * The problem with Redis for `task`, or undefined. The tests always start their own redis-server; the demo
 * starts one unless REDIS_URL names a Redis to use; `npm start` connects to REDIS_URL and needs neither.
 */
function redisProblem(task, env, hasRedisServer) {
  if (hasRedisServer) return undefined;
  var get = 'install it (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis) or run scripts/dev ' + (task === 'demo' ? 'demo' : 'test') + ', which does';
  if (task === 'test') return 'the tests start their own redis-server and it is not on the PATH: ' + get + '.';
  if (task === 'demo' && !(env.REDIS_URL && String(env.REDIS_URL).trim())) {
    return 'the demo starts a redis-server and it is not on the PATH: ' + get + ', or set REDIS_URL to a Redis you run.';
  }
  return undefined;
}

/** Every problem for `task` (install, start, test, demo) on this machine, in the order to fix them. */
function preflightProblems(task, versionFound, env, hasRedisServer) {
  var problems = [];
  var node = nodeVersionProblem(versionFound);
  if (node) problems.push(node);
  var redis = redisProblem(task, env, hasRedisServer);
  if (redis) problems.push(redis);
  return problems;
}

module.exports = { nodeVersionProblem: nodeVersionProblem, redisProblem: redisProblem, preflightProblems: preflightProblems };

if (require.main === module) {
  var task = process.argv[2] || 'start';
  var problems = preflightProblems(task, process.version, process.env, onPath('redis-server', process.env.PATH));
  // Only the first: with the wrong Node the Redis line would be noise, and each is one line by itself.
  if (problems.length > 0) {
    process.stderr.write(problems[0] + '\n');
    process.exit(1);
  }
}
