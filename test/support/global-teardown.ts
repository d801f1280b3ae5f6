import { Client } from 'pg';
import { BASE_DATABASE_URL } from './env';
import { dropTestDatabases } from './global-setup';
import { dropThrowawayRoles } from './roles';

export default async function globalTeardown(): Promise<void> {
  const admin = new Client({ connectionString: BASE_DATABASE_URL });
  await admin.connect();
  try {
    await dropTestDatabases(admin, (owner) => owner === process.pid);
    await dropThrowawayRoles(admin, (owner) => owner === process.pid);
  } finally {
    await admin.end();
  }
}
