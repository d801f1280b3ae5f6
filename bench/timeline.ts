/**
 * npm run bench:timeline — a candidate's timeline read from a large ledger (a benchmark, not a test).
 *
 * 1. Creates a throwaway database, migrates it and builds a ledger of BENCH_RECORDS (1,000,000)
 *    records through the real append path (`ledger.transact`, BENCH_BATCH records per transaction:
 *    hashes computed by the ledger, structure, chains and Merkle nodes checked by evidence_append()),
 *    so every record verifies exactly. One candidate holds BENCH_MESSAGES (20,000) messages, both
 *    ways on both channels, spread evenly among the others' records, plus signal hits and links to
 *    contact callbacks stored on their channel streams. The rest: 10,000 other candidates'
 *    conversations and callbacks. Payloads are the shape the channels write (~0.5 KB with raw).
 * 2. Measures, after a warm-up, on this process's own pool:
 *    - the first page of 100 entries, BENCH_PAGE_RUNS times → p50, p99 (goal p99 < 20 ms), and the
 *      same page re-verified;
 *    - the whole timeline, the whole timeline with every chain link re-verified, and a bare
 *      `SELECT *` of the same rows (the candidate's stream and the linked records, through pg as
 *      any code would read them), BENCH_WHOLE_RUNS times each, interleaved → median, and the
 *      ratios (goal: verified ≤ 3× bare).
 * 3. Drops the database (BENCH_KEEP=1 keeps it and prints its name; BENCH_DATABASE=<name> measures
 *    a database kept earlier again, without building or dropping it).
 *
 * Options (env): BENCH_RECORDS, BENCH_MESSAGES, BENCH_BATCH (5000), BENCH_PAGE_RUNS (300),
 * BENCH_WHOLE_RUNS (7), BENCH_KEEP, DATABASE_URL (admin connection; default
 * postgres://postgres@127.0.0.1:5432/test).
 */
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { Client, Pool } from 'pg';
import { CANDIDATE_KINDS, CANDIDATE_SOURCE_REFS, CANDIDATE_STREAMS, CANDIDATES_SOURCE } from '../src/candidates';
import { CONVERSATION_KINDS } from '../src/conversations';
import { createLedger, type EvidenceEntry } from '../src/evidence';
import { migrate } from '../src/infra/db/migrate';
import { SIGNAL_KINDS, SIGNAL_SOURCE_REFS, SIGNALS_SOURCE } from '../src/signals';
import { readTimeline, type TimelineCandidate } from '../src/timeline';
import { CALLBACK_SOURCE } from '../src/wecom/names';
import { BASE_DATABASE_URL, databaseUrl } from '../test/support/env';
import { callback, message } from './ledger-records';

const RECORDS = Number(process.env['BENCH_RECORDS'] ?? 1_000_000);
const MESSAGES = Number(process.env['BENCH_MESSAGES'] ?? 20_000);
const BATCH = Number(process.env['BENCH_BATCH'] ?? 5000);
const PAGE_RUNS = Number(process.env['BENCH_PAGE_RUNS'] ?? 300);
const WHOLE_RUNS = Number(process.env['BENCH_WHOLE_RUNS'] ?? 7);
const KEEP = process.env['BENCH_KEEP'] === '1';
const REUSE = process.env['BENCH_DATABASE'];
/** One signal hit per this many of the candidate's messages, one link per this many. */
const HIT_EVERY = 100;
const LINK_EVERY = 1000;
const OTHER_CANDIDATES = 10_000;
const T0 = Date.UTC(2026, 9, 1, 1, 0, 0);

const CANDIDATE = `cd_${'b'.repeat(32)}`;
const STREAM = CANDIDATE_STREAMS.candidate(CANDIDATE);

function otherCandidate(i: number): string {
  return `cd_${(i % OTHER_CANDIDATES).toString(16).padStart(32, '0')}`;
}

/** The i-th record of the ledger: the candidate's on every (RECORDS / MESSAGES)-th, others' otherwise. */
function* ledgerEntries(): Generator<EvidenceEntry | { linkTo: number }> {
  const spacing = Math.floor(RECORDS / MESSAGES);
  let candidateMessages = 0;
  let pendingLink: number | null = null;
  for (let i = 0; i < RECORDS; i++) {
    const at = T0 + i * 1000;
    if (i % spacing === spacing - 1 && candidateMessages < MESSAGES) {
      candidateMessages += 1;
      const n = candidateMessages;
      yield message(STREAM, CANDIDATE, 10_000_000 + n, at, n % 2 ? 'candidate' : 'recruiter');
      if (n % HIT_EVERY === 0) {
        yield {
          stream: STREAM,
          kind: SIGNAL_KINDS.hit,
          occurredAt: new Date(at),
          actor: 'hireledger',
          source: SIGNALS_SOURCE,
          sourceRef: SIGNAL_SOURCE_REFS.hit(n, 'hesitation.salary', 1),
          payload: {
            type: 'hesitation',
            rule: 'hesitation.salary',
            rule_version: 1,
            match: '薪资能否再谈',
            message: { msgid: `bench${n}` },
          },
          raw: null,
        };
        i += 1;
      }
      if (pendingLink !== null) {
        yield { linkTo: pendingLink };
        pendingLink = null;
        i += 1;
      }
      continue;
    }
    if (i % (spacing * LINK_EVERY) === 7) {
      pendingLink = i;
      yield callback(i, at);
      continue;
    }
    if (i % 10 === 3) {
      yield callback(i, at);
      continue;
    }
    yield message(CANDIDATE_STREAMS.candidate(otherCandidate(i)), otherCandidate(i), i, at, i % 2 ? 'candidate' : 'recruiter');
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

/** This process's CPU time (user + system) since `since`, in ms: what the machine's load does not inflate. */
function cpuMs(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1000;
}

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const started = performance.now();
  const out = await fn();
  return [performance.now() - started, out];
}

async function build(pool: Pool): Promise<{ records: number; seconds: number }> {
  const ledger = createLedger({ pool });
  const started = performance.now();
  let written = 0;
  // The callbacks a link will name, by their generator index → {seq, hash, stream}.
  const callbacks = new Map<number, { seq: number; hash: string; stream: string }>();
  let batch: EvidenceEntry[] = [];
  let batchCallbacks: { index: number; at: number }[] = [];
  let pendingLinks: number[] = [];

  const flush = async () => {
    if (batch.length === 0) return;
    const entries = batch;
    const marks = batchCallbacks;
    batch = [];
    batchCallbacks = [];
    const { records } = await ledger.transact(async () => ({ result: null, entries }));
    for (const m of marks) {
      const r = records[m.at];
      const e = entries[m.at];
      if (r && e) callbacks.set(m.index, { seq: r.seq, hash: r.hash, stream: e.stream });
    }
    written += entries.length;
    if (written % 100_000 < entries.length) {
      process.stdout.write(`  ${written} records (${((performance.now() - started) / 1000).toFixed(0)} s)\n`);
    }
  };

  let index = 0;
  let lastCallbackIndex = -1;
  for (const e of ledgerEntries()) {
    if ('linkTo' in e) {
      pendingLinks.push(lastCallbackIndex);
      continue;
    }
    if (e.source === CALLBACK_SOURCE) {
      lastCallbackIndex = index;
      batchCallbacks.push({ index, at: batch.length });
    }
    index += 1;
    batch.push(e);
    // A link names a stored record: flush first when its callback is in this batch.
    if (pendingLinks.length > 0) {
      await flush();
      for (const li of pendingLinks) {
        const target = callbacks.get(li);
        if (!target) throw new Error('link target not stored');
        batch.push({
          stream: STREAM,
          kind: CANDIDATE_KINDS.link,
          occurredAt: e.occurredAt,
          actor: 'hireledger',
          source: CANDIDATES_SOURCE,
          sourceRef: CANDIDATE_SOURCE_REFS.link(CANDIDATE, target.seq),
          payload: { candidate_id: CANDIDATE, reason: 'contact_event', linked: target },
          raw: null,
        });
      }
      pendingLinks = [];
    }
    if (batch.length >= BATCH) await flush();
  }
  await flush();
  await ledger.close();
  return { records: written, seconds: (performance.now() - started) / 1000 };
}

/** The bare read: the same rows (the stream and the linked records), as any code reads them through pg. */
async function bareSelect(pool: Pool, linkedSeqs: number[]): Promise<number> {
  const [own, linked] = await Promise.all([
    pool.query('SELECT * FROM evidence_records WHERE stream = $1 ORDER BY seq', [STREAM]),
    pool.query('SELECT * FROM evidence_records WHERE seq = ANY($1::bigint[]) ORDER BY seq', [linkedSeqs]),
  ]);
  return (own.rowCount ?? 0) + (linked.rowCount ?? 0);
}

async function main(): Promise<void> {
  const db = REUSE ?? `hireledger_bench_tl_${randomBytes(3).toString('hex')}`;
  const admin = new Client({ connectionString: BASE_DATABASE_URL });
  await admin.connect();
  if (!REUSE) await admin.query(`CREATE DATABASE ${db}`);
  const pool = new Pool({ connectionString: databaseUrl(db), max: 4 });
  pool.on('error', () => undefined);
  try {
    process.stdout.write(
      `bench:timeline — ${RECORDS} records, one candidate with ${MESSAGES} messages; ${cpus().length} CPUs, load ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}\n`,
    );
    if (!REUSE) {
      await migrate(databaseUrl(db));
      const built = await build(pool);
      process.stdout.write(
        `built ${built.records} records through ledger.transact in ${built.seconds.toFixed(1)} s (${(built.records / built.seconds).toFixed(0)} records/s)\n`,
      );
      await pool.query('VACUUM ANALYZE evidence_records');
    }
    const { rows } = await pool.query<{ n: string }>('SELECT count(*) AS n FROM evidence_records');
    process.stdout.write(`ledger holds ${rows[0]?.n} records\n`);

    const candidate: TimelineCandidate = { candidateId: CANDIDATE, stream: STREAM };
    const whole = await readTimeline(pool, candidate, { verify: true });
    if (!whole.verification?.ok)
      throw new Error(`the built ledger does not verify: ${JSON.stringify(whole.verification?.problems.slice(0, 3))}`);
    const linkedSeqs = whole.entries.flatMap((e) => (e.linked ? [e.linked.seq] : []));
    process.stdout.write(
      `candidate timeline: ${whole.entries.length} entries (${whole.entries.filter((e) => e.kind === CONVERSATION_KINDS.message).length} messages, ` +
        `${linkedSeqs.length} linked records); verified ok\n`,
    );

    // Warm-up, then the first page.
    for (let i = 0; i < 20; i++) await readTimeline(pool, candidate, { limit: 100 });
    const page: number[] = [];
    const pageVerified: number[] = [];
    let pageCpu = 0;
    for (let i = 0; i < PAGE_RUNS; i++) {
      const cpu = process.cpuUsage();
      page.push((await timed(() => readTimeline(pool, candidate, { limit: 100 })))[0]);
      pageCpu += cpuMs(cpu);
      pageVerified.push((await timed(() => readTimeline(pool, candidate, { limit: 100, verify: true })))[0]);
    }

    const plain: number[] = [];
    const verified: number[] = [];
    const bare: number[] = [];
    const cpu = { bare: 0, plain: 0, verified: 0 };
    await bareSelect(pool, linkedSeqs);
    for (let i = 0; i < WHOLE_RUNS; i++) {
      let c = process.cpuUsage();
      bare.push((await timed(() => bareSelect(pool, linkedSeqs)))[0]);
      cpu.bare += cpuMs(c);
      c = process.cpuUsage();
      plain.push((await timed(() => readTimeline(pool, candidate)))[0]);
      cpu.plain += cpuMs(c);
      c = process.cpuUsage();
      const [ms, v] = await timed(() => readTimeline(pool, candidate, { verify: true }));
      cpu.verified += cpuMs(c);
      if (!v.verification?.ok) throw new Error('verification failed during the run');
      verified.push(ms);
    }
    const f = (x: number) => x.toFixed(1);
    const bareMs = median(bare);
    process.stdout.write(
      [
        `first page (100 entries):           p50 ${f(percentile(page, 50))} ms  p99 ${f(percentile(page, 99))} ms  (goal p99 < 20 ms) over ${PAGE_RUNS} runs; ` +
          `this process's CPU ${f(pageCpu / PAGE_RUNS)} ms per page`,
        `first page, re-verified:            p50 ${f(percentile(pageVerified, 50))} ms  p99 ${f(percentile(pageVerified, 99))} ms`,
        `bare SELECT of the same rows:       ${f(bareMs)} ms (median of ${WHOLE_RUNS}); CPU ${f(cpu.bare / WHOLE_RUNS)} ms`,
        `whole timeline:                     ${f(median(plain))} ms  = ${(median(plain) / bareMs).toFixed(2)}× bare; CPU ${f(cpu.plain / WHOLE_RUNS)} ms`,
        `whole timeline, every link verified: ${f(median(verified))} ms  = ${(median(verified) / bareMs).toFixed(2)}× bare (goal ≤ 3×); ` +
          `CPU ${f(cpu.verified / WHOLE_RUNS)} ms`,
        `load average at the end: ${loadavg()
          .map((l) => l.toFixed(2))
          .join(' ')} (${cpus().length} CPUs)`,
        '',
      ].join('\n'),
    );
  } finally {
    await pool.end();
    if (KEEP || REUSE) process.stdout.write(`kept database ${db}\n`);
    else await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    await admin.end();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:timeline failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
