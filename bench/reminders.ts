import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { Client, Pool } from 'pg';
import { createSandbox } from '../sandbox/server';
import { defaultSeed } from '../sandbox/seed';
import { loadConfig, type Config } from '../src/config/env';
import { createLedger, createLedgerReader } from '../src/evidence';
import { migrate } from '../src/infra/db/migrate';
import { QUEUES, corpQueue } from '../src/jobs/names';
import { startWorkerRuntime } from '../src/jobs/runtime';
import { createLogger } from '../src/observability/logger';
import { createMetrics } from '../src/observability/metrics';
import { bullmqTriggers, createRemindersModule, REMINDER_TYPES, type NewReminder } from '../src/reminders';
import { createWecomClient } from '../src/wecom/api';
import { BASE_DATABASE_URL, REDIS_URL, databaseUrl, testEnv } from '../test/support/env';
import { percentile } from './support';

/**
 * `npm run bench:reminders [-- --count 2000 --recipients 200 --window 60]`
 *
 * Issue 10 item 6: `count` reminders due within `window` seconds, spread over `recipients` members so
 * they stay inside WeCom's per-member limits (the sandbox enforces them), made through the reminders
 * module on a scratch database and fired by the real worker runtime (BullMQ delayed jobs) through the
 * real WeCom client against the sandbox's message/send. Lateness is when the sandbox received the
 * message minus the reminder's due time. Prints p50/p99/max lateness, early, twice, outcome unknown,
 * missing, and message/send throughput, then the one line for scripts.
 *
 * `--kill 2` runs the worker as a child process and SIGKILLs it that many times during the window
 * (restarting it at once): then nothing may be sent twice, and every reminder must end sent or
 * "outcome unknown" (a reminder whose send was cut by the kill; the sweeper settles it after
 * `--stale` seconds). Lateness then includes the restarts.
 *
 * Goals: lateness p99 ≤ 1 s, 0 early, 0 twice.
 */

interface Built {
  module: ReturnType<typeof createRemindersModule>;
  pool: Pool;
  ledger: ReturnType<typeof createLedger>;
  connection: Redis;
  close(): Promise<void>;
}

/** The reminders module as the worker builds it: the real WeCom client against the sandbox, triggers on the corp's jobs queue. */
function build(config: Config, sandboxUrl: string, opts: { sweepMs: number; staleMs: number; logLevel: string }): Built {
  const pool = new Pool({ connectionString: config.DATABASE_URL, max: 12 });
  pool.on('error', () => undefined);
  const logger = createLogger(opts.logLevel, 'bench');
  const ledger = createLedger({ pool });
  const wecomRedis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const triggerRedis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const messages = createWecomClient({
    apiBase: sandboxUrl,
    corpId: config.WECOM_CORP_ID,
    secret: config.WECOM_SECRET,
    agentId: config.WECOM_AGENT_ID,
    redis: wecomRedis,
    logger,
    ledger,
    reader: createLedgerReader(pool),
    options: { keyPrefix: `${config.QUEUE_PREFIX}:wecom:` },
  }).message;
  const jobsQueue = new Queue(corpQueue(QUEUES.jobs, config.WECOM_CORP_ID), {
    connection: triggerRedis,
    prefix: config.QUEUE_PREFIX,
  });
  const module = createRemindersModule({
    db: pool,
    transact: ledger.transact.bind(ledger),
    messages,
    triggers: bullmqTriggers(jobsQueue),
    expireOffer: () => Promise.reject(new Error('no offers in this benchmark')),
    sweepIntervalMs: opts.sweepMs,
    sendingStaleMs: opts.staleMs,
    logger,
  });
  return {
    module,
    pool,
    ledger,
    connection,
    async close() {
      await jobsQueue.close();
      await ledger.close();
      await pool.end();
      for (const r of [wecomRedis, connection, triggerRedis]) r.disconnect();
    },
  };
}

function startRuntime(config: Config, b: Built, logLevel: string) {
  return startWorkerRuntime({
    corpId: config.WECOM_CORP_ID,
    pool: b.pool,
    connection: b.connection,
    prefix: config.QUEUE_PREFIX,
    ledger: b.ledger,
    modules: [b.module],
    logger: createLogger(logLevel, 'bench-worker'),
    metrics: createMetrics(),
    concurrency: 16,
    scheduleCheckMs: 2000,
  });
}

/** `--worker`: the worker alone, as its own process (the parent kills it). Prints "ready" once running. */
async function worker(): Promise<void> {
  const env = process.env as Record<string, string>;
  const config = loadConfig(testEnv({ DATABASE_URL: env['BENCH_DATABASE_URL'] as string, QUEUE_PREFIX: env['BENCH_PREFIX'] }));
  const opts = { sweepMs: Number(env['BENCH_SWEEP_MS']), staleMs: Number(env['BENCH_STALE_MS']), logLevel: 'error' };
  const b = build(config, env['BENCH_SANDBOX_URL'] as string, opts);
  await startRuntime(config, b, 'error');
  console.log('ready');
}

function spawnWorker(env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', __filename, '--worker'], {
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.on('line', (l) => {
      if (l === 'ready') resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`bench worker exited (${code}) before it was ready`)));
  });
}

function killHard(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      count: { type: 'string', default: '2000' },
      recipients: { type: 'string', default: '200' },
      window: { type: 'string', default: '60' },
      lead: { type: 'string', default: '10' },
      kill: { type: 'string', default: '0' },
      stale: { type: 'string', default: '5' },
      worker: { type: 'boolean', default: false },
    },
  });
  if (values.worker) return worker();
  const kills = Number(values.kill);
  const count = Number(values.count);
  const recipients = Number(values.recipients);
  const windowMs = Number(values.window) * 1000;
  const leadMs = Number(values.lead) * 1000;

  const db = `hireledger_bench_${randomBytes(3).toString('hex')}`;
  const admin = new Client({ connectionString: BASE_DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${db}`);
  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    await migrate(databaseUrl(db));
    const config = loadConfig(testEnv({ DATABASE_URL: databaseUrl(db), QUEUE_PREFIX: `bench_${db}` }));

    const members = Array.from({ length: recipients }, (_, i) => `bench${String(i + 1).padStart(3, '0')}`);
    const seed = defaultSeed();
    for (const userid of members) {
      seed.members.push({
        userid,
        name: `测试${userid}`,
        role: 'recruiter',
        department: [2],
        main_department: 2,
        position: '招聘专员',
        is_leader_in_dept: [0],
        direct_leader: [],
        alias: userid,
        status: 1,
      });
    }
    const sandbox = await createSandbox({
      port: 0,
      corpId: config.WECOM_CORP_ID,
      agentId: Number(config.WECOM_AGENT_ID),
      secret: config.WECOM_SECRET,
      token: config.WECOM_TOKEN,
      encodingAESKey: config.WECOM_ENCODING_AES_KEY,
      seed,
    });
    cleanups.push(() => sandbox.close());

    const staleMs = Number(values.stale) * 1000;
    // With kills, the sweeper runs every 2 s: it re-arms and settles what the kills left.
    const buildOpts = { sweepMs: kills > 0 ? 2000 : 30_000, staleMs, logLevel: process.env['LOG_LEVEL'] ?? 'error' };
    const b = build(config, sandbox.url, buildOpts);
    cleanups.push(async () => {
      const redis = new Redis(REDIS_URL);
      const keys = await redis.keys(`${config.QUEUE_PREFIX}:*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
    });
    cleanups.push(() => b.close());
    const { module, pool } = b;

    // The reminders: due evenly over the window, starting `lead` seconds from now.
    const start = Date.now() + leadMs;
    const planned: NewReminder[] = Array.from({ length: count }, (_, i) => ({
      // A member notice sent as is (answer reminders would first ask the offers table, which has no rows here).
      type: REMINDER_TYPES.offerExpiredNotice,
      audience: 'member' as const,
      recipient: members[i % recipients] as string,
      dueAt: new Date(start + Math.floor((i * windowMs) / count)),
      subject: `bench-${i}`,
      stream: `candidate:cd_bench${String(i % recipients).padStart(27, '0')}`,
      causeSeq: i + 1,
      body: { content: `【基准测试】提醒 #${i}` },
    }));
    for (let i = 0; i < planned.length; i += 200) {
      await module.reminders.schedule(config.WECOM_CORP_ID, planned.slice(i, i + 200));
    }
    const madeMs = Date.now();
    if (madeMs > start) console.warn(`making the reminders took past the first due time by ${madeMs - start} ms`);

    let child: ChildProcess | undefined;
    const childEnv = {
      ...(process.env as Record<string, string>),
      BENCH_DATABASE_URL: databaseUrl(db),
      BENCH_PREFIX: config.QUEUE_PREFIX,
      BENCH_SANDBOX_URL: sandbox.url,
      BENCH_SWEEP_MS: String(buildOpts.sweepMs),
      BENCH_STALE_MS: String(staleMs),
    };
    let killed = 0;
    if (kills > 0) {
      child = await spawnWorker(childEnv);
      cleanups.push(async () => {
        if (child) await killHard(child);
      });
      // SIGKILL at evenly spaced moments inside the window, restarting at once.
      void (async () => {
        for (let k = 1; k <= kills; k++) {
          const at = start + Math.floor((k * windowMs) / (kills + 1));
          await new Promise((r) => setTimeout(r, Math.max(0, at - Date.now())));
          if (child) await killHard(child);
          killed += 1;
          child = await spawnWorker(childEnv);
        }
      })();
    } else {
      const runtime = await startRuntime(config, b, buildOpts.logLevel);
      cleanups.push(() => runtime.close());
    }

    // Wait until every row has left pending/sending, or the window plus a minute.
    const deadline = start + windowMs + 90_000;
    for (;;) {
      const { rows } = await pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM reminders WHERE state IN ('pending', 'sending')`,
      );
      if (rows[0]?.n === 0 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 500));
    }

    const { rows } = await pool.query<{ subject: string; recipient: string; due_at: Date; state: string }>(
      'SELECT subject, recipient, due_at, state FROM reminders',
    );
    const received = new Map<string, number[]>();
    for (const userid of members) {
      for (const e of sandbox.state.inbox(userid)) {
        const m = /#(\d+)$/.exec(contentOf(e.body));
        if (!m) continue;
        const key = `bench-${m[1]}`;
        received.set(key, [...(received.get(key) ?? []), e.receivedAtMs]);
      }
    }
    const lateness: number[] = [];
    let early = 0;
    let twice = 0;
    let missing = 0;
    let unknown = 0;
    for (const r of rows) {
      const got = received.get(r.subject) ?? [];
      if (r.state === 'outcome_unknown') unknown += 1;
      if (got.length > 1) twice += 1;
      if (got.length === 0 && r.state !== 'outcome_unknown') missing += 1;
      const first = got[0];
      if (first === undefined) continue;
      const late = first - r.due_at.getTime();
      if (late < 0) early += 1;
      lateness.push(late);
    }
    lateness.sort((a, b) => a - b);
    const times = [...received.values()].flat().sort((a, b) => a - b);
    const spanS = times.length > 1 ? ((times.at(-1) as number) - (times[0] as number)) / 1000 : 0;
    const failed = rows.filter((r) => r.state === 'failed').length;
    console.log(
      `${count} reminders due over ${windowMs / 1000} s to ${recipients} recipients: ` +
        `lateness p50 ${percentile(lateness, 50)} ms, p99 ${percentile(lateness, 99)} ms, max ${lateness.at(-1) ?? NaN} ms; ` +
        `failed ${failed}; message/send ${times.length} in ${spanS.toFixed(1)} s (${spanS > 0 ? (times.length / spanS).toFixed(1) : '-'}/s, ` +
        'paced by the due times, not a ceiling)' +
        (kills > 0 ? `; worker SIGKILLed ${killed} times, outcome unknown settled after ${values.stale} s` : ''),
    );
    console.log(
      `reminders: ${count} due, ${early} early, ${twice} twice, ${unknown} outcome unknown, ${missing} missing, ` +
        `lateness p99 ${percentile(lateness, 99)} ms`,
    );
    if (early > 0 || twice > 0 || missing > 0) process.exitCode = 1;
    if (kills > 0) process.exitCode ??= 0;
  } finally {
    // The runtime first, the pool last: in reverse order of making.
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    await admin.end();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

function contentOf(body: unknown): string {
  const c = (body as { content?: unknown } | null)?.content;
  return typeof c === 'string' ? c : '';
}
