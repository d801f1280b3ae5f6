import { loadDotEnvOnce } from '../src/config/dotenv';
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { Pool } from 'pg';
import {
  checkpointOrigin,
  loadSigningKey,
  openCheckpoint,
  storedCheckpoints,
  verifierKeyOf,
  verifyLedger,
  type TreeHead,
} from '../src/evidence';

/**
 * `npm run evidence:verify [-- --checkpoint <file>... --key <verifier key>...]`
 *
 * Re-walks every record, chain and Merkle node in one snapshot. With checkpoints kept outside the
 * database (files saved from `npm run evidence:checkpoint`, GET /evidence/checkpoint or the WeCom
 * group), it also checks that the first N records still have each checkpoint's root, which catches
 * a rewrite made consistent inside the database, and names the records that hold it. The
 * checkpoints stored in the database are used too, once their signatures verify, to narrow the range.
 *
 * The verifier key (`<origin>+<id>+<key>`, printed by `npm run evidence:keygen`) comes from --key,
 * or is derived from EVIDENCE_SIGNING_KEY_FILE. Exit 0 intact, 2 broken or rewritten, 1 when the
 * check could not run (bad arguments, a checkpoint file whose signature does not verify, …).
 */
const USAGE = 'usage: npm run evidence:verify [-- --checkpoint <file>... --key <verifier key>... --origin <origin>]\n';

async function main(): Promise<number> {
  loadDotEnvOnce(); // .env fills in what the environment leaves unset
  const { values } = parseArgs({
    options: {
      checkpoint: { type: 'string', multiple: true },
      key: { type: 'string', multiple: true },
      origin: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const url = process.env['DATABASE_URL'];
  if (!url) throw new Error('DATABASE_URL is required but not set');
  const files = values.checkpoint ?? [];
  const keys = [...(values.key ?? [])];
  const corp = process.env['WECOM_CORP_ID'];
  const origin = values.origin ?? (corp ? checkpointOrigin(corp) : undefined);
  const keyFile = process.env['EVIDENCE_SIGNING_KEY_FILE'];
  if (keys.length === 0 && keyFile && origin) {
    const key = await loadSigningKey(keyFile, { insecurePermissions: 'warn', onWarning: () => undefined });
    keys.push(verifierKeyOf(origin, key.publicKey));
  }
  if (files.length > 0 && keys.length === 0) {
    throw new Error('--checkpoint needs the verifier key: pass --key <origin>+<id>+<key> (or set EVIDENCE_SIGNING_KEY_FILE)');
  }

  const treeHeads: TreeHead[] = [];
  let cpOrigin = origin;
  for (const file of files) {
    // A checkpoint that does not verify is not evidence of anything: refuse to go on.
    const cp = openCheckpoint(await readFile(file, 'utf8'), keys, cpOrigin);
    cpOrigin ??= cp.origin;
    treeHeads.push({ size: cp.size, rootHash: cp.rootHash, label: file });
  }

  const pool = new Pool({ connectionString: url, max: 2 });
  pool.on('error', () => undefined);
  try {
    let ignored = 0;
    if (keys.length > 0 && cpOrigin) {
      for (const stored of await storedCheckpoints(pool, cpOrigin)) {
        try {
          const cp = openCheckpoint(stored.note, keys, cpOrigin);
          treeHeads.push({ size: cp.size, rootHash: cp.rootHash, label: `stored checkpoint ${stored.id}` });
        } catch {
          ignored += 1; // forged or signed by another key: proves nothing either way
        }
      }
    }
    const report = await verifyLedger(pool, { treeHeads });
    const matched = report.checkpoints.filter((c) => c.matches).length;
    const cpLine =
      report.checkpoints.length > 0
        ? `; ${matched} of ${report.checkpoints.length} checkpoints match${ignored ? ` (${ignored} stored ones ignored: signature did not verify)` : ''}`
        : '';
    if (report.ok) {
      process.stdout.write(
        `evidence ledger intact: ${report.records} records, ${report.streams} streams, head ${report.headHash ?? '(empty)'}, ` +
          `root ${report.rootHash}${cpLine}\n`,
      );
      return 0;
    }
    const p = report.firstProblem;
    process.stderr.write(
      `EVIDENCE LEDGER BROKEN at seq ${p?.seq ?? '-'}${p?.stream ? ` (stream ${p.stream})` : ''}: ${p?.kind}: ${p?.detail}\n` +
        `walked ${report.records} records${cpLine}\n`,
    );
    for (const c of report.checkpoints.filter((x) => !x.matches)) {
      process.stderr.write(`  checkpoint at tree size ${c.size} (${c.label}) does not match: ${c.detail ?? ''}\n`);
    }
    return 2;
  } finally {
    await pool.end();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`evidence verification could not run: ${(err as Error).message}\n${USAGE}`);
    process.exit(1);
  },
);
