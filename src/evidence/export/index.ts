import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { access, link, open, realpath, stat, unlink } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, sep } from 'node:path';
import type { Pool } from 'pg';
import type { Ledger } from '../ledger';
import {
  buildBundle,
  bundleZip,
  ExportRefusedError,
  EXPORTED_KIND,
  EXPORT_SOURCE,
  type Bundle,
  type BundleRequest,
} from './bundle';

export {
  buildBundle,
  bundleZip,
  contentDigestOf,
  recordLine,
  BUNDLE_FORMAT,
  DOCUMENT_NAMES,
  EXPORTED_KIND,
  EXPORT_SOURCE,
  ExportRefusedError,
  type Bundle,
  type BundleContext,
  type BundleMediaSource,
  type BundleRequest,
  type BundleStream,
  type DocumentName,
  type ExportInfo,
} from './bundle';
export { crc32, isSafeEntryName, writeZip, type ZipFile } from './zip';

export interface ExportRequest extends BundleRequest {
  /** The stream the custody record (`evidence.exported`) goes to: the subject's own. */
  subjectStream: string;
  /** The WeCom userid of who exports. */
  exportedBy: string;
  /** Where the ZIP goes; must not exist yet, its folder must. */
  outPath: string;
  /**
   * The folder exports go to (EVIDENCE_EXPORT_DIR): the output must resolve inside it, symbolic
   * links followed, so a typed or pasted `../` or a link cannot put evidence somewhere else.
   */
  exportDir?: string;
}

export interface ExportResult {
  bundle: Bundle;
  outPath: string;
  record: { seq: number; hash: string; stream: string };
  bytes: number;
}

const USERID = /^[A-Za-z0-9_.@-]{1,64}$/;

/**
 * Builds the bundle, appends the custody record (naming the bundle's content hash) BEFORE any file
 * is written, then writes the ZIP to a temporary file beside the target and only then gives it its
 * name. A bundle therefore never exists without its custody record (a failed write leaves a record
 * of an attempted export, and no file). The record cannot be in the bundle it describes: it is a
 * later record of the same stream, after the checkpoint; export.json names it, and the next export
 * against a newer checkpoint holds it. The final name is taken with link(2), which refuses an
 * existing file, so a file that appeared in the meantime is never overwritten.
 */
export async function exportBundle(pool: Pool, ledger: Ledger, req: ExportRequest): Promise<ExportResult> {
  if (!USERID.test(req.exportedBy))
    throw new ExportRefusedError(`--as 不是有效的企业微信 userid (not a WeCom userid): ${JSON.stringify(req.exportedBy)}`);
  await checkOutPath(req.outPath, req.exportDir);
  const bundle = await buildBundle(pool, req);
  const tmp = join(dirname(req.outPath), `.${basename(req.outPath)}.${randomUUID()}.tmp`);
  try {
    const exportedAt = new Date();
    const appended = await ledger.append({
      stream: req.subjectStream,
      kind: EXPORTED_KIND,
      occurredAt: exportedAt,
      actor: req.exportedBy,
      source: EXPORT_SOURCE,
      sourceRef: `export:${randomUUID()}`,
      payload: {
        content_sha256: bundle.contentSha256,
        checkpoint_size: bundle.checkpoint.size,
        checkpoint_root: bundle.checkpoint.rootHash.toString('hex'),
        records: bundle.records,
        first_seq: bundle.firstSeq,
        last_seq: bundle.lastSeq,
        streams: bundle.streams.map((s) => ({
          stream: s.stream,
          complete: s.complete,
          records: s.records,
          head_hash: s.headHash,
        })),
        media_files: bundle.media.files,
        file: basename(req.outPath),
      },
      raw: null,
    });
    const record = { seq: appended.seq, hash: appended.hash, stream: req.subjectStream };
    const zip = bundleZip(bundle, {
      exportedBy: req.exportedBy,
      exportedAt: appended.status === 'appended' ? appended.recordedAt : exportedAt,
      record,
    });
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(zip);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await link(tmp, req.outPath);
    return { bundle, outPath: req.outPath, record, bytes: zip.length };
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

async function checkOutPath(path: string, exportDir: string | undefined): Promise<void> {
  if (!path.toLowerCase().endsWith('.zip'))
    throw new ExportRefusedError(`输出文件须以 .zip 结尾 (the output must be a .zip file): ${path}`);
  const parent = await stat(dirname(path)).catch(() => null);
  if (!parent?.isDirectory()) throw new ExportRefusedError(`输出目录不存在 (the output folder does not exist): ${dirname(path)}`);
  if (exportDir !== undefined) {
    const root = await realpath(exportDir).catch(() => null);
    if (root === null) throw new ExportRefusedError(`导出目录不存在 (the export folder does not exist): ${exportDir}`);
    const where = await realpath(dirname(path));
    const rel = relative(root, where);
    if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel))
      throw new ExportRefusedError(
        `输出路径不在导出目录 ${root} 内 (the output must be inside the export folder, EVIDENCE_EXPORT_DIR): ${path}`,
      );
  }
  const exists = await access(path, constants.F_OK).then(
    () => true,
    () => false,
  );
  if (exists) throw new ExportRefusedError(`输出文件已存在，不会覆盖 (the output file already exists): ${path}`);
}
