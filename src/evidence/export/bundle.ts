import { createHash } from 'node:crypto';
import type { Pool } from 'pg';
import { canonicalize, type JsonValue } from '../canonical';
import { latestCheckpoint, type StoredCheckpoint } from '../checkpointer';
import { createMerkleStore } from '../merkle-store';
import { createLedgerReader, type StoredRecord } from '../reader';
import { HASH_VERSION, headerOf, leafHashOfHeader } from '../record';
import { writeZip, type ZipFile } from './zip';

/**
 * The legal export bundle (issue 11, first slice): some streams' records, each with an RFC 9162
 * inclusion proof against ONE signed checkpoint, that checkpoint and its public key, and the format
 * specification, so that anyone holding only the ZIP can re-check every hash offline
 * (verifier/hireledger-verify.mjs). Evidence knows nothing of candidates or offers: the caller
 * names the streams (all their records are included, so their chains can be checked end to end)
 * and any single records of other streams they link to.
 *
 * Everything but export.json is a function of the records and the checkpoint alone: two exports of
 * the same records against the same checkpoint are byte-identical except export.json (who, when).
 */

export const BUNDLE_FORMAT = 'hireledger.evidence-bundle/1';
/** The custody record an export appends to the subject's stream. */
export const EXPORTED_KIND = 'evidence.exported';
export const EXPORT_SOURCE = 'hireledger.export';

export interface BundleRequest {
  /** Streams exported whole, in seq order; their hash chains are checked from the first record. */
  streams: readonly string[];
  /** Single records of other streams (e.g. what a candidate's link records name). */
  linkedSeqs?: readonly number[];
  /** The ledger's origin, `hireledger.evidence/<CorpID>`. */
  origin: string;
  /** The verifier key (`<name>+<id>+<key>`): the checkpoint used is the newest that verifies with it. */
  verifierKey: string;
  /** docs/evidence-format.md, copied into the bundle as format.md. */
  formatSpec: Buffer;
}

export interface Bundle {
  /** Every file but export.json, by name. */
  files: Map<string, Buffer>;
  /** SHA-256 over `sha256sum`-style lines of those files, sorted by name: what the custody record names. */
  contentSha256: string;
  checkpoint: StoredCheckpoint;
  records: number;
  firstSeq: number;
  lastSeq: number;
}

/** The export cannot be made (nothing to export, no checkpoint covering the records): a clear reason. */
export class ExportRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExportRefusedError';
  }
}

const RUN_CHECKPOINT = '请先运行 npm run evidence:checkpoint 签一个新的检查点 (run npm run evidence:checkpoint first)';

/** A record as one line of records.jsonl: the hashed fields, the hash, and the content. */
export function recordLine(r: StoredRecord): string {
  const h = headerOf(r);
  const line: Record<string, JsonValue> = {
    hash_version: HASH_VERSION,
    seq: r.seq,
    stream: r.stream,
    kind: r.kind,
    occurred_at: r.occurredAt.toISOString(),
    recorded_at: r.recordedAt.toISOString(),
    actor: r.actor,
    source: r.source,
    source_ref: r.sourceRef,
    payload_sha256: h.payloadSha256,
    raw_sha256: h.rawSha256,
    prev_hash: r.prevHash,
    hash: r.hash,
    payload: r.payload,
    raw: r.raw,
  };
  return canonicalize(line);
}

export async function buildBundle(pool: Pool, req: BundleRequest): Promise<Bundle> {
  const reader = createLedgerReader(pool);
  const checkpoint = await latestCheckpoint(pool, req.origin, req.verifierKey);
  const bySeq = new Map<number, StoredRecord>();
  const complete: { stream: string; records: number }[] = [];
  let beyond: StoredRecord | undefined;
  for (const stream of [...new Set(req.streams)].sort()) {
    let n = 0;
    for await (const r of reader.cursor({ stream, pageSize: 1000 })) {
      if (checkpoint && r.seq <= checkpoint.size) {
        bySeq.set(r.seq, r);
        n++;
      } else if (r.kind !== EXPORTED_KIND) {
        // Earlier exports' custody records after the checkpoint are left out (they are a tail of the
        // stream, so its chain stays whole): exporting twice then gives the same bundle.
        beyond ??= r;
      }
    }
    if (n > 0) complete.push({ stream, records: n });
  }
  if (bySeq.size === 0 && !beyond)
    throw new ExportRefusedError('没有可导出的证据记录 (nothing to export: the streams hold no records)');
  if (!checkpoint) throw new ExportRefusedError(`还没有签名的检查点 (no signed checkpoint yet); ${RUN_CHECKPOINT}`);
  if (beyond) {
    throw new ExportRefusedError(
      `最新的检查点（${checkpoint.size} 条）不包含第 ${beyond.seq} 条记录 ` +
        `(the newest signed checkpoint covers ${checkpoint.size} records, not record ${beyond.seq}); ${RUN_CHECKPOINT}`,
    );
  }
  const completeStreams = new Set(complete.map((c) => c.stream));
  for (const seq of [...new Set(req.linkedSeqs ?? [])]) {
    if (bySeq.has(seq)) continue;
    const r = await reader.readRecord(seq);
    if (!r) throw new ExportRefusedError(`linked record ${seq} does not exist`);
    if (completeStreams.has(r.stream)) continue; // already there, or a custody tail record
    if (r.seq > checkpoint.size)
      throw new ExportRefusedError(`linked record ${seq} is not covered by the checkpoint; ${RUN_CHECKPOINT}`);
    bySeq.set(seq, r);
  }
  const records = [...bySeq.values()].sort((a, b) => a.seq - b.seq);

  const store = createMerkleStore(pool);
  let recordsJsonl = '';
  let proofsJsonl = '';
  for (const r of records) {
    // What is exported is re-hashed first: a record the database altered is refused, not bundled.
    if (leafHashOfHeader(headerOf(r)) !== r.hash) {
      throw new ExportRefusedError(`record ${r.seq} no longer hashes to its stored hash; run npm run evidence:verify`);
    }
    const p = await store.inclusionProof(r.seq, checkpoint.size);
    if (!p.root.equals(checkpoint.rootHash)) {
      throw new ExportRefusedError(
        `the stored Merkle tree of ${checkpoint.size} records no longer has the checkpoint's root; run npm run evidence:verify`,
      );
    }
    recordsJsonl += `${recordLine(r)}\n`;
    proofsJsonl += `${canonicalize({
      seq: r.seq,
      leaf_index: p.leafIndex,
      tree_size: p.treeSize,
      leaf_hash: p.leafHash.toString('hex'),
      path: p.path.map((b) => b.toString('hex')),
    })}\n`;
  }
  const partial = new Map<string, number>();
  for (const r of records) if (!completeStreams.has(r.stream)) partial.set(r.stream, (partial.get(r.stream) ?? 0) + 1);
  const streams = [
    ...complete.map((c) => ({ stream: c.stream, complete: true, records: c.records })),
    ...[...partial].map(([stream, n]) => ({ stream, complete: false, records: n })),
  ].sort((a, b) => (a.stream < b.stream ? -1 : a.stream > b.stream ? 1 : 0));
  const manifest = {
    format: BUNDLE_FORMAT,
    origin: req.origin,
    checkpoint_size: checkpoint.size,
    records: records.length,
    first_seq: (records[0] as StoredRecord).seq,
    last_seq: (records.at(-1) as StoredRecord).seq,
    streams,
    media: 'not included in this version',
  };
  const files = new Map<string, Buffer>([
    ['checkpoint.txt', Buffer.from(checkpoint.note, 'utf8')],
    ['format.md', req.formatSpec],
    ['manifest.json', Buffer.from(`${canonicalize(manifest)}\n`, 'utf8')],
    ['proofs.jsonl', Buffer.from(proofsJsonl, 'utf8')],
    ['public-key.txt', Buffer.from(`${req.verifierKey}\n`, 'utf8')],
    ['records.jsonl', Buffer.from(recordsJsonl, 'utf8')],
  ]);
  return {
    files,
    contentSha256: contentDigestOf(files),
    checkpoint,
    records: records.length,
    firstSeq: manifest.first_seq,
    lastSeq: manifest.last_seq,
  };
}

/** `sha256sum` of each file, sorted by name, then SHA-256 of that listing: `sha256sum * | sha256sum` after extraction. */
export function contentDigestOf(files: ReadonlyMap<string, Buffer>): string {
  const listing = [...files.keys()]
    .filter((n) => n !== 'export.json')
    .sort()
    .map(
      (n) =>
        `${createHash('sha256')
          .update(files.get(n) as Buffer)
          .digest('hex')}  ${n}\n`,
    )
    .join('');
  return createHash('sha256').update(listing, 'utf8').digest('hex');
}

export interface ExportInfo {
  exportedBy: string;
  exportedAt: Date;
  /** The custody record appended for this export. */
  record: { seq: number; hash: string; stream: string };
}

/** The ZIP: the bundle's files plus export.json, the only file that differs between two exports. */
export function bundleZip(bundle: Bundle, info: ExportInfo): Buffer {
  const exportJson = {
    format: BUNDLE_FORMAT,
    exported_by: info.exportedBy,
    exported_at: info.exportedAt.toISOString(),
    content_sha256: bundle.contentSha256,
    export_record: info.record,
    note: 'export_record is the evidence.exported record of this export; it is after the checkpoint, so not in this bundle',
  };
  const files: ZipFile[] = [...bundle.files].map(([name, data]) => ({ name, data }));
  files.push({ name: 'export.json', data: Buffer.from(`${JSON.stringify(exportJson, null, 2)}\n`, 'utf8') });
  return writeZip(files);
}
