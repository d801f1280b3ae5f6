import { loadDotEnvOnce } from '../src/config/dotenv';
import { provisionRoles } from '../src/infra/db/provision';

/**
 * `npm run db:roles`: run once by a DBA to create the database roles on a PostgreSQL that is not
 * the Compose one (docs/operations.md, "Database roles"). Idempotent: run it again to change a
 * password or to hand an existing database to the owner.
 *
 *   ADMIN_DATABASE_URL       a superuser (or CREATEROLE + CREATEDB) on the same server, any database
 *   MIGRATION_DATABASE_URL   the owner: user, password and database to create (npm run db:migrate uses it)
 *   DATABASE_URL             the API's and the worker's login: user and password (same host and database)
 */
function required(name: string): URL {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required but not set`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`${name} must be a postgres:// URL`);
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') throw new Error(`${name} must be a postgres:// URL`);
  return url;
}

function database(url: URL): string {
  return decodeURIComponent(url.pathname.replace(/^\//, ''));
}

function optional(value: string): string | undefined {
  return value === '' ? undefined : decodeURIComponent(value);
}

async function main(): Promise<void> {
  loadDotEnvOnce(); // .env fills in what the environment leaves unset
  const admin = required('ADMIN_DATABASE_URL');
  const owner = required('MIGRATION_DATABASE_URL');
  const api = required('DATABASE_URL');
  if (database(owner) !== database(api) || !database(owner)) {
    throw new Error('MIGRATION_DATABASE_URL and DATABASE_URL must name the same database');
  }
  if (!owner.username || !api.username) throw new Error('MIGRATION_DATABASE_URL and DATABASE_URL must each name a user');
  const done = await provisionRoles(admin.toString(), {
    database: database(owner),
    owner: decodeURIComponent(owner.username),
    ownerPassword: optional(owner.password),
    api: decodeURIComponent(api.username),
    apiPassword: optional(api.password),
  });
  for (const line of done) process.stdout.write(`${line}\n`);
  process.stdout.write(
    `done: run \`npm run db:migrate\` (as ${decodeURIComponent(owner.username)}), then start the API and the worker ` +
      `(as ${decodeURIComponent(api.username)})\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`db:roles failed: ${(err as Error).message}\n`);
  process.exit(1);
});
