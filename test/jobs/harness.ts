import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { createLedger, type Ledger } from '../../src/evidence';
import { startWorkerRuntime, type WorkerRuntime, type WorkerRuntimeOptions } from '../../src/jobs/runtime';
import { createLogger } from '../../src/observability/logger';
import { createMetrics, type Metrics } from '../../src/observability/metrics';
import type { HireLedgerModule } from '../../src/platform/module';
import type { RunningApp } from '../support/app';
import { REDIS_URL } from '../support/env';
import { freePort } from '../support/process';

/** The worker's runtime in this process, beside a RunningApp: same corp, same queue prefix, the app's least-privileged login. */
export interface RunningRuntime {
  runtime: WorkerRuntime;
  ledger: Ledger;
  metrics: Metrics;
  connection: Redis;
  stop(): Promise<void>;
}

export async function startRuntime(
  app: RunningApp,
  modules: readonly HireLedgerModule[],
  opts: {
    redisUrl?: string;
    dispatch?: WorkerRuntimeOptions['dispatch'];
    concurrency?: number;
    jobOptions?: WorkerRuntimeOptions['jobOptions'];
    scheduleCheckMs?: number;
  } = {},
): Promise<RunningRuntime> {
  const connection = new Redis(opts.redisUrl ?? REDIS_URL, { maxRetriesPerRequest: null });
  connection.on('error', () => undefined);
  const ledger = createLedger({ pool: app.db.appPool });
  const metrics = createMetrics();
  const runtime = await startWorkerRuntime({
    corpId: app.config.WECOM_CORP_ID,
    pool: app.db.appPool,
    connection,
    prefix: app.config.QUEUE_PREFIX,
    ledger,
    modules,
    logger: createLogger(process.env['TEST_LOG_LEVEL'] ?? 'silent', 'test-worker'),
    metrics,
    dispatch: { intervalMs: 50, ...opts.dispatch },
    ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}),
    ...(opts.jobOptions ? { jobOptions: opts.jobOptions } : {}),
    ...(opts.scheduleCheckMs !== undefined ? { scheduleCheckMs: opts.scheduleCheckMs } : {}),
  });
  return {
    runtime,
    ledger,
    metrics,
    connection,
    async stop() {
      await runtime.close();
      await ledger.close();
      connection.disconnect();
    },
  };
}

/** Polls `check` until it returns true; fails with `what` after `ms` (generous: a loaded CI machine is slow, and only a failing test waits it out). */
export async function until(what: string, check: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A Redis of the test's own on a free port, without persistence: stopping it with kill -9 and
 * starting it again is a Redis that restarted empty (RELIABILITY F6), without touching the shared one.
 */
export interface PrivateRedis {
  url: string;
  /** kill -9, then the same port again, empty. */
  restartEmpty(): Promise<void>;
  stop(): Promise<void>;
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const url = `redis://127.0.0.1:${port}`;
  const up = async () => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
    });
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    try {
      await until('the private redis-server', async () => {
        try {
          if (probe.status !== 'ready') await probe.connect();
          return (await probe.ping()) === 'PONG';
        } catch {
          probe.disconnect();
          return false;
        }
      });
    } finally {
      probe.disconnect();
    }
  };
  const down = async () => {
    const c = child;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGKILL');
    });
  };
  await up();
  return {
    url,
    async restartEmpty() {
      await down();
      await up();
    },
    stop: down,
  };
}
