/**
 * npm run bench:evidence — the evidence ledger's verification, proofs, export and offline verifier
 * on a large ledger (a benchmark, not a test; issue 11 item 3).
 *
 * 1. Creates a throwaway database, migrates it and builds BENCH_RECORDS (1,000,000) records through
 *    the real append path (bench/evidence-ledger.ts): a candidate known to the candidate directory
 *    whose stream holds 5,000 records spread through the ledger, 100 of them media records whose
 *    0.5 MB objects are in the media store, and a member with the 法务 role. Then signs a checkpoint
 *    of the whole ledger with a fresh key.
 * 2. Measures:
 *    - `evidence:verify` (verifyLedger, as scripts/evidence-verify.ts calls it, with the signed
 *      checkpoint as a tree head) in records/s, against the bare SHA-256 rate of exactly the bytes
 *      its hashes cover, in this process: for every record 0x00 ‖ the canonical header, the canonical
 *      payload and the canonical raw, read into memory first, then each hashed with
 *      createHash('sha256') (and with one-shot crypto.hash, printed beside). Ratio = verify rate /
 *      bare rate (goal ≥ 0.5); best of BENCH_VERIFY_RUNS interleaved runs each, CPU time beside.
 *    - inclusion proofs (merkle-store inclusionProof against the checkpoint's size) for
 *      BENCH_PROOFS (1,000) random seqs, BENCH_PROOF_ROUNDS times → p50, p99 (goal p99 < 5 ms).
 *    - the export of the candidate (goal ≤ 10 s) as `evidence:export -- --candidate` makes it
 *      (documents and PDF included), the same records and media without documents, the steps of
 *      the former on their own, and the offline verifier (`node verifier/hireledger-verify.mjs`)
 *      on each bundle: wall time, bytes, records/s (bench/evidence-export.ts).
 * 3. Drops the database (BENCH_KEEP=1 keeps it and its folder in the temp dir and prints the
 *    name; BENCH_DATABASE=<name> measures a kept database again without building or dropping it).
 *    `BENCH_DATABASE=<kept> node --cpu-prof --import tsx bench/evidence-profile.ts` profiles one
 *    verifyLedger walk.
 *
 * Options (env): BENCH_RECORDS, BENCH_SUBJECT_RECORDS (5000), BENCH_MEDIA (100), BENCH_MEDIA_BYTES
 * (524288), BENCH_BATCH (5000), BENCH_VERIFY_RUNS (2), BENCH_PROOFS (1000), BENCH_PROOF_ROUNDS (3),
 * BENCH_EXPORT_RUNS (2), BENCH_ONLY (comma-separated: verify,proofs,export), BENCH_KEEP,
 * BENCH_DATABASE, CHROMIUM_PATH, DATABASE_URL (admin connection; default
 * postgres://postgres@127.0.0.1:5432/test).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Pool } from 'pg';
import { createCandidateDirectory } from '../src/candidates';
import {
  checkpointSigner,
  createCheckpointer,
  loadSigningKey,
  verifierKeyOf,
  verifyLedger,
  type SigningKey,
} from '../src/evidence';
import { createMerkleStore } from '../src/evidence/merkle-store';
import { writeNewSigningKey } from '../src/evidence/signing-key';
import { migrate } from '../src/infra/db/migrate';
import { BASE_DATABASE_URL, databaseUrl } from '../test/support/env';
import { bareHashRate, loadHashedBytes } from './evidence-bytes';
import { runExport } from './evidence-export';
import { CORP_ID, SUBJECT_EXTERNAL, buildLedger } from './evidence-ledger';
import { percentile } from './support';

const SHAPE = {
  records: Number(process.env['BENCH_RECORDS'] ?? 1_000_000),
  subjectRecords: Number(process.env['BENCH_SUBJECT_RECORDS'] ?? 5000),
  mediaCount: Number(process.env['BENCH_MEDIA'] ?? 100),
  mediaBytes: Number(process.env['BENCH_MEDIA_BYTES'] ?? 512 * 1024),
  batch: Number(process.env['BENCH_BATCH'] ?? 5000),
};
const VERIFY_RUNS = Number(process.env['BENCH_VERIFY_RUNS'] ?? 2);
const PROOFS = Number(process.env['BENCH_PROOFS'] ?? 1000);
const PROOF_ROUNDS = Number(process.env['BENCH_PROOF_ROUNDS'] ?? 3);
const ONLY = new Set((process.env['BENCH_ONLY'] ?? 'verify,proofs,export').split(','));
const KEEP = process.env['BENCH_KEEP'] === '1';
const REUSE = process.env['BENCH_DATABASE'];
const ORIGIN = `hireledger.evidence/${CORP_ID}`;

const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
const out = (line: string) => process.stdout.write(`${line}\n`);
const f1 = (x: number) => x.toFixed(1);
const f2 = (x: number) => x.toFixed(2);
const int = (x: number) => Math.round(x).toLocaleString('en-US');

/** This process's CPU time (user + system) since `since`, in ms: what the machine's load does not inflate. */
function cpuMs(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1000;
}

interface Row {
  what: string;
  figure: string;
  goal: string;
  met: string;
}

async function main(): Promise<void> {
  const db = REUSE ?? `hireledger_bench_ev_${randomBytes(3).toString('hex')}`;
  const dir = join(tmpdir(), db);
  const admin = new Client({ connectionString: BASE_DATABASE_URL });
  await admin.connect();
  if (!REUSE) await admin.query(`CREATE DATABASE ${db}`);
  const pool = new Pool({ connectionString: databaseUrl(db), max: 4 });
  pool.on('error', () => undefined);
  const summary: Row[] = [];
  const startLoad = load();
  const startedAt = new Date();
  try {
    out(
      `bench:evidence — ${SHAPE.records} records, a candidate of ${SHAPE.subjectRecords} records with ${SHAPE.mediaCount} × ` +
        `${SHAPE.mediaBytes} B media; ${cpus().length} CPUs, load ${startLoad}; ${startedAt.toISOString()}`,
    );
    let key: SigningKey;
    if (!REUSE) {
      await mkdir(dir, { recursive: true });
      key = await writeNewSigningKey(join(dir, 'signing.pem'));
      await migrate(databaseUrl(db));
      const built = await buildLedger(pool, SHAPE, out);
      out(
        `built ${built.records} records through ledger.transact in ${f1(built.seconds)} s (${int(built.records / built.seconds)} records/s)`,
      );
      await pool.query('VACUUM ANALYZE evidence_records');
      await pool.query('VACUUM ANALYZE evidence_merkle_nodes');
      await createCheckpointer({ pool, origin: ORIGIN, signer: checkpointSigner(ORIGIN, key), witnesses: [] }).take();
    } else {
      key = await loadSigningKey(join(dir, 'signing.pem'), { insecurePermissions: 'warn', onWarning: () => undefined });
    }
    const verifierKey = verifierKeyOf(ORIGIN, key.publicKey);
    const found = await createCandidateDirectory(pool).find(CORP_ID, SUBJECT_EXTERNAL);
    if (!found) throw new Error('the benchmark candidate is not in the directory');
    const subject = { candidateId: found.candidateId, stream: found.stream, externalUserId: SUBJECT_EXTERNAL };
    const cp = await pool.query<{ tree_size: string; root_hash: Buffer }>(
      'SELECT tree_size, root_hash FROM evidence_checkpoints WHERE origin = $1 ORDER BY id DESC LIMIT 1',
      [ORIGIN],
    );
    const size = Number(cp.rows[0]?.tree_size ?? 0);
    const rootHash = cp.rows[0]?.root_hash as Buffer;
    out(`signed checkpoint: ${size} records, root ${rootHash.toString('hex')}`);

    if (ONLY.has('verify')) {
      out('\n1. evidence:verify against bare SHA-256 of the same bytes');
      const bytes = await loadHashedBytes(pool);
      out(
        `   hashed bytes read into memory: ${int(bytes.records)} records, ${int(bytes.segments)} byte strings, ` +
          `${f1(bytes.totalBytes / 2 ** 20)} MiB (${f1(bytes.totalBytes / bytes.records)} B/record)`,
      );
      // Interleaved, best of VERIFY_RUNS each: the machine is shared, so the least disturbed run of
      // each is the fairest comparison; CPU time (this process's) is printed beside wall time.
      const best = { bare: Infinity, bareCpu: Infinity, oneShot: Infinity, verify: Infinity, verifyCpu: Infinity };
      for (let run = 0; run < VERIFY_RUNS; run++) {
        const b = bareHashRate(bytes, 'createHash');
        const o = bareHashRate(bytes, 'one-shot');
        best.bare = Math.min(best.bare, b.seconds);
        best.bareCpu = Math.min(best.bareCpu, b.cpuSeconds);
        best.oneShot = Math.min(best.oneShot, o.seconds);
        out(
          `   bare SHA-256 run ${run + 1}: createHash ${f2(b.seconds)} s = ${int(bytes.records / b.seconds)} records/s ` +
            `(${f1(bytes.totalBytes / 2 ** 20 / b.seconds)} MiB/s, CPU ${f2(b.cpuSeconds)} s); ` +
            `one-shot crypto.hash ${f2(o.seconds)} s = ${int(bytes.records / o.seconds)} records/s`,
        );
        const cpu = process.cpuUsage();
        const started = performance.now();
        const report = await verifyLedger(pool, { treeHeads: [{ size, rootHash, label: 'bench checkpoint' }] });
        const s = (performance.now() - started) / 1000;
        const c = cpuMs(cpu) / 1000;
        if (!report.ok || report.records !== bytes.records || !report.checkpoints.every((x) => x.matches)) {
          throw new Error(`verifyLedger did not pass: ${JSON.stringify(report.firstProblem)}`);
        }
        best.verify = Math.min(best.verify, s);
        best.verifyCpu = Math.min(best.verifyCpu, c);
        out(
          `   verifyLedger run ${run + 1}: ${f2(s)} s = ${int(report.records / s)} records/s; this process's CPU ${f2(c)} s; load ${load()}`,
        );
      }
      const bareRate = bytes.records / best.bare;
      const verifyRate = bytes.records / best.verify;
      const ratio = verifyRate / bareRate;
      out(
        `   best of ${VERIFY_RUNS}: verify ${int(verifyRate)} records/s, bare (createHash) ${int(bareRate)} records/s → ratio ${f2(ratio)} (goal ≥ 0.5); ` +
          `against one-shot hashing ${f2(verifyRate / (bytes.records / best.oneShot))}; ` +
          `by CPU time ${f2(best.bareCpu / best.verifyCpu)} (${f1((best.verifyCpu / bytes.records) * 1e6)} µs vs ${f1((best.bareCpu / bytes.records) * 1e6)} µs per record)`,
      );
      summary.push({
        what: 'evidence:verify / bare SHA-256',
        figure: `${int(verifyRate)} / ${int(bareRate)} records/s = ${f2(ratio)}`,
        goal: '≥ 0.5',
        met: ratio >= 0.5 ? 'yes' : 'no',
      });
    }

    if (ONLY.has('proofs')) {
      out(`\n2. inclusion proofs against the checkpoint's ${size} records`);
      const store = createMerkleStore(pool);
      for (let i = 0; i < 50; i++) await store.inclusionProof(1 + Math.floor(Math.random() * size), size);
      // PROOF_ROUNDS rounds: on a shared 2-core machine one round's tail says as much about the
      // neighbours as about the proof; the median round is the figure, every round is printed.
      const rounds: { p50: number; p99: number; max: number; cpu: number }[] = [];
      for (let round = 0; round < PROOF_ROUNDS; round++) {
        const ms: number[] = [];
        const cpu = process.cpuUsage();
        for (let i = 0; i < PROOFS; i++) {
          const seq = 1 + Math.floor(Math.random() * size);
          const started = performance.now();
          const proof = await store.inclusionProof(seq, size);
          ms.push(performance.now() - started);
          if (!proof.root.equals(rootHash)) throw new Error(`proof of ${seq} leads to another root`);
        }
        ms.sort((x, y) => x - y);
        const r = { p50: percentile(ms, 50), p99: percentile(ms, 99), max: ms.at(-1) ?? NaN, cpu: cpuMs(cpu) / PROOFS };
        rounds.push(r);
        out(
          `   round ${round + 1}, ${PROOFS} random seqs: p50 ${f2(r.p50)} ms, p99 ${f2(r.p99)} ms, max ${f2(r.max)} ms; ` +
            `this process's CPU ${f2(r.cpu)} ms per proof; load ${load()}`,
        );
      }
      const mid = [...rounds].sort((x, y) => x.p99 - y.p99)[Math.floor(rounds.length / 2)] as (typeof rounds)[number];
      out(`   median round: p50 ${f2(mid.p50)} ms, p99 ${f2(mid.p99)} ms (goal p99 < 5 ms)`);
      summary.push({
        what: 'inclusion proof p50 / p99 (median round)',
        figure: `${f2(mid.p50)} / ${f2(mid.p99)} ms (rounds' p99: ${rounds.map((r) => f1(r.p99)).join(', ')})`,
        goal: 'p99 < 5 ms',
        met: mid.p99 < 5 ? 'yes' : 'no',
      });
    }

    if (ONLY.has('export')) {
      out('\n3. export of the candidate and 4. the offline verifier on the bundle');
      summary.push(...(await runExport({ pool, dir, origin: ORIGIN, signingKey: key, verifierKey, subject, out })));
    }

    out(`\nload average: ${startLoad} at the start, ${load()} at the end (${cpus().length} CPUs)`);
    out('\nsummary');
    const w = [50, 46, 12];
    out(`  ${'measure'.padEnd(w[0] as number)}${'figure'.padEnd(w[1] as number)}${'goal'.padEnd(w[2] as number)}met`);
    for (const r of summary) {
      out(`  ${r.what.padEnd(w[0] as number)}${r.figure.padEnd(w[1] as number)}${r.goal.padEnd(w[2] as number)}${r.met}`);
    }
  } finally {
    await pool.end();
    if (KEEP || REUSE) out(`kept database ${db} and ${dir}`);
    else {
      await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
      await rm(dir, { recursive: true, force: true });
    }
    await admin.end();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:evidence failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
