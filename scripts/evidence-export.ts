import { loadDotEnvOnce } from '../src/config/dotenv';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Pool } from 'pg';
import { createMediaStore, type MediaStoreKind } from '../src/conversations';
import { ARCHIVE_STREAMS } from '../src/conversations/archive';
import { checkpointOrigin, createLedger, loadSigningKey, verifierKeyOf } from '../src/evidence';
import { ExportRefusedError } from '../src/evidence/export';
import { exportCandidateEvidence, exportStreamEvidence, type LegalExportDeps } from '../src/legal';
import { projectRoot } from '../src/infra/paths';
import { archiveSettingsFromEnv, channelStatuses } from './channel-status';

/**
 * `npm run evidence:export -- --candidate <external_userid|cd_id> --out <file.zip> --as <userid> [--from D] [--to D]`
 * `npm run evidence:export -- --stream <stream> --out <file.zip> --as <userid> [--from D] [--to D]`
 *
 * Writes one candidate's evidence (or one stream's) as a ZIP anyone can check offline with
 * `node verifier/hireledger-verify.mjs <file.zip>` or the bundle's verify.html: the records with an
 * inclusion proof each against the newest signed checkpoint, the checkpoint, its witnesses and key,
 * the media, a manifest signed with the ledger's key, and for a candidate the Chinese timeline (HTML
 * and PDF), the evidence list, the completeness report and the custody log. --as must hold the 法务
 * role (npm run members:role); the export is recorded (`evidence.exported`, actor = --as) before the
 * file is written. --from/--to: `YYYY-MM-DD` (a day in Asia/Shanghai; --to includes that day) or an
 * ISO-8601 time with its offset; only records whose time is in the range, and then no stream is whole.
 *
 * Reads DATABASE_URL, WECOM_CORP_ID, EVIDENCE_SIGNING_KEY_FILE (the statement is signed with the
 * checkpoint's key), CHROMIUM_PATH (default /usr/bin/chromium), MEDIA_STORE/MEDIA_DIR/MEDIA_MAX_BYTES,
 * MSGAUDIT_* (the archive channel's status), EVIDENCE_KEY_HOLDER (who holds the keys, for 环境说明),
 * EVIDENCE_EXPORT_DIR (the folder --out must resolve inside; default: the current folder).
 * Exit 0 when written, 1 when refused: then no file is written.
 */
const USAGE =
  'usage: npm run evidence:export -- (--candidate <external_userid|cd_id> | --stream <stream>) --out <file.zip> --as <userid> [--from <date>] [--to <date>]\n';

const SHANGHAI_OFFSET_MS = 8 * 3600 * 1000;
const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;

/** A day is Asia/Shanghai's; `end` gives the start of the next day (so --to includes the day). */
export function parseWhen(text: string, what: string, end: boolean): Date {
  const day = DAY.exec(text);
  if (day) {
    const start = Date.UTC(Number(day[1]), Number(day[2]) - 1, Number(day[3])) - SHANGHAI_OFFSET_MS;
    const d = new Date(start + (end ? 24 * 3600 * 1000 : 0));
    if (!Number.isNaN(d.getTime()) && new Date(start + SHANGHAI_OFFSET_MS).toISOString().slice(0, 10) === text) return d;
  } else if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/.test(text)) {
    const d = new Date(text);
    if (!Number.isNaN(d.getTime())) return d;
  }
  throw new ExportRefusedError(`${what} 不是有效的日期 (YYYY-MM-DD or ISO-8601 with offset): ${JSON.stringify(text)}`);
}

function required(name: string): string {
  const v = process.env[name];
  if (!v) throw new ExportRefusedError(`${name} is required but not set`);
  return v;
}

async function main(): Promise<number> {
  loadDotEnvOnce();
  const { values, positionals } = parseArgs({
    options: {
      candidate: { type: 'string' },
      stream: { type: 'string' },
      out: { type: 'string' },
      as: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new ExportRefusedError(`unexpected argument ${positionals[0]}`);
  if (!values.candidate === !values.stream) throw new ExportRefusedError('name one of --candidate or --stream');
  if (!values.out) throw new ExportRefusedError('--out is required');
  if (!values.as) throw new ExportRefusedError('--as is required (the userid of who exports)');
  const from = values.from !== undefined ? parseWhen(values.from, '--from', false) : undefined;
  const to = values.to !== undefined ? parseWhen(values.to, '--to', true) : undefined;
  const url = required('DATABASE_URL');
  const corpId = required('WECOM_CORP_ID');
  const origin = checkpointOrigin(corpId);
  const signingKey = await loadSigningKey(required('EVIDENCE_SIGNING_KEY_FILE'));
  const root = projectRoot();
  const formatSpec = await readFile(join(root, 'docs', 'evidence-format.md'));
  const verifyHtml = await readFile(join(root, 'verifier', 'verify.html'));
  const verifierScript = await readFile(join(root, 'verifier', 'hireledger-verify.mjs'));
  const outPath = resolve(values.out);
  // Exports go to one folder: EVIDENCE_EXPORT_DIR, else the folder the command runs in.
  const exportDir = process.env['EVIDENCE_EXPORT_DIR'] || process.cwd();

  const pool = new Pool({ connectionString: url, max: 3 });
  pool.on('error', () => undefined);
  const ledger = createLedger({ pool });
  try {
    const mediaDir = process.env['MEDIA_DIR'] || undefined;
    const media = createMediaStore(pool, {
      kind: (process.env['MEDIA_STORE'] || 'pg') as MediaStoreKind,
      ...(mediaDir ? { dir: mediaDir } : {}),
      maxBytes: Number(process.env['MEDIA_MAX_BYTES'] || 20971520),
    });
    const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string };
    const deps: LegalExportDeps = {
      pool,
      ledger,
      corpId,
      origin,
      signingKey,
      formatSpec,
      verifyHtml,
      verifierScript,
      chromiumPath: process.env['CHROMIUM_PATH'] || '/usr/bin/chromium',
      media,
      channels: channelStatuses(archiveSettingsFromEnv()),
      sharedStreams: [ARCHIVE_STREAMS.corp(corpId)],
      system: {
        version: pkg.version,
        keyHolder: process.env['EVIDENCE_KEY_HOLDER'] || '未配置（EVIDENCE_KEY_HOLDER）',
        publicKey: verifierKeyOf(origin, signingKey.publicKey),
      },
    };
    const common = { ...(from ? { from } : {}), ...(to ? { to } : {}), exportedBy: values.as, outPath, exportDir };
    const result = values.candidate
      ? await exportCandidateEvidence(deps, { candidate: values.candidate, ...common })
      : await exportStreamEvidence(deps, { stream: values.stream as string, ...common });
    const b = result.bundle;
    process.stderr.write(
      `已导出 ${b.records} 条记录 (seq ${b.firstSeq}–${b.lastSeq})，检查点 ${b.checkpoint.size} 条，媒体 ${b.media.files} 个` +
        `${b.media.missing ? `（${b.media.missing} 个已缺失）` : ''}，写入 ${result.outPath}（${result.bytes} 字节）\n` +
        `content sha256 ${b.contentSha256}; custody record ${result.record.seq}\n` +
        `核验：node verifier/hireledger-verify.mjs ${result.outPath} --key '${verifierKeyOf(origin, signingKey.publicKey)}'\n`,
    );
    return 0;
  } finally {
    await ledger.close();
    await pool.end();
  }
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      // The usage line only when the command line was wrong, not when the export was refused.
      const usage = err instanceof ExportRefusedError && !/^(name one|--out|--as|unexpected)/.test(err.message) ? '' : USAGE;
      process.stderr.write(`evidence:export: ${(err as Error).message}\n${usage}`);
      process.exit(1);
    },
  );
}
