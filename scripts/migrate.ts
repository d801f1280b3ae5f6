import { loadDotEnvOnce } from '../src/config/dotenv';
import { isUnreachable, unreachable } from '../src/config/services';
import { migrate } from '../src/infra/db/migrate';

/**
 * `npm run db:migrate`: applies pending SQL migrations; exits non-zero on any failure.
 *
 * Migrations run as the owner of the schema (issue 6): MIGRATION_DATABASE_URL when set, else
 * DATABASE_URL (convenient locally, where one superuser does everything). The API and the worker
 * never see MIGRATION_DATABASE_URL; they connect with DATABASE_URL as a member of hireledger_app.
 */
async function main(): Promise<void> {
  loadDotEnvOnce(); // .env fills in what the environment leaves unset
  const owner = process.env['MIGRATION_DATABASE_URL'];
  const url = owner || process.env['DATABASE_URL'];
  if (!url) {
    process.stderr.write('MIGRATION_DATABASE_URL (the owner of the schema) or DATABASE_URL is required but not set\n');
    process.exit(1);
  }
  const source = owner ? 'MIGRATION_DATABASE_URL' : 'DATABASE_URL';
  let user = '';
  try {
    user = decodeURIComponent(new URL(url).username);
  } catch {
    process.stderr.write(`${source} must be a postgres:// URL\n`);
    process.exit(1);
  }
  if (!owner && process.env['NODE_ENV'] === 'production') {
    process.stderr.write(
      'MIGRATION_DATABASE_URL is not set: migrating with DATABASE_URL, which in production should be the ' +
        "API's least-privilege role (it cannot create tables). Set MIGRATION_DATABASE_URL to the owner's URL.\n",
    );
  }
  let applied: string[];
  try {
    applied = await migrate(url);
  } catch (err) {
    if (!isUnreachable(err)) throw err;
    process.stderr.write(`migration failed: ${unreachable('PostgreSQL', source, url, err).message}\n`);
    process.exit(1);
  }
  const as = user ? ` as ${user} (${source})` : ` (${source})`;
  process.stdout.write(applied.length ? `applied${as}: ${applied.join(', ')}\n` : `database is up to date${as}\n`);
}

main().catch((err: unknown) => {
  const e = err as { message?: string; code?: string; driverError?: { code?: string } };
  const denied = (e.code ?? e.driverError?.code) === '42501';
  const hint = denied
    ? ' (this role may not do that: migrations run as the owner of the database; `npm run db:roles` creates it, docs/operations.md)'
    : '';
  process.stderr.write(`migration failed: ${e.message ?? String(err)}${hint}\n`);
  process.exit(1);
});
