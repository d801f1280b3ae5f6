import { Client } from 'pg';
import { migrate } from '../../src/infra/db/migrate';
import { BASE_DATABASE_URL, TEMPLATE_DB, databaseUrl } from './env';

/**
 * Builds a migrated template database once per run; each test file clones it (CREATE DATABASE …
 * TEMPLATE), so files run in parallel against the real PostgreSQL without seeing each other.
 */
export default async function globalSetup(): Promise<void> {
  const admin = new Client({ connectionString: BASE_DATABASE_URL });
  await admin.connect();
  try {
    await dropTestDatabases(admin);
    await admin.query(`CREATE DATABASE ${TEMPLATE_DB}`);
  } finally {
    await admin.end();
  }
  await migrate(databaseUrl(TEMPLATE_DB));
}

export async function dropTestDatabases(admin: Client): Promise<void> {
  const { rows } = await admin.query<{ datname: string }>(
    `SELECT datname FROM pg_database WHERE datname = $1 OR datname LIKE 'hireledger_t_%'`,
    [TEMPLATE_DB],
  );
  for (const { datname } of rows) await admin.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
}
