import type { Pool } from 'pg';
import type { JsonValue } from './canonical';
import type { RecordFields } from './record';

/**
 * The ledger's read side. Nothing outside src/evidence queries the evidence tables: consumers,
 * handlers and exports read through these, so the storage can change (partitions, erasure of
 * content for PIPL) without touching them.
 */

/** A record as stored: the fields its hash is computed from, and that hash. */
export type StoredRecord = RecordFields & { hash: string };

/** The header only (no payload or raw): for following the ledger cheaply. */
export type RecordHeaderRow = Omit<StoredRecord, 'payload' | 'raw'>;

interface Row {
  seq: string;
  stream: string;
  kind: string;
  occurred_at: Date;
  recorded_at: Date;
  actor: string;
  source: string;
  source_ref: string;
  payload?: JsonValue;
  raw?: JsonValue | null;
  prev_hash: string | null;
  hash: string;
}

const HEADER = 'seq, stream, kind, occurred_at, recorded_at, actor, source, source_ref, prev_hash, hash';

function header(r: Row): RecordHeaderRow {
  return {
    seq: Number(r.seq),
    stream: r.stream,
    kind: r.kind,
    occurredAt: r.occurred_at,
    recordedAt: r.recorded_at,
    actor: r.actor,
    source: r.source,
    sourceRef: r.source_ref,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

function full(r: Row): StoredRecord {
  return { ...header(r), payload: r.payload ?? null, raw: r.raw ?? null };
}

export interface LedgerReader {
  /** One record by seq, or null. */
  readRecord(seq: number): Promise<StoredRecord | null>;
  /** A stream's records in seq order, after `afterSeq`, at most `limit`. */
  readStream(stream: string, opts?: { afterSeq?: number; limit?: number }): Promise<StoredRecord[]>;
  /**
   * Record headers after `afterSeq` in seq order, at most `limit`. Seq is gapless and commits
   * happen in seq order, so a consumer that moves its cursor to the last header seen never skips one.
   */
  readAfter(afterSeq: number, opts?: { limit?: number }): Promise<RecordHeaderRow[]>;
  /** The streams whose names start with `prefix`, with their record counts. */
  streams(prefix: string): Promise<{ stream: string; records: number }[]>;
  /** Every record after `afterSeq`, page by page, in seq order. */
  cursor(opts?: { afterSeq?: number; pageSize?: number; stream?: string }): AsyncIterable<StoredRecord>;
}

export function createLedgerReader(pool: Pick<Pool, 'query'>): LedgerReader {
  const reader: LedgerReader = {
    async readRecord(seq) {
      const { rows } = await pool.query<Row>(`SELECT ${HEADER}, payload, raw FROM evidence_records WHERE seq = $1`, [seq]);
      return rows[0] ? full(rows[0]) : null;
    },
    async readStream(stream, opts = {}) {
      const { rows } = await pool.query<Row>(
        `SELECT ${HEADER}, payload, raw FROM evidence_records WHERE stream = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
        [stream, opts.afterSeq ?? 0, opts.limit ?? 1000],
      );
      return rows.map(full);
    },
    async readAfter(afterSeq, opts = {}) {
      const { rows } = await pool.query<Row>(`SELECT ${HEADER} FROM evidence_records WHERE seq > $1 ORDER BY seq LIMIT $2`, [
        afterSeq,
        opts.limit ?? 500,
      ]);
      return rows.map(header);
    },
    async streams(prefix) {
      const { rows } = await pool.query<{ stream: string; records: string }>(
        `SELECT stream, count(*) AS records FROM evidence_records
          WHERE stream >= $1 AND left(stream, length($1)) = $1 GROUP BY stream ORDER BY stream`,
        [prefix],
      );
      return rows.map((r) => ({ stream: r.stream, records: Number(r.records) }));
    },
    async *cursor(opts = {}) {
      let after = opts.afterSeq ?? 0;
      const pageSize = opts.pageSize ?? 500;
      for (;;) {
        const page =
          opts.stream === undefined
            ? (
                await pool.query<Row>(
                  `SELECT ${HEADER}, payload, raw FROM evidence_records WHERE seq > $1 ORDER BY seq LIMIT $2`,
                  [after, pageSize],
                )
              ).rows.map(full)
            : await reader.readStream(opts.stream, { afterSeq: after, limit: pageSize });
        for (const r of page) yield r;
        if (page.length < pageSize) return;
        after = (page.at(-1) as StoredRecord).seq;
      }
    },
  };
  return reader;
}
