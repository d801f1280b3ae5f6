import { migrate } from '../src/infra/db/migrate';

/** `npm run db:migrate`: applies pending SQL migrations; exits non-zero on any failure. */
async function main(): Promise<void> {
  const url = process.env['DATABASE_URL'];
  if (!url) {
    process.stderr.write('DATABASE_URL is required but not set\n');
    process.exit(1);
  }
  const applied = await migrate(url);
  process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'database is up to date\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`migration failed: ${(err as Error).message}\n`);
  process.exit(1);
});
