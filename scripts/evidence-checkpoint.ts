import { Redis } from 'ioredis';
import { Pool } from 'pg';
import { loadConfigOrExit } from '../src/config/env';
import { createLedger } from '../src/evidence';
import { checkpointerFromConfig } from '../src/jobs/checkpoints';
import { createLogger } from '../src/observability/logger';
import { wecomClientFromConfig } from '../src/wecom/api';

/**
 * `npm run evidence:checkpoint`: signs the ledger's tree head now, stores it, asks every
 * configured witness, and prints the signed note alone on stdout, ready to be saved as the file
 * `npm run evidence:verify -- --checkpoint <file>` reads. What the witnesses answered goes to
 * stderr. The scheduled job in the worker does the same every EVIDENCE_CHECKPOINT_INTERVAL_SECONDS.
 * Exit 0 when signed and stored (even if a witness failed: it is recorded and retried), 1 otherwise.
 */
async function main(): Promise<void> {
  const config = loadConfigOrExit();
  // stdout carries the signed note alone; every log line goes to stderr.
  const logger = createLogger(config.LOG_LEVEL, 'evidence-checkpoint', { to: 'stderr' });
  const pool = new Pool({ connectionString: config.DATABASE_URL, max: 2 });
  pool.on('error', () => undefined);
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 1, lazyConnect: true });
  redis.on('error', () => undefined);
  // The client requires a ledger; this script sends nothing to a person (witness posts are recorded by the
  // checkpointer in evidence_checkpoint_witnesses), so nothing is appended to it here.
  const ledger = createLedger({ pool });
  try {
    const wecom = wecomClientFromConfig(config, { redis, logger, ledger, pool });
    const checkpointer = await checkpointerFromConfig(config, { pool, logger, wecom });
    if (!checkpointer) throw new Error('EVIDENCE_SIGNING_KEY_FILE is not set (npm run evidence:keygen makes a key)');
    const { checkpoint, witnesses } = await checkpointer.take();
    process.stdout.write(checkpoint.note);
    process.stderr.write(
      `checkpoint ${checkpoint.id}: ${checkpoint.size} records, root ${checkpoint.rootHash.toString('hex')}\n`,
    );
    for (const w of witnesses) {
      process.stderr.write(`  witness ${w.witness}: ${w.status}${w.error ? ` (${w.error}; will be retried)` : ''}\n`);
    }
  } finally {
    redis.disconnect();
    await ledger.close();
    await pool.end();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`evidence checkpoint failed: ${(err as Error).message}\n`);
  process.exit(1);
});
