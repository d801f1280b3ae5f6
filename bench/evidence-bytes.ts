/**
 * The bytes verifyLedger hashes, read once into memory, and the bare SHA-256 rate over them: the
 * baseline of bench:evidence. For every record: 0x00 ‖ JCS(hashed form) (the leaf hash), JCS(payload)
 * and, when there is one, JCS(raw) (the digests the hashed form names). Each is hashed on its own
 * with createHash('sha256'), as verification does, so the per-hash cost is in the baseline too.
 */
import { createHash, hash } from 'node:crypto';
import type { Pool } from 'pg';
import { canonicalize, createLedgerReader } from '../src/evidence';
import { hashedForm, leafHashOfHeader, sha256Hex, type RecordHeader } from '../src/evidence/record';

const CHUNK = 64 * 2 ** 20;
const PAGE = 10_000;

export interface HashedBytes {
  records: number;
  segments: number;
  totalBytes: number;
  chunks: Buffer[];
  /** Per segment: chunk index, start, end. */
  index: Int32Array;
}

export async function loadHashedBytes(pool: Pool): Promise<HashedBytes> {
  const { rows: count } = await pool.query<{ n: string }>('SELECT count(*) AS n FROM evidence_records');
  const records = Number(count[0]?.n ?? 0);
  const index = new Int32Array(records * 3 * 3);
  const chunks: Buffer[] = [Buffer.allocUnsafe(CHUNK)];
  let pos = 0;
  let segments = 0;
  let totalBytes = 0;
  const put = (text: string, prefix: boolean) => {
    const len = Buffer.byteLength(text, 'utf8') + (prefix ? 1 : 0);
    let chunk = chunks[chunks.length - 1] as Buffer;
    if (pos + len > chunk.length) {
      chunk = Buffer.allocUnsafe(Math.max(CHUNK, len));
      chunks.push(chunk);
      pos = 0;
    }
    const start = pos;
    if (prefix) chunk[pos++] = 0;
    pos += chunk.write(text, pos, 'utf8');
    index[segments * 3] = chunks.length - 1;
    index[segments * 3 + 1] = start;
    index[segments * 3 + 2] = pos;
    segments += 1;
    totalBytes += len;
  };

  let seen = 0;
  for await (const r of createLedgerReader(pool).cursor({ pageSize: PAGE })) {
    const payload = canonicalize(r.payload);
    const raw = r.raw === null ? null : canonicalize(r.raw);
    const h: RecordHeader = {
      seq: r.seq,
      stream: r.stream,
      kind: r.kind,
      occurredAt: r.occurredAt,
      recordedAt: r.recordedAt,
      actor: r.actor,
      source: r.source,
      sourceRef: r.sourceRef,
      payloadSha256: sha256Hex(payload),
      rawSha256: raw === null ? null : sha256Hex(raw),
      prevHash: r.prevHash,
    };
    // The baseline must be the bytes the stored hash covers, or the comparison means nothing.
    if (seen % 1000 === 0 && leafHashOfHeader(h) !== r.hash) {
      throw new Error(`record ${r.seq}: the bytes read do not hash to the stored hash`);
    }
    put(canonicalize(hashedForm(h)), true);
    put(payload, false);
    if (raw !== null) put(raw, false);
    seen += 1;
  }
  return { records: seen, segments, totalBytes, chunks, index: index.subarray(0, segments * 3) };
}

/**
 * Hashes every segment once; the wall time and this process's CPU time of that alone. `createHash`
 * is the baseline the issue names; `one-shot` (crypto.hash, what verifyLedger itself uses) is
 * faster on small inputs, so it is printed too: the ratio against it is the stricter one.
 */
export function bareHashRate(
  bytes: HashedBytes,
  how: 'createHash' | 'one-shot' = 'createHash',
): { seconds: number; cpuSeconds: number } {
  const { chunks, index } = bytes;
  let sink = 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < index.length; i += 3) {
    const chunk = chunks[index[i] as number] as Buffer;
    const data = chunk.subarray(index[i + 1], index[i + 2]);
    const d = how === 'createHash' ? createHash('sha256').update(data).digest() : hash('sha256', data, 'buffer');
    sink ^= d[0] as number;
  }
  const seconds = (performance.now() - started) / 1000;
  const c = process.cpuUsage(cpu);
  if (sink === -1) throw new Error('unreachable');
  return { seconds, cpuSeconds: (c.user + c.system) / 1e6 };
}
