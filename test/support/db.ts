import { randomBytes } from 'node:crypto';
import { Client, Pool } from 'pg';
import { BASE_DATABASE_URL, TEMPLATE_DB, databaseUrl } from './env';

export interface TestDatabase {
  name: string;
  url: string;
  pool: Pool;
  /** Superuser-level SQL on this database (tamper tests). */
  admin(sql: string, params?: unknown[]): Promise<unknown[]>;
  drop(): Promise<void>;
}

/** A fresh, migrated database of its own, cloned from the template made in global-setup. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `hireledger_t_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new Client({ connectionString: BASE_DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} TEMPLATE ${TEMPLATE_DB}`);
  } finally {
    await admin.end();
  }
  const url = databaseUrl(name);
  const pool = new Pool({ connectionString: url, max: 10 });
  pool.on('error', () => undefined);
  return {
    name,
    url,
    pool,
    async admin(sql, params) {
      const { rows } = await pool.query(sql, params as unknown[]);
      return rows;
    },
    async drop() {
      await pool.end();
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
