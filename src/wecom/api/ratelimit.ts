import { randomBytes } from 'node:crypto';
import { RateLimitedError } from './errors';
import type { RedisGate } from './redis-gate';

/**
 * Outbound limits, kept in Redis so that every process draws on the same budget. Both fall back to
 * per-process state when Redis is unavailable (then N processes may together send N times the budget:
 * logged by the gate, accepted as the lesser evil next to not sending at all).
 *
 * Times come from the injected clock and are passed into the Lua scripts, so tests can drive them; the
 * processes of one deployment share a host clock closely enough for minute windows.
 */

// ---------------------------------------------------------------- app-wide token bucket

const TOKEN_BUCKET = `local cap = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 't', 'ts')
local tokens = tonumber(b[1]) or cap
local ts = tonumber(b[2]) or now
if now > ts then
  tokens = math.min(cap, tokens + (now - ts) * rate)
  ts = now
end
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) / rate) end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'ts', tostring(ts))
redis.call('PEXPIRE', KEYS[1], math.ceil(cap / rate) + 1000)
return wait`;

export interface AppLimiterOptions {
  key: string;
  perSecond: number;
  burst: number;
  maxWaitMs: number;
  gate: RedisGate;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
}

/** A token bucket for every outbound call; waits (bounded) for a token, then RateLimitedError('app'). */
export class AppRateLimiter {
  private tokens: number;
  private ts: number;

  constructor(private readonly o: AppLimiterOptions) {
    this.tokens = o.burst;
    this.ts = o.now();
  }

  async acquire(): Promise<void> {
    let waited = 0;
    for (;;) {
      const wait = await this.take();
      if (wait <= 0) return;
      if (waited + wait > this.o.maxWaitMs) throw new RateLimitedError('app', wait);
      waited += wait;
      await this.o.sleep(wait);
    }
  }

  /** 0 when a token was taken, otherwise ms until one is available. */
  private async take(): Promise<number> {
    const ratePerMs = this.o.perSecond / 1000;
    const now = this.o.now();
    const got = await this.o.gate.run('app rate limit', (r) => r.eval(TOKEN_BUCKET, 1, this.o.key, this.o.burst, ratePerMs, now));
    if (got.ok) return Number(got.value);
    if (now > this.ts) {
      this.tokens = Math.min(this.o.burst, this.tokens + (now - this.ts) * ratePerMs);
      this.ts = now;
    }
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - this.tokens) / ratePerMs);
  }
}

// ---------------------------------------------------------------- per-member sliding windows (message/send)

/**
 * One sorted set per member (score = send time). Atomically for all recipients of one message: trim
 * entries older than an hour, and either record the send for everyone or, if anyone is at a limit,
 * record nothing and say how long until the tightest window frees a slot. All-or-nothing matters:
 * a message to "a|b" is one API call, so it can only go out when both have room.
 * Returns {waitMs, blocked index…}.
 */
const MEMBER_WINDOWS = `local now = tonumber(ARGV[1])
local perMin = tonumber(ARGV[2])
local perHour = tonumber(ARGV[3])
local uniq = ARGV[4]
local res = {0}
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - 3600000)
  local wait = 0
  local inMin = redis.call('ZCOUNT', key, '(' .. (now - 60000), '+inf')
  if inMin >= perMin then
    local e = redis.call('ZRANGEBYSCORE', key, '(' .. (now - 60000), '+inf', 'WITHSCORES', 'LIMIT', inMin - perMin, 1)
    wait = math.max(wait, tonumber(e[2]) + 60000 - now)
  end
  local inHour = redis.call('ZCARD', key)
  if inHour >= perHour then
    local e = redis.call('ZRANGE', key, inHour - perHour, inHour - perHour, 'WITHSCORES')
    wait = math.max(wait, tonumber(e[2]) + 3600000 - now)
  end
  if wait > 0 then
    res[1] = math.max(res[1], wait)
    table.insert(res, i - 1)
  end
end
if res[1] == 0 then
  for i, key in ipairs(KEYS) do
    redis.call('ZADD', key, now, uniq .. ':' .. i)
    redis.call('PEXPIRE', key, 3600000)
  end
end
return res`;

export interface MemberLimiterOptions {
  /** Key of one member; must share a Redis Cluster hash slot across members (use a {hash tag}). */
  keyFor: (userid: string) => string;
  perMinute: number;
  perHour: number;
  maxWaitMs: number;
  gate: RedisGate;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
}

/**
 * WeCom silently drops a member's copies beyond 30/min and 1000/hour per app (doc 90236), which would
 * look like success. So a send reserves a slot for every listed recipient before it goes out; when a
 * recipient has no slot, the send waits if the slot frees within the remaining wait budget, otherwise
 * it fails with RateLimitedError('member') naming the recipients and when to retry. Reserved slots are
 * not given back if WeCom then rejects the call: over-counting delays a reminder, under-counting loses one.
 */
export class MemberRateLimiter {
  private readonly local = new Map<string, number[]>();

  constructor(private readonly o: MemberLimiterOptions) {}

  async reserve(userids: readonly string[]): Promise<void> {
    const ids = [...new Set(userids.map((u) => u.toLowerCase()))];
    if (ids.length === 0) return;
    let waited = 0;
    for (;;) {
      const { waitMs, blocked } = await this.tryReserve(ids);
      if (waitMs <= 0) return;
      if (waited + waitMs > this.o.maxWaitMs) throw new RateLimitedError('member', waitMs, blocked);
      waited += waitMs;
      await this.o.sleep(waitMs);
    }
  }

  private async tryReserve(ids: string[]): Promise<{ waitMs: number; blocked: string[] }> {
    const now = this.o.now();
    const uniq = `${now}:${randomBytes(6).toString('hex')}`;
    const keys = ids.map((u) => this.o.keyFor(u));
    const got = await this.o.gate.run('member rate limit', (r) =>
      r.eval(MEMBER_WINDOWS, keys.length, ...keys, now, this.o.perMinute, this.o.perHour, uniq),
    );
    if (got.ok && Array.isArray(got.value)) {
      const [wait, ...idx] = got.value.map(Number);
      return { waitMs: wait ?? 0, blocked: idx.map((i) => ids[i] ?? '') };
    }
    return this.tryReserveLocally(ids, now);
  }

  private tryReserveLocally(ids: string[], now: number): { waitMs: number; blocked: string[] } {
    let waitMs = 0;
    const blocked: string[] = [];
    for (const id of ids) {
      const times = (this.local.get(id) ?? []).filter((t) => t > now - 3600_000);
      this.local.set(id, times);
      let wait = 0;
      const inMinute = times.filter((t) => t > now - 60_000);
      if (inMinute.length >= this.o.perMinute)
        wait = Math.max(wait, (inMinute[inMinute.length - this.o.perMinute] ?? now) + 60_000 - now);
      if (times.length >= this.o.perHour) wait = Math.max(wait, (times[times.length - this.o.perHour] ?? now) + 3600_000 - now);
      if (wait > 0) {
        waitMs = Math.max(waitMs, wait);
        blocked.push(id);
      }
    }
    if (waitMs === 0) for (const id of ids) this.local.get(id)?.push(now);
    return { waitMs, blocked };
  }
}
