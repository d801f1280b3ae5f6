/**
 * npm run bench:ingest — WeCom callback ingestion throughput and latency (a benchmark, not a test).
 *
 * 1. Creates a scratch database, migrates it and starts the API as its own process, at the app's
 *    default log level (info: one line per stored callback, written to /dev/null), and beside it a
 *    bare Fastify route with the API's server options (bench/bare-server.ts), also its own process.
 * 2. Closed loop, one load generator (this process), concurrency C, the same N signed and encrypted
 *    requests: first to the bare route, then N distinct callbacks to the API (durable before 200),
 *    then to the bare route again → requests/s, p50, p99 and CPU per request of each server process,
 *    and the ratio callbacks/s ÷ bare/s (bare: the mean of the two runs around the callbacks).
 * 3. Baseline: the same number of single-row INSERTs (autocommit, same payload) through pg at the
 *    same concurrency → rows/s, and the ratio callbacks/s ÷ INSERTs/s.
 * 4. Open loop: a steady R callbacks/s for S seconds → p50/p99 at that rate.
 *
 * Options (env): BENCH_N (default 20000), BENCH_CONCURRENCY (64), BENCH_RATE (300), BENCH_SECONDS (10,
 * 0 skips the open loop), BENCH_CPU_PROF (a directory: the API runs under --cpu-prof and writes its
 * profile there when stopped; `npx tsx bench/profile-stages.ts <file> <N + 1000>` sums it by stage),
 * BENCH_LOG_LEVEL (the API's LOG_LEVEL; default: the app's own), DATABASE_URL (admin connection;
 * default postgres://postgres@127.0.0.1:5432/test), REDIS_URL.
 *
 * PostgreSQL's CPU is given for all its processes on the machine and for the backends of the bench
 * database alone: on a shared machine only the latter is this benchmark's.
 */
import { readFileSync, readdirSync } from 'node:fs';
import http from 'node:http';
import { cpus, loadavg } from 'node:os';
import { Client, Pool } from 'pg';
import { databaseUrl } from '../test/support/env';
import { percentile, plaintext, send, signed, startBareServer, startBenchApi, type SignedRequest } from './support';

const N = Number(process.env['BENCH_N'] ?? 20000);
const C = Number(process.env['BENCH_CONCURRENCY'] ?? 64);
const RATE = Number(process.env['BENCH_RATE'] ?? 300);
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 10);
const agent = new http.Agent({ keepAlive: true, maxSockets: C });
let PORT = 0;
let DB = '';

/** CPU seconds used so far by a process (Linux /proc), to show where the 2 cores went. */
function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

/** CPU seconds used so far by each PostgreSQL process on the machine, by pid. */
function postgresCpu(): Map<number, number> {
  const used = new Map<number, number>();
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').startsWith('postgres')) {
        const seconds = cpuSeconds(Number(pid));
        if (!Number.isNaN(seconds)) used.set(Number(pid), seconds);
      }
    } catch {
      // process went away
    }
  }
  return used;
}

/**
 * CPU seconds used between two snapshots by the processes of `after` (a process that exited
 * meanwhile is not counted, so this never goes below zero; one that started counts from zero).
 */
function cpuSince(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, used] of after) total += used - (before.get(pid) ?? 0);
  return total;
}

interface LoopResult {
  perSec: number;
  p50: number;
  p99: number;
  /** CPU seconds the server process used during the loop. */
  serverCpu: number;
  /** CPU seconds this process (the load generator) used. */
  generatorCpu: number;
  /** CPU seconds all PostgreSQL processes on the machine used. */
  pgCpu: number;
  /** CPU seconds the bench database's backends used. */
  backendsCpu: number;
  wall: number;
}

/**
 * CPU seconds used so far by the PostgreSQL backends serving the bench database (the machine's
 * other PostgreSQL work, other databases included, is not counted), by pid.
 */
async function benchBackendsCpu(): Promise<Map<number, number>> {
  const admin = new Client({ connectionString: databaseUrl(DB) });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ pid: number }>(
      'SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
    );
    return new Map(rows.map((r) => [r.pid, cpuSeconds(r.pid)] as const).filter(([, used]) => !Number.isNaN(used)));
  } finally {
    await admin.end();
  }
}

async function closedLoop(requests: SignedRequest[], port = PORT, pid = 0): Promise<LoopResult> {
  const backends0 = await benchBackendsCpu();
  const cpu0 = { server: cpuSeconds(pid), generator: process.cpuUsage(), pg: postgresCpu() };
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: C }, async () => {
      while (next < requests.length) {
        const req = requests[next++] as SignedRequest;
        latencies.push(await send(port, agent, req));
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const generator = process.cpuUsage(cpu0.generator);
  const pgCpu = cpuSince(cpu0.pg, postgresCpu());
  const serverCpu = cpuSeconds(pid) - cpu0.server;
  latencies.sort((a, b) => a - b);
  return {
    perSec: requests.length / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    serverCpu,
    generatorCpu: (generator.user + generator.system) / 1e6,
    pgCpu,
    backendsCpu: cpuSince(backends0, await benchBackendsCpu()),
    wall: seconds,
  };
}

/** Count and sum of the API's group-commit batch sizes so far, from its /metrics. */
async function batchStats(port: number): Promise<{ count: number; sum: number }> {
  const text = await new Promise<string>((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/metrics', agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { count: value('hireledger_evidence_batch_size_count'), sum: value('hireledger_evidence_batch_size_sum') };
}

function cpuLine(r: LoopResult, server: string): string {
  return (
    `  CPU during the run: ${server} ${r.serverCpu.toFixed(1)} s (${((r.serverCpu / N) * 1e6).toFixed(0)} µs per request), ` +
    `load generator ${r.generatorCpu.toFixed(1)} s, postgres ${r.pgCpu.toFixed(1)} s (the bench database's backends ${r.backendsCpu.toFixed(1)} s), ` +
    `wall ${r.wall.toFixed(1)} s`
  );
}

async function openLoop(
  offset: number,
): Promise<{ sent: number; p50: number; p99: number; errors: number; reasons: Map<string, number> }> {
  const total = RATE * SECONDS;
  const reqs = Array.from({ length: total }, (_, i) => signed(offset + i));
  const latencies: number[] = [];
  let errors = 0;
  // What went wrong, by message: a 503 (storage) is not a reset keep-alive socket.
  const reasons = new Map<string, number>();
  const started = performance.now();
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    inflight.push(
      send(PORT, agent, reqs[i] as SignedRequest).then(
        (ms) => void latencies.push(ms),
        (err: unknown) => {
          errors += 1;
          const reason = (err as Error).message;
          reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
        },
      ),
    );
  }
  await Promise.all(inflight);
  latencies.sort((a, b) => a - b);
  return { sent: total, p50: percentile(latencies, 50), p99: percentile(latencies, 99), errors, reasons };
}

async function insertBaseline(): Promise<number> {
  const pool = new Pool({ connectionString: databaseUrl(DB), max: C });
  await pool.query('CREATE TABLE bench_raw (id bigserial PRIMARY KEY, payload jsonb NOT NULL)');
  const payloads = Array.from({ length: N }, (_, i) => JSON.stringify({ plaintext: plaintext(i) }));
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: C }, async () => {
      while (next < payloads.length) await pool.query('INSERT INTO bench_raw (payload) VALUES ($1)', [payloads[next++]]);
    }),
  );
  const perSec = N / ((performance.now() - started) / 1000);
  await pool.end();
  return perSec;
}

async function main(): Promise<void> {
  const profile = process.env['BENCH_CPU_PROF'] ? ['--cpu-prof', `--cpu-prof-dir=${process.env['BENCH_CPU_PROF']}`] : [];
  const api = await startBenchApi(profile, { stdout: 'ignore', logLevel: process.env['BENCH_LOG_LEVEL'] });
  PORT = api.port;
  DB = api.db;
  const bare = await startBareServer(api.env, { stdout: 'ignore' }).catch(async (err: unknown) => {
    await api.stop();
    throw err;
  });
  try {
    const apiPid = api.child.pid ?? 0;
    const barePid = bare.child.pid ?? 0;
    console.log(
      `machine: ${cpus().length} cores, load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}; N=${N} concurrency=${C}`,
    );
    console.log(`API log level: ${api.env['LOG_LEVEL'] ?? 'info (the default)'}`);
    // Warm-up of both servers (JIT, pools, connections), with requests the measured runs do not repeat.
    const warm = Array.from({ length: 1000 }, (_, i) => signed(10_000_000 + i));
    await closedLoop(warm, bare.port, barePid);
    await closedLoop(warm, PORT, apiPid);
    // The same requests for all three runs; the callback run is the only one that stores them.
    const requests = Array.from({ length: N }, (_, i) => signed(i));
    const bare1 = await closedLoop(requests, bare.port, barePid);
    const batches0 = await batchStats(PORT);
    const cb = await closedLoop(requests, PORT, apiPid);
    const batches1 = await batchStats(PORT);
    const bare2 = await closedLoop(requests, bare.port, barePid);
    const bareRate = (bare1.perSec + bare2.perSec) / 2;
    console.log(
      `bare Fastify route (reads the body, answers 200): ${bare1.perSec.toFixed(0)}/s before, ${bare2.perSec.toFixed(0)}/s after ` +
        `(p99 ${bare1.p99.toFixed(1)} / ${bare2.p99.toFixed(1)} ms)`,
    );
    console.log(cpuLine(bare1, 'bare server'));
    console.log(
      `callbacks (durable before 200): ${cb.perSec.toFixed(0)}/s  p50 ${cb.p50.toFixed(1)} ms  p99 ${cb.p99.toFixed(1)} ms`,
    );
    console.log(cpuLine(cb, 'api'));
    const batchCount = batches1.count - batches0.count;
    console.log(
      `  group commits: ${batchCount}, ${((batches1.sum - batches0.sum) / batchCount).toFixed(1)} records each on average; ` +
        `the bench database's backends ${((cb.backendsCpu / N) * 1e6).toFixed(0)} µs per callback`,
    );
    console.log(
      `ratio callbacks/bare:           ${(cb.perSec / bareRate).toFixed(2)}  (goal >= 0.5; bare = mean of the two runs)`,
    );
    const pg0 = postgresCpu();
    const raw = await insertBaseline();
    const pgInsert = cpuSince(pg0, postgresCpu());
    console.log(
      `  CPU during the INSERT baseline: postgres ${pgInsert.toFixed(1)} s (${((pgInsert / N) * 1e6).toFixed(0)} µs per row), wall ${(N / raw).toFixed(1)} s`,
    );
    console.log(`raw single-row INSERT via pg:   ${raw.toFixed(0)}/s (same concurrency, autocommit)`);
    console.log(`ratio callbacks/INSERT:         ${(cb.perSec / raw).toFixed(2)}`);
    if (SECONDS > 0) {
      const steady = await openLoop(20_000_000);
      console.log(
        `steady ${RATE}/s for ${SECONDS}s: p50 ${steady.p50.toFixed(1)} ms  p99 ${steady.p99.toFixed(1)} ms  errors ${steady.errors}  (goal p99 < 50 ms)`,
      );
      for (const [reason, n] of steady.reasons) console.log(`  error: ${reason} (${n})`);
    }
  } finally {
    await bare.stop();
    await api.stop();
    agent.destroy();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
