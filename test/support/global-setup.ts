import { hostname } from 'node:os';
import { Client, escapeIdentifier, escapeLiteral } from 'pg';
import { migrate } from '../../src/infra/db/migrate';
import { BASE_DATABASE_URL, RUN_TOKEN_IN_NAME, RUN_TOKEN_SQL, databaseUrl, newRunToken, runLockKey, templateDb } from './env';
import { dropThrowawayRoles, ensureTestAppRole } from './roles';

/**
 * Builds a migrated template database once per run; each test file clones it (CREATE DATABASE …
 * TEMPLATE), so files run in parallel against the real PostgreSQL without seeing each other.
 * Also creates DATABASE_URL's database when it is missing, makes sure the app's test login exists
 * (support/env.ts TEST_APP_ROLE) and sweeps up the databases and throwaway roles of runs that died
 * without their teardown.
 *
 * Which runs are dead: every run holds an advisory lock named after its token (env.ts runLockKey)
 * on a connection of its own until its teardown; PostgreSQL releases it when that connection goes
 * (the process exited or was killed). pg_locks shows the locks of every database and every
 * machine, so a run sharing a cluster with other machines never drops what another live run uses,
 * which a "pid not alive here" rule would. Names without a token (older pid-named ones) are left.
 */
export default async function globalSetup(): Promise<void> {
  const run = newRunToken();
  process.env['HIRELEDGER_TEST_RUN'] = run;
  const admin = await connectAdmin();
  let lease: Client | undefined;
  try {
    lease = await holdRunLock(run);
    await dropTestDatabases(admin, (owner) => runIsGone(admin, owner));
    await dropThrowawayRoles(admin, (owner) => runIsGone(admin, owner));
    await ensureTestAppRole(admin);
    await admin.query(`CREATE DATABASE ${templateDb(run)}`);
    const note = `hireledger test run ${run}: host ${hostname()}, pid ${process.pid}, started ${new Date().toISOString()}`;
    await admin.query(`COMMENT ON DATABASE ${templateDb(run)} IS ${escapeLiteral(note)}`);
  } catch (err) {
    await lease?.end().catch(() => undefined);
    throw err;
  } finally {
    await admin.end();
  }
  await migrate(databaseUrl(templateDb(run)));
}

/** The teardown (same process) releases the run's lock by closing this connection. */
const LEASE = Symbol.for('hireledger.test.runLease');
type WithLease = { [LEASE]?: Client };

async function holdRunLock(run: string): Promise<Client> {
  const lease = new Client({ connectionString: BASE_DATABASE_URL, application_name: `hireledger-test-run ${run}` });
  lease.on('error', () => undefined); // PostgreSQL restarted mid-run: the run's tests fail on their own.
  await lease.connect();
  await lease.query('SELECT pg_advisory_lock($1::int, $2::int)', runLockKey(run));
  (globalThis as WithLease)[LEASE] = lease;
  return lease;
}

export async function releaseRunLock(): Promise<void> {
  const lease = (globalThis as WithLease)[LEASE];
  delete (globalThis as WithLease)[LEASE];
  await lease?.end().catch(() => undefined);
}

/** True when no session anywhere on the cluster holds `run`'s lock any more. */
export async function runIsGone(admin: Client, run: string): Promise<boolean> {
  const [classid, objid] = runLockKey(run);
  const { rows } = await admin.query<{ held: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM pg_locks
                     WHERE locktype = 'advisory' AND classid = $1::bigint::oid AND objid = $2::bigint::oid
                       AND objsubid = 2 AND granted) AS held`,
    [classid, objid],
  );
  return rows[0]?.held === false;
}

/**
 * DATABASE_URL as an admin connection. When its database does not exist yet (a fresh cluster has
 * only `postgres`), it is created from the `postgres` maintenance database first.
 */
async function connectAdmin(): Promise<Client> {
  const admin = new Client({ connectionString: BASE_DATABASE_URL });
  try {
    await admin.connect();
    return admin;
  } catch (err) {
    await admin.end().catch(() => undefined);
    if ((err as { code?: string }).code !== '3D000') throw explain(err);
  }
  const name = decodeURIComponent(new URL(BASE_DATABASE_URL).pathname.slice(1));
  const maintenance = new Client({ connectionString: databaseUrl('postgres') });
  try {
    await maintenance.connect();
    await maintenance.query(`CREATE DATABASE ${escapeIdentifier(name)}`);
  } catch (err) {
    if ((err as { code?: string }).code !== '42P04') {
      throw new Error(
        `the tests' DATABASE_URL names database ${name}, which does not exist, and creating it from the postgres ` +
          `database failed: ${(err as Error).message}. Create it, or use a DATABASE_URL allowed to create databases.`,
      );
    }
  } finally {
    await maintenance.end().catch(() => undefined);
  }
  const again = new Client({ connectionString: BASE_DATABASE_URL });
  await again.connect();
  return again;
}

function explain(err: unknown): Error {
  const e = err as { code?: string; message?: string };
  const url = new URL(BASE_DATABASE_URL);
  if (url.password) url.password = '***';
  return new Error(
    `the tests need PostgreSQL at ${url.toString()} (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test) ` +
      `and could not connect: ${e.code ?? ''} ${e.message ?? String(err)}`,
  );
}

/** Drops the test databases whose owning run (the token in the name) matches `which`. */
export async function dropTestDatabases(admin: Client, which: (run: string) => boolean | Promise<boolean>): Promise<void> {
  const { rows } = await admin.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname ~ $1`, [RUN_TOKEN_SQL]);
  for (const { datname } of rows) {
    const owner = RUN_TOKEN_IN_NAME.exec(datname)?.[1];
    if (owner !== undefined && (await which(owner))) {
      await admin.query(`DROP DATABASE IF EXISTS ${escapeIdentifier(datname)} WITH (FORCE)`);
    }
  }
}
