import type { Pool, PoolClient } from 'pg';
import { MAX_DEPTH, canonicalize, type JsonValue } from './canonical';
import type { StoredRecord } from './reader';
import { createHash } from 'node:crypto';
import { HASH_VERSION, hashedForm, sha256Hex, type RecordHeader } from './record';
import { StoredJsonError, parseStoredJson } from './stored-json';
import { hashedTime, headerOfRow, type VerifyProblem } from './verify';

/**
 * Reading one stream (and the few records it points to) with, on request, every record re-verified:
 * what a candidate's timeline needs (DECISIONS 9: re-verifying one person's timeline never walks
 * other people's records). `verifyLedger` walks the whole ledger; this walks one chain.
 *
 * With `verify`, each record read is checked as `verifyLedger` checks it: the hash recomputed from the
 * stored fields (timestamps read to the microsecond, so a value finer than the hashed millisecond is
 * caught), payload and raw against the digests the hash covers (read losslessly), and the stream's
 * chain: the first record of the stream links to nothing, each next one to its predecessor, and a
 * read that reaches the end of the stream ends at the stream's head (a cut-off tail shows). A page
 * that starts after `afterSeq` is anchored to the stream's last record at or before it.
 *
 * Without `verify`, the same rows are read and parsed (stored evidence holds integers only, so
 * JSON.parse reads it exactly); nothing is recomputed.
 */

/**
 * A record as read here: the stored fields and hash, with `raw` only when it was read. A verified
 * read reads it (its digest is checked); a plain read leaves it out, since nothing shown from a
 * stream needs what was received byte for byte, and it is often the larger half of a row.
 */
export type CheckedRecord = Omit<StoredRecord, 'raw'> & { raw?: JsonValue | null };

export interface StreamReadOptions {
  /** Records after this seq (the cursor). Default 0. */
  afterSeq?: number;
  /** At most this many records; default: the whole rest of the stream. */
  limit?: number;
  verify?: boolean;
}

export interface StreamRead {
  records: CheckedRecord[];
  /** Every problem found (empty when not verifying or when all is well), in seq order. */
  problems: VerifyProblem[];
  /** True when the read reached the stream's last record (no later record exists). */
  reachedEnd: boolean;
  /** How many records were re-verified (0 without `verify`). */
  verified: number;
}

export interface RecordsRead {
  /** By seq; a seq asked for and not stored is absent (and a problem when verifying). */
  records: Map<number, CheckedRecord>;
  problems: VerifyProblem[];
  verified: number;
}

export interface StreamVerifyReport {
  ok: boolean;
  stream: string;
  records: number;
  /** Hash of the stream's last record, or null when the stream is empty. */
  headHash: string | null;
  firstProblem: VerifyProblem | null;
  problems: VerifyProblem[];
}

interface TextRow {
  seq: string;
  hash_version: number;
  stream: string;
  kind: string;
  occurred_at: string;
  recorded_at: string;
  actor: string;
  source: string;
  source_ref: string;
  payload: string;
  /** Absent from a plain read. */
  raw?: string | null;
  payload_sha256: string;
  raw_sha256: string | null;
  prev_hash: string | null;
  hash: string;
}

// Microseconds and the era, so nothing PostgreSQL holds is rounded away before comparing (as verify.ts).
const STAMP = `'YYYY-MM-DD"T"HH24:MI:SS.US"Z"BC'`;
const HEADER = `seq, hash_version, stream, kind, to_char(occurred_at AT TIME ZONE 'UTC', ${STAMP}) AS occurred_at,
  to_char(recorded_at AT TIME ZONE 'UTC', ${STAMP}) AS recorded_at, actor, source, source_ref,
  payload::text AS payload, payload_sha256, raw_sha256, prev_hash, hash`;
/** What a verified read selects (raw too), and a plain one. */
const columns = (verify: boolean) => (verify ? `${HEADER}, raw::text AS raw` : HEADER);

/** A stamp read for display only (not verifying): the millisecond the hash covers. */
function displayTime(stamp: string): Date {
  const t = hashedTime(stamp);
  return typeof t === 'string' ? new Date(stamp.replace(/(\.\d{3})\d{3}Z(AD|BC)$/, '$1Z')) : t;
}

/**
 * Number tokens JSON.parse might read inexactly: a fraction or exponent, or more than 15 digits.
 * When a stored text has none anywhere (inside strings included), every number in it is an
 * integer below 10^15, which JSON.parse reads exactly, so the lossless parser is not needed.
 */
const INEXACT_NUMBER = /[0-9][.eE]|[0-9]{16}/;

/** Stored JSON text → value, exactly: the fast path when nothing can be rounded, else the lossless parser. */
function parseExact(text: string): JsonValue {
  return INEXACT_NUMBER.test(text) ? parseStoredJson(text) : (JSON.parse(text) as JsonValue);
}

/** `jcs` of a value, or undefined when it needs `canonicalize`'s own verdict (and error, naming where). */
function jcsValue(value: unknown, depth: number): string | undefined {
  if (value === null) return 'null';
  if (depth > MAX_DEPTH) return undefined;
  switch (typeof value) {
    case 'string':
      return value.includes('\u0000') || !value.isWellFormed() ? undefined : JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      return Number.isSafeInteger(value) ? JSON.stringify(value) : undefined;
    case 'object': {
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          const v = jcsValue(value[i], depth + 1);
          if (v === undefined) return undefined;
          out += i === 0 ? v : `,${v}`;
        }
        return `${out}]`;
      }
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto !== Object.prototype && proto !== null) return undefined;
      const obj = value as Record<string, unknown>;
      // Default sort compares UTF-16 code units, which is RFC 8785's order (as canonical.ts's compareUtf16).
      const keys = Object.keys(obj).sort();
      let out = '{';
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i] as string;
        if (key.includes('\u0000')) return undefined;
        const v = obj[key] === undefined ? undefined : jcsValue(obj[key], depth + 1);
        if (v === undefined) return undefined;
        out += `${i === 0 ? '' : ','}${JSON.stringify(key)}:${v}`;
      }
      return `${out}}`;
    }
    default:
      return undefined;
  }
}

/**
 * `canonicalize` (RFC 8785, canonical.ts is normative) without building an error path for every
 * value: verifying a timeline canonicalises every payload it reads. Anything this does not accept
 * as is goes to `canonicalize`, which refuses it naming where (test/timeline checks both agree).
 */
export function jcs(value: JsonValue): string {
  return jcsValue(value, 0) ?? canonicalize(value);
}

const LEAF_PREFIX = Buffer.from([0x00]);

/** record.ts's leafHashOfHeader, through `jcs`: SHA-256(0x00 ‖ JCS(hashed form)). */
function leafHashFast(h: RecordHeader): string {
  return createHash('sha256')
    .update(LEAF_PREFIX)
    .update(jcs(hashedForm(h)), 'utf8')
    .digest('hex');
}

function digestOf(value: JsonValue): string {
  return sha256Hex(jcs(value));
}

function toRecord(row: TextRow, occurredAt: Date, recordedAt: Date, payload: JsonValue, raw?: JsonValue | null): CheckedRecord {
  const record: CheckedRecord = {
    seq: Number(row.seq),
    stream: row.stream,
    kind: row.kind,
    occurredAt,
    recordedAt,
    actor: row.actor,
    source: row.source,
    sourceRef: row.source_ref,
    payload,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
  if (raw !== undefined) record.raw = raw;
  return record;
}

/** Reads a row for display: no recomputation. A stored value that is not even JSON is a problem of its own. */
function readPlain(row: TextRow): CheckedRecord {
  const raw = row.raw === undefined ? undefined : row.raw === null ? null : (JSON.parse(row.raw) as JsonValue);
  return toRecord(row, displayTime(row.occurred_at), displayTime(row.recorded_at), JSON.parse(row.payload) as JsonValue, raw);
}

/**
 * Re-verifies one row on its own (hash, version, content) and returns it as read. The chain link
 * (prev_hash) is the caller's: only it knows the stream's previous record.
 */
function readVerified(row: TextRow, problems: VerifyProblem[]): CheckedRecord {
  const seq = Number(row.seq);
  const at = { seq, stream: row.stream };
  if (row.hash_version !== HASH_VERSION) {
    problems.push({
      kind: 'unsupported_version',
      ...at,
      detail: `hash_version ${row.hash_version} is not supported by this verifier`,
    });
  }
  const header = headerOfRow(row, seq);
  if ('unhashable' in header) {
    problems.push({ kind: 'hash_mismatch', ...at, detail: header.unhashable });
  } else {
    const recomputed = leafHashFast(header);
    if (recomputed !== row.hash) {
      problems.push({ kind: 'hash_mismatch', ...at, detail: `stored hash ${row.hash} but the record hashes to ${recomputed}` });
    }
  }
  let payload: JsonValue;
  let raw: JsonValue | null;
  try {
    payload = parseExact(row.payload);
    raw = row.raw === null || row.raw === undefined ? null : parseExact(row.raw);
  } catch (err) {
    if (!(err instanceof StoredJsonError)) throw err;
    problems.push({ kind: 'content_mismatch', ...at, detail: `stored content cannot be what was hashed: ${err.message}` });
    return readPlain(row);
  }
  try {
    if (digestOf(payload) !== row.payload_sha256) {
      problems.push({ kind: 'content_mismatch', ...at, detail: 'payload no longer matches the digest the chain covers' });
    } else if ((raw === null ? null : digestOf(raw)) !== row.raw_sha256) {
      problems.push({ kind: 'content_mismatch', ...at, detail: 'raw no longer matches the digest the chain covers' });
    }
  } catch (err) {
    problems.push({
      kind: 'content_mismatch',
      ...at,
      detail: `stored content cannot be canonicalised: ${(err as Error).message}`,
    });
  }
  return toRecord(
    row,
    'unhashable' in header ? displayTime(row.occurred_at) : header.occurredAt,
    'unhashable' in header ? displayTime(row.recorded_at) : header.recordedAt,
    payload,
    raw,
  );
}

/**
 * A query sent ahead and awaited later: when something fails before it is awaited (the read throws,
 * or the transaction is aborted), its rejection must not go unhandled and end the process.
 */
function handled<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

/** Rows per query of a long read: the next chunk is asked for before this one is checked, so PostgreSQL works meanwhile. */
const CHUNK = 1000;

/**
 * One stream's records after `afterSeq`, in seq order, re-verified on request (see the top of this
 * file). A verified read runs in one snapshot (rows, anchor and head), so appends running meanwhile
 * are simply not seen; a plain read of several chunks may see records appended between them, after
 * the ones it read, which is still the stream in order.
 */
export async function readStreamChecked(pool: Pool, stream: string, opts: StreamReadOptions = {}): Promise<StreamRead> {
  checkReadOptions(opts);
  return onOneConnection(pool, opts.verify === true, (client) => readStreamOn(client, stream, opts));
}

function checkReadOptions(opts: StreamReadOptions): void {
  const afterSeq = opts.afterSeq ?? 0;
  const limit = opts.limit;
  if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 1))
    throw new RangeError('limit must be a positive integer');
  if (!Number.isSafeInteger(afterSeq) || afterSeq < 0) throw new RangeError('afterSeq must be a non-negative integer');
}

/**
 * Runs `read` on one connection, in one REPEATABLE READ snapshot when `snapshot` (every query of
 * the read then sees the same ledger). A failed read closes the connection: a chunk may still be
 * in flight on it, so it is not handed to someone else.
 */
async function onOneConnection<T>(pool: Pool, snapshot: boolean, read: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let inTransaction = false;
  let broken = false;
  try {
    if (snapshot) {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      inTransaction = true;
    }
    const result = await read(client);
    if (inTransaction) {
      inTransaction = false;
      await client.query('COMMIT');
    }
    return result;
  } catch (err) {
    broken = true;
    if (inTransaction) await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release(broken);
  }
}

/** One stream's read on a connection the caller holds (in the caller's snapshot, when verifying). */
async function readStreamOn(client: PoolClient, stream: string, opts: StreamReadOptions): Promise<StreamRead> {
  const afterSeq = opts.afterSeq ?? 0;
  const limit = opts.limit;
  const verify = opts.verify === true;
  const anchorQuery =
    verify && afterSeq > 0
      ? client.query<{ hash: string }>(
          'SELECT hash FROM evidence_records WHERE stream = $1 AND seq <= $2 ORDER BY seq DESC LIMIT 1',
          [stream, afterSeq],
        )
      : null;
  const headQuery = verify
    ? handled(client.query<{ seq: string; hash: string }>('SELECT seq, hash FROM evidence_heads WHERE stream = $1', [stream]))
    : null;
  // The seqs come from the (stream, seq) index alone, then the rows by primary key: the planner
  // cannot choose to walk the ledger in seq order filtering on stream, which it may do for a
  // large stream and which costs the whole ledger when the stream's records sit at its end. A
  // btree scan of `seq = ANY(array)` returns the rows in seq order without a sort.
  const chunk = (after: number, n: number) =>
    handled(
      client.query<TextRow>(
        `SELECT ${columns(verify)} FROM evidence_records
        WHERE seq = ANY(ARRAY(SELECT seq FROM evidence_records WHERE stream = $1 AND seq > $2 ORDER BY seq LIMIT ${n}))
        ORDER BY seq`,
        [stream, after],
      ),
    );

  const problems: VerifyProblem[] = [];
  const records: CheckedRecord[] = [];
  let tip: string | null = (await anchorQuery)?.rows[0]?.hash ?? null;
  // One row more than asked tells whether the stream goes on.
  let wanted = limit === undefined ? Infinity : limit + 1;
  let asked = Math.min(CHUNK, wanted);
  let pending: ReturnType<typeof chunk> | null = chunk(afterSeq, asked);
  let more = false;
  while (pending) {
    const rows: TextRow[] = (await pending).rows;
    wanted -= rows.length;
    const last = rows.at(-1);
    pending = rows.length === asked && wanted > 0 && last ? chunk(Number(last.seq), (asked = Math.min(CHUNK, wanted))) : null;
    for (const row of rows) {
      if (limit !== undefined && records.length === limit) {
        more = true;
        break;
      }
      if (!verify) {
        records.push(readPlain(row));
        continue;
      }
      if (row.prev_hash !== tip) {
        problems.push({
          kind: 'chain_broken',
          seq: Number(row.seq),
          stream,
          detail: `prev_hash ${row.prev_hash ?? 'null'} does not link to the stream's previous record (${tip ?? 'none'})`,
        });
      }
      tip = row.hash;
      records.push(readVerified(row, problems));
    }
  }
  if (headQuery) {
    const stored = (await headQuery).rows[0];
    if (!more && (stored?.hash ?? null) !== tip) {
      problems.push({
        kind: 'head_mismatch',
        seq: stored ? Number(stored.seq) : null,
        stream,
        detail: `stream head is ${stored?.hash ?? 'missing'}, chain ends at ${tip ?? 'nothing'}`,
      });
    }
  }
  return { records, problems, reachedEnd: !more, verified: verify ? records.length : 0 };
}

/**
 * Records by seq (the records a stream's link records point to), re-verified on request: hash and
 * content. Their chain links are their own streams' business: checking them would walk other
 * people's records. A caller that holds the hash a link named compares it with the stored one.
 */
export async function readRecordsChecked(
  pool: Pick<Pool, 'query'>,
  seqs: number[],
  opts: { verify?: boolean } = {},
): Promise<RecordsRead> {
  const wanted = [...new Set(seqs)];
  for (const s of wanted) if (!Number.isSafeInteger(s) || s < 1) throw new RangeError(`seq ${s} is not a record's seq`);
  const records = new Map<number, CheckedRecord>();
  const problems: VerifyProblem[] = [];
  if (wanted.length === 0) return { records, problems, verified: 0 };
  const { rows } = await pool.query<TextRow>(
    `SELECT ${columns(opts.verify === true)} FROM evidence_records WHERE seq = ANY($1::bigint[]) ORDER BY seq`,
    [wanted],
  );
  for (const row of rows) {
    const record = opts.verify ? readVerified(row, problems) : readPlain(row);
    records.set(record.seq, record);
  }
  if (opts.verify) {
    for (const s of wanted) {
      if (!records.has(s)) problems.push({ kind: 'seq_gap', seq: s, stream: null, detail: `record ${s} is not stored` });
    }
    problems.sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0));
  }
  return { records, problems, verified: opts.verify ? rows.length : 0 };
}

/**
 * The records of some kinds on one stream (a channel account's gaps among its other events), in
 * seq order, each re-verified on its own on request (hash and content, as `readRecordsChecked`):
 * their chain links are the stream's business, and walking it would read records of other people.
 * Served by the partial index of migrations/1764547200004-timeline.sql for the kinds it names.
 */
export async function readStreamKinds(
  pool: Pick<Pool, 'query'>,
  stream: string,
  kinds: string[],
  opts: { verify?: boolean } = {},
): Promise<{ records: CheckedRecord[]; problems: VerifyProblem[]; verified: number }> {
  const { rows } = await pool.query<TextRow>(
    `SELECT ${columns(opts.verify === true)} FROM evidence_records WHERE stream = $1 AND kind = ANY($2::text[]) ORDER BY seq`,
    [stream, kinds],
  );
  const problems: VerifyProblem[] = [];
  const records = rows.map((row) => (opts.verify ? readVerified(row, problems) : readPlain(row)));
  return { records, problems, verified: opts.verify ? records.length : 0 };
}

/** Re-walks one stream's whole chain, page by page: every record, every link, and the head. */
export async function verifyStream(pool: Pool, stream: string, opts: { pageSize?: number } = {}): Promise<StreamVerifyReport> {
  const pageSize = opts.pageSize ?? 5000;
  const problems: VerifyProblem[] = [];
  let afterSeq = 0;
  let records = 0;
  let headHash: string | null = null;
  for (;;) {
    const page = await readStreamChecked(pool, stream, { afterSeq, limit: pageSize, verify: true });
    problems.push(...page.problems);
    records += page.records.length;
    const last = page.records.at(-1);
    if (last) {
      headHash = last.hash;
      afterSeq = last.seq;
    }
    if (page.reachedEnd) break;
  }
  return { ok: problems.length === 0, stream, records, headHash, firstProblem: problems[0] ?? null, problems };
}

/**
 * Several streams read as one, in seq order (one sequence across streams): each stream read and
 * verified as its own chain, all of them on one connection in one snapshot (a record appended to
 * one stream while another is read is in the page or after it, never skipped), the reads merged.
 * With `limit`, the first `limit` records of the merge; `reachedEnd` only when every stream was
 * read to its end and nothing read was left out. Problems are the page's: those of records it
 * returns, and a stream's end (its head) only on the page that reaches the end of every stream.
 * A verified read from the start also reports a stream that holds no record at all (each stream
 * named is expected to exist).
 */
export async function readStreamsChecked(
  pool: Pool,
  streams: readonly string[],
  opts: StreamReadOptions = {},
): Promise<StreamRead> {
  if (streams.length === 0) throw new RangeError('name at least one stream');
  checkReadOptions(opts);
  const verify = opts.verify === true;
  const reads = await onOneConnection(pool, verify || streams.length > 1, async (client) => {
    const out: StreamRead[] = [];
    for (const stream of new Set(streams)) out.push(await readStreamOn(client, stream, opts));
    return out;
  });
  const all = reads.flatMap((r) => r.records).sort((a, b) => a.seq - b.seq);
  const records = opts.limit !== undefined ? all.slice(0, opts.limit) : all;
  const reachedEnd = reads.every((r) => r.reachedEnd) && records.length === all.length;
  const last = records.at(-1)?.seq ?? Infinity;
  const problems: VerifyProblem[] = [];
  [...new Set(streams)].forEach((stream, i) => {
    const read = reads[i] as StreamRead;
    for (const p of read.problems) {
      if (p.kind === 'head_mismatch' ? reachedEnd : p.seq !== null && p.seq <= last) problems.push(p);
    }
    if (verify && (opts.afterSeq ?? 0) === 0 && read.records.length === 0 && read.problems.length === 0) {
      problems.push({ kind: 'head_mismatch', seq: null, stream, detail: 'the stream holds no record, and none is its head' });
    }
  });
  problems.sort((a, b) => (a.seq ?? Infinity) - (b.seq ?? Infinity));
  return { records, problems, reachedEnd, verified: verify ? records.length : 0 };
}
