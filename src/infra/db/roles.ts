import type { Pool } from 'pg';

/**
 * Issue 6, finding 6: the API and the worker may read the ledger and append to it only through
 * evidence_lock()/evidence_append(). A role that is a superuser, owns the ledger's tables or
 * functions (or the schema or database holding them), or is a member of their owner can disable
 * the triggers, move the counter and heads the verifier trusts, or drop the lot. The start-up
 * check below refuses such a connection in production and warns about it everywhere else.
 */

/** The NOLOGIN role the first migration creates and grants the ledger's rights to. */
export const APP_ROLE = 'hireledger_app';

/** Where an operator reads how to set the roles up (named in every refusal). */
const HOW_TO =
  'Connect the API and the worker (DATABASE_URL) as a login role that is a member of hireledger_app and owns ' +
  'nothing, e.g. hireledger_api, and run migrations as the owner (MIGRATION_DATABASE_URL); `npm run db:roles` ' +
  'creates both roles (docs/operations.md, "Database roles").';

export interface RoleReport {
  /** The role this connection acts as (current_user). */
  role: string;
  database: string;
  /** Rights the app must not have: refused in production, warned about otherwise. */
  problems: string[];
  /** Worth knowing, never a refusal (e.g. not a member of hireledger_app: appends will be refused). */
  notes: string[];
}

interface RoleRow {
  role: string;
  database: string;
  superuser: boolean;
  createrole: boolean;
  bypassrls: boolean;
  app_member: boolean;
  ledger: string | null;
}

interface OwnedRow {
  owner: string;
  objects: string[];
}

/** What the connection's role may do to the ledger, without changing anything. */
export async function inspectDatabaseRole(pool: Pool): Promise<RoleReport> {
  const { rows } = await pool.query<RoleRow>(
    `SELECT current_user AS role, current_database() AS database,
            r.rolsuper AS superuser, r.rolcreaterole AS createrole, r.rolbypassrls AS bypassrls,
            EXISTS (SELECT 1 FROM pg_roles a
                     WHERE a.rolname = $1 AND pg_has_role(current_user, a.oid, 'MEMBER')) AS app_member,
            to_regclass('evidence_records')::text AS ledger
       FROM pg_roles r WHERE r.rolname = current_user`,
    [APP_ROLE],
  );
  const me = rows[0];
  if (!me) throw new Error('could not read the attributes of the current PostgreSQL role');
  const report: RoleReport = { role: me.role, database: me.database, problems: [], notes: [] };

  if (me.superuser) {
    // A superuser is a member of every role and may do anything; the rest would only repeat it.
    report.problems.push('it is a superuser');
    return report;
  }
  if (me.createrole) report.problems.push('it has CREATEROLE, so it can grant itself membership in the owner of the ledger');
  if (me.bypassrls) report.notes.push('it has BYPASSRLS');

  if (me.ledger === null) {
    report.problems.push('evidence_records does not exist on its search_path: the database is not migrated (npm run db:migrate)');
    return report;
  }

  // Everything that can rewrite the ledger by ownership: the database, the ledger's schema, and
  // every table, sequence, view and function in that schema. PostgreSQL 15 makes the database's
  // owner the owner of schema public (pg_database_owner), and a schema's owner may drop it with
  // everything inside, so owning the database is as bad as owning the tables.
  const owned = await pool.query<OwnedRow>(
    `WITH ledger AS (SELECT relnamespace AS nsp FROM pg_class WHERE oid = to_regclass('evidence_records')),
          objects AS (
            SELECT d.datdba AS owner, 'database ' || quote_ident(d.datname) AS object, 0 AS ord
              FROM pg_database d WHERE d.datname = current_database()
            UNION ALL
            SELECT n.nspowner, 'schema ' || quote_ident(n.nspname), 1
              FROM pg_namespace n JOIN ledger l ON l.nsp = n.oid
            UNION ALL
            SELECT c.relowner, c.oid::regclass::text, CASE WHEN c.relname = 'evidence_records' THEN 2 ELSE 3 END
              FROM pg_class c JOIN ledger l ON l.nsp = c.relnamespace
             WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
            UNION ALL
            SELECT p.proowner, p.oid::regprocedure::text, 4
              FROM pg_proc p JOIN ledger l ON l.nsp = p.pronamespace
          )
     SELECT a.rolname AS owner, array_agg(o.object ORDER BY o.ord, o.object) AS objects
       FROM objects o JOIN pg_roles a ON a.oid = o.owner
      WHERE pg_has_role(current_user, o.owner, 'MEMBER')
      GROUP BY a.rolname
      ORDER BY min(o.ord), a.rolname`,
  );
  for (const { owner, objects } of owned.rows) {
    const shown = objects.length > 4 ? `${objects.slice(0, 4).join(', ')} and ${objects.length - 4} more` : objects.join(', ');
    report.problems.push(owner === me.role ? `it owns ${shown}` : `it is a member of ${quoted(owner)}, which owns ${shown}`);
  }

  // Owning nothing is not enough: the rights granted to it (directly or through any role) must be
  // those of hireledger_app after the migrations, which write the trusted tables only through
  // evidence_append(). A grant added by hand, or a database migrated only part of the way, shows here.
  if (report.problems.length === 0) {
    const { rows: granted } = await pool.query<{ tbl: string; privileges: string[] }>(
      `SELECT t.tbl, array_agg(p.privilege ORDER BY p.ord) AS privileges
         FROM (VALUES ('evidence_records', 0), ('evidence_counter', 1), ('evidence_heads', 2),
                      ('evidence_merkle_nodes', 3), ('evidence_redeliveries', 4),
                      ('evidence_checkpoints', 5), ('evidence_checkpoint_witnesses', 6)) AS t(tbl, tord)
         CROSS JOIN (VALUES ('INSERT', 0), ('UPDATE', 1), ('DELETE', 2), ('TRUNCATE', 3), ('TRIGGER', 4)) AS p(privilege, ord)
        WHERE to_regclass(t.tbl) IS NOT NULL
          -- Checkpoints and their witnesses are appended by the app itself (INSERT is its right).
          AND NOT (t.tbl IN ('evidence_checkpoints', 'evidence_checkpoint_witnesses') AND p.privilege = 'INSERT')
          AND has_table_privilege(current_user, to_regclass(t.tbl), p.privilege)
        GROUP BY t.tbl, t.tord
        ORDER BY t.tord`,
    );
    for (const { tbl, privileges } of granted) {
      report.problems.push(`it may ${privileges.join(', ')} ${tbl} directly`);
    }
  }

  if (!me.app_member) {
    report.notes.push(`it is not a member of ${APP_ROLE}, so reading or appending evidence may be refused`);
  }
  return report;
}

export class DatabaseRoleError extends Error {
  constructor(
    message: string,
    readonly report: RoleReport,
  ) {
    super(message);
    this.name = 'DatabaseRoleError';
  }
}

export interface RoleCheckLogger {
  warn(obj: object, msg: string): void;
}

/**
 * The start-up check of the API and the worker. With NODE_ENV=production a role that could
 * rewrite evidence is refused (throws DatabaseRoleError naming the role and what to do); in
 * development and test the same finding is a warning, so a local superuser keeps working.
 */
export async function checkDatabaseRole(
  pool: Pool,
  nodeEnv: 'development' | 'production' | 'test',
  logger: RoleCheckLogger,
): Promise<RoleReport> {
  const report = await inspectDatabaseRole(pool);
  const who = `PostgreSQL role ${quoted(report.role)} (database ${quoted(report.database)})`;
  if (report.problems.length > 0) {
    const why = `${who} could rewrite evidence: ${report.problems.join('; ')}.`;
    if (nodeEnv === 'production') {
      throw new DatabaseRoleError(`refusing to start with NODE_ENV=production: ${why} ${HOW_TO}`, report);
    }
    logger.warn(
      { role: report.role, database: report.database, problems: report.problems },
      `${why} Allowed because NODE_ENV=${nodeEnv}; production refuses to start. ${HOW_TO}`,
    );
  }
  if (report.notes.length > 0) {
    logger.warn({ role: report.role, database: report.database, notes: report.notes }, `${who}: ${report.notes.join('; ')}`);
  }
  return report;
}

function quoted(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
