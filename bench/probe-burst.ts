import { botEnv, ociConfigEnv } from './bot-env.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { FakeSlackApi } from '../test/fakes/fake-slack-api.js';
import { baseConfigFile } from '../test/helpers/bot-harness.js';
import { startTestOci } from '../test/helpers/oci.js';
import { startRedis } from '../test/helpers/redis-server.js';
import { burstFloorMs, deliverBurst, settleBurst } from './burst.js';
import { measureNotifyLatency } from './notify-latency.js';
import { BURST_CHANNELS, burstPlan } from './oci-events.js';
import { spawnChild, type Child } from './processes.js';

/**
 * A tuning aid, not part of `npm run bench`: item 3's burst and the ordinary-load latency row alone, against
 * one ROLE=all process or (`--scale`) 2 web + 2 worker processes, printing the figures the targets count.
 * `node dist/bench/probe-burst.js [--scale] [--burst-only | --latency-only | --idle] [-- <node options for the bot>]`.
 * `--idle` prints only each process's RSS 2 s after /readyz answered 200, as the bench's "RSS idle" row reads it.
 */
const dash = process.argv.indexOf('--');
const args = dash === -1 ? process.argv.slice(2) : process.argv.slice(2, dash);
const nodeArgs = dash === -1 ? [] : process.argv.slice(dash + 1);
const scale = args.includes('--scale');
process.chdir(fileURLToPath(new URL('../../', import.meta.url)));

const redis = await startRedis();
const slack = await FakeSlackApi.start({ usergroups: { S0DS: ['U0DS1'], S0ONCALL: ['U0ONCALL'], S0SRE: ['U0SRE1'] } });
const oci = await startTestOci();
const dir = mkdtempSync(join(tmpdir(), 'mlops-probe-'));
const children: Child[] = [];
try {
  const configPath = join(dir, 'mlops.yaml');
  const ociEnv = ociConfigEnv(dir, oci);
  const base = baseConfigFile();
  const burstRoutes = BURST_CHANNELS.map((channel, index) => ({ match: { resourceName: `burst-${index}-*` }, channel }));
  writeFileSync(configPath, stringify({ ...base, routes: [...burstRoutes, ...(base.routes as unknown[])] }));
  const env = (role: string) => botEnv({ role, slackUrl: slack.url, redisUrl: redis.url, configPath, oci: ociEnv });
  const roles = scale ? ['web', 'web', 'worker', 'worker'] : ['all'];
  children.push(...(await Promise.all(roles.map((role, index) => spawnChild({ name: `${role}-${index}`, script: 'dist/src/main.js', env: env(role), readyPath: '/readyz', nodeArgs })))));
  const webs = children.filter((child) => !child.name.startsWith('worker')).map((child) => child.url);
  if (args.includes('--idle')) {
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    for (const child of children) console.log(`${child.name}: ready in ${child.readyMs.toFixed(0)} ms, RSS ${child.memory().rssMb.toFixed(1)} MB 2 s later`);
  }

  if (!args.includes('--latency-only') && !args.includes('--idle')) {
    const plan = burstPlan('p', 50, 40);
    const { floorMs, postsPerChannel } = burstFloorMs(plan, 1_000);
    const burst = await settleBurst(await deliverBurst(slack, plan, webs, 2_000), 120_000);
    const ratio = (burst.allFinalMs ?? Number.NaN) / floorMs;
    const { posts } = burst;
    if (args.includes('--diag')) {
      const { Redis } = await import('ioredis');
      const client = new Redis(redis.url);
      const messages = slack.messages();
      for (const run of plan.runs) {
        const root = messages.find((message) => message.channel === run.channel && new RegExp(`${run.name}(?![0-9])`).test(message.text) && !message.threadTs);
        const raw = await client.get(`mlops:run:${run.runId}`);
        const stored = raw ? (JSON.parse(raw) as { state: string; version: number }) : undefined;
        const message = await client.hgetall(`mlops:run:${run.runId}:message`);
        const shown = root?.text.slice(0, 30) ?? 'no root';
        if ((root?.edits ?? 0) > 1) console.log(`  versions of ${run.name}: ${JSON.stringify([...(root?.history ?? []).map((edit) => [edit.text.slice(0, 45), edit.at]), [root?.text.slice(0, 45), root?.updatedAt, 'posted', root?.postedAt]])}`);
        console.log(`${run.name} final=${run.final} run=${stored?.state}/v${stored?.version} message=${JSON.stringify(message)} root="${shown}" edits=${root?.edits} replies=${root?.replies.length}`);
      }
      const keysLeft = await client.keys('mlops:bull:slack-status:*');
      console.log(`queue keys: ${keysLeft.filter((key) => !/:[0-9a-f]{40}$|:\d+$/.test(key)).join(' ')}`);
      for (const state of ['wait', 'active', 'delayed', 'failed', 'completed']) {
        const key = `mlops:bull:slack-status:${state}`;
        const type = await client.type(key);
        const size = type === 'list' ? await client.llen(key) : type === 'zset' ? await client.zcard(key) : 0;
        console.log(`${state}: ${size}`);
      }
      client.disconnect();
    }
    console.log(
      `burst: final states in ${((burst.allFinalMs ?? Number.NaN) / 1000).toFixed(1)} s = ${ratio.toFixed(2)} × floor ${floorMs / 1000} s (${postsPerChannel} posts/channel); ` +
        `roots ${posts.roots} + updates ${posts.updates} = ${((posts.roots + posts.updates) / plan.runs.length).toFixed(2)} × runs; ` +
        `thread replies: ${posts.alerts} alerts (${posts.failedAlerted} of ${posts.failed} failed runs), ${posts.narration} narration; ` +
        `429s ${burst.traffic.rateLimited}; lost ${burst.lostFinal}; duplicated ${burst.duplicated}; quiet after ${(burst.quietAfterMs / 1000).toFixed(1)} s; deliveries p99 ${burst.deliveries.p99.toFixed(0)} ms`,
    );
  }
  if (!args.includes('--burst-only') && !args.includes('--idle')) {
    const latency = await measureNotifyLatency(slack, webs[0] ?? '', { tag: 'p', runs: 20, everyMs: 200, quietMs: 3_000, capMs: 60_000 });
    if (args.includes('--diag')) for (const line of latency.detail) console.log(line);
    console.log(
      `latency: ${latency.deliveries} deliveries (${latency.errors} errors), visible p50 ${latency.p50.toFixed(0)} / p99 ${latency.p99.toFixed(0)} / max ${latency.max.toFixed(0)} ms (${latency.unseen} unseen); ` +
        `root p50 ${latency.rootP50.toFixed(0)} / p99 ${latency.rootP99.toFixed(0)} ms; calls ${JSON.stringify(latency.calls)}; 429s ${latency.rateLimited}`,
    );
  }
  for (const child of children) console.log(`${child.name} logs at warn or above: ${JSON.stringify([...child.logSummary().entries()].slice(0, 8))}`);
} finally {
  for (const child of children) await child.stop().catch(() => undefined);
  await oci.stop();
  await slack.stop();
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
}
