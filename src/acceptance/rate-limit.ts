import type { Redis } from 'ioredis';

/**
 * Failed link attempts per client IP, counted in Redis over a fixed window: at `limit` failures the
 * IP gets 429 for whatever remains of the window, valid token or not (so a guesser gets no oracle
 * either). The token's 256-bit MAC already makes guessing hopeless; this bounds the noise and the
 * phone-number probing of someone holding a real link. One key per corp and IP.
 */
export interface FailureLimiter {
  /**
   * Takes a failure slot for a request before its work: null when the IP may go on (the slot is
   * held, and counts as a failure unless `release` gives it back), else the milliseconds until it
   * may try again (nothing held). Taken first, so parallel requests cannot all pass a check made
   * before any of them failed: at most `limit` failures per window, exactly.
   */
  admit(ip: string): Promise<number | null>;
  /** Gives back the slot of an admitted request that did not fail (success, or an input error). */
  release(ip: string): Promise<void>;
}

export interface FailureLimitOptions {
  /** Key prefix (the deployment's QUEUE_PREFIX): several deployments can share one Redis. */
  keyPrefix: string;
  corpId: string;
  /** Failures allowed per window; the next request is refused. */
  limit: number;
  windowMs: number;
}

export const DEFAULT_FAILURE_LIMIT = { limit: 20, windowMs: 15 * 60_000 } as const;

export function redisFailureLimiter(
  redis: Pick<Redis, 'incr' | 'decr' | 'pexpire' | 'pttl'>,
  opts: FailureLimitOptions,
): FailureLimiter {
  const key = (ip: string) => `${opts.keyPrefix}:acceptance:failures:${opts.corpId}:${clientKey(ip)}`;
  return {
    async admit(ip) {
      const k = key(ip);
      const n = await redis.incr(k);
      // The window starts at the first slot taken; a key left without expiry (a crash between the
      // two calls) gets one now.
      const ttl = await redis.pttl(k);
      if (n === 1 || ttl < 0) await redis.pexpire(k, opts.windowMs);
      if (n <= opts.limit) return null;
      // Refused: the slot is given back, so refusals do not lengthen anything.
      await redis.decr(k);
      return ttl > 0 ? ttl : opts.windowMs;
    },
    async release(ip) {
      await redis.decr(key(ip));
    },
  };
}

/**
 * Whom an address stands for: an IPv4 address itself; an IPv6 address by its /64, since one
 * subscriber usually holds a whole /64 and could otherwise take a fresh address per attempt.
 * IPv4-mapped IPv6 (`::ffff:1.2.3.4`) is the IPv4 address.
 */
export function clientKey(ip: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (mapped) return mapped[1] as string;
  if (!ip.includes(':')) return ip;
  const [head = '', tail = ''] = ip.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  const groups = ip.includes('::')
    ? [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right]
    : left;
  const prefix = groups
    .slice(0, 4)
    .map((g) => (g === '' ? '0' : g.toLowerCase().replace(/^0+(?=.)/, '')))
    .join(':');
  return `${prefix}::/64`;
}
