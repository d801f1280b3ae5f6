/**
 * Private PostgreSQL and Redis instances, and a TCP fault proxy, for the fault tests
 * (RELIABILITY F2, F5, F14, F15): they kill, fill and cut services, so they never touch the
 * shared ones other tests use. Each instance lives in a temporary directory of its own on a free
 * port and is removed by `stop()` (call it in afterAll, it is safe to call twice or after a failed
 * start).
 *
 * PostgreSQL: initdb and pg_ctl from /usr/lib/postgresql/<version>/bin, run as the `postgres` OS
 * user when this process is root (initdb refuses root). The cluster gets the suite's roles
 * (hireledger_app and TEST_APP_ROLE, as global-setup makes them on the shared cluster) and a
 * database migrated as global-setup migrates the template: by the superuser, with the project's
 * migration runner. The app connects as TEST_APP_ROLE, as everywhere in the suite.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Client, type Pool } from 'pg';
import { buildApp, type App } from '../../src/app';
import type { Config } from '../../src/config/env';
import { migrate } from '../../src/infra/db/migrate';
import { createPool, poolOptionsFromConfig } from '../../src/infra/db/pool';
import { createRedis, redisTimeoutsFromConfig } from '../../src/infra/redis';
import { createQueues, type QueueSet } from '../../src/jobs/queues';
import type { Logger } from '../../src/observability/logger';
import { TEST_APP_ROLE } from './env';
import { freePort } from './process';
import { ensureTestAppRole } from './roles';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it is true; throws naming `what` after `ms`. */
export async function waitFor(what: string, check: () => Promise<boolean> | boolean, ms = 30000, stepMs = 100): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(stepMs);
  }
}

function pgBin(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  const v = versions[0];
  if (!v) throw new Error(`no PostgreSQL server binaries under ${root}/<version>/bin (apt-get install postgresql)`);
  return join(root, v, 'bin');
}

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/**
 * Runs a PostgreSQL binary as the postgres OS user (when root) and resolves with its output.
 * Never synchronous: a blocked event loop would hold back the answers the fault tests time.
 */
function pgRun(bin: string, args: string[], timeoutMs = 60000): Promise<{ ok: boolean; output: string }> {
  const cmd = isRoot ? 'runuser' : join(pgBin(), bin);
  const argv = isRoot ? ['-u', 'postgres', '--', join(pgBin(), bin), ...args] : args;
  return new Promise((resolve) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', (err) => resolve({ ok: false, output: `${output}${String(err)}` }));
    child.on('close', (code) => resolve({ ok: code === 0, output: output.trim() }));
  });
}

function giveToPostgres(path: string): void {
  if (!isRoot) return;
  const id = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  chownSync(path, Number(id.stdout.trim()), Number(gid.stdout.trim()));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The direct children of `pid` (Linux /proc). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export interface PrivatePostgres {
  port: number;
  /** The temporary directory holding the cluster (data/), its log and socket. */
  dir: string;
  dataDir: string;
  /** Where the data directory sits on a small filesystem of its own (tinyFsMb), else undefined. */
  tinyFs: string | undefined;
  /** The migrated database's name. */
  database: string;
  /** As the superuser `postgres`, to the migrated database (or `db`). */
  url(db?: string): string;
  /** As TEST_APP_ROLE (a member of hireledger_app only), to the migrated database. */
  appUrl: string;
  /** The running postmaster's pid (from postmaster.pid). */
  postmasterPid(): number;
  /** kill -9 of the postmaster alone (RELIABILITY F2); its backends notice and exit by themselves. */
  kill9(): Promise<void>;
  /**
   * Starts the cluster again on the same port, retrying until it starts: after kill -9 the old
   * backends may still hold the shared memory for a moment ("pre-existing shared memory block is
   * still in use"). Crash recovery then replays the WAL.
   */
  restart(timeoutMs?: number): Promise<void>;
  /** The server log so far (for failure messages). */
  log(): string;
  /** Immediate stop, leftover processes killed, the small filesystem unmounted, the directory removed. */
  stop(): Promise<void>;
}

export interface PrivatePostgresOptions {
  /**
   * Put the whole data directory (WAL included) on a tmpfs of this many MiB (RELIABILITY F15: a
   * disk that fills up). Needs root (mount).
   */
  tinyFsMb?: number;
  /** Extra server settings (-c name=value). */
  settings?: Record<string, string>;
}

export async function startPrivatePostgres(opts: PrivatePostgresOptions = {}): Promise<PrivatePostgres> {
  const dir = await mkdtemp(join(tmpdir(), 'hl-pg-'));
  giveToPostgres(dir);
  let tinyFs: string | undefined;
  let port = 0;
  const dataDir = () => join(tinyFs ?? dir, 'data');
  const logFile = join(dir, 'server.log');
  const database = 'hireledger';
  /** Every postmaster and backend pid seen, so stop() can make sure none is left. */
  const seen = new Set<number>();

  const pidOf = (): number => {
    const text = readFileSync(join(dataDir(), 'postmaster.pid'), 'utf8');
    return Number(text.split('\n')[0]);
  };
  const remember = () => {
    try {
      const pid = pidOf();
      seen.add(pid);
      for (const c of childrenOf(pid)) seen.add(c);
    } catch {
      // not running
    }
  };
  const start = () => {
    const settings = {
      listen_addresses: '127.0.0.1',
      unix_socket_directories: dir,
      max_connections: '60',
      shared_buffers: '16MB',
      fsync: 'on',
      ...opts.settings,
    };
    const o = [`-p ${port}`, ...Object.entries(settings).map(([k, v]) => `-c ${k}=${v}`)].join(' ');
    return pgRun('pg_ctl', ['-D', dataDir(), '-l', logFile, '-o', o, '-w', '-t', '60', 'start']);
  };
  const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');

  const stop = async () => {
    remember();
    if (existsSync(join(dataDir(), 'postmaster.pid'))) await pgRun('pg_ctl', ['-D', dataDir(), '-m', 'immediate', 'stop'], 30000);
    for (const pid of seen) {
      if (alive(pid)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }
    }
    if (tinyFs) {
      spawnSync('umount', ['-l', tinyFs]);
      tinyFs = undefined;
    }
    await rm(dir, { recursive: true, force: true });
  };

  try {
    if (opts.tinyFsMb !== undefined) {
      const mnt = join(dir, 'fs');
      mkdirSync(mnt);
      const m = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${opts.tinyFsMb}m,mode=0700`, 'tmpfs', mnt], { encoding: 'utf8' });
      if (m.status !== 0) throw new Error(`mounting a ${opts.tinyFsMb} MiB tmpfs failed (needs root): ${m.stderr}`);
      tinyFs = mnt;
      giveToPostgres(mnt);
    }
    const init = await pgRun('initdb', [
      '-D',
      dataDir(),
      '-A',
      'trust',
      '-U',
      'postgres',
      '--no-sync',
      '-E',
      'UTF8',
      '--locale=C',
    ]);
    if (!init.ok) throw new Error(`initdb failed: ${init.output}`);
    for (let attempt = 0; ; attempt++) {
      port = await freePort();
      const s = await start();
      if (s.ok) break;
      // Another process may have taken the port between freePort and start.
      if (attempt >= 3) throw new Error(`pg_ctl start failed: ${s.output}\n${log()}`);
    }
    remember();
    const url = (db = database) => `postgres://postgres@127.0.0.1:${port}/${db}`;
    const admin = new Client({ connectionString: url('postgres') });
    admin.on('error', () => undefined);
    await admin.connect();
    try {
      await ensureTestAppRole(admin);
      await admin.query(`CREATE DATABASE ${database}`);
    } finally {
      await admin.end();
    }
    await migrate(url());

    return {
      get port() {
        return port;
      },
      dir,
      get dataDir() {
        return dataDir();
      },
      get tinyFs() {
        return tinyFs;
      },
      database,
      url,
      appUrl: `postgres://${TEST_APP_ROLE}@127.0.0.1:${port}/${database}`,
      postmasterPid: pidOf,
      async kill9() {
        remember();
        const pid = pidOf();
        process.kill(pid, 'SIGKILL');
        await waitFor('the killed postmaster to be gone', () => !alive(pid), 10000, 20);
      },
      async restart(timeoutMs = 60000) {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const s = await start();
          if (s.ok) break;
          if (Date.now() > deadline) {
            throw new Error(`PostgreSQL did not start again within ${timeoutMs} ms: ${s.output}\n${log().slice(-2000)}`);
          }
          await sleep(250);
        }
        remember();
      },
      log,
      stop,
    };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}

/** Free bytes on the filesystem holding `path` (statfs via df, no dependency). */
export function freeBytes(path: string): number {
  const r = spawnSync('df', ['-B1', '--output=avail', path], { encoding: 'utf8' });
  const n = Number(r.stdout.trim().split('\n').at(-1));
  if (!Number.isFinite(n)) throw new Error(`df ${path} failed: ${r.stderr}`);
  return n;
}

export interface PrivateRedis {
  port: number;
  url: string;
  dir: string;
  /** The running redis-server's pid. */
  pid(): number | undefined;
  /** kill -9 of redis-server. */
  kill9(): Promise<void>;
  /** Starts it again on the same port and directory (with AOF on, it reloads its append-only file). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface PrivateRedisOptions {
  /** appendonly yes, appendfsync everysec (RELIABILITY F5). Default: no persistence at all. */
  aof?: boolean;
}

/** A private redis-server (`--save ""`, AOF on request) in a temporary directory, on a free port. */
export async function startPrivateRedis(opts: PrivateRedisOptions = {}): Promise<PrivateRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'hl-redis-'));
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let output = '';

  const up = async () => {
    output = '';
    const args = [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--dir',
      dir,
      '--daemonize',
      'no',
      '--maxmemory-policy',
      'noeviction',
      ...(opts.aof ? ['--appendonly', 'yes', '--appendfsync', 'everysec'] : ['--appendonly', 'no']),
    ];
    const c = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    c.stdout.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
    c.stderr.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    try {
      await waitFor(
        'the private redis-server',
        async () => {
          if (c.exitCode !== null) throw new Error(`redis-server exited with ${c.exitCode}: ${output}`);
          try {
            if (probe.status !== 'ready') await probe.connect();
            // Ready means the append-only file is loaded too (LOADING errors before that).
            return (await probe.ping()) === 'PONG';
          } catch {
            probe.disconnect();
            return false;
          }
        },
        30000,
        50,
      );
    } finally {
      probe.disconnect();
    }
  };
  const down = async () => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGKILL');
    });
  };
  try {
    await up();
  } catch (err) {
    await down();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    port,
    url,
    dir,
    pid: () => child?.pid,
    kill9: down,
    restart: up,
    async stop() {
      await down();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** What the proxy does to connections, changeable while it runs. */
export interface FaultSettings {
  /** Added to every chunk, in each direction, ms. */
  latencyMs: number;
  /**
   * Chance (0-1) that a connection is dropped in each `dropWindowMs` of its life, at a random
   * moment of the window: half are reset (RST), half blackholed (kept open, nothing forwarded any
   * more, as a cut cable or a dead host looks). Pools keep their connections, so a share of new
   * connections alone would hardly ever hit one.
   */
  dropRate: number;
  dropWindowMs: number;
  /** Every connection, open or new, forwards nothing (a network partition). */
  blackhole: boolean;
}

export interface FaultProxy {
  port: number;
  /** The PRNG seed of the drops (a run's faults replay from it). */
  seed: number;
  /** host:port of the proxy, to put into a URL in place of the target's. */
  host: string;
  settings: FaultSettings;
  set(changes: Partial<FaultSettings>): void;
  stats: { connections: number; reset: number; blackholed: number };
  /** Ends every proxied connection (both sides reset) and stops listening. */
  close(): Promise<void>;
}

/** Seeded PRNG (mulberry32), so a run's faults can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A TCP proxy in this process (node:net) between the app and PostgreSQL or Redis, adding latency
 * and dropping connections (RELIABILITY F14), in place of toxiproxy or netem.
 */
export async function startFaultProxy(
  target: { host?: string; port: number },
  initial: Partial<FaultSettings> = {},
  seed = randomBytes(4).readUInt32LE(0),
): Promise<FaultProxy> {
  const settings: FaultSettings = { latencyMs: 0, dropRate: 0, dropWindowMs: 2000, blackhole: false, ...initial };
  const random = prng(seed);
  const stats = { connections: 0, reset: 0, blackholed: 0 };
  const pairs = new Set<{ client: Socket; upstream: Socket; dead: boolean }>();

  const server: Server = createServer((client) => {
    stats.connections++;
    const upstream = connect(target.port, target.host ?? '127.0.0.1');
    const pair = { client, upstream, dead: false };
    pairs.add(pair);
    const timers = new Set<NodeJS.Timeout>();
    const end = () => {
      for (const t of timers) clearTimeout(t);
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    const forward = (from: Socket, to: Socket) => {
      from.on('data', (chunk: Buffer) => {
        if (pair.dead || settings.blackhole) return; // swallowed
        const send = () => {
          if (!pair.dead && !settings.blackhole && !to.destroyed) to.write(chunk);
        };
        if (settings.latencyMs <= 0) send();
        else {
          const t = setTimeout(() => {
            timers.delete(t);
            send();
          }, settings.latencyMs);
          timers.add(t);
        }
      });
    };
    forward(client, upstream);
    forward(upstream, client);
    // Every dropWindowMs, each connection is dropped with probability dropRate, at a random moment of the window.
    const roll = () => {
      if (pair.dead || client.destroyed) return;
      if (settings.dropRate > 0 && random() < settings.dropRate) {
        const reset = random() < 0.5;
        const t = setTimeout(
          () => {
            timers.delete(t);
            if (reset) {
              stats.reset++;
              client.resetAndDestroy();
              upstream.resetAndDestroy();
            } else {
              stats.blackholed++;
              pair.dead = true;
            }
          },
          Math.floor(random() * settings.dropWindowMs),
        );
        timers.add(t);
        return;
      }
      const t = setTimeout(() => {
        timers.delete(t);
        roll();
      }, settings.dropWindowMs);
      timers.add(t);
    };
    roll();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    host: `127.0.0.1:${port}`,
    seed,
    settings,
    stats,
    set(changes) {
      Object.assign(settings, changes);
    },
    async close() {
      for (const p of pairs) {
        p.client.resetAndDestroy();
        p.upstream.resetAndDestroy();
      }
      pairs.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** `url` with its host and port replaced by the proxy's. */
export function throughProxy(url: string, proxy: { port: number }): string {
  const u = new URL(url);
  u.hostname = '127.0.0.1';
  u.port = String(proxy.port);
  return u.toString();
}

/** One callback as WeCom sees it: the status (0: no HTTP answer at all) and how long it took. */
export interface TimedCallback {
  status: number;
  ms: number;
  startedAt: number;
  /** Why there was no answer (connection refused, reset, the client's own abort). */
  error?: string;
}

/**
 * POSTs a signed callback and times it; never throws. `abortMs` is the client's own bound (WeCom
 * gives up at 5 s); an answer that did not come by then counts as status 0 with error 'timeout'.
 */
export async function timedCallback(
  baseUrl: string,
  cb: { query: string; body: string },
  abortMs = 10000,
): Promise<TimedCallback> {
  const startedAt = performance.now();
  try {
    const res = await fetch(`${baseUrl}/wecom/callback?${cb.query}`, {
      method: 'POST',
      body: cb.body,
      headers: { 'content-type': 'text/xml' },
      signal: AbortSignal.timeout(abortMs),
    });
    await res.arrayBuffer();
    return { status: res.status, ms: performance.now() - startedAt, startedAt };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    const error = e.name === 'TimeoutError' ? 'timeout' : (e.cause?.code ?? e.message);
    return { status: 0, ms: performance.now() - startedAt, startedAt, error };
  }
}

/** The p-th percentile (0-100) of `values` (nearest rank). */
export function percentileOf(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

/** Figures of a fault test, printed only when HIRELEDGER_FAULTS_REPORT is set (passing runs stay quiet). */
export function report(what: string, figures: Record<string, number | string>): void {
  if (!process.env['HIRELEDGER_FAULTS_REPORT']) return;
  const shown = Object.entries(figures).map(([k, v]) => `${k}=${typeof v === 'number' ? Math.round(v * 10) / 10 : v}`);
  process.stdout.write(`[faults] ${what}: ${shown.join(' ')}\n`);
}

/** Sends callbacks 0..count-1 (`signed(i)`) with `concurrency` in flight; every outcome, by index. */
export async function callbackLoad(
  baseUrl: string,
  opts: { count: number; concurrency: number; signed: (i: number) => { query: string; body: string }; abortMs?: number },
): Promise<Map<number, TimedCallback>> {
  const out = new Map<number, TimedCallback>();
  let next = 0;
  await Promise.all(
    Array.from({ length: opts.concurrency }, async () => {
      while (next < opts.count) {
        const i = next++;
        out.set(i, await timedCallback(baseUrl, opts.signed(i), opts.abortMs));
      }
    }),
  );
  return out;
}

export interface InProcessApi {
  app: App;
  url: string;
  pool: Pool;
  redis: Redis;
  queues: QueueSet;
  close(): Promise<void>;
}

/**
 * The API in this process, its connections made as the API's start-up makes them from `config`
 * (createPool with the API's timeouts, a producer Redis connection): the fault tests see exactly
 * the configured bounds. Domain modules are left out: the callback path needs none.
 */
export async function startInProcessApi(config: Config, logger: Logger): Promise<InProcessApi> {
  const pool = createPool(poolOptionsFromConfig(config, 'api'), logger);
  const redis = createRedis(config.REDIS_URL, 'producer', logger, redisTimeoutsFromConfig(config));
  const queues = createQueues(redis, { prefix: config.QUEUE_PREFIX, corpId: config.WECOM_CORP_ID });
  const app = await buildApp({ config, pool, redis, queues, logger });
  const url = await app.server.listen({ host: '127.0.0.1', port: 0 });
  let closing: Promise<void> | undefined;
  return {
    app,
    url,
    pool,
    redis,
    queues,
    close() {
      closing ??= (async () => {
        await app.close().catch(() => undefined);
        await queues.close().catch(() => undefined);
        redis.disconnect();
        await pool.end().catch(() => undefined);
      })();
      return closing;
    },
  };
}
