/**
 * Shared by the benchmarks: a scratch database, the API as its own process, signed callbacks.
 * The environment, keys and callbacks are the tests' own (test/support/env.ts, test/factories/),
 * so a benchmark measures the app exactly as the tests set it up.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { join } from 'node:path';
import { Client } from 'pg';
import { migrate } from '../src/infra/db/migrate';
import { textMessage } from '../test/factories/callbacks';
import { signedCallback } from '../test/factories/signed';
import { BASE_DATABASE_URL, TEST_APP_ROLE, databaseUrl, testEnv } from '../test/support/env';
import { TEST_KEYS } from '../test/support/keys';
import { ensureTestAppRole } from '../test/support/roles';

/** The i-th distinct member message (MsgId from i), from one of 50 recruiters. */
export function plaintext(i: number): string {
  return textMessage({
    msgId: String(7_000_000_000_000_000_000n + BigInt(i)),
    from: `recruiter${i % 50}`,
    content: `候选人${i}：我再考虑一下，薪资能否再谈？`,
  });
}

export interface SignedRequest {
  path: string;
  body: string;
}

/** A distinct callback (MsgId from i), signed and encrypted as WeCom does, with @wecom/crypto. */
export function signed(i: number): SignedRequest {
  const cb = signedCallback(TEST_KEYS, plaintext(i));
  return { path: `/wecom/callback?${cb.query}`, body: cb.body };
}

/** POSTs one callback; resolves with its latency in ms, rejects on non-200. */
export function send(port: number, agent: http.Agent, req: SignedRequest): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const r = http.request(
      {
        host: '127.0.0.1',
        port,
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

export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

export interface BenchApi {
  port: number;
  db: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** What startBenchApi takes. */
export interface BenchApiOptions {
  /** 'ignore' sends the API's log to /dev/null: it still writes its lines, so their cost is measured. */
  stdout?: 'inherit' | 'ignore';
  /** The API's LOG_LEVEL; `undefined` leaves it to the app's default (info). Default: warn. */
  logLevel?: string | undefined;
}

/**
 * A scratch database, migrated, and the API (src/main.ts) on it as its own process: in production
 * mode, so connected as the tests' least-privileged login (TEST_APP_ROLE), as production connects.
 * App settings in this process's environment (EVIDENCE_BATCH_MAX, PG_POOL_MAX, …) reach the API.
 * `env` is the environment the API was given, for a baseline server started beside it.
 */
export async function startBenchApi(
  extraArgs: string[] = [],
  opts: BenchApiOptions = {},
): Promise<BenchApi & { env: Record<string, string> }> {
  const db = `hireledger_bench_${randomBytes(3).toString('hex')}`;
  const port = freePort();
  const admin = new Client({ connectionString: BASE_DATABASE_URL });
  await admin.connect();
  await ensureTestAppRole(admin);
  await admin.query(`CREATE DATABASE ${db}`);
  if (process.env['BENCH_LOG_STATEMENTS']) await admin.query(`ALTER DATABASE ${db} SET log_min_duration_statement = 0`);
  let child: ChildProcess | undefined;
  const stop = async () => {
    child?.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 1500));
    await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    await admin.end();
  };
  try {
    await migrate(databaseUrl(db));
    const env = {
      ...process.env,
      ...testEnv({
        NODE_ENV: 'production',
        LOG_LEVEL: 'logLevel' in opts ? opts.logLevel : 'warn',
        DATABASE_URL: databaseUrl(db, { user: TEST_APP_ROLE }),
        PORT: String(port),
        QUEUE_PREFIX: `bench_${db}`,
      }),
    } as Record<string, string>;
    child = spawnTs(join(__dirname, '..', 'src', 'main.ts'), extraArgs, env, opts.stdout ?? 'inherit');
    await waitHealthy(port);
    return { port, db, child, stop, env };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * The bare Fastify route (bench/bare-server.ts) as its own process, with the API's environment
 * (`env` of startBenchApi) on a port of its own: the baseline the callback path is compared with.
 */
export async function startBareServer(
  env: Record<string, string>,
  opts: { stdout?: 'inherit' | 'ignore' } = {},
): Promise<{ port: number; child: ChildProcess; stop(): Promise<void> }> {
  const port = freePort();
  const child = spawnTs(join(__dirname, 'bare-server.ts'), [], { ...env, PORT: String(port) }, opts.stdout ?? 'inherit');
  const stop = async () => {
    child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
  };
  try {
    await waitHealthy(port);
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, child, stop };
}

let lastPort = 3900 + Math.floor(Math.random() * 90);
/** A port for a child server (a fixed range, so a benchmark's servers are easy to spot). */
function freePort(): number {
  lastPort = lastPort >= 3989 ? 3900 : lastPort + 1;
  return lastPort;
}

function spawnTs(script: string, nodeArgs: string[], env: Record<string, string>, stdout: 'inherit' | 'ignore'): ChildProcess {
  return spawn(process.execPath, [...nodeArgs, '--import', 'tsx', script], {
    env,
    // 'ignore': the process still writes its log lines (their cost is measured), to /dev/null.
    stdio: ['ignore', stdout, 'inherit'],
  });
}

async function waitHealthy(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      http
        .get({ host: '127.0.0.1', port, path: '/health' }, (res) => {
          res.resume();
          resolve(res.statusCode === 200);
        })
        .on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('API did not become healthy');
}
