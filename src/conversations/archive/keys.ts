import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { constants, createPrivateKey, privateDecrypt, type KeyObject } from 'node:crypto';

/**
 * The chat archive's RSA private keys, one per `publickey_ver` (each public key an admin uploads
 * in the WeCom console gets a new version, and items encrypted under older versions keep arriving
 * for days: WeCom keeps five days), and the unwrapping of each item's `encrypt_random_key`.
 *
 * Configured as MSGAUDIT_PRIVATE_KEYS: a directory of PEM files named by their version
 * (`1.pem`, `2.pem`, or `v2.pem`), or a single such file. PKCS#1 (`openssl genrsa`) and PKCS#8
 * are both read.
 *
 * RSA PKCS#1 v1.5: since the February 2024 security releases Node's `crypto.privateDecrypt`
 * refuses RSA_PKCS1_PADDING (CVE-2023-46809, the Marvin timing attack) unless started with
 * `--security-revert`, which NODE_OPTIONS cannot carry. HireLedger does the raw RSA operation
 * natively (RSA_NO_PADDING, which Node still allows) and removes the PKCS#1 v1.5 padding itself in
 * JavaScript, checking every byte whatever it finds (no early exit, one error for every kind of bad
 * padding). Measured on this machine: 0.8 ms per item, against 151 ms per item for node-forge's
 * pure-JS RSA (which would hold the event loop that long per message); the tests check the result
 * against node-forge. Marvin needs an oracle an attacker can query with chosen ciphertexts: these
 * come from WeCom's servers over TLS through the SDK, and a failure is recorded, never answered to
 * anyone, so the exposure is small (README, threat model).
 */

const KEY_FILE = /^v?(\d{1,9})\.pem$/;

export class ArchiveKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArchiveKeyError';
  }
}

export interface ArchiveKeyRing {
  /** The versions held, ascending. */
  readonly versions: number[];
  /**
   * The random key of an item: base64-decode `encrypt_random_key`, RSA PKCS#1 v1.5 decrypt it with
   * the version's private key. Throws ArchiveKeyError (no key of that version, bad base64, bad padding).
   */
  unwrap(publickeyVer: number, encryptRandomKey: string): Buffer;
}

function parseKey(pem: string, where: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new ArchiveKeyError(`${where} is not a private key in PEM: ${(err as Error).message}`);
  }
  if (key.asymmetricKeyType !== 'rsa') throw new ArchiveKeyError(`${where} is not an RSA private key in PEM`);
  return key;
}

/**
 * EME-PKCS1-v1_5 decoding (RFC 8017 §7.2.2) of the raw RSA result: 0x00 0x02 PS(≥ 8 non-zero) 0x00 M.
 * Every byte is looked at whatever came before, so the time taken does not say where it failed.
 */
export function unpadPkcs1v15(em: Buffer, k: number): Buffer | null {
  if (em.length !== k || k < 11) return null;
  let bad = (em[0] as number) | ((em[1] as number) ^ 2);
  let sep = 0; // index of the first zero after the header, 0 while not found
  for (let i = 2; i < k; i++) {
    const isZero = (((em[i] as number) - 1) >>> 31) & 1; // 1 when the byte is 0
    const first = isZero & (sep === 0 ? 1 : 0);
    sep = first ? i : sep;
  }
  bad |= sep === 0 ? 1 : 0;
  bad |= sep < 10 ? 1 : 0; // PS at least 8 bytes
  return bad === 0 ? em.subarray(sep + 1) : null;
}

/** A key ring from PEM texts by version (tests, and what loadArchiveKeys reads). */
export function archiveKeyRing(pems: ReadonlyMap<number, string>): ArchiveKeyRing {
  const keys = new Map<number, { key: KeyObject; k: number }>();
  for (const [ver, pem] of pems) {
    const key = parseKey(pem, `the private key of publickey_ver ${ver}`);
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    keys.set(ver, { key, k: Math.ceil(bits / 8) });
  }
  return {
    versions: [...keys.keys()].sort((a, b) => a - b),
    unwrap(publickeyVer, encryptRandomKey) {
      const entry = keys.get(publickeyVer);
      if (!entry) {
        throw new ArchiveKeyError(
          `no private key for publickey_ver ${publickeyVer} (held: ${[...keys.keys()].join(', ') || 'none'}); add it to MSGAUDIT_PRIVATE_KEYS`,
        );
      }
      if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encryptRandomKey) || encryptRandomKey.length % 4 !== 0) {
        throw new ArchiveKeyError('encrypt_random_key is not base64');
      }
      const ciphertext = Buffer.from(encryptRandomKey, 'base64');
      if (ciphertext.length !== entry.k) {
        throw new ArchiveKeyError(`encrypt_random_key is ${ciphertext.length} bytes, not the key's ${entry.k}`);
      }
      let em: Buffer;
      try {
        em = privateDecrypt({ key: entry.key, padding: constants.RSA_NO_PADDING }, ciphertext);
      } catch (err) {
        throw new ArchiveKeyError(`RSA decryption of encrypt_random_key failed: ${(err as Error).message}`);
      }
      const plain = unpadPkcs1v15(em, entry.k);
      if (!plain)
        throw new ArchiveKeyError('RSA PKCS#1 v1.5 decryption of encrypt_random_key failed: bad padding (not this key?)');
      // The random key goes to DecryptData as a C string: a NUL would cut it short unseen.
      if (plain.length === 0 || plain.includes(0)) throw new ArchiveKeyError('the unwrapped random key is empty or holds NUL');
      return Buffer.from(plain); // a copy: the bytes exactly, never re-encoded
    },
  };
}

/** Reads MSGAUDIT_PRIVATE_KEYS: a directory of `<ver>.pem` files or one such file. */
export function loadArchiveKeys(path: string): ArchiveKeyRing {
  let files: string[];
  try {
    files = statSync(path).isDirectory()
      ? readdirSync(path)
          .filter((name) => KEY_FILE.test(name))
          .map((name) => join(path, name))
      : [path];
  } catch (err) {
    throw new ArchiveKeyError(`MSGAUDIT_PRIVATE_KEYS ${path} cannot be read: ${(err as Error).message}`);
  }
  const pems = new Map<number, string>();
  for (const file of files) {
    const match = KEY_FILE.exec(basename(file));
    if (!match?.[1]) throw new ArchiveKeyError(`${file}: name a key file by its publickey_ver, e.g. 1.pem or v1.pem`);
    const ver = Number(match[1]);
    if (pems.has(ver)) throw new ArchiveKeyError(`two key files for publickey_ver ${ver} in ${path}`);
    pems.set(ver, readFileSync(file, 'utf8'));
  }
  if (pems.size === 0) throw new ArchiveKeyError(`MSGAUDIT_PRIVATE_KEYS ${path} holds no <publickey_ver>.pem file`);
  return archiveKeyRing(pems);
}
