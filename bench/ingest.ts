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
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { encrypt, getSignature } from '@wecom/crypto';
import { Client, Pool } from 'pg';
import { migrate } from '../src/infra/db/migrate';

const N = Number(process.env['BENCH_N'] ?? 20000);
const C = Number(process.env['BENCH_CONCURRENCY'] ?? 64);
const RATE = Number(process.env['BENCH_RATE'] ?? 300);
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 10);
const ADMIN_URL = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const PORT = 3900 + Math.floor(Math.random() * 90);
const KEYS = { corpId: 'wwbenchcorp0001', token: 'BenchToken', aesKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG' };
const DB = `hireledger_bench_${randomBytes(3).toString('hex')}`;

function dbUrl(name: string): string {
  const u = new URL(ADMIN_URL);
  u.pathname = `/${name}`;
  return u.toString();
}

function plaintext(i: number): string {
  return (
    `<xml><ToUserName><![CDATA[${KEYS.corpId}]]></ToUserName><FromUserName><![CDATA[recruiter${i % 50}]]></FromUserName>` +
    `<CreateTime>${Math.floor(Date.now() / 1000)}</CreateTime><MsgType><![CDATA[text]]></MsgType>` +
    `<Content><![CDATA[候选人${i}：我再考虑一下，薪资能否再谈？]]></Content><MsgId>${7_000_000_000_000_000_000n + BigInt(i)}</MsgId><AgentID>1000002</AgentID></xml>`
  );
}

function signed(i: number): { path: string; body: string } {
  const ts = String(Math.floor(Date.now() / 1000));
  const nonce = randomBytes(5).toString('hex');
  const enc = encrypt(KEYS.aesKey, plaintext(i), KEYS.corpId);
  const sig = getSignature(KEYS.token, ts, nonce, enc);
  return {
    path: `/wecom/callback?msg_signature=${sig}&timestamp=${ts}&nonce=${nonce}`,
    body: `<xml><ToUserName><![CDATA[${KEYS.corpId}]]></ToUserName><Encrypt><![CDATA[${enc}]]></Encrypt><AgentID><![CDATA[1000002]]></AgentID></xml>`,
  };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: C });

function send(req: { path: string; body: string }): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const r = http.request(
      {
        host: '127.0.0.1',
        port: PORT,
        method: 'POST',
        path: req.path,
        agent,
        headers: { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(req.body) },
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          res.statusCode === 200 ? resolve(performance.now() - started) : reject(new Error(`status ${res.statusCode}`)),
        );
      },
    );
    r.on('error', reject);
    r.end(req.body);
  });
}

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
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').startsWith('postgres')) total += cpuSeconds(Number(pid));
    } catch {
      // process went away
    }
  }
  return total;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function closedLoop(requests: { path: string; body: string }[]): Promise<{ perSec: number; p50: number; p99: number }> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: C }, async () => {
      while (next < requests.length) {
        const req = requests[next++] as { path: string; body: string };
        latencies.push(await send(req));
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { perSec: requests.length / seconds, p50: pct(latencies, 50), p99: pct(latencies, 99) };
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
      send(reqs[i] as { path: string; body: string }).then(
        (ms) => void latencies.push(ms),
        () => void (errors += 1),
      ),
    );
  }
  await Promise.all(inflight);
  latencies.sort((a, b) => a - b);
  return { sent: total, p50: pct(latencies, 50), p99: pct(latencies, 99), errors };
}

async function insertBaseline(): Promise<number> {
  const pool = new Pool({ connectionString: dbUrl(DB), max: C });
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

async function waitHealthy(): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      http
        .get({ host: '127.0.0.1', port: PORT, path: '/health' }, (res) => (res.resume(), resolve(res.statusCode === 200)))
        .on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('API did not become healthy');
}

async function main(): Promise<void> {
  const admin = new Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${DB}`);
  if (process.env['BENCH_LOG_STATEMENTS']) await admin.query(`ALTER DATABASE ${DB} SET log_min_duration_statement = 0`);
  let api: ChildProcess | undefined;
  try {
    await migrate(dbUrl(DB));
    const profile = process.env['BENCH_CPU_PROF'] ? ['--cpu-prof', `--cpu-prof-dir=${process.env['BENCH_CPU_PROF']}`] : [];
    api = spawn(process.execPath, [...profile, '--import', 'tsx', join(__dirname, '..', 'src', 'main.ts')], {
      env: {
        ...process.env,
        NODE_ENV: 'production',
        LOG_LEVEL: 'warn',
        DATABASE_URL: dbUrl(DB),
        REDIS_URL,
        PORT: String(PORT),
        HOST: '127.0.0.1',
        WECOM_CORP_ID: KEYS.corpId,
        WECOM_AGENT_ID: '1000002',
        WECOM_SECRET: 'bench',
        WECOM_TOKEN: KEYS.token,
        WECOM_ENCODING_AES_KEY: KEYS.aesKey,
        QUEUE_PREFIX: `bench_${DB}`,
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    await waitHealthy();
    console.log(`machine: ${(await import('node:os')).cpus().length} cores; N=${N} concurrency=${C}`);
    await closedLoop(Array.from({ length: 500 }, (_, i) => signed(10_000_000 + i))); // warm-up
    const requests = Array.from({ length: N }, (_, i) => signed(i));
    const cpu0 = { api: cpuSeconds(api.pid ?? 0), bench: process.cpuUsage(), pg: postgresCpuSeconds() };
    const cb = await closedLoop(requests);
    const bench = process.cpuUsage(cpu0.bench);
    console.log(
      `callbacks (durable before 200): ${cb.perSec.toFixed(0)}/s  p50 ${cb.p50.toFixed(1)} ms  p99 ${cb.p99.toFixed(1)} ms`,
    );
    console.log(
      `  CPU during the run: api ${(cpuSeconds(api.pid ?? 0) - cpu0.api).toFixed(1)} s, load generator ${((bench.user + bench.system) / 1e6).toFixed(1)} s, ` +
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
    api?.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 1500));
    await admin.query(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
    await admin.end();
    agent.destroy();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
