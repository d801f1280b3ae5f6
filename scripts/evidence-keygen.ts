import { parseArgs } from 'node:util';
import { isValidKeyName, verifierKeyOf } from '../src/evidence/checkpoint';
import { loadSigningKey, writeNewSigningKey, SigningKeyError, type SigningKey } from '../src/evidence/signing-key';

/**
 * `npm run evidence:keygen -- --out <file> [--origin <origin>]...`
 *   writes a new Ed25519 checkpoint signing key (PKCS#8 PEM, mode 0600; an existing file is never
 *   overwritten) and prints, for each origin, the verifier key to give to whoever checks the
 *   checkpoints: `<origin>+<key ID>+<public key>`.
 * `npm run evidence:keygen -- --key <file> --origin <origin>...`
 *   prints the verifier keys of an existing key (e.g. for another corp's origin).
 *
 * The origin of a corp's ledger is `hireledger.evidence/<CorpID>` (DECISIONS 5); the signature
 * line's key name is the origin, so the verifier key depends on it.
 * stdout carries only the verifier keys (one per line); everything else goes to stderr.
 * Exit 0 on success, 2 on bad usage, 1 when the key cannot be written or read.
 */
const USAGE =
  'usage: npm run evidence:keygen -- --out <file> [--origin <origin>]...\n' +
  '       npm run evidence:keygen -- --key <file> --origin <origin>...\n' +
  'origin for a corp: hireledger.evidence/<CorpID>\n';

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        out: { type: 'string' },
        key: { type: 'string' },
        origin: { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const origins = values.origin ?? [];
  const bad = origins.find((o) => !isValidKeyName(o));
  if (bad !== undefined) {
    process.stderr.write(`invalid origin ${JSON.stringify(bad)}: it is the key name, so no spaces and no "+"\n`);
    return 2;
  }
  if ((values.out === undefined) === (values.key === undefined)) {
    process.stderr.write(`give exactly one of --out (new key) and --key (existing key)\n${USAGE}`);
    return 2;
  }

  let key: SigningKey;
  if (values.out !== undefined) {
    key = await writeNewSigningKey(values.out);
    process.stderr.write(
      `wrote a new Ed25519 signing key to ${values.out} (mode 0600); keep it out of backups of the database\n`,
    );
  } else {
    if (origins.length === 0) {
      process.stderr.write(`--key needs at least one --origin\n${USAGE}`);
      return 2;
    }
    key = await loadSigningKey(values.key as string);
  }

  if (origins.length === 0) {
    process.stderr.write(
      `no --origin given, so no verifier key printed; the raw public key is below. Later:\n` +
        `  npm run evidence:keygen -- --key ${values.out ?? '<file>'} --origin hireledger.evidence/<CorpID>\n`,
    );
    process.stdout.write(`${key.publicKeyRaw.toString('base64')}\n`);
    return 0;
  }
  for (const origin of origins) process.stdout.write(`${verifierKeyOf(origin, key.publicKeyRaw)}\n`);
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`evidence:keygen failed: ${err instanceof SigningKeyError ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
