import type { Pool, PoolClient } from 'pg';

/**
 * Where each ledger consumer stands, in PostgreSQL (migration ledger-consumer-progress):
 * - `ledger_consumers.last_seq`: every record up to it has had its job enqueued;
 * - `ledger_consumer_done (consumer, seq, outcome)`: records whose work is done (or failed for good),
 *   written in the same transaction as the work's own rows;
 * - `ledger_consumers.done_seq`: every record up to it that the consumer takes is done, so the
 *   sweeper looks only past it.
 * Redis holds the jobs in between, and nothing else: when it loses them, the sweeper enqueues
 * every record after done_seq that is not done, and the done row makes a repeated run a no-op.
 */

type Query = Pick<Pool | PoolClient, 'query'>;

export type DoneOutcome = 'done' | 'failed';

export interface ConsumerCursor {
  lastSeq: number;
  doneSeq: number;
}

/** Creates the consumer's row if missing; a new consumer starts at the beginning of the ledger. */
export async function ensureConsumer(q: Query, consumer: string): Promise<void> {
  await q.query('INSERT INTO ledger_consumers (name) VALUES ($1) ON CONFLICT (name) DO NOTHING', [consumer]);
}

/**
 * Locks the consumer's row for this transaction, or null when another process holds it. NO KEY
 * UPDATE: the lock keeps two dispatchers apart without blocking anything that only reads the row.
 */
export async function lockConsumer(client: PoolClient, consumer: string): Promise<ConsumerCursor | null> {
  const { rows } = await client.query<{ last_seq: string; done_seq: string }>(
    'SELECT last_seq, done_seq FROM ledger_consumers WHERE name = $1 FOR NO KEY UPDATE SKIP LOCKED',
    [consumer],
  );
  const row = rows[0];
  return row ? { lastSeq: Number(row.last_seq), doneSeq: Number(row.done_seq) } : null;
}

export async function moveCursor(client: PoolClient, consumer: string, to: Partial<ConsumerCursor>): Promise<void> {
  await client.query(
    `UPDATE ledger_consumers
        SET last_seq = greatest(last_seq, coalesce($2, last_seq)),
            done_seq = greatest(done_seq, coalesce($3, done_seq)),
            updated_at = now()
      WHERE name = $1`,
    [consumer, to.lastSeq ?? null, to.doneSeq ?? null],
  );
}

/** Which of `seqs` the consumer has done (or given up on). */
export async function doneAmong(q: Query, consumer: string, seqs: readonly number[]): Promise<Set<number>> {
  if (seqs.length === 0) return new Set();
  const { rows } = await q.query<{ seq: string }>(
    'SELECT seq FROM ledger_consumer_done WHERE consumer = $1 AND seq = ANY($2::bigint[])',
    [consumer, seqs],
  );
  return new Set(rows.map((r) => Number(r.seq)));
}

export async function isDone(q: Query, consumer: string, seq: number): Promise<boolean> {
  return (await doneAmong(q, consumer, [seq])).has(seq);
}

/**
 * Marks the record done; false when it already was. Inside the work's transaction this is also
 * the lock that makes a second run of the same job wait, then find the row and do nothing.
 */
export async function claimDone(q: Query, consumer: string, seq: number, outcome: DoneOutcome): Promise<boolean> {
  const { rowCount } = await q.query(
    'INSERT INTO ledger_consumer_done (consumer, seq, outcome) VALUES ($1, $2, $3) ON CONFLICT (consumer, seq) DO NOTHING',
    [consumer, seq, outcome],
  );
  return rowCount === 1;
}

/** What the record's done row says, or undefined when it has none. */
export async function outcomeOf(q: Query, consumer: string, seq: number): Promise<DoneOutcome | undefined> {
  const { rows } = await q.query<{ outcome: DoneOutcome }>(
    'SELECT outcome FROM ledger_consumer_done WHERE consumer = $1 AND seq = $2',
    [consumer, seq],
  );
  return rows[0]?.outcome;
}
