import { randomBytes } from 'node:crypto';
import { Client, Pool } from 'pg';
import { BASE_DATABASE_URL, TEST_APP_ROLE, databaseUrl, runId, templateDb } from './env';

export interface TestDatabase {
  name: string;
  /** As DATABASE_URL's user (a superuser here): for tamper tests and for looking at what was stored. */
  url: string;
  pool: Pool;
  /** As the app logs in in production: TEST_APP_ROLE, a member of hireledger_app only (issue 6). */
  appUrl: string;
  appPool: Pool;
  /** Superuser-level SQL on this database (tamper tests). */
  admin(sql: string, params?: unknown[]): Promise<unknown[]>;
  drop(): Promise<void>;
}

/** Pipelining on, as in production (src/infra/db/pool.ts). Connects lazily. */
function testPool(connectionString: string): Pool {
  const pool = new Pool({ connectionString, max: 10, pipeline: true });
  pool.on('error', () => undefined);
  return pool;
}

/** A fresh, migrated database of its own, cloned from the template made in global-setup. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `hireledger_t_${runId()}_${process.pid}_${randomBytes(3).toString('hex')}`;
  const admin = new Client({ connectionString: BASE_DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} TEMPLATE ${templateDb()}`);
  } finally {
    await admin.end();
  }
  const url = databaseUrl(name);
  const appUrl = databaseUrl(name, { user: TEST_APP_ROLE });
  const pool = testPool(url);
  const appPool = testPool(appUrl);
  return {
    name,
    url,
    pool,
    appUrl,
    appPool,
    async admin(sql, params) {
      const { rows } = await pool.query(sql, params as unknown[]);
      return rows;
    },
    async drop() {
      await Promise.all([pool.end(), appPool.end()]);
      const c = new Client({ connectionString: BASE_DATABASE_URL });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
