import { Pool, type PoolConfig } from 'pg';
import type { Logger } from '../../observability/logger';

export interface PoolOptions {
  connectionString: string;
  max: number;
  statementTimeoutMs: number;
  applicationName: string;
}

/**
 * A pg Pool that cannot take the process down: an idle client's error (PostgreSQL restarted,
 * network cut) is logged, and the pool replaces the client on next use. Acquiring a connection
 * and every statement have timeouts, so a sick database fails calls fast instead of piling them up.
 */
export function createPool(opts: PoolOptions, logger: Logger): Pool {
  const config: PoolConfig = {
    connectionString: opts.connectionString,
    max: opts.max,
    connectionTimeoutMillis: 2000,
    idleTimeoutMillis: 30000,
    statement_timeout: opts.statementTimeoutMs,
    application_name: opts.applicationName,
    // Lets the evidence ledger send a statement and its COMMIT back to back (see evidence/ledger.ts).
    pipeline: true,
  };
  const pool = new Pool(config);
  pool.on('error', (err) => logger.error({ err }, 'postgres idle client error'));
  pool.on('connect', (client) => {
    client.on('error', (err) => logger.error({ err }, 'postgres client error'));
  });
  return pool;
}

/**
 * F3: refuse to run when the database could acknowledge a commit it has not made durable.
 * A callback is acknowledged to WeCom only after its commit, so that commit must survive a crash.
 */
export async function assertDurableCommits(pool: Pool): Promise<void> {
  const { rows } = await pool.query<{ name: string; setting: string }>(
    `SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit')`,
  );
  const settings = new Map(rows.map((r) => [r.name, r.setting]));
  const problems: string[] = [];
  if (settings.get('fsync') !== 'on') problems.push(`fsync=${settings.get('fsync')}`);
  if (settings.get('synchronous_commit') === 'off') problems.push('synchronous_commit=off');
  if (problems.length > 0) {
    throw new Error(`PostgreSQL would lose acknowledged evidence (${problems.join(', ')}); refusing to start`);
  }
}
