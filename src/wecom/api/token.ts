import { createHash, randomBytes } from 'node:crypto';
import { WecomConfigError, WecomCredentialUnavailableError } from './errors';
import type { RedisGate } from './redis-gate';
import type { WecomLogger } from './types';

/**
 * A short-lived credential (access_token, jsapi ticket) cached in Redis and shared by every process.
 *
 * - One refresher at a time across processes: `SET lock NX PX`; the others poll the cache with a short,
 *   growing sleep and re-read it (bounded by a count, so a frozen test clock cannot make it spin forever).
 *   A holder that dies only delays the others until the lock expires; then one of them takes over.
 * - Refreshed ahead of expiry: once less than min(5 min, 10% of the lifetime) is left, one caller
 *   refreshes while the rest keep using the still-valid value. WeCom returns the same token while it is
 *   valid (doc 91039), so an early refresh may hand back the same value with a shorter expires_in; the
 *   window then shrinks geometrically, which bounds the extra gettoken calls to a handful per lifetime.
 * - `invalidate(value)` deletes the cached value only if it is still the one that failed (compare and
 *   delete in one Lua script), so a process cannot throw away a token another process just fetched.
 * - Redis down: the same logic runs on a per-process copy, and concurrent callers share one in-flight
 *   refresh promise, so an outage costs one gettoken per process, not one per call (silenceper/wechat
 *   PR #762 exhausted the gettoken quota exactly that way).
 */

export interface Fetched {
  value: string;
  expiresInSec: number;
}

interface Cached {
  value: string;
  /** Epoch ms. */
  expiresAt: number;
  refreshAt: number;
}

export interface CredentialCacheOptions {
  /** For logs and errors: `access_token`, `jsapi_ticket`… */
  name: string;
  key: string;
  fetch: () => Promise<Fetched>;
  gate: RedisGate;
  logger: WecomLogger;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  lockTtlMs: number;
}

const RELEASE_LOCK = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;
const DELETE_IF_VALUE = `local v = redis.call('GET', KEYS[1])
if v then
  local ok, decoded = pcall(cjson.decode, v)
  if (not ok) or decoded.v == ARGV[1] then return redis.call('DEL', KEYS[1]) end
end
return 0`;

/** A value with less than this left is treated as expired (clock skew, request latency). */
const SAFETY_MS = 1000;

export class CredentialCache {
  private local: Cached | undefined;
  private inflight: Promise<string> | undefined;
  private readonly lockKey: string;
  private readonly owner = randomBytes(12).toString('hex');

  constructor(private readonly o: CredentialCacheOptions) {
    this.lockKey = `${o.key}:lock`;
  }

  /** A usable value. `reject`: a value the caller just saw fail; never returned again. */
  async get(reject?: string): Promise<string> {
    const now = this.o.now();
    const cached = await this.read();
    const usable = cached && cached.value !== reject && now < cached.expiresAt - SAFETY_MS ? cached : undefined;
    if (usable && now < usable.refreshAt) return usable.value;
    const joined = this.inflight !== undefined;
    const value = await this.singleFlight(() => this.refresh(usable, reject));
    // A caller that joined a refresh started before its value failed may get that value back: refresh
    // once more. (A refresh started for this caller is final: WeCom may legitimately hand back the same
    // token, and asking again would only burn gettoken quota.)
    if (joined && reject !== undefined && value === reject) return this.singleFlight(() => this.refresh(undefined, reject));
    return value;
  }

  /** Drop `value` from the caches if it is still the cached one. */
  async invalidate(value: string): Promise<void> {
    if (this.local?.value === value) this.local = undefined;
    await this.o.gate.run(`${this.o.name} invalidate`, (r) => r.eval(DELETE_IF_VALUE, 1, this.o.key, value));
  }

  private singleFlight(run: () => Promise<string>): Promise<string> {
    if (!this.inflight) {
      this.inflight = run().finally(() => {
        this.inflight = undefined;
      });
    }
    return this.inflight;
  }

  private async read(): Promise<Cached | undefined> {
    const got = await this.o.gate.run(`${this.o.name} read`, (r) => r.get(this.o.key));
    if (!got.ok) return this.local;
    const parsed = got.value === null ? undefined : decode(got.value);
    // Keep the last good value locally, so a later Redis outage does not start with a gettoken.
    if (parsed) this.local = parsed;
    return parsed;
  }

  /** `ahead`: a still-valid value being refreshed early; returned when someone else is refreshing or on failure. */
  private async refresh(ahead: Cached | undefined, reject: string | undefined): Promise<string> {
    let waited = 0;
    for (let attempt = 0; ; attempt += 1) {
      const lock = await this.o.gate.run(`${this.o.name} lock`, (r) =>
        r.set(this.lockKey, this.owner, 'PX', this.o.lockTtlMs, 'NX'),
      );
      if (!lock.ok) return this.refreshLocally(ahead, reject);
      if (lock.value === 'OK') {
        try {
          // Someone may have refreshed between our read and the lock.
          const current = await this.read();
          if (current && current.value !== reject && this.o.now() < current.refreshAt) return current.value;
          return await this.fetchAndStore(ahead);
        } finally {
          await this.o.gate.run(`${this.o.name} unlock`, (r) => r.eval(RELEASE_LOCK, 1, this.lockKey, this.owner));
        }
      }
      if (ahead) return ahead.value;
      if (waited > this.o.lockTtlMs + 2000) throw new WecomCredentialUnavailableError(this.o.name);
      const pause = Math.min(50 * 1.5 ** attempt, 500);
      waited += pause;
      await this.o.sleep(pause);
      const current = await this.read();
      if (current && current.value !== reject && this.o.now() < current.expiresAt - SAFETY_MS) return current.value;
    }
  }

  private async refreshLocally(ahead: Cached | undefined, reject: string | undefined): Promise<string> {
    const local = this.local;
    if (local && local.value !== reject && this.o.now() < local.refreshAt) return local.value;
    return this.fetchAndStore(ahead);
  }

  private async fetchAndStore(ahead: Cached | undefined): Promise<string> {
    const started = this.o.now();
    let fetched: Fetched;
    try {
      fetched = await this.o.fetch();
    } catch (err) {
      // An early refresh that fails is not fatal: the old value is still valid.
      if (ahead && !(err instanceof WecomConfigError) && this.o.now() < ahead.expiresAt - SAFETY_MS) {
        this.o.logger.warn(
          { credential: this.o.name, err: err instanceof Error ? err.message : String(err) },
          'early refresh failed; keeping the current value',
        );
        return ahead.value;
      }
      throw err;
    }
    const lifetimeMs = Math.max(1, fetched.expiresInSec) * 1000;
    // Measured from before the request, so latency only shortens our idea of the lifetime.
    const expiresAt = started + lifetimeMs;
    const cached: Cached = { value: fetched.value, expiresAt, refreshAt: expiresAt - Math.min(300_000, lifetimeMs * 0.1) };
    this.local = cached;
    const ttl = Math.max(1, expiresAt - this.o.now());
    await this.o.gate.run(`${this.o.name} store`, (r) =>
      r.set(this.o.key, JSON.stringify({ v: cached.value, e: cached.expiresAt, r: cached.refreshAt }), 'PX', ttl),
    );
    this.o.logger.info({ credential: this.o.name, expiresInSec: fetched.expiresInSec }, 'fetched a new WeCom credential');
    return cached.value;
  }
}

function decode(text: string): Cached | undefined {
  try {
    const o = JSON.parse(text) as { v?: unknown; e?: unknown; r?: unknown };
    if (typeof o.v === 'string' && typeof o.e === 'number' && typeof o.r === 'number')
      return { value: o.v, expiresAt: o.e, refreshAt: o.r };
  } catch {
    // A foreign or corrupt value: treat as a miss; the next store overwrites it.
  }
  return undefined;
}

/** Redis key part for a secret: its sha256, so the secret itself never sits in Redis (or in MONITOR output). */
export function secretFingerprint(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex').slice(0, 32);
}

/**
 * Remembers a configuration error (wrong CorpID/secret) for a cool-down, so a misconfigured deployment
 * does not call gettoken on every request and get its egress IP banned (40001 help, doc 91039).
 */
export class ConfigErrorLatch {
  private error: WecomConfigError | undefined;
  private until = 0;

  constructor(
    private readonly now: () => number,
    private readonly coolDownMs: number,
  ) {}

  check(): void {
    if (this.error && this.now() < this.until) throw this.error;
  }

  remember(err: unknown): void {
    if (err instanceof WecomConfigError) {
      this.error = err;
      this.until = this.now() + this.coolDownMs;
    }
  }
}
