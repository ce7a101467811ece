import type { Redis } from 'ioredis';
import { z } from 'zod';
import { APPROVAL_STATES, targetSlot, type Approval } from '../../domain/approval.js';
import { KEY_PREFIX } from './keys.js';

/** NaN and infinities are stored as MLflow sends them ("NaN", "Infinity"): JSON has no such numbers. */
const metricValue = z.union([z.number(), z.enum(['NaN', 'Infinity', '-Infinity']).transform(Number)]);
const storedNumber = (_key: string, value: unknown): unknown => (typeof value === 'number' && !Number.isFinite(value) ? String(value) : value);
const metrics = z.object({ version: z.string().optional(), runId: z.string().optional(), metrics: z.record(z.string(), metricValue) });
// Lua's cjson encodes an empty array as {}; read either as [].
const listOf = <T extends z.ZodType>(item: T) => z.preprocess((value): unknown[] => (Array.isArray(value) ? (value as unknown[]) : []), z.array(item));
const list = listOf(z.string());
const gateResult = z.object({
  metric: z.string(),
  kind: z.enum(['min', 'max', 'maxRegression']),
  threshold: z.number(),
  scope: z.string(),
  candidate: metricValue.optional(),
  holder: z.object({ version: z.string(), value: metricValue.optional() }).optional(),
  passed: z.boolean(),
  note: z.string(),
});
const approvalSchema = z.object({
  id: z.string(),
  model: z.string(),
  version: z.string(),
  target: z.discriminatedUnion('kind', [z.object({ kind: z.literal('alias'), alias: z.string() }), z.object({ kind: z.literal('stage'), stage: z.string() })]),
  requestedBy: z.string(),
  requestedAt: z.string(),
  expiresAt: z.string(),
  required: z.number().int(),
  allowSelfApproval: z.boolean(),
  approvers: list,
  state: z.enum(APPROVAL_STATES),
  decidedBy: z.string().optional(),
  reason: z.string().optional(),
  channel: z.string().optional(),
  ts: z.string().optional(),
  candidate: metrics,
  current: metrics,
  outcome: z.string().optional(),
  directions: z.record(z.string(), z.enum(['higher', 'lower'])).optional(),
  metricsOmitted: z.number().int().optional(),
  gates: listOf(gateResult).optional(),
  gateOverride: z.object({ by: z.string(), reason: z.string(), at: z.string() }).optional(),
  environment: z
    .object({
      name: z.string(),
      path: list,
      approvers: list,
      soak: z.object({ previous: z.string(), soakMs: z.number(), servedMs: z.number() }).optional(),
    })
    .optional(),
}) satisfies z.ZodType<Approval>;

const key = (id: string) => `${KEY_PREFIX}:approval:${id}`;
const slotKey = (slot: string) => `${KEY_PREFIX}:approval-slot:${slot}`;
const PENDING = `${KEY_PREFIX}:approvals:pending`;
/** Decided requests stay readable (status, audit) for 30 days. */
const TTL_SECONDS = 30 * 24 * 3600;

/** Creates a request and supersedes the pending one for the same model and alias, atomically. */
const CREATE = `
local previous = redis.call('GET', KEYS[2])
local superseded = ''
if previous and previous ~= ARGV[1] then
  local raw = redis.call('GET', '${KEY_PREFIX}:approval:' .. previous)
  if raw then
    local old = cjson.decode(raw)
    if old.state == 'pending' then
      old.state = 'superseded'
      old.decidedBy = ARGV[5]
      redis.call('SET', '${KEY_PREFIX}:approval:' .. previous, cjson.encode(old), 'EX', ARGV[4])
      redis.call('ZREM', KEYS[3], previous)
      superseded = previous
    end
  end
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[4])
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[4])
if ARGV[6] == 'pending' then redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1]) end
return superseded
`;

/**
 * One decision (approve or reject) as a single atomic step, so a double click or two replicas handling
 * the same click cannot count twice or promote twice. Returns the outcome and the request as it is now.
 */
const DECIDE = `
local raw = redis.call('GET', KEYS[1])
if not raw then return {'missing', ''} end
local a = cjson.decode(raw)
local user, action, now = ARGV[1], ARGV[2], ARGV[3]
if a.state == 'superseded' or a.state == 'expired' then return {a.state, raw} end
if a.state ~= 'pending' then return {'closed', raw} end
if now > a.expiresAt then
  a.state = 'expired'
  local out = cjson.encode(a)
  redis.call('SET', KEYS[1], out, 'KEEPTTL')
  redis.call('ZREM', KEYS[3], a.id)
  return {'expired', out}
end
if redis.call('GET', KEYS[2]) ~= a.id then
  a.state = 'superseded'
  local out = cjson.encode(a)
  redis.call('SET', KEYS[1], out, 'KEEPTTL')
  redis.call('ZREM', KEYS[3], a.id)
  return {'superseded', out}
end
if action == 'reject' then
  a.state = 'rejected'
  a.decidedBy = user
  if ARGV[4] ~= '' then a.reason = ARGV[4] end
  local out = cjson.encode(a)
  redis.call('SET', KEYS[1], out, 'KEEPTTL')
  redis.call('ZREM', KEYS[3], a.id)
  return {'rejected', out}
end
if type(a.gates) == 'table' and a.gateOverride == nil then
  for _, gate in ipairs(a.gates) do
    if gate.passed == false then return {'gated', raw} end
  end
end
if user == a.requestedBy and not a.allowSelfApproval then return {'self', raw} end
local approvers = a.approvers
if type(approvers) ~= 'table' then approvers = {} end
for _, existing in ipairs(approvers) do
  if existing == user then return {'already', raw} end
end
table.insert(approvers, user)
a.approvers = approvers
local result = 'recorded'
if #approvers >= a.required then
  a.state = 'approved'
  a.decidedBy = user
  redis.call('ZREM', KEYS[3], a.id)
  result = 'approved'
end
local out = cjson.encode(a)
redis.call('SET', KEYS[1], out, 'KEEPTTL')
return {result, out}
`;

/**
 * A gate overrider lifts the failed gates of a pending request, atomically with its expiry and supersession
 * checks, once: a second override (another replica, a double submit) finds it done.
 */
const OVERRIDE = `
local raw = redis.call('GET', KEYS[1])
if not raw then return {'missing', ''} end
local a = cjson.decode(raw)
if a.state == 'superseded' or a.state == 'expired' then return {a.state, raw} end
if a.state ~= 'pending' then return {'closed', raw} end
if ARGV[2] > a.expiresAt then
  a.state = 'expired'
  local out = cjson.encode(a)
  redis.call('SET', KEYS[1], out, 'KEEPTTL')
  redis.call('ZREM', KEYS[3], a.id)
  return {'expired', out}
end
if redis.call('GET', KEYS[2]) ~= a.id then return {'superseded', raw} end
if a.gateOverride ~= nil then return {'already', raw} end
local failed = false
if type(a.gates) == 'table' then
  for _, gate in ipairs(a.gates) do
    if gate.passed == false then failed = true end
  end
end
if not failed then return {'nothing', raw} end
a.gateOverride = { by = ARGV[1], reason = ARGV[3], at = ARGV[2] }
local result = 'overridden'
-- An environment that needs no approval was only waiting for the override.
if tonumber(a.required) == 0 then
  a.state = 'approved'
  a.decidedBy = ARGV[1]
  redis.call('ZREM', KEYS[3], a.id)
  result = 'approved'
end
local out = cjson.encode(a)
redis.call('SET', KEYS[1], out, 'KEEPTTL')
return {result, out}
`;

export type Decision = 'approved' | 'recorded' | 'rejected' | 'self' | 'already' | 'expired' | 'superseded' | 'closed' | 'missing' | 'gated';
export type OverrideDecision = 'overridden' | 'approved' | 'already' | 'nothing' | 'expired' | 'superseded' | 'closed' | 'missing';

export class ApprovalStore {
  constructor(private readonly redis: Redis) {}

  /**
   * Stores a new request, pending or (needing no approval) already approved; returns the id of the pending
   * request it superseded, if any.
   */
  async create(approval: Approval): Promise<string | undefined> {
    const slot = slotKey(targetSlot(approval.model, approval.target));
    const superseded = String(
      await this.redis.eval(CREATE, 3, key(approval.id), slot, PENDING, approval.id, JSON.stringify(approval, storedNumber), Date.parse(approval.expiresAt), TTL_SECONDS, approval.requestedBy, approval.state),
    );
    return superseded === '' ? undefined : superseded;
  }

  async get(id: string): Promise<Approval | undefined> {
    return parse(await this.redis.get(key(id)));
  }

  async decide(id: string, user: string, action: 'approve' | 'reject', now: Date, reason = ''): Promise<{ decision: Decision; approval: Approval | undefined }> {
    const current = await this.get(id);
    const slot = current ? slotKey(targetSlot(current.model, current.target)) : slotKey('none');
    const [decision, raw] = (await this.redis.eval(DECIDE, 3, key(id), slot, PENDING, user, action, now.toISOString(), reason.slice(0, 500))) as [Decision, string];
    return { decision, approval: parse(raw) };
  }

  /** Lifts the failed gates of a pending request with the overrider's reason. */
  async overrideGates(id: string, user: string, reason: string, now: Date): Promise<{ decision: OverrideDecision; approval: Approval | undefined }> {
    const current = await this.get(id);
    const slot = current ? slotKey(targetSlot(current.model, current.target)) : slotKey('none');
    const [decision, raw] = (await this.redis.eval(OVERRIDE, 3, key(id), slot, PENDING, user, now.toISOString(), reason.slice(0, 500))) as [OverrideDecision, string];
    return { decision, approval: parse(raw) };
  }

  /** Records what happened after approval (promoted, failed) without touching the decision. */
  async update(id: string, change: (approval: Approval) => Approval): Promise<Approval | undefined> {
    const current = await this.get(id);
    if (!current) return undefined;
    const next = change(current);
    await this.redis.set(key(id), JSON.stringify(next, storedNumber), 'KEEPTTL');
    return next;
  }

  /** Pending requests that have not expired, soonest expiry first. */
  async pending(now: Date): Promise<Approval[]> {
    const ids = await this.redis.zrangebyscore(PENDING, now.getTime(), '+inf');
    if (ids.length === 0) return [];
    const raws = await this.redis.mget(ids.map(key));
    return raws.flatMap((raw) => {
      const approval = parse(raw);
      return approval && approval.state === 'pending' ? [approval] : [];
    });
  }
}

function parse(raw: string | null | undefined): Approval | undefined {
  if (!raw) return undefined;
  try {
    const parsed = approvalSchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
