import { randomBytes } from 'node:crypto';
import { Client, Pool } from 'pg';
import { BASE_DATABASE_URL, databaseUrl, runId, templateDb } from './env';

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
  const name = `hireledger_t_${runId()}_${process.pid}_${randomBytes(3).toString('hex')}`;
  const admin = new Client({ connectionString: BASE_DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} TEMPLATE ${templateDb()}`);
  } finally {
    await admin.end();
  }
  const url = databaseUrl(name);
  // Pipelining on, as in production (src/infra/db/pool.ts).
  const pool = new Pool({ connectionString: url, max: 10, pipeline: true } as ConstructorParameters<typeof Pool>[0]);
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
