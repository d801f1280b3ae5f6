import { Redis } from 'ioredis';
import type { Logger } from '../observability/logger';

/**
 * Two kinds of Redis connection, as BullMQ's production guide asks:
 * - `producer`: fails fast while Redis is down (no offline queue), so an HTTP request never hangs
 *   on Redis; nothing in the callback path needs Redis anyway.
 * - `worker`: retries forever (maxRetriesPerRequest null), which blocking worker commands need.
 */
export function createRedis(url: string, kind: 'producer' | 'worker', logger: Logger): Redis {
  const redis = new Redis(url, {
    lazyConnect: false,
    enableOfflineQueue: kind === 'worker',
    maxRetriesPerRequest: kind === 'worker' ? null : 1,
    connectTimeout: 2000,
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
