import { hash } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import { canonicalize, type JsonValue } from './canonical';
import { MerkleFrontier, type MerkleNode } from './merkle';
import { HASH_VERSION, contentDigest, leafHashOfHeader, type RecordHeader } from './record';
import { StoredJsonError, parseStoredJson } from './stored-json';

/**
 * Re-walks the whole ledger in one consistent snapshot and reports the first problem found.
 *
 * Without outside help it catches: a changed field (hash mismatch), changed content (content
 * mismatch), a deleted or inserted record (seq gap, broken link), reordering, a record re-hashed
 * after an edit (its successor's link no longer matches), a tail cut off a stream or the ledger
 * (counter and heads disagree), and stored Merkle nodes that disagree with the records.
 * What it cannot catch alone is a rewrite made consistent everywhere in the database: the tail
 * re-hashed, heads, counter and Merkle nodes recomputed. For that, pass checkpoints signed and
 * witnessed outside the database: the tree of the first N records must still have each one's root.
 *
 * It compares exactly what the hash covers: timestamps are read to the microsecond (a stored
 * value finer than the millisecond in the hash is a mismatch), JSON is read losslessly (a stored
 * `1000002.0` or an integer beyond 2^53 is reported, not rounded).
 */

export type ProblemKind =
  | 'hash_mismatch'
  | 'content_mismatch'
  | 'chain_broken'
  | 'seq_gap'
  | 'unsupported_version'
  | 'counter_mismatch'
  | 'head_mismatch'
  | 'merkle_mismatch'
  | 'checkpoint_mismatch';

export interface VerifyProblem {
  kind: ProblemKind;
  seq: number | null;
  stream: string | null;
  detail: string;
}

/** A tree head to check the records against: from a signed checkpoint (already verified). */
export interface TreeHead {
  size: number;
  rootHash: Buffer;
  /** Where it came from, for the report (a file name, `stored checkpoint 12`). */
  label: string;
}

export interface CheckpointResult extends TreeHead {
  /** True when the tree of the first `size` records has this root. */
  matches: boolean;
  /** Why not, when it does not. */
  detail?: string;
}

export interface VerifyReport {
  ok: boolean;
  records: number;
  streams: number;
  /** Hash of the record with the highest seq (the ledger's head), or null when empty. */
  headHash: string | null;
  lastSeq: number;
  /** Root of the Merkle tree over every record (hex), recomputed from the records. */
  rootHash: string;
  firstProblem: VerifyProblem | null;
  checkpoints: CheckpointResult[];
  /**
   * When a checkpoint does not match: the records that hold the rewrite, between the largest
   * checkpoint the database still matches and the smallest it does not.
   */
  rewrite?: { afterSeq: number; throughSeq: number; firstSuspectSeq?: number };
}

export interface VerifyOptions {
  pageSize?: number;
  treeHeads?: TreeHead[];
}

interface DbRow {
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
  raw: string | null;
  payload_sha256: string;
  raw_sha256: string | null;
  prev_hash: string | null;
  hash: string;
}

// Microseconds and the era, so nothing PostgreSQL holds is rounded away before comparing.
const STAMP = `'YYYY-MM-DD"T"HH24:MI:SS.US"Z"BC'`;

/** `2026-11-20T01:02:03.456000ZAD` → the hashed form's Date, or why it cannot be hashed as stored. */
export function hashedTime(stamp: string): Date | string {
  const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})(\d{3})ZAD$/.exec(stamp);
  if (!m) return `${stamp.replace(/Z(AD|BC)$/, 'Z $1')} has no four-digit year of the common era`;
  if (m[8] !== '000') return `${stamp.slice(0, -2)} is finer than the millisecond the hash covers`;
  return new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${m[7]}Z`);
}

export async function verifyLedger(pool: Pool, options: number | VerifyOptions = {}): Promise<VerifyReport> {
  const opts = typeof options === 'number' ? { pageSize: options } : options;
  const client = await pool.connect();
  try {
    // One snapshot for every page, the counter and the heads: appends running meanwhile are
    // simply not seen, so a live ledger verifies (REPEATABLE READ = snapshot isolation here).
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    return await walk(client, opts.pageSize ?? 2000, opts.treeHeads ?? []);
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
    client.release();
  }
}

async function walk(client: PoolClient, pageSize: number, treeHeads: TreeHead[]): Promise<VerifyReport> {
  const tips = new Map<string, string>();
  let expectedSeq = 1;
  let headHash: string | null = null;
  let firstProblem: VerifyProblem | null = null;
  let firstNodeMismatch: number | undefined;
  const problem = (p: VerifyProblem) => {
    firstProblem ??= p;
  };
  const tree = MerkleFrontier.fromNodes(0, []);
  const pendingHeads = [...treeHeads].sort((a, b) => a.size - b.size);
  const checkpoints: CheckpointResult[] = [];
  const checkHeads = () => {
    while (pendingHeads.length > 0 && (pendingHeads[0] as TreeHead).size <= tree.size) {
      const h = pendingHeads.shift() as TreeHead;
      const matches = h.size === tree.size && tree.root().equals(h.rootHash);
      checkpoints.push({ ...h, matches, ...(matches ? {} : { detail: 'the first records no longer have this root' }) });
    }
  };
  checkHeads();

  // The walk goes on after a problem so that every checkpoint is still checked; it reports the
  // first problem, and the Merkle tree is built from recomputed hashes, never stored ones.
  //
  // Read ahead: the next page is asked for before this one is checked, so PostgreSQL reads and
  // encodes it meanwhile. It starts at the seq after this page's last, which is right unless the
  // page has a gap, and a gap ends the walk. One query at a time is in flight on the connection:
  // a page's Merkle nodes are compared once the next page has arrived, before it is checked, so
  // problems are still found in seq order.
  const page = (from: number) => settled(client.query<DbRow>(PAGE_SQL, [from, pageSize]));
  let next = page(expectedSeq);
  let previous: { start: number; end: number; completed: MerkleNode[] } | null = null;
  try {
    for (;;) {
      const { rows } = await next;
      if (previous) await compareNodes(previous.start, previous.end, previous.completed);
      previous = null;
      if (rows.length === 0) break;
      const pageStart = expectedSeq - 1;
      const pageEnd = pageStart + rows.length;
      next = page(pageEnd + 1);
      const completed: MerkleNode[] = [];
      if (!checkPage(rows, completed)) {
        await next.catch(() => undefined); // nothing is sent while a page is in flight
        return await finish();
      }
      previous = { start: pageStart, end: pageEnd, completed };
    }
  } catch (err) {
    await next.catch(() => undefined);
    throw err;
  }
  return finish();

  /** Checks one page's records in seq order; false at a gap (nothing after it can be placed in the tree). */
  function checkPage(rows: DbRow[], completed: MerkleNode[]): boolean {
    for (const row of rows) {
      const seq = Number(row.seq);
      const at = { seq, stream: row.stream };
      if (seq !== expectedSeq) {
        // Nothing after a gap can be placed in the tree: stop here.
        problem({ kind: 'seq_gap', ...at, detail: `expected seq ${expectedSeq}, found ${seq}` });
        return false;
      }
      if (row.hash_version !== HASH_VERSION) {
        problem({
          kind: 'unsupported_version',
          ...at,
          detail: `hash_version ${row.hash_version} is not supported by this verifier`,
        });
      }
      const tip = tips.get(row.stream) ?? null;
      if (row.prev_hash !== tip) {
        problem({
          kind: 'chain_broken',
          ...at,
          detail: `prev_hash ${row.prev_hash ?? 'null'} does not link to the stream's previous record (${tip ?? 'none'})`,
        });
      }
      const hashed = fastLeafHash(row, seq) ?? leafHashOfRow(row, seq);
      let recomputed = row.hash;
      if (typeof hashed !== 'string') {
        problem({ kind: 'hash_mismatch', ...at, detail: hashed.unhashable });
      } else {
        recomputed = hashed;
        if (recomputed !== row.hash) {
          problem({ kind: 'hash_mismatch', ...at, detail: `stored hash ${row.hash} but the record hashes to ${recomputed}` });
        }
      }
      const content = contentProblem(row);
      if (content) problem({ kind: 'content_mismatch', ...at, detail: content });
      tips.set(row.stream, row.hash);
      headHash = row.hash;
      completed.push(...tree.push(Buffer.from(recomputed, 'hex')));
      expectedSeq += 1;
      checkHeads();
    }
    return true;
  }

  /** The stored Merkle nodes records start+1..end complete must be the ones recomputed from them. */
  async function compareNodes(pageStart: number, pageEnd: number, completed: MerkleNode[]): Promise<void> {
    const stored = await merkleNodes(client, pageStart, pageEnd);
    const storedMap = new Map(stored.rows.map((r) => [`${r.level}:${r.idx}`, r.hash]));
    for (const n of completed) {
      const s = storedMap.get(`${n.level}:${n.idx}`);
      if (s && s.equals(n.hash)) continue;
      const first = n.idx * 2 ** n.level + 1;
      const last = (n.idx + 1) * 2 ** n.level;
      if (n.level === 1) firstNodeMismatch ??= first;
      problem({
        kind: 'merkle_mismatch',
        seq: first,
        stream: null,
        detail: `${s ? 'stored' : 'missing'} Merkle node (level ${n.level}, index ${n.idx}) over records ${first}..${last} ${
          s ? 'differs from the one recomputed from them' : ''
        }`.trim(),
      });
    }
    if (stored.rows.length !== completed.length) {
      problem({ kind: 'merkle_mismatch', seq: pageStart + 1, stream: null, detail: 'extra Merkle nodes are stored' });
    }
  }

  async function finish(): Promise<VerifyReport> {
    const lastSeq = expectedSeq - 1;
    for (const h of pendingHeads) {
      checkpoints.push({ ...h, matches: false, detail: `the database holds ${lastSeq} records, the checkpoint ${h.size}` });
    }
    const counter = await client.query<{ last_seq: string }>('SELECT last_seq FROM evidence_counter WHERE id = 1');
    const counted = Number(counter.rows[0]?.last_seq ?? -1);
    if (counted !== lastSeq) {
      problem({
        kind: 'counter_mismatch',
        seq: counted,
        stream: null,
        detail: `evidence_counter says ${counted} records were appended, the chains hold ${lastSeq}: records at the tail were removed or added outside the ledger`,
      });
    }
    const heads = await client.query<{ stream: string; hash: string }>('SELECT stream, hash FROM evidence_heads');
    const headMap = new Map(heads.rows.map((h) => [h.stream, h.hash]));
    for (const [stream, tip] of tips) {
      if (headMap.get(stream) !== tip) {
        problem({
          kind: 'head_mismatch',
          seq: null,
          stream,
          detail: `stream head is ${headMap.get(stream) ?? 'missing'}, chain ends at ${tip}`,
        });
      }
    }
    for (const stream of headMap.keys()) {
      if (!tips.has(stream)) problem({ kind: 'head_mismatch', seq: null, stream, detail: 'stream has a head but no records' });
    }
    const bad = checkpoints.filter((c) => !c.matches);
    let rewrite: VerifyReport['rewrite'];
    if (bad.length > 0) {
      const firstBad = Math.min(...bad.map((c) => c.size));
      const good = checkpoints.filter((c) => c.matches && c.size < firstBad).map((c) => c.size);
      const afterSeq = good.length > 0 ? Math.max(...good) : 0;
      const suspect = firstNodeMismatch !== undefined && firstNodeMismatch > afterSeq ? firstNodeMismatch : undefined;
      const chainSuspect = firstProblem?.seq ?? undefined;
      const firstSuspectSeq =
        chainSuspect !== undefined && chainSuspect > afterSeq && chainSuspect <= firstBad ? chainSuspect : suspect;
      rewrite = {
        afterSeq,
        throughSeq: Math.min(firstBad, lastSeq || firstBad),
        ...(firstSuspectSeq ? { firstSuspectSeq } : {}),
      };
      const detail =
        `the records after seq ${afterSeq} through seq ${firstBad} were rewritten: the database matches ` +
        (afterSeq > 0 ? `the checkpoint at tree size ${afterSeq}` : 'no earlier checkpoint') +
        ` but not the one at tree size ${firstBad} (${bad.find((c) => c.size === firstBad)?.label ?? ''})` +
        (firstSuspectSeq ? `; the first record that disagrees with what was stored for it is seq ${firstSuspectSeq}` : '');
      // A checkpoint mismatch is the finding that matters most: it is reported first.
      firstProblem = { kind: 'checkpoint_mismatch', seq: firstSuspectSeq ?? afterSeq + 1, stream: null, detail };
    }
    return {
      ok: firstProblem === null,
      records: lastSeq,
      streams: tips.size,
      headHash,
      lastSeq,
      rootHash: tree.root().toString('hex'),
      firstProblem,
      checkpoints,
      ...(rewrite ? { rewrite } : {}),
    };
  }
}

const PAGE_SQL = `SELECT seq, hash_version, stream, kind, to_char(occurred_at AT TIME ZONE 'UTC', ${STAMP}) AS occurred_at,
        to_char(recorded_at AT TIME ZONE 'UTC', ${STAMP}) AS recorded_at, actor, source, source_ref,
        payload::text AS payload, raw::text AS raw, payload_sha256, raw_sha256, prev_hash, hash
   FROM evidence_records WHERE seq >= $1 ORDER BY seq LIMIT $2`;

/**
 * The stored Merkle nodes over records start+1..end: one index range per level. OFFSET 0 keeps the
 * planner from flattening the LATERAL into a hash join over the whole node table (a full scan per
 * page: 0.3 s at 1M records). Levels above log2(end) hold nothing in [start >> l, end >> l).
 */
function merkleNodes(client: PoolClient, start: number, end: number) {
  return client.query<{ level: number; idx: string; hash: Buffer }>(
    `SELECT l.level, m.idx, m.hash FROM generate_series(1, $3::int) AS l(level)
       CROSS JOIN LATERAL (SELECT n.idx, n.hash FROM evidence_merkle_nodes n
                            WHERE n.level = l.level AND n.idx >= ($1::bigint >> l.level) AND n.idx < ($2::bigint >> l.level)
                           OFFSET 0) m`,
    [start, end, Math.min(62, Math.max(1, Math.floor(Math.log2(end))))],
  );
}

/** A query sent ahead: its failure is seen when it is awaited, never as an unhandled rejection. */
function settled<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

// `2026-11-20T01:02:03.456000ZAD` → `2026-11-20T01:02:03.456Z`, what Date#toISOString gives for it.
const HASHED_STAMP = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})000ZAD$/;

/** A string the canonical encoder takes as it is (it refuses U+0000 and lone surrogates). */
function plain(s: string): boolean {
  return !s.includes('\u0000') && s.isWellFormed();
}

/** The hashed header fields of a stored row, as both walks (this file's and stream-verify.ts's) read them. */
export type HeaderRow = Pick<
  DbRow,
  | 'stream'
  | 'kind'
  | 'occurred_at'
  | 'recorded_at'
  | 'actor'
  | 'source'
  | 'source_ref'
  | 'payload_sha256'
  | 'raw_sha256'
  | 'prev_hash'
>;

/** The header a row's hash covers, or why the row cannot be hashed as stored. */
export function headerOfRow(row: HeaderRow, seq: number): RecordHeader | { unhashable: string } {
  const occurredAt = hashedTime(row.occurred_at);
  const recordedAt = hashedTime(row.recorded_at);
  if (typeof occurredAt === 'string') return { unhashable: `occurred_at ${occurredAt}` };
  if (typeof recordedAt === 'string') return { unhashable: `recorded_at ${recordedAt}` };
  return {
    seq,
    stream: row.stream,
    kind: row.kind,
    occurredAt,
    recordedAt,
    actor: row.actor,
    source: row.source,
    sourceRef: row.source_ref,
    payloadSha256: row.payload_sha256,
    rawSha256: row.raw_sha256,
    prevHash: row.prev_hash,
  };
}

/** The leaf hash of a row by the general path, or why the row cannot be hashed as stored. */
function leafHashOfRow(row: DbRow, seq: number): string | { unhashable: string } {
  const header = headerOfRow(row, seq);
  return 'unhashable' in header ? header : leafHashOfHeader(header);
}

/**
 * The leaf hash of a row exactly as leafHashOfHeader(hashedForm(…)) computes it, written out in
 * JCS key order from the stored text (no Date, no object, no key sort): the hot path of a walk
 * over a million records. null when the row is not the common case (a timestamp the hash cannot
 * hold, a string the encoder refuses, an unsafe seq): the general path then reports it as before.
 */
function fastLeafHash(row: DbRow, seq: number): string | null {
  const o = HASHED_STAMP.exec(row.occurred_at);
  const r = HASHED_STAMP.exec(row.recorded_at);
  if (!o || !r || !Number.isSafeInteger(seq)) return null;
  const { actor, kind, source, source_ref: sourceRef, stream, payload_sha256: p, raw_sha256: rw, prev_hash: prev } = row;
  if (!plain(actor) || !plain(kind) || !plain(source) || !plain(sourceRef) || !plain(stream) || !plain(p)) return null;
  if ((rw !== null && !plain(rw)) || (prev !== null && !plain(prev))) return null;
  // The leading U+0000 is the RFC 9162 leaf prefix, the byte 0x00 in UTF-8.
  const text =
    `\u0000{"actor":${JSON.stringify(actor)},"kind":${JSON.stringify(kind)},"occurred_at":"${o[1] as string}Z",` +
    `"payload_sha256":${JSON.stringify(p)},"prev_hash":${prev === null ? 'null' : JSON.stringify(prev)},` +
    `"raw_sha256":${rw === null ? 'null' : JSON.stringify(rw)},"recorded_at":"${r[1] as string}Z","seq":${seq},` +
    `"source":${JSON.stringify(source)},"source_ref":${JSON.stringify(sourceRef)},"stream":${JSON.stringify(stream)},` +
    `"v":${HASH_VERSION}}`;
  return hash('sha256', text, 'hex');
}

// A number JSON.parse could read with loss has a fraction, an exponent or 16+ digits: text with no
// digit followed by `.`, `e`, `E` or 15 more digits anywhere (strings included) holds none.
const MAYBE_LOSSY = /\d[.eE]|\d{16}/;
const TOKENS = /"(?:[^"\\]|\\.)*"|-?[0-9][-+0-9.eE]*/g;
const INTEGER = /^-?(?:0|[1-9][0-9]*)$/;

/** True when some number token of the JSON text is not a safe integer (strings skipped). */
function lossyNumber(text: string): boolean {
  for (const m of text.matchAll(TOKENS)) {
    const t = m[0];
    if (t.charCodeAt(0) === 34) continue;
    if (!INTEGER.test(t) || !Number.isSafeInteger(Number(t))) return true;
  }
  return false;
}

/**
 * contentProblem's common case at native speed: JSON.parse when no number in the text can lose
 * anything in it, the digests by one-shot hashing. Anything unusual (a number JSON.parse would
 * round, text it refuses, a value the encoder refuses) gives undefined: the careful path then reads
 * the row and reports exactly as it always has.
 */
function fastContentProblem(row: DbRow): string | null | undefined {
  const { payload: p, raw: r } = row;
  if ((MAYBE_LOSSY.test(p) && lossyNumber(p)) || (r !== null && MAYBE_LOSSY.test(r) && lossyNumber(r))) return undefined;
  try {
    const payload = JSON.parse(p) as JsonValue;
    const raw = r === null ? null : (JSON.parse(r) as JsonValue);
    if (hash('sha256', canonicalize(payload), 'hex') !== row.payload_sha256) {
      return 'payload no longer matches the digest the chain covers';
    }
    if ((raw === null ? null : hash('sha256', canonicalize(raw), 'hex')) !== row.raw_sha256) {
      return 'raw no longer matches the digest the chain covers';
    }
    return null;
  } catch {
    return undefined;
  }
}

/** The content must still match the digests the chain covers, read without loss. */
function contentProblem(row: DbRow): string | null {
  const fast = fastContentProblem(row);
  if (fast !== undefined) return fast;

  let payload: JsonValue;
  let raw: JsonValue | null;
  try {
    payload = parseStoredJson(row.payload);
    raw = row.raw === null ? null : parseStoredJson(row.raw);
  } catch (err) {
    if (err instanceof StoredJsonError) return `stored content cannot be what was hashed: ${err.message}`;
    throw err;
  }
  try {
    if (contentDigest(payload) !== row.payload_sha256) return 'payload no longer matches the digest the chain covers';
    if ((raw === null ? null : contentDigest(raw)) !== row.raw_sha256) return 'raw no longer matches the digest the chain covers';
  } catch (err) {
    return `stored content cannot be canonicalised: ${(err as Error).message}`;
  }
  return null;
}
