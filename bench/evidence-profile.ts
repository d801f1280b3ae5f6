/**
 * Runs verifyLedger once on a kept bench:evidence database (BENCH_DATABASE=<name>), for profiling:
 * `NODE_OPTIONS='--cpu-prof --cpu-prof-dir=/tmp/prof' BENCH_DATABASE=… npx tsx bench/evidence-profile.ts`.
 */
import { Pool } from 'pg';
import { verifyLedger } from '../src/evidence';
import { databaseUrl } from '../test/support/env';

async function main(): Promise<void> {
  const db = process.env['BENCH_DATABASE'];
  if (!db) throw new Error('BENCH_DATABASE=<a kept bench:evidence database> is required');
  const pool = new Pool({ connectionString: databaseUrl(db), max: 2 });
  try {
    const cpu = process.cpuUsage();
    const started = performance.now();
    const pageSize = process.env['BENCH_PAGE'] ? Number(process.env['BENCH_PAGE']) : undefined;
    const report = await verifyLedger(pool, pageSize === undefined ? {} : { pageSize });
    const s = (performance.now() - started) / 1000;
    const c = process.cpuUsage(cpu);
    process.stdout.write(
      `${report.ok ? 'ok' : `NOT ok: ${JSON.stringify(report.firstProblem)}`}: ${report.records} records in ${s.toFixed(2)} s = ` +
        `${Math.round(report.records / s)} records/s; CPU ${((c.user + c.system) / 1e6).toFixed(2)} s\n`,
    );
  } finally {
    await pool.end();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
