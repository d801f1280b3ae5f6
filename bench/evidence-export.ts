/**
 * Parts 3 and 4 of bench:evidence: the export of the benchmark's candidate, then the offline
 * verifier (`node verifier/hireledger-verify.mjs`) on each bundle, BENCH_EXPORT_RUNS (2) times:
 *  - `candidate`: exportCandidateEvidence, exactly what `npm run evidence:export -- --candidate`
 *    runs: the verified timeline, the records and media, the completeness report, and the Chinese
 *    timeline as HTML and as PDF (headless Chromium, CHROMIUM_PATH or /usr/bin/chromium);
 *  - `bundle only`: exportBundle with the same records and media but no documents, to show what the
 *    documents cost.
 */
import { execFile } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { inflateRawSync } from 'node:zlib';
import type { Pool } from 'pg';
import { CONVERSATION_KINDS, createMediaStore, type MediaStore } from '../src/conversations';
import { createLedger, type Ledger, type SigningKey, type StoredRecord } from '../src/evidence';
import { exportBundle, type ExportResult } from '../src/evidence/export';
import { renderPdf } from '../src/legal/documents/pdf';
import { exportCandidateEvidence } from '../src/legal/export';
import { createMerkleStore, type InclusionProof } from '../src/evidence/merkle-store';
import { completenessReport, readTimeline } from '../src/timeline';
import { CORP_ID, LEGAL_USERID, type Subject } from './evidence-ledger';

const run = promisify(execFile);
const ROOT = join(__dirname, '..');
const VERIFIER = join(ROOT, 'verifier', 'hireledger-verify.mjs');
const RUNS = Number(process.env['BENCH_EXPORT_RUNS'] ?? 2);

export interface ExportBench {
  pool: Pool;
  dir: string;
  origin: string;
  signingKey: SigningKey;
  verifierKey: string;
  subject: Subject;
  out: (line: string) => void;
}

type SummaryRow = { what: string; figure: string; goal: string; met: string };

/** The objects a stored conversation.media record names (kf-media.ts's payload). */
function mediaRefs(r: StoredRecord): readonly string[] {
  if (r.kind !== CONVERSATION_KINDS.media) return [];
  const p = r.payload;
  if (p === null || typeof p !== 'object' || Array.isArray(p)) return [];
  return p['status'] === 'stored' && typeof p['sha256'] === 'string' ? [p['sha256']] : [];
}

interface Measured {
  path: string;
  wall: number;
  bytes: number;
  records: number;
  mediaFiles: number;
  mediaBytes: number;
  verifyWall: number;
  pass: boolean;
}

export async function runExport(b: ExportBench): Promise<SummaryRow[]> {
  const { pool, out, subject } = b;
  const formatSpec = await readFile(join(ROOT, 'docs', 'evidence-format.md'));
  const verifyHtml = await readFile(join(ROOT, 'verifier', 'verify.html'));
  const store = createMediaStore(pool, { kind: 'pg', maxBytes: 64 * 2 ** 20 });
  const ledger = createLedger({ pool });
  const kinds = {
    candidate: (outPath: string) =>
      exportCandidateEvidence(
        {
          pool,
          ledger,
          corpId: CORP_ID,
          origin: b.origin,
          signingKey: b.signingKey,
          formatSpec,
          verifyHtml,
          chromiumPath: process.env['CHROMIUM_PATH'] || '/usr/bin/chromium',
          media: store,
          channels: { kf: { state: 'on' }, archive: { state: 'on' } },
          system: { version: 'bench', keyHolder: 'bench:evidence', publicKey: b.verifierKey },
        },
        { candidate: subject.externalUserId, exportedBy: LEGAL_USERID, outPath },
      ),
    'bundle only': (outPath: string) => bundleOnly(pool, ledger, store, b, formatSpec, verifyHtml, outPath),
  };
  const results: Record<string, Measured[]> = {};
  let candidateZip = '';
  try {
    for (let i = 0; i < RUNS; i++) {
      for (const [name, exporter] of Object.entries(kinds)) {
        const m = await measure(b, name, i, exporter);
        if (name === 'candidate') candidateZip = m.path;
        (results[name] ??= []).push(m);
      }
    }
    await stages(b, candidateZip);
  } finally {
    await ledger.close();
  }
  const rows: SummaryRow[] = [];
  for (const [name, ms] of Object.entries(results)) {
    const best = ms.reduce((a, c) => (c.wall < a.wall ? c : a));
    const bestVerify = Math.min(...ms.map((m) => m.verifyWall));
    const pass = ms.every((m) => m.pass);
    rows.push(
      {
        what: `export, ${name} (${best.records} rec, ${(best.mediaBytes / 2 ** 20).toFixed(0)} MiB media)`,
        figure: `${best.wall.toFixed(2)} s, ${(best.bytes / 2 ** 20).toFixed(1)} MiB written`,
        goal: '≤ 10 s',
        met: best.wall <= 10 ? 'yes' : 'no',
      },
      {
        what: `  offline verifier on it`,
        figure: `${bestVerify.toFixed(2)} s = ${Math.round(best.records / bestVerify)} records/s, ${pass ? 'PASS' : 'did NOT pass'}`,
        goal: 'PASS',
        met: pass ? 'yes' : 'no',
      },
    );
  }
  out(`   (best of ${RUNS} runs each)`);
  return rows;
}

function bundleOnly(
  pool: Pool,
  ledger: Ledger,
  store: MediaStore,
  b: ExportBench,
  formatSpec: Buffer,
  verifyHtml: Buffer,
  outPath: string,
): Promise<ExportResult> {
  const owner = { corpId: CORP_ID, owner: b.subject.candidateId };
  return exportBundle(pool, ledger, {
    streams: [b.subject.stream],
    origin: b.origin,
    signingKey: b.signingKey,
    formatSpec,
    verifyHtml,
    media: { refs: mediaRefs, read: async (sha) => (await store.get(owner, sha))?.bytes ?? null },
    subjectStream: b.subject.stream,
    exportedBy: LEGAL_USERID,
    outPath,
  });
}

async function measure(
  b: ExportBench,
  name: string,
  i: number,
  exporter: (outPath: string) => Promise<ExportResult>,
): Promise<Measured> {
  const outPath = join(b.dir, `bundle-${name.replace(/\W+/g, '-')}-${Date.now()}-${i}.zip`);
  const cpu = process.cpuUsage();
  const started = performance.now();
  const result = await exporter(outPath);
  const wall = (performance.now() - started) / 1000;
  const c = process.cpuUsage(cpu);
  const bytes = (await stat(outPath)).size;
  const { records, media } = result.bundle;
  b.out(
    `   export (${name}) run ${i + 1}: ${wall.toFixed(2)} s wall, this process's CPU ${((c.user + c.system) / 1e6).toFixed(2)} s; ` +
      `${records} records, ${media.files} media files (${(media.bytes / 2 ** 20).toFixed(1)} MiB, ${media.missing} missing), ` +
      `ZIP ${(bytes / 2 ** 20).toFixed(1)} MiB (${bytes} B)`,
  );
  const vStarted = performance.now();
  const v = await run(process.execPath, [VERIFIER, outPath, '--key', b.verifierKey], { maxBuffer: 64 * 2 ** 20 }).then(
    (r) => ({ code: 0, stdout: r.stdout }),
    (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
  );
  const verifyWall = (performance.now() - vStarted) / 1000;
  const pass = v.code === 0 && /OVERALL: PASS/.test(v.stdout);
  b.out(
    `   verifier run ${i + 1}: ${verifyWall.toFixed(2)} s wall = ${Math.round(records / verifyWall)} records/s, ` +
      `${(bytes / 2 ** 20 / verifyWall).toFixed(1)} MiB/s; exit ${v.code}, ${pass ? 'OVERALL: PASS' : 'NOT PASS'}`,
  );
  if (!pass) {
    const fails = v.stdout.split('\n').filter((l) => /FAIL/.test(l));
    b.out(
      fails
        .slice(0, 10)
        .map((l) => `     ${l}`)
        .join('\n'),
    );
  }
  return { path: outPath, wall, bytes, records, mediaFiles: media.files, mediaBytes: media.bytes, verifyWall, pass };
}

/** One entry of a ZIP written by the exporter (stored or deflate), read trustingly. */
function zipEntry(zip: Buffer, wanted: string): Buffer {
  const eocd = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  let p = zip.readUInt32LE(eocd + 16);
  for (let i = 0; i < zip.readUInt16LE(eocd + 10); i++) {
    const method = zip.readUInt16LE(p + 10);
    const size = zip.readUInt32LE(p + 20);
    const nameLength = zip.readUInt16LE(p + 28);
    const local = zip.readUInt32LE(p + 42);
    if (zip.subarray(p + 46, p + 46 + nameLength).toString('utf8') === wanted) {
      const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
      const data = zip.subarray(start, start + size);
      return method === 0 ? data : inflateRawSync(data);
    }
    p += 46 + nameLength + zip.readUInt16LE(p + 30) + zip.readUInt16LE(p + 32);
  }
  throw new Error(`${wanted} is not in the bundle`);
}

/**
 * Where the candidate export's time goes beyond the bundle itself: each step exportCandidateEvidence
 * runs, timed on its own with the same inputs (the PDF from the bundle's own timeline.html).
 */
async function stages(b: ExportBench, zipPath: string): Promise<void> {
  const candidate = { candidateId: b.subject.candidateId, stream: b.subject.stream };
  const cp = await b.pool.query<{ tree_size: string; created_at: Date }>(
    'SELECT tree_size, created_at FROM evidence_checkpoints WHERE origin = $1 ORDER BY id DESC LIMIT 1',
    [b.origin],
  );
  const size = Number(cp.rows[0]?.tree_size);
  const signedAt = cp.rows[0]?.created_at as Date;
  let t = performance.now();
  const timeline = await readTimeline(b.pool, candidate, { verify: true });
  const timelineS = (performance.now() - t) / 1000;
  t = performance.now();
  await completenessReport(b.pool, candidate, {
    channels: { kf: { state: 'on' }, archive: { state: 'on' } },
    now: () => signedAt,
    untilSeq: size,
  });
  const completenessS = (performance.now() - t) / 1000;
  const html = zipEntry(await readFile(zipPath), 'timeline.html').toString('utf8');
  t = performance.now();
  const pdf = await renderPdf(html, {
    chromiumPath: process.env['CHROMIUM_PATH'] || '/usr/bin/chromium',
    signedAt,
    header: 'bench',
  });
  const pdfS = (performance.now() - t) / 1000;
  const pdfPath = join(b.dir, 'timeline-bench.pdf');
  await writeFile(pdfPath, pdf);
  const info = await run('pdfinfo', [pdfPath], { encoding: 'utf8' }).catch(() => ({ stdout: '' }));
  const pageCount = /Pages:\s+(\d+)/.exec(info.stdout)?.[1] ?? '?';
  // The bundle's proofs: one by one, as buildBundle asks them, against one batched call.
  const seqs = timeline.entries.map((e) => e.seq).filter((q) => q <= size);
  const store = createMerkleStore(b.pool);
  t = performance.now();
  const single: InclusionProof[] = [];
  for (const q of seqs) single.push(await store.inclusionProof(q, size));
  const singleS = (performance.now() - t) / 1000;
  t = performance.now();
  const batched = await store.inclusionProofs(seqs, size);
  const batchedS = (performance.now() - t) / 1000;
  const same =
    batched.length === single.length &&
    batched.every((p, k) => {
      const o = single[k];
      return o !== undefined && p.seq === o.seq && p.root.equals(o.root) && p.path.every((h, j) => o.path[j]?.equals(h));
    });
  if (!same) throw new Error('inclusionProofs disagrees with inclusionProof');
  b.out(
    `   the bundle's ${seqs.length} inclusion proofs: one by one (inclusionProof, as buildBundle asks) ${singleS.toFixed(2)} s, ` +
      `batched (inclusionProofs, same proofs) ${batchedS.toFixed(2)} s`,
  );
  b.out(
    `   the candidate export's steps on their own: readTimeline(verify) ${timelineS.toFixed(2)} s (${timeline.entries.length} entries), ` +
      `completenessReport ${completenessS.toFixed(2)} s, timeline.pdf by Chromium ${pdfS.toFixed(2)} s ` +
      `(${(html.length / 2 ** 20).toFixed(1)} MiB of HTML → ${(pdf.length / 2 ** 20).toFixed(1)} MiB, ${pageCount} pages)`,
  );
}
