/**
 * Run as a separate OS process by the KF crash test: pulls one KF account from the sandbox, two
 * messages a page, says `page <n>` on stdout after each committed page, and after page `stopAfter`
 * waits, so the parent can kill -9 it between two pages.
 */
import { Redis } from 'ioredis';
import { Pool } from 'pg';
import { createCandidateDirectory } from '../../src/candidates';
import { createConversationMetrics, createMediaStore } from '../../src/conversations';
import { createKfPuller } from '../../src/conversations/kf-pull';
import { createLedger, createLedgerReader } from '../../src/evidence';
import { createLogger } from '../../src/observability/logger';
import { createWecomClient } from '../../src/wecom/api';
import { createExternalContactIds } from '../../src/wecom/external-contacts';

interface Args {
  db: string;
  redis: string;
  sandbox: string;
  corpId: string;
  secret: string;
  agentId: string;
  keyPrefix: string;
  openKfId: string;
  stopAfter: number;
}

async function main(): Promise<void> {
  const o = JSON.parse(process.argv[2] ?? '{}') as Args;
  const pool = new Pool({ connectionString: o.db, max: 4 });
  pool.on('error', () => undefined);
  const redis = new Redis(o.redis, { maxRetriesPerRequest: 1 });
  const ledger = createLedger({ pool });
  const logger = createLogger('silent', 'pull-process');
  const wecom = createWecomClient({
    apiBase: o.sandbox,
    corpId: o.corpId,
    secret: o.secret,
    agentId: o.agentId,
    redis,
    logger,
    ledger,
    options: { keyPrefix: o.keyPrefix },
  });
  const puller = createKfPuller({
    pool,
    kf: wecom.kf,
    directory: createCandidateDirectory(pool),
    contactIds: createExternalContactIds(pool),
    mediaStore: createMediaStore(pool, { kind: 'pg', maxBytes: 1024 * 1024 }),
    metrics: createConversationMetrics(),
    textMaxBytes: 4096,
    pageLimit: 2,
    afterPage: async ({ page }) => {
      process.stdout.write(`page ${page}\n`);
      if (page === o.stopAfter) await new Promise((r) => setTimeout(r, 60_000));
    },
  });
  await puller.pull(
    { corpId: o.corpId, log: logger, reader: createLedgerReader(pool), transact: (work) => ledger.transact(work) },
    { openKfId: o.openKfId },
  );
  process.stdout.write('done\n');
  await ledger.close();
  redis.disconnect();
  await pool.end();
}

void main();
