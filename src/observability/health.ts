import type { Pool } from 'pg';
import type { Redis } from 'ioredis';
import type { QueueSet } from '../jobs/queues';

export interface HealthReport {
  status: 'ok' | 'degraded';
  checks: Record<string, { ok: boolean; detail?: string; latencyMs?: number }>;
}

const TIMEOUT_MS = 1500;

function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Asks PostgreSQL, Redis and each queue; a check that does not answer in time counts as down. */
export async function checkHealth(deps: { pool: Pool; redis: Redis; queues: QueueSet }): Promise<HealthReport> {
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
  return { status: Object.values(checks).every((c) => c.ok) ? 'ok' : 'degraded', checks };
}
