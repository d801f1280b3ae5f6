import { contentDigest, leafHash, type JsonValue } from '../../src/evidence';
import { MerkleFrontier } from '../../src/evidence/merkle';
import type { TestDatabase } from './db';

/**
 * A thorough attacker for tamper tests: a superuser with triggers off who rewrites the ledger and
 * recomputes every hash, head, the counter and (optionally) the Merkle nodes, so that nothing
 * inside the database disagrees any more.
 */

export interface Row {
  seq: number;
  stream: string;
  kind: string;
  occurred_at: Date;
  recorded_at: Date;
  actor: string;
  source: string;
  source_ref: string;
  payload: JsonValue;
  raw: JsonValue | null;
}

async function superuser(db: TestDatabase, fn: (q: (sql: string, params?: unknown[]) => Promise<unknown>) => Promise<void>) {
  const client = await db.pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SET LOCAL session_replication_role = replica');
    await fn((sql, params) => client.query(sql, params as unknown[]));
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK');
    throw err;
  } finally {
    client.release();
  }
}

/** One statement as an attacker with the database: a superuser with triggers off (evidence rows can then change). */
export async function tamperAsSuperuser(db: TestDatabase, sql: string, params: unknown[] = []): Promise<void> {
  await superuser(db, async (q) => {
    await q(sql, params);
  });
}

/** Replaces the whole ledger by `rows`, every hash, head, counter and Merkle node recomputed. */
export async function rewriteLedger(db: TestDatabase, rows: Row[], opts: { merkle: boolean } = { merkle: true }) {
  await superuser(db, async (q) => {
    const { rows: oldNodes } = (await q('SELECT level, idx, hash FROM evidence_merkle_nodes')) as {
      rows: { level: number; idx: string; hash: Buffer }[];
    };
    await q('DELETE FROM evidence_heads');
    await q('DELETE FROM evidence_redeliveries');
    await q('DELETE FROM evidence_records');
    await q('DELETE FROM evidence_merkle_nodes');
    const tips = new Map<string, string>();
    const tree = MerkleFrontier.fromNodes(0, []);
    const nodes: { level: number; idx: number; hash: Buffer }[] = [];
    let seq = 0;
    for (const r of rows) {
      seq += 1;
      const prevHash = tips.get(r.stream) ?? null;
      const f = {
        seq,
        stream: r.stream,
        kind: r.kind,
        occurredAt: r.occurred_at,
        recordedAt: r.recorded_at,
        actor: r.actor,
        source: r.source,
        sourceRef: r.source_ref,
        payload: r.payload,
        raw: r.raw,
        prevHash,
      };
      const hash = leafHash(f);
      tips.set(r.stream, hash);
      nodes.push(...tree.push(Buffer.from(hash, 'hex')));
      await q(
        `INSERT INTO evidence_records (seq, hash_version, stream, kind, occurred_at, recorded_at, actor, source, source_ref,
             payload, payload_sha256, raw, raw_sha256, prev_hash, hash) VALUES ($1,1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)`,
        [
          seq,
          r.stream,
          r.kind,
          r.occurred_at,
          r.recorded_at,
          r.actor,
          r.source,
          r.source_ref,
          JSON.stringify(r.payload),
          contentDigest(r.payload),
          r.raw === null ? null : JSON.stringify(r.raw),
          r.raw === null ? null : contentDigest(r.raw),
          prevHash,
          hash,
        ],
      );
      await q(
        `INSERT INTO evidence_heads (stream, seq, hash) VALUES ($1, $2, $3)
           ON CONFLICT (stream) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash`,
        [r.stream, seq, hash],
      );
    }
    const keep = opts.merkle ? nodes : oldNodes.map((n) => ({ level: n.level, idx: Number(n.idx), hash: n.hash }));
    for (const n of keep) {
      if ((n.idx + 1) * 2 ** n.level > seq) continue;
      await q('INSERT INTO evidence_merkle_nodes (level, idx, hash) VALUES ($1, $2, $3)', [n.level, n.idx, n.hash]);
    }
    await q('UPDATE evidence_counter SET last_seq = $1', [seq]);
  });
}

export async function readAllRows(db: TestDatabase): Promise<Row[]> {
  const { rows } = await db.pool.query<Row & { seq: string }>(
    'SELECT seq, stream, kind, occurred_at, recorded_at, actor, source, source_ref, payload, raw FROM evidence_records ORDER BY seq',
  );
  return rows.map((r) => ({ ...r, seq: Number(r.seq) }));
}
