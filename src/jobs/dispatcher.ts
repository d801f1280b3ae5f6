import type { Queue } from 'bullmq';
import type { Pool, PoolClient } from 'pg';
import { createLedgerReader, type RecordHeaderRow } from '../evidence';
import type { Logger } from '../observability/logger';
import type { LedgerConsumer } from '../platform/module';
import { consumerJobId } from './names';
import { doneAmong, ensureConsumer, lockConsumer, moveCursor } from './progress';

/**
 * Follows the evidence ledger for every ledger consumer and turns each record a consumer takes into
 * one BullMQ job on the ledger queue. Two loops, both driven from PostgreSQL:
 *
 * - dispatch: the records after the consumer's `last_seq`, enqueued, then `last_seq` moved past
 *   them. The ledger is the outbox: a callback is acknowledged once it is in the ledger, whether or
 *   not Redis is up, and this catches up afterwards. Seq is gapless and commits happen in seq
 *   order, so "everything after the cursor" never skips a record.
 * - sweep (at start, then every `sweepIntervalMs`): `done_seq` moved over the records that are
 *   done, and every record after it that is not done enqueued again. Job ids are stable, so a job
 *   still in Redis is not added twice; one that Redis lost (flushed, restarted empty, failed over)
 *   is, and runs once more. Its done row, committed with the work, makes any repeat a no-op.
 *
 * Several workers may run this; each consumer's row lock lets one at a time through. Only the read
 * API of src/evidence is used: nothing here knows how records are stored.
 */

export interface ConsumerJobData {
  v: 2;
  consumer: string;
  seq: number;
  /** The record's hash: a job of another ledger (restored backup, shared Redis) is recognised and skipped. */
  hash: string;
}

export interface DispatcherOptions {
  pool: Pool;
  /** The corp's ledger queue (QUEUES.ledger). */
  queue: Queue;
  corpId: string;
  /** Consumer name → which records it takes. */
  consumers: ReadonlyMap<string, Pick<LedgerConsumer, 'accepts'>>;
  logger: Logger;
  /** Records read per consumer per pass. */
  pageSize?: number;
  intervalMs?: number;
  sweepIntervalMs?: number;
  /** Record headers a sweep reads per consumer; the next sweep continues where it stopped. */
  sweepScanMax?: number;
}

export interface Dispatcher {
  /** One dispatch pass over every consumer; returns how many jobs were enqueued. */
  runOnce(): Promise<number>;
  /** One sweep over every consumer; returns how many not-done records were enqueued again. */
  sweep(): Promise<number>;
  start(): void;
  stop(): Promise<void>;
}

export function createDispatcher(opts: DispatcherOptions): Dispatcher {
  const pageSize = opts.pageSize ?? 500;
  const intervalMs = opts.intervalMs ?? 250;
  const sweepIntervalMs = opts.sweepIntervalMs ?? 30_000;
  const sweepScanMax = opts.sweepScanMax ?? 5000;
  /** Where the next sweep of each consumer continues (after done_seq, when a sweep could not read everything). */
  const sweepFrom = new Map<string, number>();
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<unknown> | undefined;
  let stopped = false;
  let lastSweep = 0;
  /** Consumers whose row exists: created once per process, not on every pass. */
  const ensured = new Set<string>();

  const jobOf = (consumer: string, r: RecordHeaderRow) => ({
    name: consumer,
    data: { v: 2, consumer, seq: r.seq, hash: r.hash } satisfies ConsumerJobData,
    opts: { jobId: consumerJobId(opts.corpId, consumer, r.seq, r.hash) },
  });

  /** Runs `fn` holding the consumer's row lock in a transaction; null when another process holds it. */
  async function locked<T>(
    consumer: string,
    fn: (client: PoolClient, cursor: { lastSeq: number; doneSeq: number }) => Promise<T>,
  ) {
    const client = await opts.pool.connect();
    try {
      if (!ensured.has(consumer)) {
        await ensureConsumer(client, consumer);
        ensured.add(consumer);
      }
      await client.query('BEGIN');
      const cursor = await lockConsumer(client, consumer);
      if (!cursor) {
        await client.query('ROLLBACK');
        return null;
      }
      const result = await fn(client, cursor);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  /** One page for one consumer: how many records were read and how many of them enqueued. */
  async function dispatch(
    consumer: string,
    accepts: (r: RecordHeaderRow) => boolean,
  ): Promise<{ read: number; enqueued: number }> {
    const n = await locked(consumer, async (client, cursor) => {
      const headers = await createLedgerReader(client).readAfter(cursor.lastSeq, { limit: pageSize });
      const last = headers.at(-1);
      if (!last) return { read: 0, enqueued: 0 };
      const wanted = headers.filter(accepts);
      if (wanted.length > 0) await opts.queue.addBulk(wanted.map((r) => jobOf(consumer, r)));
      // A consumer that is caught up and takes none of these is done with them too.
      const caughtUp = cursor.doneSeq === cursor.lastSeq && wanted.length === 0;
      await moveCursor(client, consumer, { lastSeq: last.seq, ...(caughtUp ? { doneSeq: last.seq } : {}) });
      return { read: headers.length, enqueued: wanted.length };
    });
    return n ?? { read: 0, enqueued: 0 };
  }

  async function sweepOne(consumer: string, accepts: (r: RecordHeaderRow) => boolean): Promise<number> {
    const n = await locked(consumer, async (client, cursor) => {
      const reader = createLedgerReader(client);
      const start = Math.max(sweepFrom.get(consumer) ?? cursor.doneSeq, cursor.doneSeq);
      const fromWatermark = start === cursor.doneSeq;
      const notDone: RecordHeaderRow[] = [];
      let after = start;
      let scanned = 0;
      while (after < cursor.lastSeq && scanned < sweepScanMax) {
        const page = (await reader.readAfter(after, { limit: Math.min(pageSize, sweepScanMax - scanned) })).filter(
          (r) => r.seq <= cursor.lastSeq,
        );
        const last = page.at(-1);
        if (!last) break;
        const wanted = page.filter(accepts);
        const done = await doneAmong(
          client,
          consumer,
          wanted.map((r) => r.seq),
        );
        for (const r of wanted) if (!done.has(r.seq)) notDone.push(r);
        after = last.seq;
        scanned += page.length;
      }
      // The watermark moves only over what this sweep read from the watermark on.
      if (fromWatermark) {
        const first = notDone[0];
        const doneSeq = first ? first.seq - 1 : after;
        if (doneSeq > cursor.doneSeq) await moveCursor(client, consumer, { doneSeq });
      }
      sweepFrom.set(consumer, after >= cursor.lastSeq ? 0 : after);
      if (notDone.length > 0) await opts.queue.addBulk(notDone.map((r) => jobOf(consumer, r)));
      return notDone.length;
    });
    return n ?? 0;
  }

  async function pass(): Promise<{ read: number; enqueued: number }> {
    const total = { read: 0, enqueued: 0 };
    for (const [name, c] of opts.consumers) {
      const n = await dispatch(name, (r) => c.accepts(r));
      total.read += n.read;
      total.enqueued += n.enqueued;
    }
    return total;
  }

  async function runOnce(): Promise<number> {
    return (await pass()).enqueued;
  }

  async function sweep(): Promise<number> {
    let n = 0;
    for (const [name, c] of opts.consumers) n += await sweepOne(name, (r) => c.accepts(r));
    lastSweep = Date.now();
    return n;
  }

  function schedule(delay: number): void {
    if (stopped) return;
    timer = setTimeout(() => {
      const step = async () => {
        // Sweep first at start-up: the jobs of a Redis that came back empty are enqueued again
        // before anything new.
        if (Date.now() - lastSweep >= sweepIntervalMs) {
          const again = await sweep();
          if (again > 0) opts.logger.info({ records: again }, 'ledger consumers: records not done were enqueued again');
        }
        // Records read, taken or not: a new consumer reading a long ledger it takes little of
        // keeps going at full speed, not one page per interval.
        return (await pass()).read;
      };
      const run = step()
        .catch((err: unknown) => {
          opts.logger.warn({ err: (err as Error).message }, 'dispatcher pass failed; will retry');
          return -1;
        })
        .then((n) => {
          // Keep reading while there is a backlog, back off when idle or failing.
          schedule(n > 0 ? 0 : intervalMs);
          return n;
        });
      current = run;
    }, delay);
  }

  return {
    runOnce,
    sweep,
    start: () => schedule(0),
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await current?.catch(() => undefined);
    },
  };
}
