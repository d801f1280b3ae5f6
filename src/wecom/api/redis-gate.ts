import type { Redis } from 'ioredis';
import type { WecomLogger } from './types';

/**
 * Runs Redis commands for the token cache and the rate limiters, turning "Redis is down" into a
 * value instead of an exception, so callers fall back to per-process state.
 *
 * Why a gate: with the offline queue on, a command waits for a reconnect that may never come; with it
 * off, commands fail at once. Either way each command is bounded by a timeout, and after a failure
 * Redis is skipped for a short while (a small circuit breaker), so an outage costs one timeout per
 * few seconds instead of one per WeCom call. Infrastructure timing uses the wall clock, not the
 * injected business clock.
 */
export type GateResult<T> = { ok: true; value: T } | { ok: false };

export class RedisGate {
  private downUntil = 0;
  private degraded = false;

  constructor(
    private readonly redis: Redis,
    private readonly logger: WecomLogger,
    private readonly timeoutMs: number,
    private readonly coolDownMs = 2000,
  ) {}

  get isDegraded(): boolean {
    return this.degraded;
  }

  async run<T>(what: string, op: (redis: Redis) => Promise<T>): Promise<GateResult<T>> {
    if (Date.now() < this.downUntil) return { ok: false };
    const status = this.redis.status;
    // 'end' never reconnects; 'wait' (lazyConnect) connects on the first command, which is fine.
    if (status === 'end' || status === 'close') return this.fail(what, new Error(`redis status ${status}`));
    let timer: NodeJS.Timeout | undefined;
    try {
      const value = await Promise.race([
        op(this.redis),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`redis command timed out after ${this.timeoutMs} ms`)), this.timeoutMs);
        }),
      ]);
      if (this.degraded) {
        this.degraded = false;
        this.logger.info({ what }, 'redis is back; WeCom token cache and limits are shared again');
      }
      return { ok: true, value };
    } catch (err) {
      return this.fail(what, err);
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  private fail<T>(what: string, err: unknown): GateResult<T> {
    this.downUntil = Date.now() + this.coolDownMs;
    if (!this.degraded) {
      this.degraded = true;
      this.logger.warn(
        { what, err: err instanceof Error ? err.message : String(err) },
        'redis unavailable; WeCom token cache and rate limits fall back to this process only',
      );
    }
    return { ok: false };
  }
}
