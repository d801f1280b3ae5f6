import { randomBytes } from 'node:crypto';
import { Client, escapeIdentifier, escapeLiteral } from 'pg';
import { BASE_DATABASE_URL, RUN_TOKEN_IN_NAME, RUN_TOKEN_SQL, TEST_APP_ROLE, basePassword, runId } from './env';

/**
 * Roles are cluster-wide, unlike the per-run databases: tests that need roles of their own make
 * throwaway ones named after the run (like the databases), drop them in afterAll, and
 * global-setup/teardown sweep up what a killed run left behind (the same rule as the databases).
 */

export function throwawayRoleName(label: string): string {
  if (!/^[a-z]{1,12}$/.test(label)) throw new Error(`role label ${label} must be 1-12 letters`);
  return `hireledger_trole_${runId()}_${label}_${randomBytes(4).toString('hex')}`;
}

/**
 * What the tests' DATABASE_URL may do with roles. Tests that create roles call this first and fail
 * (never skip) when it may not: least privilege is only shown by connecting as each role.
 */
export async function assertMayCreateRoles(admin: Client): Promise<void> {
  const { rows } = await admin.query<{ rolname: string; rolsuper: boolean; rolcreaterole: boolean }>(
    `SELECT rolname, rolsuper, rolcreaterole FROM pg_roles WHERE rolname = current_user`,
  );
  const me = rows[0];
  if (!me?.rolsuper && !me?.rolcreaterole) {
    throw new Error(
      `the tests' DATABASE_URL connects as ${me?.rolname ?? 'an unknown role'}, which may not create roles (it needs ` +
        'CREATEROLE, or to be a superuser): the least-privilege tests connect as roles they create. Run the tests with a ' +
        'DATABASE_URL allowed to create roles and databases (e.g. postgres://postgres@127.0.0.1:5432/test).',
    );
  }
}

/** Creates the shared app login of the test suite (TEST_APP_ROLE) when missing; safe to run concurrently. */
export async function ensureTestAppRole(admin: Client): Promise<void> {
  // Two runs starting together must not both CREATE ROLE; the lock lives in DATABASE_URL's database.
  await admin.query(`SELECT pg_advisory_lock(hashtext('hireledger_test_roles'))`);
  try {
    const { rows } = await admin.query<{ rolname: string; member: boolean }>(
      `SELECT r.rolname,
              EXISTS (SELECT 1 FROM pg_roles a WHERE a.rolname = 'hireledger_app' AND pg_has_role(r.oid, a.oid, 'MEMBER')) AS member
         FROM pg_roles r WHERE r.rolname IN ('hireledger_app', $1)`,
      [TEST_APP_ROLE],
    );
    const found = new Map(rows.map((r) => [r.rolname, r.member]));
    const password = basePassword();
    const pw = password === undefined ? '' : ` PASSWORD ${escapeLiteral(password)}`;
    if (found.size < 2) await assertMayCreateRoles(admin);
    // The first migration creates hireledger_app the same way; doing it here, under the lock,
    // keeps two runs on a fresh cluster from racing to create it.
    if (!found.has('hireledger_app')) await admin.query(`CREATE ROLE hireledger_app NOLOGIN`);
    if (!found.has(TEST_APP_ROLE)) {
      await admin.query(`CREATE ROLE ${escapeIdentifier(TEST_APP_ROLE)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT${pw}`);
    } else if (password !== undefined) {
      await admin.query(`ALTER ROLE ${escapeIdentifier(TEST_APP_ROLE)}${pw}`);
    }
    if (found.get(TEST_APP_ROLE) !== true) await admin.query(`GRANT hireledger_app TO ${escapeIdentifier(TEST_APP_ROLE)}`);
  } finally {
    await admin.query(`SELECT pg_advisory_unlock(hashtext('hireledger_test_roles'))`);
  }
}

/** Drops the throwaway roles whose owning run matches `which`; a role still in use somewhere is left. */
export async function dropThrowawayRoles(admin: Client, which: (run: string) => boolean | Promise<boolean>): Promise<void> {
  const { rows } = await admin.query<{ rolname: string }>(`SELECT rolname FROM pg_roles WHERE rolname ~ $1`, [RUN_TOKEN_SQL]);
  for (const { rolname } of rows) {
    const owner = RUN_TOKEN_IN_NAME.exec(rolname)?.[1];
    if (owner === undefined || !rolname.startsWith('hireledger_trole_') || !(await which(owner))) continue;
    try {
      await admin.query(`DROP ROLE IF EXISTS ${escapeIdentifier(rolname)}`);
    } catch {
      // Still owns something or has privileges somewhere; a later run tries again.
    }
  }
}

/** Drops the given roles (afterAll of a test file), after the databases they own are gone. */
export async function dropRoles(names: string[]): Promise<void> {
  const admin = new Client({ connectionString: BASE_DATABASE_URL });
  await admin.connect();
  try {
    for (const name of names) await admin.query(`DROP ROLE IF EXISTS ${escapeIdentifier(name)}`);
  } finally {
    await admin.end();
  }
}
