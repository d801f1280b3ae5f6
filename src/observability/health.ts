import type { Pool } from 'pg';
import type { Redis } from 'ioredis';
import type { QueueSet } from '../jobs/queues';

export interface HealthReport {
  status: 'ok' | 'degraded';
  checks: Record<string, { ok: boolean; detail?: string; latencyMs?: number }>;
  /**
   * Capture channels (e.g. `archive`, the chat archive): on, off or failing, said plainly. Shown,
   * never counted in `status`: a channel WeCom refuses must not take the API out of service.
   */
  channels?: Record<string, { ok: boolean; detail: string }>;
}

/** A channel's own report for /health (e.g. archiveChannelHealth of src/conversations/archive). */
export type ChannelHealthCheck = () => Promise<{ ok: boolean; detail: string }>;

const TIMEOUT_MS = 1500;

function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Asks PostgreSQL, Redis and each queue; a check that does not answer in time counts as down. */
export async function checkHealth(deps: {
  pool: Pool;
  redis: Redis;
  queues: QueueSet;
  channels?: Record<string, ChannelHealthCheck>;
}): Promise<HealthReport> {
  const checks: HealthReport['checks'] = {};
  const run = async (name: string, fn: () => Promise<string | undefined>) => {
    const started = performance.now();
    try {
      const detail = await withTimeout(fn(), name);
      checks[name] = { ok: true, latencyMs: Math.round(performance.now() - started), ...(detail ? { detail } : {}) };
    } catch (err) {
      checks[name] = { ok: false, detail: (err as Error).message };
    }
  };
  await Promise.all([
    run('postgres', async () => {
      await deps.pool.query('SELECT 1');
      return undefined;
    }),
    run('redis', async () => {
      await deps.redis.ping();
      return undefined;
    }),
    ...[...deps.queues.byName].map(([name, queue]) =>
      run(`queue:${name}`, async () => {
        const c = await queue.getJobCounts('waiting', 'active', 'delayed', 'failed');
        return `waiting=${c.waiting} active=${c.active} delayed=${c.delayed} failed=${c.failed}`;
      }),
    ),
  ]);
  const status = Object.values(checks).every((c) => c.ok) ? 'ok' : 'degraded';
  if (!deps.channels) return { status, checks };
  const channels: NonNullable<HealthReport['channels']> = {};
  await Promise.all(
    Object.entries(deps.channels).map(async ([name, check]) => {
      try {
        channels[name] = await withTimeout(check(), `channel ${name}`);
      } catch (err) {
        channels[name] = { ok: false, detail: (err as Error).message };
      }
    }),
  );
  return { status, checks, channels };
}
