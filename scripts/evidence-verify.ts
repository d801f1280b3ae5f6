import { Pool } from 'pg';
import { verifyLedger } from '../src/evidence';

/**
 * `npm run evidence:verify`: re-walks every chain. Exit 0 and a summary on intact data; exit 2
 * naming the first broken record otherwise; exit 1 when the check itself could not run.
 */
async function main(): Promise<void> {
  const url = process.env['DATABASE_URL'];
  if (!url) {
    process.stderr.write('DATABASE_URL is required but not set\n');
    process.exit(1);
  }
  const pool = new Pool({ connectionString: url, max: 1 });
  pool.on('error', () => undefined);
  try {
    const report = await verifyLedger(pool);
    if (report.ok) {
      process.stdout.write(
        `evidence ledger intact: ${report.records} records, ${report.streams} streams, head ${report.headHash ?? '(empty)'}\n`,
      );
      return;
    }
    const p = report.firstProblem;
    process.stderr.write(
      `EVIDENCE LEDGER BROKEN at seq ${p?.seq ?? '-'}${p?.stream ? ` (stream ${p.stream})` : ''}: ${p?.kind}: ${p?.detail}\n` +
        `verified ${report.records} records before the problem\n`,
    );
    process.exitCode = 2;
  } finally {
    await pool.end();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`evidence verification could not run: ${(err as Error).message}\n`);
  process.exit(1);
});
