import type { Pool } from 'pg';
import type { JsonValue } from './canonical';
import { HASH_VERSION, contentDigest, leafHashOfHeader } from './record';

/**
 * Re-walks every chain from the first record and reports the first problem found.
 *
 * What it catches without outside help: a changed field (hash mismatch), a deleted or inserted
 * record (seq gap or duplicate, broken prev_hash link), reordering (links no longer match), a
 * record whose hash was recomputed after an edit (its successor's prev_hash no longer matches),
 * a tail cut off the ledger or a stream (counter / heads disagree with the chains).
 * What it cannot catch alone: a rewrite of the tail with every hash, the heads and the counter
 * recomputed consistently. That needs an externally anchored signed checkpoint (roadmap).
 */

export type ProblemKind =
  | 'hash_mismatch'
  | 'content_mismatch'
  | 'chain_broken'
  | 'seq_gap'
  | 'unsupported_version'
  | 'counter_mismatch'
  | 'head_mismatch';

export interface VerifyProblem {
  kind: ProblemKind;
  seq: number | null;
  stream: string | null;
  detail: string;
}

export interface VerifyReport {
  ok: boolean;
  records: number;
  streams: number;
  /** Hash of the record with the highest seq (the ledger's head), or null when empty. */
  headHash: string | null;
  lastSeq: number;
  firstProblem: VerifyProblem | null;
}

interface DbRow {
  seq: string;
  hash_version: number;
  stream: string;
  kind: string;
  occurred_at: Date;
  recorded_at: Date;
  actor: string;
  source: string;
  source_ref: string;
  payload: JsonValue;
  raw: JsonValue | null;
  payload_sha256: string;
  raw_sha256: string | null;
  prev_hash: string | null;
  hash: string;
}

export async function verifyLedger(pool: Pool, pageSize = 2000): Promise<VerifyReport> {
  const tips = new Map<string, string>();
  let expectedSeq = 1;
  let records = 0;
  let headHash: string | null = null;
  const report = (problem: VerifyProblem): VerifyReport => ({
    ok: false,
    records,
    streams: tips.size,
    headHash,
    lastSeq: expectedSeq - 1,
    firstProblem: problem,
  });

  for (;;) {
    // Keyset pages by seq: constant memory, and a row with a duplicated or missing seq shows up as
    // a gap on the walk. `>=` so a duplicated seq (two rows) is seen.
    const { rows } = await pool.query<DbRow>(
      `SELECT seq, hash_version, stream, kind, occurred_at, recorded_at, actor, source, source_ref, payload, raw, payload_sha256, raw_sha256, prev_hash, hash
         FROM evidence_records WHERE seq >= $1 ORDER BY seq LIMIT $2`,
      [expectedSeq, pageSize],
    );
    if (rows.length === 0) break;
    for (const row of rows) {
      const seq = Number(row.seq);
      const at = { seq, stream: row.stream };
      if (seq !== expectedSeq) {
        return report({ kind: 'seq_gap', ...at, detail: `expected seq ${expectedSeq}, found ${seq}` });
      }
      if (row.hash_version !== HASH_VERSION) {
        return report({
          kind: 'unsupported_version',
          ...at,
          detail: `hash_version ${row.hash_version} is not supported by this verifier`,
        });
      }
      const tip = tips.get(row.stream) ?? null;
      if (row.prev_hash !== tip) {
        return report({
          kind: 'chain_broken',
          ...at,
          detail: `prev_hash ${row.prev_hash ?? 'null'} does not link to the stream's previous record (${tip ?? 'none'})`,
        });
      }
      const recomputed = leafHashOfHeader({
        seq,
        stream: row.stream,
        kind: row.kind,
        occurredAt: row.occurred_at,
        recordedAt: row.recorded_at,
        actor: row.actor,
        source: row.source,
        sourceRef: row.source_ref,
        payloadSha256: row.payload_sha256,
        rawSha256: row.raw_sha256,
        prevHash: row.prev_hash,
      });
      if (recomputed !== row.hash) {
        return report({ kind: 'hash_mismatch', ...at, detail: `stored hash ${row.hash} but the record hashes to ${recomputed}` });
      }
      // The chain covers the content through its digests; check the content still matches them.
      const payloadDigest = contentDigest(row.payload);
      const rawDigest = row.raw === null ? null : contentDigest(row.raw);
      if (payloadDigest !== row.payload_sha256 || rawDigest !== row.raw_sha256) {
        const which = payloadDigest !== row.payload_sha256 ? 'payload' : 'raw';
        return report({ kind: 'content_mismatch', ...at, detail: `${which} no longer matches the digest the chain covers` });
      }
      tips.set(row.stream, row.hash);
      headHash = row.hash;
      records += 1;
      expectedSeq += 1;
    }
  }

  const lastSeq = expectedSeq - 1;
  const counter = await pool.query<{ last_seq: string }>('SELECT last_seq FROM evidence_counter WHERE id = 1');
  const counted = Number(counter.rows[0]?.last_seq ?? -1);
  if (counted !== lastSeq) {
    return report({
      kind: 'counter_mismatch',
      seq: counted,
      stream: null,
      detail: `evidence_counter says ${counted} records were appended, the chains hold ${lastSeq}: records at the tail were removed or added outside the ledger`,
    });
  }
  const heads = await pool.query<{ stream: string; hash: string }>('SELECT stream, hash FROM evidence_heads');
  const headMap = new Map(heads.rows.map((h) => [h.stream, h.hash]));
  for (const [stream, tip] of tips) {
    if (headMap.get(stream) !== tip) {
      return report({
        kind: 'head_mismatch',
        seq: null,
        stream,
        detail: `stream head is ${headMap.get(stream) ?? 'missing'}, chain ends at ${tip}`,
      });
    }
  }
  for (const stream of headMap.keys()) {
    if (!tips.has(stream)) {
      return report({ kind: 'head_mismatch', seq: null, stream, detail: 'stream has a head but no records' });
    }
  }
  return { ok: true, records, streams: tips.size, headHash, lastSeq, firstProblem: null };
}
