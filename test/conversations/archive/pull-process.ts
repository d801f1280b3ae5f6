/**
 * A chat-archive pull in a process of its own, for the crash test (archive.test.ts): the real
 * channel over the real Finance SDK stand-in and a real PostgreSQL, killed with SIGKILL mid-pull.
 * Environment: DATABASE_URL, ARCHIVE_LIBRARY, ARCHIVE_KEYS, ARCHIVE_CORP, ARCHIVE_SECRET, ARCHIVE_PAGE_SIZE.
 */
import { Pool } from 'pg';
import { createCandidateDirectory } from '../../../src/candidates';
import { createArchiveChannel } from '../../../src/conversations/archive';
import { createLedger } from '../../../src/evidence';
import { createLogger } from '../../../src/observability/logger';

const need = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};

async function main(): Promise<void> {
  const pool = new Pool({ connectionString: need('DATABASE_URL'), max: 4 });
  pool.on('error', () => undefined);
  const ledger = createLedger({ pool });
  const channel = createArchiveChannel({
    config: {
      WECOM_CORP_ID: need('ARCHIVE_CORP'),
      MSGAUDIT_SDK_LIBRARY: need('ARCHIVE_LIBRARY'),
      MSGAUDIT_SECRET: need('ARCHIVE_SECRET'),
      MSGAUDIT_PRIVATE_KEYS: need('ARCHIVE_KEYS'),
      MSGAUDIT_PROXY: undefined,
      MSGAUDIT_PROXY_PASSWORD: undefined,
      MSGAUDIT_PULL_INTERVAL_SECONDS: 300,
    },
    db: pool,
    ledger,
    directory: createCandidateDirectory(pool),
    pageSize: Number(need('ARCHIVE_PAGE_SIZE')),
    maxPages: 1000,
  });
  const report = await channel.puller?.pull((work) => ledger.transact(work), createLogger('silent', 'pull-process'));
  process.stdout.write(`${JSON.stringify(report)}\n`);
  await channel.close();
  await ledger.close();
  await pool.end();
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
