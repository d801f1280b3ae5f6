import type { Pool } from 'pg';
import type { Queue } from 'bullmq';
import type { Logger } from '../observability/logger';

/**
 * Follows the evidence ledger in seq order and turns each stored callback into a BullMQ job.
 *
 * The ledger is the outbox: a callback is acknowledged once it is in the ledger, whether or not
 * Redis is up, and this loop catches up afterwards. Seq is gapless and commits happen in seq
 * order, so "everything after the cursor" never skips a record. Jobs get a stable jobId and the
 * handlers are idempotent, so enqueueing twice (a crash between enqueue and cursor update) is
 * harmless. Several workers may run this; the consumer row lock lets one at a time through.
 */

export interface DispatcherOptions {
  pool: Pool;
  queue: Queue;
  logger: Logger;
  consumer?: string;
  source?: string;
  pageSize?: number;
  intervalMs?: number;
}

export interface Dispatcher {
  /** One pass; returns how many jobs were enqueued. */
  runOnce(): Promise<number>;
  start(): void;
  stop(): Promise<void>;
}

export function createDispatcher(opts: DispatcherOptions): Dispatcher {
  const consumer = opts.consumer ?? 'wecom-callbacks';
  const source = opts.source ?? 'wecom.callback';
  const pageSize = opts.pageSize ?? 500;
  const intervalMs = opts.intervalMs ?? 250;
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<number> | undefined;
  let stopped = false;

  async function runOnce(): Promise<number> {
    const client = await opts.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('INSERT INTO ledger_consumers (name) VALUES ($1) ON CONFLICT (name) DO NOTHING', [consumer]);
      const cursor = await client.query<{ last_seq: string }>(
        'SELECT last_seq FROM ledger_consumers WHERE name = $1 FOR UPDATE SKIP LOCKED',
        [consumer],
      );
      const row = cursor.rows[0];
      if (!row) {
        await client.query('ROLLBACK');
        return 0; // another dispatcher holds the cursor
      }
      const { rows } = await client.query<{ seq: string; source: string; kind: string; stream: string; hash: string }>(
        'SELECT seq, source, kind, stream, hash FROM evidence_records WHERE seq > $1 ORDER BY seq LIMIT $2',
        [row.last_seq, pageSize],
      );
      const wanted = rows.filter((r) => r.source === source);
      if (wanted.length > 0) {
        await opts.queue.addBulk(
          wanted.map((r) => ({
            name: r.kind,
            data: { v: 1, seq: Number(r.seq), kind: r.kind, stream: r.stream },
            // seq and the record's hash: a job id left in Redis by another database (a restored
            // backup, a wiped test database, a shared Redis) can never swallow this record's job.
            opts: { jobId: `${consumer}-${r.seq}-${r.hash.slice(0, 32)}` },
          })),
        );
      }
      const last = rows.at(-1);
      if (last) {
        await client.query('UPDATE ledger_consumers SET last_seq = $2, updated_at = now() WHERE name = $1', [consumer, last.seq]);
      }
      await client.query('COMMIT');
      return wanted.length;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  function schedule(delay: number): void {
    if (stopped) return;
    timer = setTimeout(() => {
      current = runOnce()
        .catch((err: unknown) => {
          opts.logger.warn({ err: (err as Error).message }, 'dispatcher pass failed; will retry');
          return -1;
        })
        .then((n) => {
          // Keep draining while there is a backlog, back off when idle or failing.
          schedule(n > 0 ? 0 : intervalMs);
          return n;
        });
    }, delay);
  }

  return {
    runOnce,
    start: () => schedule(0),
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await current?.catch(() => undefined);
    },
  };
}
