import { loadDotEnvOnce } from '../src/config/dotenv';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Pool } from 'pg';
import { createCandidateDirectory } from '../src/candidates';
import { checkpointOrigin, createLedger, createLedgerReader, loadSigningKey, verifierKeyOf } from '../src/evidence';
import { exportBundle } from '../src/evidence/export';
import { linkTarget, resolveCandidate } from '../src/timeline';

/**
 * `npm run evidence:export -- --candidate <external_userid|cd_id> --out <file.zip> --as <userid>`
 *
 * Writes one candidate's evidence as a ZIP anyone can check offline with
 * `node verifier/hireledger-verify.mjs <file.zip>`: the candidate's stream whole, the records its
 * link records name, an inclusion proof of each against the newest signed checkpoint, that
 * checkpoint and its public key, and the format specification. The export is itself recorded
 * (`evidence.exported` on the candidate's stream, actor = --as). The public key is
 * EVIDENCE_VERIFIER_KEY, or derived from EVIDENCE_SIGNING_KEY_FILE.
 * Exit 0 when written, 1 when refused (unknown candidate, output exists or its folder does not,
 * no checkpoint covering the records): then nothing is written.
 */
const USAGE = 'usage: npm run evidence:export -- --candidate <external_userid|cd_id> --out <file.zip> --as <userid>\n';

async function verifierKey(origin: string): Promise<string> {
  const configured = process.env['EVIDENCE_VERIFIER_KEY'];
  if (configured) return configured.trim();
  const file = process.env['EVIDENCE_SIGNING_KEY_FILE'];
  if (!file)
    throw new Error('EVIDENCE_VERIFIER_KEY or EVIDENCE_SIGNING_KEY_FILE is required (the public key goes into the bundle)');
  return verifierKeyOf(origin, (await loadSigningKey(file)).publicKey);
}

async function main(): Promise<number> {
  loadDotEnvOnce();
  const { values, positionals } = parseArgs({
    options: {
      candidate: { type: 'string' },
      out: { type: 'string' },
      as: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new Error(`unexpected argument ${positionals[0]}`);
  if (!values.candidate) throw new Error('--candidate is required');
  if (!values.out) throw new Error('--out is required');
  if (!values.as) throw new Error('--as is required (the userid of who exports)');
  const url = process.env['DATABASE_URL'];
  if (!url) throw new Error('DATABASE_URL is required but not set');
  const corpId = process.env['WECOM_CORP_ID'];
  if (!corpId) throw new Error('WECOM_CORP_ID is required but not set');
  const origin = checkpointOrigin(corpId);
  const vkey = await verifierKey(origin);
  const formatSpec = await readFile(join(__dirname, '..', 'docs', 'evidence-format.md'));

  const pool = new Pool({ connectionString: url, max: 2 });
  pool.on('error', () => undefined);
  const ledger = createLedger({ pool });
  try {
    const candidate = await resolveCandidate(createCandidateDirectory(pool), corpId, values.candidate);
    if (!candidate) throw new Error('未找到该候选人（本企业没有这个 external_userid 或候选人 id）');
    // The records the candidate's link records name (their own streams are other subjects').
    const linkedSeqs: number[] = [];
    for await (const r of createLedgerReader(pool).cursor({ stream: candidate.stream, pageSize: 1000 })) {
      const target = linkTarget(r);
      if (target) linkedSeqs.push(target.seq);
    }
    const result = await exportBundle(pool, ledger, {
      streams: [candidate.stream],
      linkedSeqs,
      origin,
      verifierKey: vkey,
      formatSpec,
      subjectStream: candidate.stream,
      exportedBy: values.as,
      outPath: resolve(values.out),
    });
    process.stderr.write(
      `exported ${result.bundle.records} records (seq ${result.bundle.firstSeq}–${result.bundle.lastSeq}) against the checkpoint of ` +
        `${result.bundle.checkpoint.size} records to ${result.outPath} (${result.bytes} bytes); content sha256 ` +
        `${result.bundle.contentSha256}; custody record ${result.record.seq}\n`,
    );
    return 0;
  } finally {
    await ledger.close();
    await pool.end();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`evidence:export: ${(err as Error).message}\n${USAGE}`);
    process.exit(1);
  },
);
