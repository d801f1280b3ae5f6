import { Client } from 'pg';
import { migrate } from '../../src/infra/db/migrate';
import { BASE_DATABASE_URL, databaseUrl, templateDb } from './env';
import { dropThrowawayRoles, ensureTestAppRole } from './roles';

/**
 * Builds a migrated template database once per run; each test file clones it (CREATE DATABASE …
 * TEMPLATE), so files run in parallel against the real PostgreSQL without seeing each other.
 * Also makes sure the app's test login exists (support/env.ts TEST_APP_ROLE) and sweeps up the
 * databases and throwaway roles of runs that died without their teardown.
 */
export default async function globalSetup(): Promise<void> {
  const run = String(process.pid);
  process.env['HIRELEDGER_TEST_RUN'] = run;
  const admin = new Client({ connectionString: BASE_DATABASE_URL });
  await admin.connect();
  try {
    await dropTestDatabases(admin, (owner) => !isAlive(owner));
    await dropThrowawayRoles(admin, (owner) => !isAlive(owner));
    await ensureTestAppRole(admin);
    await admin.query(`CREATE DATABASE ${templateDb(run)}`);
  } finally {
    await admin.end();
  }
  await migrate(databaseUrl(templateDb(run)));
}

/** Drops the test databases whose owning run matches `which` (by the run's process id). */
export async function dropTestDatabases(admin: Client, which: (ownerPid: number) => boolean): Promise<void> {
  const { rows } = await admin.query<{ datname: string }>(
    `SELECT datname FROM pg_database WHERE datname ~ '^hireledger_(tpl|t)_[0-9]+'`,
  );
  for (const { datname } of rows) {
    const owner = Number(/^hireledger_(?:tpl|t)_(\d+)/.exec(datname)?.[1]);
    if (which(owner)) await admin.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
