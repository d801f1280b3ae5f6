import type { Redis } from 'ioredis';

/**
 * Failed link attempts per client IP, counted in Redis over a fixed window: at `limit` failures the
 * IP gets 429 for whatever remains of the window, valid token or not (so a guesser gets no oracle
 * either). The token's 256-bit MAC already makes guessing hopeless; this bounds the noise and the
 * phone-number probing of someone holding a real link. One key per corp and IP.
 */
export interface FailureLimiter {
  /** Milliseconds until the IP may try again, or null when it may now. */
  blockedFor(ip: string): Promise<number | null>;
  /** Counts one failed attempt. */
  fail(ip: string): Promise<void>;
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
  redis: Pick<Redis, 'get' | 'incr' | 'pexpire' | 'pttl'>,
  opts: FailureLimitOptions,
): FailureLimiter {
  const key = (ip: string) => `${opts.keyPrefix}:acceptance:failures:${opts.corpId}:${clientKey(ip)}`;
  return {
    async blockedFor(ip) {
      const count = Number((await redis.get(key(ip))) ?? '0');
      if (count < opts.limit) return null;
      const ttl = await redis.pttl(key(ip));
      return ttl > 0 ? ttl : opts.windowMs;
    },
    async fail(ip) {
      const n = await redis.incr(key(ip));
      // The window starts at the first failure; a key left without expiry (a crash between the two
      // calls) gets one at the next failure.
      if (n === 1 || (await redis.pttl(key(ip))) < 0) await redis.pexpire(key(ip), opts.windowMs);
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
