import { Redis } from 'ioredis';
import type { Config } from '../config/env';
import type { Logger } from '../observability/logger';

export interface RedisTimeouts {
  /** Longest wait for a connection to open, ms. Default 2000. */
  connectMs?: number;
  /** Longest wait for an answer, ms, on producer connections only. Default 1000. */
  commandMs?: number;
}

/** The Redis timeouts from the configuration (RELIABILITY F5, F14). */
export function redisTimeoutsFromConfig(config: Config): RedisTimeouts {
  return { connectMs: config.REDIS_CONNECT_TIMEOUT_MS, commandMs: config.REDIS_COMMAND_TIMEOUT_MS };
}

/**
 * Two kinds of Redis connection, as BullMQ's production guide asks:
 * - `producer`: fails fast while Redis is down (no offline queue) or slow (a command timeout), so
 *   an HTTP request never hangs on Redis; nothing in the callback path needs Redis anyway.
 * - `worker`: retries forever (maxRetriesPerRequest null) and has no command timeout, which
 *   blocking worker commands need; it reconnects every ≤ 2 s, so a worker resumes within seconds
 *   of Redis coming back (RELIABILITY F5).
 */
export function createRedis(url: string, kind: 'producer' | 'worker', logger: Logger, timeouts: RedisTimeouts = {}): Redis {
  const redis = new Redis(url, {
    lazyConnect: false,
    enableOfflineQueue: kind === 'worker',
    maxRetriesPerRequest: kind === 'worker' ? null : 1,
    connectTimeout: timeouts.connectMs ?? 2000,
    // A producer connection that went silent (a cut network, a dead host) is replaced after the
    // same time: without socketTimeout only TCP keepalive would notice, hours later.
    ...(kind === 'producer' ? { commandTimeout: timeouts.commandMs ?? 1000, socketTimeout: timeouts.commandMs ?? 1000 } : {}),
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  redis.on('error', (err) => logger.warn({ err: err.message, kind }, 'redis connection error'));
  return redis;
}

/**
 * F8: BullMQ loses jobs silently when Redis evicts keys. Refuse to start unless the policy is
 * noeviction. Managed Redis that forbids CONFIG GET is reported, not fatal.
 */
export async function assertNoEviction(redis: Redis, logger: Logger): Promise<void> {
  let policy: string | undefined;
  try {
    const reply = (await redis.config('GET', 'maxmemory-policy')) as string[];
    policy = reply[1];
  } catch (err) {
    logger.warn({ err: (err as Error).message }, 'cannot read maxmemory-policy; make sure it is noeviction');
    return;
  }
  if (policy !== 'noeviction') {
    throw new Error(`Redis maxmemory-policy is ${policy}; BullMQ needs noeviction or it loses jobs. Refusing to start`);
  }
}
