import { Pool, type PoolConfig } from 'pg';
import type { Config } from '../../config/env';
import type { Logger } from '../../observability/logger';

export interface PoolOptions {
  connectionString: string;
  max: number;
  /** PostgreSQL cancels a statement running longer (statement_timeout). */
  statementTimeoutMs: number;
  applicationName: string;
  /** Longest wait for a connection: a free one from the pool, or a new one opened. Default 1000. */
  connectTimeoutMs?: number;
  /**
   * The client gives up on a query after this long, for when its connection went silent (a
   * network cut, a dead host): PostgreSQL cannot cancel what it never sees, so the server's
   * timeout alone would let the call hang. Default: statementTimeoutMs + 500.
   */
  queryTimeoutMs?: number;
  /** PostgreSQL ends a session idle inside a transaction this long, releasing its locks. Default 15000. */
  idleInTransactionTimeoutMs?: number;
}

/** What the client-side query timeout adds to the server's statement timeout (the server speaks first). */
export const QUERY_TIMEOUT_MARGIN_MS = 500;

/** The pool options of the API or the worker, from the configuration (RELIABILITY F2, F14). */
export function poolOptionsFromConfig(config: Config, kind: 'api' | 'worker'): PoolOptions {
  const statementTimeoutMs = kind === 'api' ? config.PG_API_STATEMENT_TIMEOUT_MS : config.PG_STATEMENT_TIMEOUT_MS;
  return {
    connectionString: config.DATABASE_URL,
    max: config.PG_POOL_MAX,
    statementTimeoutMs,
    applicationName: `hireledger-${kind}`,
    connectTimeoutMs: config.PG_CONNECT_TIMEOUT_MS,
    queryTimeoutMs: statementTimeoutMs + QUERY_TIMEOUT_MARGIN_MS,
    idleInTransactionTimeoutMs: config.PG_IDLE_IN_TRANSACTION_TIMEOUT_MS,
  };
}

/**
 * A pg Pool that cannot take the process down: an idle client's error (PostgreSQL restarted,
 * network cut) is logged, and the pool replaces the client on next use; a checked-out client's
 * error is logged too, and the pool drops that client when it is released. Acquiring a connection
 * and every statement have timeouts, on the server and on the client, so a sick or unreachable
 * database fails calls fast instead of piling them up (RELIABILITY F2, F14).
 */
export function createPool(opts: PoolOptions, logger: Logger): Pool {
  const config: PoolConfig = {
    connectionString: opts.connectionString,
    max: opts.max,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 1000,
    idleTimeoutMillis: 30000,
    statement_timeout: opts.statementTimeoutMs,
    query_timeout: opts.queryTimeoutMs ?? opts.statementTimeoutMs + QUERY_TIMEOUT_MARGIN_MS,
    idle_in_transaction_session_timeout: opts.idleInTransactionTimeoutMs ?? 15000,
    application_name: opts.applicationName,
    // A dead peer that never closes the socket is noticed by the kernel too, not only by the timeouts.
    keepAlive: true,
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
