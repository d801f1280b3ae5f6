import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Client, Pool, escapeIdentifier as ident } from 'pg';
import { createLedger, verifyLedger, type EvidenceEntry } from '../../src/evidence';
import { migrate } from '../../src/infra/db/migrate';
import { provisionRoles } from '../../src/infra/db/provision';
import { DatabaseRoleError, checkDatabaseRole, type RoleCheckLogger } from '../../src/infra/db/roles';
import { evidenceEntry } from '../factories/evidence';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { BASE_DATABASE_URL, basePassword, databaseUrl, runId } from '../support/env';
import { assertMayCreateRoles, dropRoles, throwawayRoleName } from '../support/roles';

/**
 * Issue 6, finding 6: least-privilege database roles. Every statement that could rewrite evidence
 * is tried as the app's login and must be refused by PostgreSQL itself (SQLSTATE 42501), while the
 * real append path works; the start-up check refuses the roles that could rewrite evidence; and
 * both ways of creating the roles (npm run db:roles, the Compose init script) produce exactly that.
 *
 * These tests create throwaway login roles in the shared cluster, so the tests' DATABASE_URL must
 * be allowed to create roles. Without that right they fail, saying so; they never skip.
 */

const PASSWORD = () => randomBytes(12).toString('hex');
const SCRIPT = join(__dirname, '..', '..', 'deploy', 'postgres', 'initdb', '10-hireledger-roles.sh');

function pool(url: string): Pool {
  const p = new Pool({ connectionString: url, max: 4 });
  p.on('error', () => undefined);
  return p;
}

function ownDbName(label: string): string {
  // Named like the other test databases, so a killed run's leftovers are swept by global-setup.
  return `hireledger_t_${runId()}_${process.pid}_${label}${randomBytes(3).toString('hex')}`;
}

let n = 0;
/** Spread over three streams, so that one batch extends several chains. */
function entry(): EvidenceEntry {
  n += 1;
  return evidenceEntry({ stream: `roles:${n % 3}`, kind: 'test.roles', actor: 'hireledger', payload: { n } });
}

/** The error PostgreSQL answered `sql` with, or null when it ran. */
async function refusal(p: Pool, sql: string): Promise<{ code?: string; message: string } | null> {
  return p.query(sql).then(
    () => null,
    (err: { code?: string; message: string }) => err,
  );
}

function run(
  command: string,
  args: string[],
  env: Record<string, string | undefined>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

function recordingLogger(): RoleCheckLogger & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, warn: (_obj: object, msg: string) => void warnings.push(msg) };
}

/** Appends `count` entries (plus one redelivery) through the real ledger, as `p`'s role. */
async function appendAs(p: Pool, count: number): Promise<void> {
  const ledger = createLedger({ pool: p, batchMax: 4 });
  try {
    const first = entry();
    const results = await Promise.all([first, ...Array.from({ length: count - 1 }, () => entry())].map((e) => ledger.append(e)));
    expect(results.every((r) => r.status === 'appended')).toBe(true);
    expect((await ledger.append({ ...first, payload: { again: true } })).status).toBe('duplicate');
  } finally {
    await ledger.close();
  }
}

describe('least-privilege database roles (issue 6, finding 6)', () => {
  const roles: string[] = [];
  const databases: string[] = [];
  const pools: Pool[] = [];
  let admin: Client;
  let db: TestDatabase;
  /** DATABASE_URL's user: a superuser on the machines the tests run on. */
  let superuser: string;
  let api: { name: string; pool: Pool };
  let owner: { name: string; pool: Pool; member: Pool };
  let creator: Pool;

  async function createRole(label: string, attributes: string): Promise<{ name: string; password: string }> {
    const name = throwawayRoleName(label);
    const password = PASSWORD();
    await admin.query(`CREATE ROLE ${ident(name)} LOGIN PASSWORD '${password}' ${attributes}`);
    roles.push(name);
    return { name, password };
  }

  function connect(database: string, role: { name: string; password: string }): Pool {
    const p = pool(databaseUrl(database, { user: role.name, password: role.password }));
    pools.push(p);
    return p;
  }

  beforeAll(async () => {
    admin = new Client({ connectionString: BASE_DATABASE_URL });
    await admin.connect();
    await assertMayCreateRoles(admin);
    superuser = (await admin.query<{ u: string }>('SELECT current_user AS u')).rows[0]?.u ?? '';

    db = await createTestDatabase();
    const apiRole = await createRole('api', 'NOSUPERUSER NOCREATEDB NOCREATEROLE IN ROLE hireledger_app');
    api = { name: apiRole.name, pool: connect(db.name, apiRole) };
    const creatorRole = await createRole('creator', 'NOSUPERUSER CREATEROLE IN ROLE hireledger_app');
    creator = connect(db.name, creatorRole);

    // A database whose migrations ran as a non-superuser owner, as they do in production.
    const ownerRole = await createRole('owner', 'NOSUPERUSER NOCREATEDB NOCREATEROLE');
    const memberRole = await createRole('member', 'NOSUPERUSER NOCREATEDB NOCREATEROLE');
    await admin.query(`GRANT ${ident(ownerRole.name)} TO ${ident(memberRole.name)}`);
    const owned = ownDbName('own');
    await admin.query(`CREATE DATABASE ${owned} OWNER ${ident(ownerRole.name)}`);
    databases.push(owned);
    await migrate(databaseUrl(owned, { user: ownerRole.name, password: ownerRole.password }));
    owner = { name: ownerRole.name, pool: connect(owned, ownerRole), member: connect(owned, memberRole) };

    await appendAs(api.pool, 5);
  }, 60000);

  afterAll(async () => {
    // Each step on its own: the roles are dropped even when something before failed.
    const steps: (() => Promise<unknown>)[] = [
      ...pools.map((p) => () => p.end()),
      () => (db ? db.drop() : Promise.resolve()),
      ...databases.map((d) => () => admin.query(`DROP DATABASE IF EXISTS ${d} WITH (FORCE)`)),
      () => admin.end(),
      () => dropRoles(roles),
    ];
    for (const step of steps) await step().catch(() => undefined);
  });

  describe('the app login (a member of hireledger_app) is refused each statement that could rewrite evidence', () => {
    const forbidden: [string, string][] = [
      [
        'INSERT INTO evidence_records',
        `INSERT INTO evidence_records (seq, hash_version, stream, kind, occurred_at, recorded_at, actor, source, source_ref,
                                       payload, payload_sha256, prev_hash, hash)
         SELECT c.last_seq + 1, 1, 'roles:0', 'forged', date_trunc('milliseconds', now()), date_trunc('milliseconds', now()),
                'x', 'forged', 'forged-1', '{}', repeat('0', 64), NULL, repeat('1', 64)
           FROM evidence_counter c`,
      ],
      ['UPDATE evidence_counter', `UPDATE evidence_counter SET last_seq = last_seq - 1 WHERE id = 1`],
      ['UPDATE evidence_heads', `UPDATE evidence_heads SET hash = repeat('0', 64)`],
      ['INSERT INTO evidence_heads', `INSERT INTO evidence_heads (stream, seq, hash) SELECT 'forged', 1, repeat('0', 64)`],
      ['DELETE FROM evidence_records', `DELETE FROM evidence_records WHERE seq = (SELECT max(seq) FROM evidence_records)`],
      ['TRUNCATE evidence_records', `TRUNCATE evidence_records CASCADE`],
      ['ALTER TABLE … DISABLE TRIGGER ALL', `ALTER TABLE evidence_records DISABLE TRIGGER ALL`],
      ['INSERT INTO evidence_merkle_nodes', `INSERT INTO evidence_merkle_nodes (level, idx, hash) VALUES (40, 0, sha256('x'))`],
      ['UPDATE evidence_checkpoints', `UPDATE evidence_checkpoints SET note = 'rewritten'`],
      ['DELETE FROM evidence_checkpoints', `DELETE FROM evidence_checkpoints`],
      ['UPDATE evidence_redeliveries', `UPDATE evidence_redeliveries SET deliveries = 1`],
      ['DELETE FROM evidence_merkle_nodes', `DELETE FROM evidence_merkle_nodes`],
      ['DROP TABLE evidence_records', `DROP TABLE evidence_records CASCADE`],
      ['ALTER FUNCTION evidence_append', `ALTER FUNCTION evidence_append(smallint, timestamptz, jsonb, jsonb) SECURITY INVOKER`],
      ['CREATE TABLE in the ledger schema', `CREATE TABLE public.evidence_shadow (x int)`],
    ];

    test.each(forbidden)('%s → permission denied (42501)', async (_name, sql) => {
      const err = await refusal(api.pool, sql);
      expect(err).not.toBeNull();
      expect(err?.code).toBe('42501');
      // PostgreSQL's privilege check, not the append-only trigger (which also answers 42501).
      expect(err?.message).toMatch(/permission denied|must be owner/);
    });

    test('SET ROLE to the owner of the tables → permission denied (42501)', async () => {
      const { rows } = await db.pool.query<{ owner: string }>(
        `SELECT pg_get_userbyid(relowner) AS owner FROM pg_class WHERE oid = 'evidence_records'::regclass`,
      );
      const err = await refusal(api.pool, `SET ROLE ${ident(rows[0]?.owner ?? superuser)}`);
      expect(err?.code).toBe('42501');
    });

    test('after all of that the ledger is intact', async () => {
      const report = await verifyLedger(db.pool);
      expect(report.firstProblem).toBeNull();
      expect(report.ok).toBe(true);
    });
  });

  test('evidence_lock() and real appends through the ledger work as the app login, and verifyLedger is ok', async () => {
    const before = Number((await db.pool.query<{ n: string }>('SELECT count(*) AS n FROM evidence_records')).rows[0]?.n);
    const c = await api.pool.connect();
    try {
      await c.query('BEGIN');
      const { rows } = await c.query<{ last_seq: string }>('SELECT last_seq FROM evidence_lock()');
      expect(Number(rows[0]?.last_seq)).toBe(before);
      await c.query('COMMIT');
    } finally {
      c.release();
    }

    await appendAs(api.pool, 11);

    const report = await verifyLedger(api.pool);
    expect(report.ok).toBe(true);
    expect(report.records).toBe(before + 11);
    const stored = await db.pool.query<{ records: number; deliveries: number; nodes: number }>(
      `SELECT (SELECT count(*)::int FROM evidence_records) AS records,
              (SELECT coalesce(sum(deliveries), 0)::int FROM evidence_redeliveries) AS deliveries,
              (SELECT count(*)::int FROM evidence_merkle_nodes) AS nodes`,
    );
    const total = before + 11;
    let nodes = 0;
    for (let level = 1; 2 ** level <= total; level++) nodes += Math.floor(total / 2 ** level);
    // Two records redelivered once each (beforeAll's and this test's), each counted as 2 deliveries.
    expect(stored.rows[0]).toEqual({ records: total, deliveries: 4, nodes });

    // The dispatcher's cursor, which the app role keeps itself.
    await api.pool.query(`INSERT INTO ledger_consumers (name) VALUES ('roles-test') ON CONFLICT (name) DO NOTHING`);
    await api.pool.query(`UPDATE ledger_consumers SET last_seq = $1 WHERE name = 'roles-test'`, [total]);
  });

  test('a temporary table cannot stand in for a ledger table inside evidence_lock()', async () => {
    // SECURITY DEFINER functions search pg_temp first unless it is named last in their
    // search_path; the app login may create temporary tables in a database that did not revoke
    // TEMPORARY from PUBLIC (as these clones do not).
    const real = Number((await db.pool.query<{ n: string }>('SELECT last_seq AS n FROM evidence_counter')).rows[0]?.n);
    const c = await api.pool.connect();
    try {
      await c.query(`CREATE TEMP TABLE evidence_counter (id smallint, last_seq bigint, last_recorded_at timestamptz)`);
      await c.query(`INSERT INTO pg_temp.evidence_counter VALUES (1, 999999, '2000-01-01T00:00:00Z')`);
      await c.query('BEGIN');
      const { rows } = await c.query<{ last_seq: string }>('SELECT last_seq FROM evidence_lock()');
      await c.query('ROLLBACK');
      expect(Number(rows[0]?.last_seq)).toBe(real);
    } finally {
      await c.query('DISCARD TEMP').catch(() => undefined);
      c.release();
    }
  });

  describe('start-up check (src/infra/db/roles.ts, run by the API and the worker)', () => {
    test('production, as a superuser (the tests’ own user) → refuses, naming the role and what to do', async () => {
      const logger = recordingLogger();
      const err = await checkDatabaseRole(db.pool, 'production', logger).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(DatabaseRoleError);
      const message = (err as Error).message;
      expect(message).toContain(`"${superuser}"`);
      expect(message).toContain('superuser');
      expect(message).toContain('hireledger_app');
      expect(message).toContain('npm run db:roles');
      expect(message).toContain('MIGRATION_DATABASE_URL');
    });

    test('production, as the owner of evidence_records (migrations ran as it) → refuses', async () => {
      const err = await checkDatabaseRole(owner.pool, 'production', recordingLogger()).then(
        () => null,
        (e: unknown) => e as Error,
      );
      expect(err).toBeInstanceOf(DatabaseRoleError);
      expect(err?.message).toContain(`"${owner.name}"`);
      expect(err?.message).toMatch(/it owns database .*evidence_records/);
    });

    test('production, as a member of the owner role → refuses', async () => {
      const err = await checkDatabaseRole(owner.member, 'production', recordingLogger()).then(
        () => null,
        (e: unknown) => e as Error,
      );
      expect(err).toBeInstanceOf(DatabaseRoleError);
      expect(err?.message).toContain(`is a member of "${owner.name}", which owns database`);
    });

    test('production, as a login with CREATEROLE (it could make itself the owner’s member) → refuses', async () => {
      await expect(checkDatabaseRole(creator, 'production', recordingLogger())).rejects.toThrow(/CREATEROLE/);
    });

    test('production, as an app login that was also granted UPDATE on evidence_counter → refuses', async () => {
      const role = await createRole('granted', 'NOSUPERUSER NOCREATEDB NOCREATEROLE IN ROLE hireledger_app');
      await db.pool.query(`GRANT UPDATE ON evidence_counter TO ${ident(role.name)}`);
      await db.pool.query(`GRANT TRIGGER ON evidence_records TO ${ident(role.name)}`);
      await expect(checkDatabaseRole(connect(db.name, role), 'production', recordingLogger())).rejects.toThrow(
        'it may TRIGGER evidence_records directly; it may UPDATE evidence_counter directly',
      );
    });

    test('production, as the app login → passes without a warning', async () => {
      const logger = recordingLogger();
      const report = await checkDatabaseRole(api.pool, 'production', logger);
      expect(report.role).toBe(api.name);
      expect(report.problems).toEqual([]);
      expect(logger.warnings).toEqual([]);
      // And the shared login the rest of the suite runs the app as (support/app.ts).
      expect((await checkDatabaseRole(db.appPool, 'production', logger)).problems).toEqual([]);
    });

    test.each(['development', 'test'] as const)('%s, as a superuser → starts, with a warning', async (env) => {
      const logger = recordingLogger();
      const report = await checkDatabaseRole(db.pool, env, logger);
      expect(report.problems).toEqual(['it is a superuser']);
      expect(logger.warnings).toHaveLength(1);
      expect(logger.warnings[0]).toContain(`"${superuser}"`);
      expect(logger.warnings[0]).toContain(`NODE_ENV=${env}`);
    });
  });

  describe('setting the roles up', () => {
    /** What both set-ups must leave: roles as documented, migrations as the owner, appends as the api login. */
    async function expectWorking(database: string, o: { name: string; password: string }, a: { name: string; password: string }) {
      const { rows } = await admin.query<Record<string, unknown>>(
        `SELECT (SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1) AS db_owner,
                pg_has_role($3, 'hireledger_app', 'MEMBER') AS api_member,
                pg_has_role($3, $2, 'MEMBER') AS api_owner_member,
                has_database_privilege($3, $1, 'TEMPORARY') AS api_temp,
                has_database_privilege($3, $1, 'CONNECT') AS api_connect,
                -- Another database's app login (a member of hireledger_app too) may not come in.
                has_database_privilege($4, $1, 'CONNECT') AS other_connect`,
        [database, o.name, a.name, api.name],
      );
      expect(rows[0]).toEqual({
        db_owner: o.name,
        api_member: true,
        api_owner_member: false,
        api_temp: false,
        api_connect: true,
        other_connect: false,
      });

      await migrate(databaseUrl(database, { user: o.name, password: o.password }));
      const ownerPool = connect(database, o);
      const apiPool = connect(database, a);
      const { rows: owners } = await ownerPool.query<{ owner: string }>(
        `SELECT DISTINCT pg_get_userbyid(relowner) AS owner FROM pg_class WHERE relnamespace = 'public'::regnamespace`,
      );
      expect(owners).toEqual([{ owner: o.name }]);
      expect((await checkDatabaseRole(apiPool, 'production', recordingLogger())).problems).toEqual([]);
      await expect(checkDatabaseRole(ownerPool, 'production', recordingLogger())).rejects.toThrow(DatabaseRoleError);
      await appendAs(apiPool, 3);
      expect((await verifyLedger(apiPool)).ok).toBe(true);
      expect((await refusal(apiPool, 'CREATE TEMP TABLE evidence_counter (x int)'))?.code).toBe('42501');
      expect((await refusal(apiPool, 'UPDATE evidence_counter SET last_seq = 0'))?.code).toBe('42501');
    }

    test('npm run db:roles (provisionRoles) creates the database and both logins, idempotently', async () => {
      const database = ownDbName('prov');
      databases.push(database);
      const o = { name: throwawayRoleName('powner'), password: `${PASSWORD()}@:/%` };
      const a = { name: throwawayRoleName('papi'), password: PASSWORD() };
      roles.push(o.name, a.name);
      // First through the command a DBA runs, which reads names and passwords from the two URLs.
      const cli = await run(process.execPath, ['--import', 'tsx', join(__dirname, '..', '..', 'scripts', 'db-roles.ts')], {
        PATH: process.env['PATH'],
        ADMIN_DATABASE_URL: BASE_DATABASE_URL,
        MIGRATION_DATABASE_URL: databaseUrl(database, { user: o.name, password: o.password }),
        DATABASE_URL: databaseUrl(database, { user: a.name, password: a.password }),
      });
      expect(cli.stderr).toBe('');
      expect(cli.code).toBe(0);
      expect(cli.stdout).toContain(`created database ${database} owned by ${o.name}`);
      expect(cli.stdout).not.toContain(o.password);
      const opts = { database, owner: o.name, ownerPassword: o.password, api: a.name, apiPassword: a.password };
      const again = await provisionRoles(BASE_DATABASE_URL, opts);
      expect(again.some((line) => line.startsWith('created'))).toBe(false);
      await expectWorking(database, o, a);
    }, 60000);

    test('npm run db:roles hands a database migrated by a superuser to the owner, keeping its evidence', async () => {
      const database = ownDbName('adopt');
      await admin.query(`CREATE DATABASE ${database}`);
      databases.push(database);
      await migrate(databaseUrl(database));
      const before = pool(databaseUrl(database));
      pools.push(before);
      await appendAs(before, 4);
      const o = { name: throwawayRoleName('aowner'), password: PASSWORD() };
      const a = { name: throwawayRoleName('aapi'), password: PASSWORD() };
      roles.push(o.name, a.name);
      const done = await provisionRoles(BASE_DATABASE_URL, {
        database,
        owner: o.name,
        ownerPassword: o.password,
        api: a.name,
        apiPassword: a.password,
      });
      expect(done).toContain(`table evidence_records: owner ${superuser} → ${o.name}`);
      await expectWorking(database, o, a);
      expect((await verifyLedger(before)).records).toBe(4 + 3);
    }, 60000);

    test('the Compose init script (deploy/postgres/initdb/10-hireledger-roles.sh) sets up the same', async () => {
      // As the postgres image runs it: POSTGRES_DB exists, owned by POSTGRES_USER (a superuser).
      const database = ownDbName('init');
      await admin.query(`CREATE DATABASE ${database}`);
      databases.push(database);
      const o = { name: throwawayRoleName('iowner'), password: PASSWORD() };
      const a = { name: throwawayRoleName('iapi'), password: `${PASSWORD()}'"$\\` };
      roles.push(o.name, a.name);
      const base = new URL(BASE_DATABASE_URL);
      const password = basePassword();
      const result = await run('bash', [SCRIPT], {
        PATH: process.env['PATH'],
        PGHOST: base.hostname,
        PGPORT: base.port || '5432',
        ...(password === undefined ? {} : { PGPASSWORD: password }),
        POSTGRES_USER: decodeURIComponent(base.username),
        POSTGRES_DB: database,
        HIRELEDGER_OWNER_ROLE: o.name,
        HIRELEDGER_API_ROLE: a.name,
        HIRELEDGER_OWNER_PASSWORD: o.password,
        HIRELEDGER_API_PASSWORD: a.password,
      });
      if (/psql: (command )?not found/.test(result.stderr)) {
        throw new Error('this test runs the init script with psql (PostgreSQL client tools), which is not on PATH');
      }
      expect(result).toEqual({ code: 0, stdout: '', stderr: '' });
      await expectWorking(database, o, a);
    }, 60000);
  });
});
