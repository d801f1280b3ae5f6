import { Client } from 'pg';
import { BASE_DATABASE_URL, runId } from './env';
import { dropTestDatabases, releaseRunLock } from './global-setup';
import { dropThrowawayRoles } from './roles';

export default async function globalTeardown(): Promise<void> {
  const run = runId();
  const admin = new Client({ connectionString: BASE_DATABASE_URL });
  await admin.connect();
  try {
    await dropTestDatabases(admin, (owner) => owner === run);
    await dropThrowawayRoles(admin, (owner) => owner === run);
  } finally {
    await admin.end();
    await releaseRunLock();
  }
}
