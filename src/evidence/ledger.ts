import type { Pool, PoolClient } from 'pg';
import { canonicalize } from './canonical';
import { HASH_VERSION, leafHash } from './record';
import type { AppendResult, EvidenceEntry } from './types';

/**
 * The evidence ledger's write side.
 *
 * Appends are group-committed: callers queue entries, one transaction at a time per process takes
 * everything queued (up to batchMax), and every caller's promise resolves only after that
 * transaction has committed. Many callbacks share one commit, yet none is acknowledged before
 * it is durable.
 *
 * Across processes, the evidence_counter row lock serialises batches; inside it the batch reads
 * the stream heads, computes the chain in memory and writes everything in one statement, so the
 * lock is held for four short round trips whatever the batch size.
 */

export interface LedgerOptions {
  pool: Pool;
  /** Largest number of entries in one transaction. */
  batchMax?: number;
  onBatch?: (size: number, durationMs: number) => void;
}

export class EvidenceInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EvidenceInputError';
  }
}

interface Pending {
  entry: EvidenceEntry;
  resolve: (r: AppendResult) => void;
  reject: (e: unknown) => void;
}

export interface Ledger {
  append(entry: EvidenceEntry): Promise<AppendResult>;
  /** Waits for queued appends to finish; later appends are refused. */
  close(): Promise<void>;
}

export function createLedger(opts: LedgerOptions): Ledger {
  const batchMax = opts.batchMax ?? 256;
  const queue: Pending[] = [];
  let running: Promise<void> | undefined;
  let closed = false;

  function kick(): void {
    if (running || queue.length === 0) return;
    running = (async () => {
      while (queue.length > 0) {
        const batch = queue.splice(0, batchMax);
        const started = performance.now();
        try {
          const results = await commitBatch(
            opts.pool,
            batch.map((p) => p.entry),
          );
          batch.forEach((p, i) => p.resolve(results[i] as AppendResult));
        } catch (err) {
          for (const p of batch) p.reject(err);
        }
        opts.onBatch?.(batch.length, performance.now() - started);
      }
    })().finally(() => {
      running = undefined;
      kick();
    });
  }

  return {
    append(entry) {
      if (closed) return Promise.reject(new Error('ledger is closed'));
      validate(entry);
      return new Promise<AppendResult>((resolve, reject) => {
        queue.push({ entry, resolve, reject });
        kick();
      });
    },
    async close() {
      closed = true;
      while (running) await running;
    },
  };
}

function validate(e: EvidenceEntry): void {
  const text = (name: string, v: unknown, max: number) => {
    if (typeof v !== 'string' || v.length === 0 || v.length > max || v.includes('\u0000')) {
      throw new EvidenceInputError(`${name} must be a non-empty string of at most ${max} characters`);
    }
  };
  text('stream', e.stream, 256);
  text('kind', e.kind, 128);
  text('source', e.source, 64);
  text('sourceRef', e.sourceRef, 512);
  if (typeof e.actor !== 'string' || e.actor.length > 256 || e.actor.includes('\u0000')) {
    throw new EvidenceInputError('actor must be a string of at most 256 characters');
  }
  if (!(e.occurredAt instanceof Date) || Number.isNaN(e.occurredAt.getTime())) {
    throw new EvidenceInputError('occurredAt must be a valid Date');
  }
  try {
    canonicalize(e.payload);
    canonicalize(e.raw);
  } catch (err) {
    throw new EvidenceInputError(`payload/raw are not storable evidence: ${(err as Error).message}`);
  }
}

interface Row {
  seq: number;
  stream: string;
  kind: string;
  occurredAt: Date;
  actor: string;
  source: string;
  sourceRef: string;
  payload: string;
  raw: string | null;
  prevHash: string | null;
  hash: string;
}

async function commitBatch(pool: Pool, entries: EvidenceEntry[]): Promise<AppendResult[]> {
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query('BEGIN');
    const results = await appendLocked(client, entries);
    await client.query('COMMIT');
    return results;
  } catch (err) {
    broken = !(await rollback(client));
    throw err;
  } finally {
    client.release(broken);
  }
}

async function rollback(client: PoolClient): Promise<boolean> {
  try {
    await client.query('ROLLBACK');
    return true;
  } catch {
    return false;
  }
}

async function appendLocked(client: PoolClient, entries: EvidenceEntry[]): Promise<AppendResult[]> {
  const lock = await client.query<{ last_seq: string; now: Date }>(
    'SELECT last_seq, clock_timestamp() AS now FROM evidence_counter WHERE id = 1 FOR UPDATE',
  );
  const counter = lock.rows[0];
  if (!counter) throw new Error('evidence_counter is missing its row: run npm run db:migrate');
  let seq = Number(counter.last_seq);
  const recordedAt = counter.now;

  const streams = [...new Set(entries.map((e) => e.stream))];
  const known = await client.query<{ t: 'dup' | 'head'; k1: string; k2: string | null; seq: string; hash: string }>(
    `SELECT 'dup' AS t, r.source AS k1, r.source_ref AS k2, r.seq, r.hash
       FROM evidence_records r
       JOIN unnest($1::text[], $2::text[]) AS q(source, source_ref)
         ON r.source = q.source AND r.source_ref = q.source_ref
     UNION ALL
     SELECT 'head', h.stream, NULL, h.seq, h.hash FROM evidence_heads h WHERE h.stream = ANY($3::text[])`,
    [entries.map((e) => e.source), entries.map((e) => e.sourceRef), streams],
  );
  const existing = new Map<string, { seq: number; hash: string }>();
  const heads = new Map<string, string>();
  for (const r of known.rows) {
    if (r.t === 'dup') existing.set(refKey(r.k1, r.k2 ?? ''), { seq: Number(r.seq), hash: r.hash });
    else heads.set(r.k1, r.hash);
  }

  const rows: Row[] = [];
  const duplicates = new Map<string, { source: string; sourceRef: string; seq: number; count: number }>();
  const results: AppendResult[] = entries.map((e) => {
    const key = refKey(e.source, e.sourceRef);
    const prior = existing.get(key);
    if (prior) {
      const d = duplicates.get(key) ?? { source: e.source, sourceRef: e.sourceRef, seq: prior.seq, count: 0 };
      d.count += 1;
      duplicates.set(key, d);
      return { status: 'duplicate', seq: prior.seq, hash: prior.hash };
    }
    seq += 1;
    const prevHash = heads.get(e.stream) ?? null;
    const hash = leafHash({ ...e, seq, recordedAt, prevHash });
    heads.set(e.stream, hash);
    existing.set(key, { seq, hash });
    rows.push({
      seq,
      stream: e.stream,
      kind: e.kind,
      occurredAt: e.occurredAt,
      actor: e.actor,
      source: e.source,
      sourceRef: e.sourceRef,
      payload: canonicalize(e.payload),
      raw: e.raw === null ? null : canonicalize(e.raw),
      prevHash,
      hash,
    });
    return { status: 'appended', seq, hash, recordedAt };
  });

  const lastByStream = new Map<string, Row>();
  for (const r of rows) lastByStream.set(r.stream, r);
  const dups = [...duplicates.values()];

  await client.query(
    `WITH ins AS (
       INSERT INTO evidence_records
         (seq, hash_version, stream, kind, occurred_at, recorded_at, actor, source, source_ref, payload, raw, prev_hash, hash)
       SELECT q.seq, $1, q.stream, q.kind, q.occurred_at, $2, q.actor, q.source, q.source_ref, q.payload::jsonb, q.raw::jsonb, q.prev_hash, q.hash
         FROM unnest($3::bigint[], $4::text[], $5::text[], $6::timestamptz[], $7::text[], $8::text[], $9::text[],
                     $10::text[], $11::text[], $12::text[], $13::text[])
           AS q(seq, stream, kind, occurred_at, actor, source, source_ref, payload, raw, prev_hash, hash)
       RETURNING seq
     ), heads AS (
       INSERT INTO evidence_heads (stream, seq, hash)
       SELECT h.stream, h.seq, h.hash FROM unnest($14::text[], $15::bigint[], $16::text[]) AS h(stream, seq, hash)
       ON CONFLICT (stream) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash
     ), redeliveries AS (
       INSERT INTO evidence_redeliveries (source, source_ref, seq, deliveries, last_seen_at)
       SELECT d.source, d.source_ref, d.seq, d.n + 1, $2 FROM unnest($17::text[], $18::text[], $19::bigint[], $20::int[]) AS d(source, source_ref, seq, n)
       ON CONFLICT (source, source_ref) DO UPDATE
         SET deliveries = evidence_redeliveries.deliveries + EXCLUDED.deliveries - 1, last_seen_at = EXCLUDED.last_seen_at
     )
     UPDATE evidence_counter SET last_seq = $21 WHERE id = 1`,
    [
      HASH_VERSION,
      recordedAt,
      rows.map((r) => r.seq),
      rows.map((r) => r.stream),
      rows.map((r) => r.kind),
      rows.map((r) => r.occurredAt),
      rows.map((r) => r.actor),
      rows.map((r) => r.source),
      rows.map((r) => r.sourceRef),
      rows.map((r) => r.payload),
      rows.map((r) => r.raw),
      rows.map((r) => r.prevHash),
      rows.map((r) => r.hash),
      [...lastByStream.keys()],
      [...lastByStream.values()].map((r) => r.seq),
      [...lastByStream.values()].map((r) => r.hash),
      dups.map((d) => d.source),
      dups.map((d) => d.sourceRef),
      dups.map((d) => d.seq),
      dups.map((d) => d.count),
      seq,
    ],
  );
  return results;
}

function refKey(source: string, sourceRef: string): string {
  return `${source}\u0000${sourceRef}`;
}
