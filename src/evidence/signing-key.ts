import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { open } from 'node:fs/promises';
import { rawPublicKey } from './checkpoint';

/**
 * The checkpoint signing key: an Ed25519 private key in a PKCS#8 PEM file
 * (`-----BEGIN PRIVATE KEY-----`, what `openssl genpkey -algorithm ed25519` and
 * `npm run evidence:keygen` write). The path comes from configuration
 * (EVIDENCE_SIGNING_KEY_FILE); this module only reads the file it is given.
 *
 * Whoever can read this key can sign checkpoints of a rewritten ledger, so a file that group or
 * others may access is refused by default, as ssh refuses such private keys. Deployments whose
 * secret mounts cannot be made 0600 can choose to be warned instead.
 */

export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** The 32-byte Ed25519 public key, what verifier keys and key IDs are made of. */
  publicKeyRaw: Buffer;
}

export type InsecurePermissionsPolicy =
  { insecurePermissions: 'refuse' } | { insecurePermissions: 'warn'; onWarning: (message: string) => void };

export class SigningKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SigningKeyError';
  }
}

/** A PEM private key is a few hundred bytes; anything much larger is not one. */
const MAX_KEY_FILE_BYTES = 16 * 1024;

export async function loadSigningKey(
  path: string,
  policy: InsecurePermissionsPolicy = { insecurePermissions: 'refuse' },
): Promise<SigningKey> {
  let file;
  try {
    file = await open(path, 'r');
  } catch (err) {
    throw new SigningKeyError(`cannot open the evidence signing key ${path}: ${(err as Error).message}`);
  }
  try {
    // fstat of the opened file, not stat of the path: what is checked is what is read.
    const st = await file.stat();
    if (!st.isFile()) throw new SigningKeyError(`the evidence signing key ${path} is not a regular file`);
    if (st.size > MAX_KEY_FILE_BYTES) throw new SigningKeyError(`the evidence signing key ${path} is too large to be a PEM key`);
    // Windows has no POSIX modes: the bits there say nothing about who can read the file.
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
      const message =
        `the evidence signing key ${path} is accessible by group or others (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}); ` +
        `make it readable by its owner only (chmod 600)`;
      if (policy.insecurePermissions === 'refuse') throw new SigningKeyError(message);
      policy.onWarning(message);
    }
    const pem = await file.readFile({ encoding: 'utf8' });
    return signingKeyFromPem(pem, path);
  } finally {
    await file.close();
  }
}

/** Parses a PKCS#8 PEM Ed25519 private key; `source` names it in errors. */
export function signingKeyFromPem(pem: string, source = 'the evidence signing key'): SigningKey {
  const labels = [...pem.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----/g)].map((m) => m[1]);
  if (labels.length !== 1) throw new SigningKeyError(`${source} must hold exactly one PEM block, found ${labels.length}`);
  const label = labels[0];
  if (label === 'ENCRYPTED PRIVATE KEY') {
    throw new SigningKeyError(
      `${source} is encrypted; the service cannot ask for a passphrase, store it unencrypted with mode 0600`,
    );
  }
  if (label !== 'PRIVATE KEY') throw new SigningKeyError(`${source} must be a PKCS#8 "PRIVATE KEY" PEM, not "${label}"`);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new SigningKeyError(`${source} is not a readable private key: ${(err as Error).message}`);
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new SigningKeyError(
      `${source} is a ${privateKey.asymmetricKeyType ?? 'unknown'} key; checkpoints are signed with Ed25519`,
    );
  }
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, publicKeyRaw: rawPublicKey(publicKey) };
}

/**
 * Generates a new key and writes it as PKCS#8 PEM to `path`, created with mode 0600. Refuses to
 * overwrite an existing file: replacing a signing key silently would orphan every verifier
 * configured with the old one.
 */
export async function writeNewSigningKey(path: string): Promise<SigningKey> {
  const { privateKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
  let file;
  try {
    file = await open(path, 'wx', 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new SigningKeyError(
      code === 'EEXIST'
        ? `${path} already exists; refusing to overwrite a signing key`
        : `cannot create ${path}: ${(err as Error).message}`,
    );
  }
  try {
    await file.writeFile(pem, 'utf8');
    await file.sync();
  } finally {
    await file.close();
  }
  return signingKeyFromPem(pem, path);
}
