import { createHash } from 'node:crypto';
import type { Pool } from 'pg';
import { canonicalize, type JsonValue } from '../canonical';
import { signNote, verifierKeyOf } from '../checkpoint';
import { latestCheckpoint, type StoredCheckpoint } from '../checkpointer';
import { createMerkleStore } from '../merkle-store';
import { createLedgerReader, type StoredRecord } from '../reader';
import { HASH_VERSION, headerOf, leafHashOfHeader } from '../record';
import type { SigningKey } from '../signing-key';
import { writeZip, type ZipFile } from './zip';

/**
 * The legal export bundle (issue 11; docs/evidence-format.md, "Export bundles"): some streams'
 * records, each with an RFC 9162 inclusion proof against ONE signed checkpoint, that checkpoint, its
 * witnesses and public key, the media the records name, the caller's documents, and a manifest of
 * every file that a statement signed with the checkpoint's key binds. Anyone holding only the ZIP
 * can re-check every hash offline (verifier/hireledger-verify.mjs, verify.html). Evidence knows
 * nothing of candidates or offers: the caller names the streams, the records of other streams they
 * link to, where media comes from and the documents to add.
 *
 * Why the signed statement: a Merkle proof shows a record is in the ledger, never that a stream
 * ENDS where the bundle ends; a bundle cut short after its last interesting message would verify.
 * The manifest names each stream's record count and head hash at the checkpoint, and the statement
 * (signed with the ledger's key, whose first line is not an origin, so it is never a checkpoint)
 * binds the manifest, so cutting, adding or swapping anything changes what the key signed.
 *
 * Everything but export.json is a function of the records, the checkpoint and its witnesses: two
 * exports of the same records against the same checkpoint are byte-identical except export.json.
 */

export const BUNDLE_FORMAT = 'hireledger.evidence-bundle/2';
/** The custody record an export appends to the subject's stream. */
export const EXPORTED_KIND = 'evidence.exported';
export const EXPORT_SOURCE = 'hireledger.export';

/** Files a caller may add (documents read by people; the verifier checks only their hashes). */
export const DOCUMENT_NAMES = [
  'completeness.json',
  'custody.jsonl',
  'evidence-list.csv',
  'timeline.html',
  'timeline.pdf',
] as const;
export type DocumentName = (typeof DOCUMENT_NAMES)[number];

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** The files every bundle holds besides the manifest, the statement, media and the caller's documents. */
const FIXED_FILES = [
  'checkpoint.txt',
  'format.md',
  'proofs.jsonl',
  'public-key.txt',
  'records.jsonl',
  'verify.html',
  'witnesses.json',
] as const;

export interface BundleMediaSource {
  /** The SHA-256s (lower-case hex) of the media a record references; none for most records. */
  refs(record: StoredRecord): readonly string[];
  /** One media file's bytes, or null when the store no longer has it (then listed as missing). */
  read(sha256: string): Promise<Buffer | null>;
}

export interface BundleContext {
  /** Exactly the records in the bundle, in seq order. */
  records: readonly StoredRecord[];
  checkpoint: StoredCheckpoint;
  /** The names of the bundle's other files (for an evidence list's "where it is"). */
  files: readonly string[];
}

export interface BundleRequest {
  /** Streams exported whole (unless a range is given), in seq order; their chains are checked from the first record. */
  streams: readonly string[];
  /** Single records of other streams (e.g. what a candidate's link records name). */
  linkedSeqs?: readonly number[];
  /** Only records whose occurred_at is in [from, to): the streams are then not whole. */
  range?: { from?: Date; to?: Date };
  /** The ledger's origin, `hireledger.evidence/<CorpID>`. */
  origin: string;
  /** The ledger's signing key: the newest checkpoint it signed is used, and it signs the statement. */
  signingKey: SigningKey;
  /** docs/evidence-format.md, copied into the bundle as format.md. */
  formatSpec: Buffer;
  /** verifier/verify.html, the in-browser verifier. */
  verifyHtml: Buffer;
  /**
   * verifier/hireledger-verify.mjs, so a reader with only the bundle has the command-line verifier
   * too (a careful one gets it independently and compares: it is one readable file).
   */
  verifierScript?: Buffer;
  media?: BundleMediaSource;
  /** The caller's documents, made from the exact records bundled (names from DOCUMENT_NAMES). */
  documents?: (ctx: BundleContext) => Promise<ReadonlyMap<DocumentName, Buffer>>;
}

export interface BundleStream {
  stream: string;
  complete: boolean;
  records: number;
  firstSeq: number;
  lastSeq: number;
  headHash: string;
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
  streams: BundleStream[];
  media: { files: number; bytes: number; missing: number };
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
  const verifierKey = verifierKeyOf(req.origin, req.signingKey.publicKey);
  const checkpoint = await latestCheckpoint(pool, req.origin, verifierKey);
  const inRange = (r: StoredRecord): boolean =>
    (!req.range?.from || r.occurredAt >= req.range.from) && (!req.range?.to || r.occurredAt < req.range.to);
  const bySeq = new Map<number, StoredRecord>();
  const wanted = new Set<string>();
  let beyond: StoredRecord | undefined;
  let any = false;
  for (const stream of [...new Set(req.streams)].sort()) {
    for await (const r of reader.cursor({ stream, pageSize: 1000 })) {
      any = true;
      if (checkpoint && r.seq <= checkpoint.size) {
        if (inRange(r)) {
          bySeq.set(r.seq, r);
          wanted.add(stream);
        }
      } else if (r.kind !== EXPORTED_KIND && inRange(r)) {
        // Earlier exports' custody records after the checkpoint are left out (they are a tail of the
        // stream, so its chain stays whole): exporting twice then gives the same bundle.
        beyond ??= r;
      }
    }
  }
  if (!any) throw new ExportRefusedError('没有可导出的证据记录 (nothing to export: the streams hold no records)');
  if (!checkpoint) throw new ExportRefusedError(`还没有签名的检查点 (no signed checkpoint yet); ${RUN_CHECKPOINT}`);
  if (beyond) {
    throw new ExportRefusedError(
      `最新的检查点（${checkpoint.size} 条）不包含第 ${beyond.seq} 条记录 ` +
        `(the newest signed checkpoint covers ${checkpoint.size} records, not record ${beyond.seq}); ${RUN_CHECKPOINT}`,
    );
  }
  if (bySeq.size === 0) throw new ExportRefusedError('所选时间范围内没有证据记录 (the range holds no records of these streams)');
  await refuseMissingSeqs(pool, checkpoint.size);
  const whole = req.range ? new Set<string>() : wanted;
  for (const seq of [...new Set(req.linkedSeqs ?? [])]) {
    if (bySeq.has(seq)) continue;
    const r = await reader.readRecord(seq);
    if (!r) throw new ExportRefusedError(`linked record ${seq} does not exist`);
    if (whole.has(r.stream)) continue; // a custody tail record of a whole stream
    if (r.seq > checkpoint.size)
      throw new ExportRefusedError(`linked record ${seq} is not covered by the checkpoint; ${RUN_CHECKPOINT}`);
    if (req.range && !inRange(r)) continue;
    bySeq.set(seq, r);
  }
  const records = [...bySeq.values()].sort((a, b) => a.seq - b.seq);

  const refs = mediaRefsOf(records, req.media);
  const namesWith = (missing: ReadonlySet<string>) =>
    [
      ...FIXED_FILES,
      ...(req.verifierScript ? ['hireledger-verify.mjs'] : []),
      ...[...refs.keys()].flatMap((h) => (missing.has(h) ? [] : [`media/${h}`])),
    ].sort();
  const makeDocuments = (files: string[]) => {
    const p = req.documents ? req.documents({ records, checkpoint, files }) : Promise.resolve(new Map<DocumentName, Buffer>());
    p.catch(() => undefined); // awaited below; not unhandled if something else fails first
    return p;
  };
  // The caller's documents (printing a PDF takes seconds) are made while the media is read and the
  // proofs are asked, on the word that every media file is there; remade in the rare case one is not.
  let documents = makeDocuments(namesWith(new Set()));
  const media = await mediaOf(refs, req.media);
  const missing = new Set(media.filter((m) => !m.data).map((m) => m.sha256));
  if (missing.size > 0) {
    await documents.catch(() => undefined);
    documents = makeDocuments(namesWith(missing));
  }

  const store = createMerkleStore(pool);
  // One round trip per thousand proofs (merkle-store's inclusionProofs), not one per record.
  const proofs = await store.inclusionProofs(
    records.map((r) => r.seq),
    checkpoint.size,
  );
  let recordsJsonl = '';
  let proofsJsonl = '';
  records.forEach((r, i) => {
    // What is exported is re-hashed first: a record the database altered is refused, not bundled.
    if (leafHashOfHeader(headerOf(r)) !== r.hash) {
      throw new ExportRefusedError(`record ${r.seq} no longer hashes to its stored hash; run npm run evidence:verify`);
    }
    const p = proofs[i] as (typeof proofs)[number];
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
  });
  const streams = streamsOf(records, whole);

  const files = new Map<string, Buffer>([
    ['checkpoint.txt', Buffer.from(checkpoint.note, 'utf8')],
    ['format.md', req.formatSpec],
    ['proofs.jsonl', Buffer.from(proofsJsonl, 'utf8')],
    ['public-key.txt', Buffer.from(`${verifierKey}\n`, 'utf8')],
    ['records.jsonl', Buffer.from(recordsJsonl, 'utf8')],
    ['verify.html', req.verifyHtml],
    ...(req.verifierScript ? ([['hireledger-verify.mjs', req.verifierScript]] as const) : []),
    ['witnesses.json', await witnessesFile(pool, checkpoint)],
  ]);
  for (const m of media) if (m.data) files.set(`media/${m.sha256}`, m.data);
  for (const [name, data] of await documents) {
    if (!(DOCUMENT_NAMES as readonly string[]).includes(name)) throw new Error(`not a bundle document: ${name}`);
    files.set(name, data);
  }

  const manifest = {
    format: BUNDLE_FORMAT,
    origin: req.origin,
    checkpoint: { size: checkpoint.size, root_hash: checkpoint.rootHash.toString('base64') },
    records: records.length,
    first_seq: (records[0] as StoredRecord).seq,
    last_seq: (records.at(-1) as StoredRecord).seq,
    streams: streams.map((s) => ({
      stream: s.stream,
      complete: s.complete,
      records: s.records,
      first_seq: s.firstSeq,
      last_seq: s.lastSeq,
      head_hash: s.headHash,
    })),
    files: [...files.keys()].sort().map((name) => {
      const data = files.get(name) as Buffer;
      return { name, sha256: sha256Hex(data), bytes: data.length };
    }),
    media: media.map((m) =>
      m.data
        ? { sha256: m.sha256, bytes: m.data.length, records: m.records }
        : { sha256: m.sha256, missing: true, records: m.records },
    ),
  };
  const manifestBytes = Buffer.from(`${canonicalize(manifest)}\n`, 'utf8');
  files.set('manifest.json', manifestBytes);
  files.set('statement.txt', Buffer.from(statementOf(req, checkpoint, manifestBytes), 'utf8'));
  return {
    files,
    contentSha256: contentDigestOf(files),
    checkpoint,
    records: records.length,
    firstSeq: manifest.first_seq,
    lastSeq: manifest.last_seq,
    streams,
    media: {
      files: media.filter((m) => m.data).length,
      bytes: media.reduce((n, m) => n + (m.data?.length ?? 0), 0),
      missing: media.filter((m) => !m.data).length,
    },
  };
}

/** The signed statement binding the manifest (docs/evidence-format.md, "statement.txt"). */
function statementOf(req: BundleRequest, checkpoint: StoredCheckpoint, manifest: Buffer): string {
  const body =
    `${BUNDLE_FORMAT}\n${req.origin}\n${checkpoint.size}\n${checkpoint.rootHash.toString('base64')}\n` +
    `manifest ${sha256Hex(manifest)}\n`;
  return signNote(body, req.origin, req.signingKey.privateKey);
}

/**
 * A record missing below the checkpoint (deleted by someone with more rights than the app) would
 * let the bundle state a stream's end wrongly; the ledger's seqs have no holes, so count them.
 */
async function refuseMissingSeqs(pool: Pool, size: number): Promise<void> {
  const { rows } = await pool.query<{ n: string }>('SELECT count(*) AS n FROM evidence_records WHERE seq <= $1', [size]);
  if (Number(rows[0]?.n) !== size) {
    throw new ExportRefusedError(
      `账本缺少记录：检查点含 ${size} 条，数据库只有 ${rows[0]?.n} 条 (records are missing below the checkpoint); run npm run evidence:verify`,
    );
  }
}

function streamsOf(records: readonly StoredRecord[], whole: ReadonlySet<string>): BundleStream[] {
  const by = new Map<string, BundleStream>();
  for (const r of records) {
    const s = by.get(r.stream);
    if (s) {
      s.records++;
      s.lastSeq = r.seq;
      s.headHash = r.hash;
    } else {
      by.set(r.stream, {
        stream: r.stream,
        complete: whole.has(r.stream),
        records: 1,
        firstSeq: r.seq,
        lastSeq: r.seq,
        headHash: r.hash,
      });
    }
  }
  return [...by.values()].sort((a, b) => (a.stream < b.stream ? -1 : a.stream > b.stream ? 1 : 0));
}

interface BundledMedia {
  sha256: string;
  data: Buffer | null;
  records: number[];
}

/** The media the records name, by SHA-256, with the seqs naming each. */
function mediaRefsOf(records: readonly StoredRecord[], source: BundleMediaSource | undefined): Map<string, number[]> {
  const by = new Map<string, number[]>();
  if (!source) return by;
  for (const r of records) {
    for (const h of source.refs(r)) {
      if (!SHA256_HEX.test(h)) continue;
      const seqs = by.get(h) ?? [];
      if (!seqs.includes(r.seq)) seqs.push(r.seq);
      by.set(h, seqs);
    }
  }
  return by;
}

async function mediaOf(by: ReadonlyMap<string, number[]>, source: BundleMediaSource | undefined): Promise<BundledMedia[]> {
  if (!source) return [];
  const out: BundledMedia[] = [];
  for (const sha256 of [...by.keys()].sort()) {
    const data = await source.read(sha256);
    // A store that hands back other bytes is not trusted into the bundle: the verifier would fail it.
    if (data && sha256Hex(data) !== sha256) throw new ExportRefusedError(`media ${sha256} no longer matches its SHA-256`);
    out.push({ sha256, data, records: by.get(sha256) as number[] });
  }
  return out;
}

/** The checkpoint's witnesses as stored: every attempt, in order (a failure then a success shows both). */
async function witnessesFile(pool: Pool, checkpoint: StoredCheckpoint): Promise<Buffer> {
  const { rows } = await pool.query<{
    witness: string;
    status: string;
    attempted_at: Date;
    response: string | null;
    token: Buffer | null;
    error: string | null;
  }>(
    `SELECT witness, status, attempted_at, response::text AS response, token, error
       FROM evidence_checkpoint_witnesses WHERE checkpoint_id = $1 ORDER BY attempted_at, id`,
    [checkpoint.id],
  );
  const doc = {
    checkpoint_sha256: sha256Hex(Buffer.from(checkpoint.note, 'utf8')),
    witnesses: rows.map((w) => ({
      witness: w.witness,
      status: w.status,
      attempted_at: w.attempted_at.toISOString(),
      // jsonb as PostgreSQL prints it: kept as text so long ids and numbers stay exact.
      response: w.response,
      token_base64: w.token ? w.token.toString('base64') : null,
      error: w.error,
    })),
  };
  return Buffer.from(`${canonicalize(doc)}\n`, 'utf8');
}

function sha256Hex(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
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
  // Media is compressed already (images, voice, video): stored as it is, deflating it gains nothing.
  const files: ZipFile[] = [...bundle.files].map(([name, data]) => ({ name, data, stored: name.startsWith('media/') }));
  files.push({ name: 'export.json', data: Buffer.from(`${JSON.stringify(exportJson, null, 2)}\n`, 'utf8') });
  return writeZip(files);
}
