/**
 * npm run bench:ingest — WeCom callback ingestion throughput and latency (a benchmark, not a test).
 *
 * 1. Creates a scratch database, migrates it and starts the API as its own process.
 * 2. Closed loop: N distinct signed and encrypted callbacks at concurrency C → callbacks/s, p50, p99.
 * 3. Baseline: the same number of single-row INSERTs (autocommit, same payload) through pg at the
 *    same concurrency → rows/s, and the ratio callbacks/s ÷ INSERTs/s.
 * 4. Open loop: a steady R callbacks/s for S seconds → p50/p99 at that rate.
 *
 * Options (env): BENCH_N (default 20000), BENCH_CONCURRENCY (64), BENCH_RATE (300), BENCH_SECONDS (10),
 * DATABASE_URL (admin connection; default postgres://postgres@127.0.0.1:5432/test), REDIS_URL.
 */
import { readFileSync, readdirSync } from 'node:fs';
import http from 'node:http';
import { cpus } from 'node:os';
import { Pool } from 'pg';
import { databaseUrl } from '../test/support/env';
import { percentile, plaintext, send, signed, startBenchApi, type SignedRequest } from './support';

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

function postgresCpuSeconds(): number {
  let total = 0;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').startsWith('postgres')) {
        const used = cpuSeconds(Number(pid));
        if (!Number.isNaN(used)) total += used; // a backend that exited meanwhile
      }
    } catch {
      // process went away
    }
  }
  return total;
}

async function closedLoop(requests: SignedRequest[]): Promise<{ perSec: number; p50: number; p99: number }> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: C }, async () => {
      while (next < requests.length) {
        const req = requests[next++] as SignedRequest;
        latencies.push(await send(PORT, agent, req));
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { perSec: requests.length / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

async function openLoop(offset: number): Promise<{ sent: number; p50: number; p99: number; errors: number }> {
  const total = RATE * SECONDS;
  const reqs = Array.from({ length: total }, (_, i) => signed(offset + i));
  const latencies: number[] = [];
  let errors = 0;
  const started = performance.now();
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    inflight.push(
      send(PORT, agent, reqs[i] as SignedRequest).then(
        (ms) => void latencies.push(ms),
        () => void (errors += 1),
      ),
    );
  }
  await Promise.all(inflight);
  latencies.sort((a, b) => a - b);
  return { sent: total, p50: percentile(latencies, 50), p99: percentile(latencies, 99), errors };
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
  const api = await startBenchApi(profile);
  PORT = api.port;
  DB = api.db;
  try {
    console.log(`machine: ${cpus().length} cores; N=${N} concurrency=${C}`);
    await closedLoop(Array.from({ length: 500 }, (_, i) => signed(10_000_000 + i))); // warm-up
    const requests = Array.from({ length: N }, (_, i) => signed(i));
    const cpu0 = { api: cpuSeconds(api.child.pid ?? 0), bench: process.cpuUsage(), pg: postgresCpuSeconds() };
    const cb = await closedLoop(requests);
    const bench = process.cpuUsage(cpu0.bench);
    console.log(
      `callbacks (durable before 200): ${cb.perSec.toFixed(0)}/s  p50 ${cb.p50.toFixed(1)} ms  p99 ${cb.p99.toFixed(1)} ms`,
    );
    console.log(
      `  CPU during the run: api ${(cpuSeconds(api.child.pid ?? 0) - cpu0.api).toFixed(1)} s, load generator ${((bench.user + bench.system) / 1e6).toFixed(1)} s, ` +
        `postgres ${(postgresCpuSeconds() - cpu0.pg).toFixed(1)} s, wall ${(N / cb.perSec).toFixed(1)} s`,
    );
    const pg0 = postgresCpuSeconds();
    const raw = await insertBaseline();
    console.log(
      `  CPU during the INSERT baseline: postgres ${(postgresCpuSeconds() - pg0).toFixed(1)} s, wall ${(N / raw).toFixed(1)} s`,
    );
    console.log(`raw single-row INSERT via pg:   ${raw.toFixed(0)}/s (same concurrency, autocommit)`);
    console.log(`ratio callbacks/INSERT:         ${(cb.perSec / raw).toFixed(2)}  (goal >= 1.0)`);
    const steady = await openLoop(20_000_000);
    console.log(
      `steady ${RATE}/s for ${SECONDS}s: p50 ${steady.p50.toFixed(1)} ms  p99 ${steady.p99.toFixed(1)} ms  errors ${steady.errors}  (goal p99 < 50 ms)`,
    );
  } finally {
    await api.stop();
    agent.destroy();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
