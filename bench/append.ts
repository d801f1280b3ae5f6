/**
 * npm run bench:append — PostgreSQL's CPU per record of the ledger's durable append, without HTTP
 * (a benchmark, not a test): the records are the ones bench:ingest's callbacks become, appended
 * through createLedger by C concurrent callers, so every batch holds C records.
 *
 * Prints, per batch size, records/s and the CPU the bench database's backends used per record.
 * Two costs show: one per record (the row, its indexes and Merkle nodes, parsing the batch's JSON)
 * and one per batch (the lock, the duplicate lookup, evidence_append()'s statements, the commit),
 * which batches of 64 share three times as widely as batches of 21 (bench:ingest's usual size).
 *
 * Options (env): BENCH_N (records per size, default 10000), BENCH_SIZES (default 8,21,64),
 * BENCH_SQL (SQL run on each bench database after migrating it, to try a change before writing its
 * migration), DATABASE_URL (admin connection; default postgres://postgres@127.0.0.1:5432/test).
 */
import { readFileSync } from 'node:fs';
import { Client, Pool } from 'pg';
import { createLedger, type EvidenceEntry } from '../src/evidence';
import { migrate } from '../src/infra/db/migrate';
import { classifyCallback } from '../src/wecom/callback-event';
import { BASE_DATABASE_URL, databaseUrl } from '../test/support/env';
import { TEST_KEYS } from '../test/support/keys';
import { plaintext, signed } from './support';

const N = Number(process.env['BENCH_N'] ?? 10000);
const SIZES = (process.env['BENCH_SIZES'] ?? '8,21,64').split(',').map(Number);

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The entry the callback route appends for bench:ingest's i-th callback. */
function entryOf(i: number): EvidenceEntry {
  const req = signed(i);
  return classifyCallback({
    corpId: TEST_KEYS.corpId,
    agentId: TEST_KEYS.agentId,
    plaintext: Buffer.from(plaintext(i), 'utf8'),
    raw: { method: 'POST', query: req.path.split('?')[1] ?? '', contentType: 'text/xml', body: Buffer.from(req.body) },
    receivedAtMs: Date.now(),
  }).entry;
}

async function run(admin: Client, size: number): Promise<void> {
  const db = `hireledger_bench_append_${process.pid}_${size}`;
  await admin.query(`CREATE DATABASE ${db}`);
  try {
    await migrate(databaseUrl(db));
    if (process.env['BENCH_SQL']) {
      const setup = new Client({ connectionString: databaseUrl(db) });
      await setup.connect();
      await setup.query(process.env['BENCH_SQL']).finally(() => setup.end());
    }
    const pool = new Pool({ connectionString: databaseUrl(db), max: 4 });
    let batches = 0;
    const ledger = createLedger({ pool, onBatch: () => (batches += 1) });
    const warm = 2000;
    const entries = Array.from({ length: warm + N }, (_, i) => entryOf(i));
    let next = 0;
    const appendUpTo = (limit: number) =>
      Promise.all(
        Array.from({ length: size }, async () => {
          while (next < limit) await ledger.append(entries[next++] as EvidenceEntry);
        }),
      );
    await appendUpTo(warm);
    const { rows } = await admin.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1', [db]);
    const before = rows.map((r) => cpuSeconds(r.pid));
    batches = 0;
    const started = performance.now();
    await appendUpTo(warm + N);
    const seconds = (performance.now() - started) / 1000;
    const cpu = rows.reduce((sum, r, i) => sum + cpuSeconds(r.pid) - (before[i] ?? 0), 0);
    await ledger.close();
    await pool.end();
    console.log(
      `batches of ${(N / batches).toFixed(1).padStart(4)}: ${String(Math.round(N / seconds)).padStart(5)} records/s, ` +
        `PostgreSQL ${String(Math.round((cpu * 1e6) / N)).padStart(4)} µs of CPU per record`,
    );
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
  }
}

async function main(): Promise<void> {
  const admin = new Client({ connectionString: BASE_DATABASE_URL });
  await admin.connect();
  try {
    console.log(`ledger append without HTTP: ${N} records per batch size, callers = batch size`);
    for (const size of SIZES) await run(admin, size);
  } finally {
    await admin.end();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
