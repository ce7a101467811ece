import { keys } from '../src/adapters/redis/keys.js';
import { Authorizer } from '../src/authorizer.js';
import type { RoleName } from '../src/config/config-file.js';
import type { Context } from '../src/context.js';
import { targetLabel, type Approval } from '../src/domain/approval.js';
import { isFailure } from '../src/domain/run-state.js';
import type { Run } from '../src/domain/run.js';
import { toMlopsError } from '../src/errors.js';
import { jobId } from '../src/queues.js';
import { renderHome, type HomeModel, type HomeRun, type HomeSlot } from '../src/slack/home-view.js';
import { messageLink } from '../src/slack/permalink.js';

/**
 * Changes within this window reach a Home in one views.publish: a burst of run events or approvals is one
 * publish per viewer, never one per event.
 */
export const HOME_DEBOUNCE_MS = 2_000;
/** Viewers who have not opened their Home for this long are no longer kept up to date (they get a fresh one when they open it). */
const VIEWER_TTL_MS = 30 * 24 * 3600 * 1000;
const NOTICE_SECONDS = 600;
const DAY_MS = 24 * 3600 * 1000;

/** Remembers that `user` looks at their Home tab, so changes refresh it. */
export async function rememberHomeViewer(context: Context, user: string): Promise<void> {
  const now = context.now().getTime();
  await context.redis.multi().zadd(keys.homeViewers(), now, user).zremrangebyscore(keys.homeViewers(), 0, now - VIEWER_TTL_MS).exec();
}

/**
 * Asks for the Homes of `users` (default: everyone who opened theirs) to be published again. Each user gets
 * one delayed job per debounce window, with a deterministic id, so every change within the window adds
 * nothing more; the job renders at the end of the window and so shows all of them. `now: true` publishes at
 * once (the clicker's own Home after a click).
 */
export async function scheduleHomeRefresh(context: Context, users?: readonly string[], options: { now?: boolean } = {}): Promise<void> {
  const at = context.now().getTime();
  const viewers = users ?? (await context.redis.zrangebyscore(keys.homeViewers(), at - VIEWER_TTL_MS, '+inf'));
  if (viewers.length === 0) return;
  const windowEnd = (Math.floor(Date.now() / HOME_DEBOUNCE_MS) + 1) * HOME_DEBOUNCE_MS;
  const delay = options.now ? 0 : Math.max(0, windowEnd - Date.now());
  await context.queues.slackStatus.addBulk(
    viewers.map((user) => ({
      name: 'home',
      data: { kind: 'home' as const, user },
      // "Now" (a click, the Home opened) is one job per user and millisecond; otherwise one per debounce window.
      opts: { jobId: options.now ? jobId('home', user, 'now', String(Date.now())) : jobId('home', user, String(windowEnd)), delay },
    })),
  );
}

/** The answer to a click on the Home tab (no channel to answer in): shown at the top of the clicker's Home. */
export async function setHomeNotice(context: Context, user: string, text: string): Promise<void> {
  await context.redis.set(keys.homeNotice(user), text, 'EX', NOTICE_SECONDS);
  await scheduleHomeRefresh(context, [user], { now: true });
}

/**
 * Whether `user` may decide `approval` now, by the rules of its Approve button: an approver (the
 * environment's own, else roles.approvers), not its requester unless allowed, not counted yet.
 */
async function mayDecide(authorizer: Authorizer, approval: Approval, user: string): Promise<boolean> {
  if (approval.requestedBy === user && !approval.allowSelfApproval) return false;
  if (approval.approvers.includes(user)) return false;
  const decision = approval.environment ? await authorizer.checkHolders('approvers', approval.environment.approvers, user) : await authorizer.check('approvers', user);
  return decision.allowed;
}

async function models(context: Context): Promise<HomeModel[]> {
  const { mlflow } = context;
  return Promise.all(
    Object.entries(context.config.file.models).map(async ([name, config]): Promise<HomeModel> => {
      if (!mlflow) return { name, slots: [], problem: 'MLflow is not configured (MLFLOW_TRACKING_URI).' };
      try {
        const registered = await mlflow.getRegisteredModel(name);
        const slots: HomeSlot[] = [];
        const aliasSlot = async (alias: string, environment?: string): Promise<HomeSlot> => {
          const version = registered.aliases[alias];
          const move = version ? await context.aliasMoves.get(name, alias) : undefined;
          const since = move && move.version === version ? move.at : undefined;
          return { ...(environment ? { environment } : {}), label: `@${alias}`, version, since };
        };
        if (config.environments) for (const environment of config.environments) slots.push(await aliasSlot(environment.alias, environment.name));
        else if (config.alias) slots.push(await aliasSlot(config.alias));
        else if (config.stage) slots.push({ label: targetLabel({ kind: 'stage', stage: config.stage }), version: registered.stages[config.stage] });
        return { name, slots };
      } catch (error) {
        return { name, slots: [], problem: toMlopsError(error).userMessage };
      }
    }),
  );
}

async function withLinks(context: Context, runs: Run[]): Promise<HomeRun[]> {
  return Promise.all(
    runs.map(async (run) => {
      const message = await context.runs.getMessage(run.key);
      return { run, messageUrl: message ? messageLink(message.channel, message.ts) : undefined };
    }),
  );
}

/** Renders `user`'s Home from Redis, MLflow and their roles, and publishes it. */
export async function publishHome(context: Context, user: string): Promise<void> {
  const authorizer = new Authorizer(context.config.file.roles, context.slack, context.redis, context.logger.child({ component: 'authorizer' }));
  const now = context.now();
  const roleNames = Object.keys(context.config.file.roles) as RoleName[];
  const held = await Promise.all(roleNames.map(async (role) => ((await authorizer.check(role, user)).allowed ? [role] : [])));
  const roles = held.flat();
  const pending = await context.approvals.pending(now);
  const actionable: Approval[] = [];
  for (const approval of pending) if (await mayDecide(authorizer, approval, user)) actionable.push(approval);
  const recentRuns = await context.runs.recent(100);
  const failures = recentRuns.filter((run) => isFailure(run.state) && now.getTime() - Date.parse(run.stateAt) <= DAY_MS);
  const notice = (await context.redis.get(keys.homeNotice(user))) ?? undefined;
  const view = renderHome({
    user,
    roles,
    actionable,
    mine: pending.filter((approval) => approval.requestedBy === user),
    models: await models(context),
    recent: await withLinks(context, recentRuns.slice(0, 10)),
    failures: await withLinks(context, failures.slice(0, 10)),
    notice,
    now,
  });
  await context.slack.publishHome(user, view);
}
