import type { Pool, PoolClient, QueryResult } from 'pg';
import { canonicalize } from './canonical';
import { HASH_VERSION, leafHashOfHeader, sha256Hex } from './record';
import type { AppendResult, EvidenceEntry } from './types';

/**
 * The evidence ledger's write side.
 *
 * Appends are group-committed: callers queue entries, a batch takes everything queued (up to
 * batchMax) into one transaction, and every caller's promise resolves only after that
 * transaction has committed. Many callbacks share one commit, yet none is acknowledged before
 * it is durable.
 *
 * Across processes, the evidence_counter row lock serialises batches. Inside it a batch reads the
 * stream heads, computes the chain and writes everything in one statement. Round trips under the
 * lock are what limit throughput, so:
 * - payload and raw are canonicalised before the lock; only the small header is hashed under it;
 * - the next batch is sent as soon as the current one has sent its COMMIT, so it waits on the lock
 *   inside PostgreSQL and its head lookup runs there the moment the lock passes;
 * - with a pipelining pool (`pipeline: true`, see infra/db/pool.ts) lock + lookup and insert +
 *   COMMIT each travel together. Without one, the same code is correct, just slower.
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
  payloadJcs: string;
  rawJcs: string;
  payloadSha256: string;
  rawSha256: string | null;
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
  const inflight = new Set<Promise<void>>();
  /** Resolves when the newest batch has sent its COMMIT (or failed): the next may then start. */
  let gate: Promise<void> = Promise.resolve();
  let scheduled = false;
  let closed = false;

  function kick(): void {
    if (scheduled || queue.length === 0) return;
    scheduled = true;
    void gate.then(() => {
      scheduled = false;
      if (queue.length === 0) return;
      const batch = queue.splice(0, batchMax);
      let open: () => void = () => undefined;
      gate = new Promise<void>((resolve) => (open = resolve));
      const started = performance.now();
      const run: Promise<void> = commitBatch(opts.pool, batch, open)
        .then(
          (results) => batch.forEach((p, i) => p.resolve(results[i] as AppendResult)),
          (err: unknown) => batch.forEach((p) => p.reject(err)),
        )
        .finally(() => {
          open();
          opts.onBatch?.(batch.length, performance.now() - started);
          inflight.delete(run);
          kick();
        });
      inflight.add(run);
      kick();
    });
  }

  return {
    append(entry) {
      if (closed) return Promise.reject(new Error('ledger is closed'));
      const prepared = prepare(entry);
      return new Promise<AppendResult>((resolve, reject) => {
        queue.push({ entry, ...prepared, resolve, reject });
        kick();
      });
    },
    async close() {
      closed = true;
      while (queue.length > 0 || inflight.size > 0) {
        await Promise.all([...inflight]);
        await gate;
      }
    },
  };
}

/**
 * Refuses what could not be stored and re-verified exactly. Returns payload and raw in JCS with
 * their digests, computed here, outside the ledger lock.
 */
function prepare(e: EvidenceEntry): Pick<Pending, 'payloadJcs' | 'rawJcs' | 'payloadSha256' | 'rawSha256'> {
  const text = (name: string, v: unknown, max: number) => {
    if (typeof v !== 'string' || v.length === 0 || v.length > max || v.includes('\u0000') || !v.isWellFormed()) {
      throw new EvidenceInputError(`${name} must be a non-empty string of at most ${max} characters`);
    }
  };
  text('stream', e.stream, 256);
  text('kind', e.kind, 128);
  text('source', e.source, 64);
  text('sourceRef', e.sourceRef, 512);
  if (typeof e.actor !== 'string' || e.actor.length > 256 || e.actor.includes('\u0000') || !e.actor.isWellFormed()) {
    throw new EvidenceInputError('actor must be a string of at most 256 characters');
  }
  if (!(e.occurredAt instanceof Date) || Number.isNaN(e.occurredAt.getTime())) {
    throw new EvidenceInputError('occurredAt must be a valid Date');
  }
  try {
    const payloadJcs = canonicalize(e.payload);
    const rawJcs = canonicalize(e.raw);
    return { payloadJcs, rawJcs, payloadSha256: sha256Hex(payloadJcs), rawSha256: e.raw === null ? null : sha256Hex(rawJcs) };
  } catch (err) {
    throw new EvidenceInputError(`payload/raw are not storable evidence: ${(err as Error).message}`);
  }
}

async function commitBatch(pool: Pool, batch: Pending[], sentCommit: () => void): Promise<AppendResult[]> {
  const client = await pool.connect();
  let broken = false;
  try {
    return await appendLocked(client, batch, sentCommit);
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

type KnownRow = { t: 'dup' | 'head'; k1: string; k2: string | null; seq: string; hash: string };

async function appendLocked(client: PoolClient, batch: Pending[], sentCommit: () => void): Promise<AppendResult[]> {
  const entries = batch.map((p) => p.entry);
  const streams = [...new Set(entries.map((e) => e.stream))];
  // BEGIN and the lock in one message (simple protocol, no parameters). The lookup is sent right
  // behind it; PostgreSQL runs it only once the lock is held, with a snapshot taken then.
  const lockQuery = client.query(
    // The clock is read by a statement of its own, which runs only once the lock is held, so
    // recorded_at is the moment of appending, not the moment this batch began to wait.
    'BEGIN; SELECT last_seq, last_recorded_at FROM evidence_counter WHERE id = 1 FOR UPDATE; SELECT clock_timestamp() AS now',
  );
  const knownQuery = client.query<KnownRow>({
    // LATERAL keeps this an index probe per entry. Planned per call on purpose: a cached generic
    // plan scanned instead and cost ten times more.
    text: `SELECT 'dup' AS t, r.source AS k1, r.source_ref AS k2, r.seq, r.hash
             FROM unnest($1::text[], $2::text[]) AS q(source, source_ref)
             CROSS JOIN LATERAL (
               SELECT e.source, e.source_ref, e.seq, e.hash FROM evidence_records e
                WHERE e.source = q.source AND e.source_ref = q.source_ref
             ) r
           UNION ALL
           SELECT 'head', h.stream, NULL, h.seq, h.hash FROM evidence_heads h WHERE h.stream = ANY($3::text[])`,
    values: [entries.map((e) => e.source), entries.map((e) => e.sourceRef), streams],
  });
  // Both are awaited together so that a failure of either is seen (and none goes unhandled).
  const [lock, known] = await Promise.all([
    lockQuery as unknown as Promise<
      [QueryResult, QueryResult<{ last_seq: string; last_recorded_at: Date }>, QueryResult<{ now: Date }>]
    >,
    knownQuery,
  ]);
  const counter = lock[1].rows[0];
  if (!counter) throw new Error('evidence_counter is missing its row: run npm run db:migrate');
  let seq = Number(counter.last_seq);
  const clock = lock[2].rows[0]?.now ?? new Date();
  // Never earlier than the newest record, whatever the clock did (NTP step, failover to a replica).
  const recordedAt = clock.getTime() >= counter.last_recorded_at.getTime() ? clock : counter.last_recorded_at;

  const existing = new Map<string, { seq: number; hash: string }>();
  const heads = new Map<string, string>();
  for (const r of known.rows) {
    if (r.t === 'dup') existing.set(refKey(r.k1, r.k2 ?? ''), { seq: Number(r.seq), hash: r.hash });
    else heads.set(r.k1, r.hash);
  }

  const rows: string[] = [];
  const lastByStream = new Map<string, { stream: string; seq: number; hash: string }>();
  const duplicates = new Map<string, { source: string; source_ref: string; seq: number; n: number }>();
  const results: AppendResult[] = batch.map(({ entry: e, payloadJcs, rawJcs, payloadSha256, rawSha256 }) => {
    const key = refKey(e.source, e.sourceRef);
    const prior = existing.get(key);
    if (prior) {
      const d = duplicates.get(key) ?? { source: e.source, source_ref: e.sourceRef, seq: prior.seq, n: 0 };
      d.n += 1;
      duplicates.set(key, d);
      return { status: 'duplicate', seq: prior.seq, hash: prior.hash };
    }
    seq += 1;
    const prevHash = heads.get(e.stream) ?? null;
    const { payload: _p, raw: _r, ...header } = e;
    const hash = leafHashOfHeader({ ...header, seq, recordedAt, prevHash, payloadSha256, rawSha256 });
    heads.set(e.stream, hash);
    existing.set(key, { seq, hash });
    lastByStream.set(e.stream, { stream: e.stream, seq, hash });
    // One JSON object per row, with payload and raw spliced in as the JSON they already are.
    rows.push(
      `{"seq":${seq},"stream":${JSON.stringify(e.stream)},"kind":${JSON.stringify(e.kind)},` +
        `"occurred_at":"${e.occurredAt.toISOString()}","actor":${JSON.stringify(e.actor)},"source":${JSON.stringify(e.source)},` +
        `"source_ref":${JSON.stringify(e.sourceRef)},"payload":${payloadJcs},"raw":${rawJcs},` +
        `"payload_sha256":"${payloadSha256}","raw_sha256":${rawSha256 === null ? 'null' : `"${rawSha256}"`},` +
        `"prev_hash":${prevHash === null ? 'null' : `"${prevHash}"`},"hash":"${hash}"}`,
    );
    return { status: 'appended', seq, hash, recordedAt };
  });

  // The whole batch travels as one JSON document that PostgreSQL parses once; far cheaper than
  // one array parameter per column. Prepared once per connection: the plan never depends on values.
  const insert = client.query({
    name: 'evidence-append',
    text: `WITH ins AS (
       INSERT INTO evidence_records
         (seq, hash_version, stream, kind, occurred_at, recorded_at, actor, source, source_ref,
          payload, raw, payload_sha256, raw_sha256, prev_hash, hash)
       SELECT q.seq, $1, q.stream, q.kind, q.occurred_at, $2, q.actor, q.source, q.source_ref,
              q.payload, q.raw, q.payload_sha256, q.raw_sha256, q.prev_hash, q.hash
         FROM jsonb_to_recordset($3::jsonb) AS q(seq bigint, stream text, kind text, occurred_at timestamptz, actor text,
              source text, source_ref text, payload jsonb, raw jsonb, payload_sha256 text, raw_sha256 text, prev_hash text, hash text)
     ), heads AS (
       INSERT INTO evidence_heads (stream, seq, hash)
       SELECT h.stream, h.seq, h.hash FROM jsonb_to_recordset($4::jsonb) AS h(stream text, seq bigint, hash text)
       ON CONFLICT (stream) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash
     ), redeliveries AS (
       INSERT INTO evidence_redeliveries (source, source_ref, seq, deliveries, last_seen_at)
       SELECT d.source, d.source_ref, d.seq, d.n + 1, $2
         FROM jsonb_to_recordset($5::jsonb) AS d(source text, source_ref text, seq bigint, n int)
       ON CONFLICT (source, source_ref) DO UPDATE
         SET deliveries = evidence_redeliveries.deliveries + EXCLUDED.deliveries - 1, last_seen_at = EXCLUDED.last_seen_at
     )
     UPDATE evidence_counter SET last_seq = $6, last_recorded_at = $2 WHERE id = 1`,
    values: [
      HASH_VERSION,
      recordedAt,
      `[${rows.join(',')}]`,
      JSON.stringify([...lastByStream.values()]),
      JSON.stringify([...duplicates.values()]),
      seq,
    ],
  });
  const commit = client.query('COMMIT');
  sentCommit();
  const [, committed] = await Promise.all([insert, commit]);
  // COMMIT of a transaction whose insert failed answers ROLLBACK; the insert's own error is thrown
  // above, this is the belt to those braces.
  if (committed.command !== 'COMMIT') throw new Error(`evidence batch not committed (${committed.command})`);
  return results;
}

function refKey(source: string, sourceRef: string): string {
  return `${source}\u0000${sourceRef}`;
}
