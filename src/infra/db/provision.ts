import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { Client, escapeIdentifier as ident, escapeLiteral as literal } from 'pg';
import { APP_ROLE } from './roles';

/**
 * `npm run db:roles` (scripts/db-roles.ts): what a DBA runs once, as a superuser, to set up the
 * roles of issue 6 on a PostgreSQL that is not the Compose one (which does the same in
 * deploy/postgres/initdb/10-hireledger-roles.sh). Idempotent; run it again to rotate a password.
 *
 *   hireledger_app    NOLOGIN; the migrations grant it the ledger's rights (read, append through
 *                     evidence_lock()/evidence_append(), the dispatcher's cursor, checkpoints).
 *   <owner>           LOGIN, owns the database and so everything the migrations create; runs
 *                     `npm run db:migrate` (MIGRATION_DATABASE_URL) and nothing else.
 *   <api>             LOGIN, member of hireledger_app, owns nothing; the API and the worker
 *                     (DATABASE_URL).
 *
 * An existing database keeps its data: the database and whatever the migrations created in
 * schema public are handed to the owner (needed once when migrations ran as a superuser).
 * Only the owner and the api login may connect (superusers always can), and nobody but the owner
 * may create temporary tables.
 */

export interface ProvisionOptions {
  /** Database to create or adopt, e.g. hireledger. */
  database: string;
  owner: string;
  /** Set (or changed) when given; a new login role without one can only use trust/peer auth. */
  ownerPassword?: string | undefined;
  api: string;
  apiPassword?: string | undefined;
}

const NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Connects with `adminUrl` (a superuser, or a role with CREATEROLE and CREATEDB) and returns what it did. */
export async function provisionRoles(adminUrl: string, opts: ProvisionOptions): Promise<string[]> {
  for (const [what, name] of [
    ['database', opts.database],
    ['owner role', opts.owner],
    ['api role', opts.api],
  ] as const) {
    if (!NAME.test(name)) throw new Error(`${what} name ${JSON.stringify(name)} must match ${NAME.source}`);
  }
  if (opts.owner === opts.api) throw new Error('the owner and the api role must be two different roles');
  if (opts.owner === APP_ROLE || opts.api === APP_ROLE)
    throw new Error(`${APP_ROLE} is the NOLOGIN group role; pick other names`);

  const done: string[] = [];
  const admin = new Client({ connectionString: adminUrl });
  admin.on('error', () => undefined);
  await admin.connect();
  try {
    const roles = async (): Promise<Map<string, { superuser: boolean; createrole: boolean; ownerMember: boolean }>> => {
      const { rows } = await admin.query<{ rolname: string; rolsuper: boolean; rolcreaterole: boolean; owner_member: boolean }>(
        `SELECT r.rolname, r.rolsuper, r.rolcreaterole,
                EXISTS (SELECT 1 FROM pg_roles o WHERE o.rolname = $4 AND pg_has_role(r.oid, o.oid, 'MEMBER')) AS owner_member
           FROM pg_roles r WHERE r.rolname IN ($1, $2, $3)`,
        [APP_ROLE, opts.owner, opts.api, opts.owner],
      );
      return new Map(
        rows.map((r) => [r.rolname, { superuser: r.rolsuper, createrole: r.rolcreaterole, ownerMember: r.owner_member }]),
      );
    };
    const run = async (sql: string, what: string) => {
      await admin.query(sql);
      done.push(what);
    };
    const password = (p: string | undefined) => (p === undefined ? '' : ` PASSWORD ${literal(scramVerifier(p))}`);

    let existing = await roles();
    if (!existing.has(APP_ROLE)) await run(`CREATE ROLE ${APP_ROLE} NOLOGIN`, `created role ${APP_ROLE} (NOLOGIN)`);
    if (!existing.has(opts.owner)) {
      await run(
        `CREATE ROLE ${ident(opts.owner)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE${password(opts.ownerPassword)}`,
        `created login role ${opts.owner} (owner)`,
      );
    } else {
      await run(
        `ALTER ROLE ${ident(opts.owner)} LOGIN${password(opts.ownerPassword)}`,
        `${opts.owner} may log in${opts.ownerPassword ? ', password set' : ''}`,
      );
    }
    if (!existing.has(opts.api)) {
      await run(
        `CREATE ROLE ${ident(opts.api)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT${password(opts.apiPassword)}`,
        `created login role ${opts.api} (api and worker)`,
      );
    } else {
      await run(
        `ALTER ROLE ${ident(opts.api)} LOGIN INHERIT${password(opts.apiPassword)}`,
        `${opts.api} may log in${opts.apiPassword ? ', password set' : ''}`,
      );
    }
    await admin.query(`GRANT ${APP_ROLE} TO ${ident(opts.api)}`);
    done.push(`${opts.api} is a member of ${APP_ROLE}`);

    // Roles that existed already might carry more than they should; say so instead of starting a
    // service that its own start-up check then refuses.
    existing = await roles();
    const api = existing.get(opts.api);
    if (api?.superuser || api?.createrole || api?.ownerMember) {
      throw new Error(
        `role ${opts.api} exists and is ${api.superuser ? 'a superuser' : api.createrole ? 'allowed to CREATEROLE' : `a member of ${opts.owner}`}: ` +
          'the API and the worker would refuse it; pick another name or remove that right by hand',
      );
    }
    if (existing.get(opts.owner)?.superuser)
      throw new Error(`role ${opts.owner} exists and is a superuser; pick another owner role`);

    const db = await admin.query<{ owner: string }>(
      `SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = $1`,
      [opts.database],
    );
    if (db.rows.length === 0) {
      await run(
        `CREATE DATABASE ${ident(opts.database)} OWNER ${ident(opts.owner)}`,
        `created database ${opts.database} owned by ${opts.owner}`,
      );
    } else if (db.rows[0]?.owner !== opts.owner) {
      await run(
        `ALTER DATABASE ${ident(opts.database)} OWNER TO ${ident(opts.owner)}`,
        `database ${opts.database} now owned by ${opts.owner}`,
      );
    }
    // Nobody but the owner needs temporary tables here. A temporary table named like a ledger
    // table would otherwise be what a SECURITY DEFINER function without pg_temp last in its
    // search_path reads (issue 6): the app must not be able to stand one in.
    await run(
      `REVOKE TEMPORARY ON DATABASE ${ident(opts.database)} FROM PUBLIC`,
      `PUBLIC may not create temporary tables in ${opts.database}`,
    );
    // hireledger_app is cluster-wide: without this, the api login of another HireLedger database
    // on the same server (another corp's) could connect here and read and append (DECISIONS 5).
    await run(
      `REVOKE CONNECT ON DATABASE ${ident(opts.database)} FROM PUBLIC; GRANT CONNECT ON DATABASE ${ident(opts.database)} TO ${ident(opts.api)}`,
      `only ${opts.owner} and ${opts.api} may connect to ${opts.database}`,
    );
  } finally {
    await admin.end();
  }

  const target = new URL(adminUrl);
  target.pathname = `/${opts.database}`;
  const inDb = new Client({ connectionString: target.toString() });
  inDb.on('error', () => undefined);
  await inDb.connect();
  try {
    done.push(...(await adopt(inDb, opts.owner)));
  } finally {
    await inDb.end();
  }
  return done;
}

/**
 * Hands schema public and everything in it that is not part of an extension to the owner: a
 * database whose migrations ran as a superuser (the Compose file before issue 6) keeps its data
 * and from now on migrates as the owner. Grants to hireledger_app are kept (PostgreSQL rewrites
 * their grantor to the new owner).
 */
async function adopt(client: Client, owner: string): Promise<string[]> {
  const { rows } = await client.query<{ kind: string; name: string; was: string }>(
    `WITH ext AS (SELECT objid, classid FROM pg_depend WHERE deptype = 'e')
     SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                           WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END AS kind,
            c.oid::regclass::text AS name, pg_get_userbyid(c.relowner) AS was
       FROM pg_class c
      WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
        AND c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = $1)
        -- A sequence owned by a column (serial, identity) follows its table.
        AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i')))
        AND NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_class'::regclass AND ext.objid = c.oid)
     UNION ALL
     SELECT CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, p.oid::regprocedure::text, pg_get_userbyid(p.proowner)
       FROM pg_proc p
      WHERE p.pronamespace = 'public'::regnamespace AND p.prokind IN ('f', 'p')
        AND p.proowner <> (SELECT oid FROM pg_roles WHERE rolname = $1)
        AND NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_proc'::regclass AND ext.objid = p.oid)
     ORDER BY 1, 2`,
    [owner],
  );
  const done: string[] = [];
  for (const r of rows) {
    await client.query(`ALTER ${r.kind} ${r.name} OWNER TO ${ident(owner)}`);
    done.push(`${r.kind.toLowerCase()} ${r.name}: owner ${r.was} → ${owner}`);
  }
  return done;
}

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for a password (RFC 5802/7677, as PostgreSQL's
 * own clients compute it), so the plain password never reaches the server's logs.
 * PostgreSQL applies SASLprep to non-ASCII passwords; those are sent as they are instead.
 */
export function scramVerifier(password: string, salt: Buffer = randomBytes(16), iterations = 4096): string {
  if (!/^[\x20-\x7e]*$/.test(password)) return password;
  const salted = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}
