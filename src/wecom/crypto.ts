import { createDecipheriv, hash, timingSafeEqual, type Decipher } from 'node:crypto';
import { getSignature } from '@wecom/crypto';

/**
 * WeCom callback cryptography (加解密方案, doc 90968).
 *
 * Signing uses @wecom/crypto. Decryption is done here, strictly, because the library's decrypt
 * is lenient in ways an evidence system cannot be: it ignores padding outside 1..32, never
 * bounds-checks msg_len, never compares receiveid, and decodes invalid UTF-8 into U+FFFD. The
 * message is returned as the bytes WeCom encrypted (a BOM or bytes that are not UTF-8 included):
 * what they mean is for the caller to decide, what they are is evidence.
 * Every failure below surfaces as one uniform CryptoError code, so the answer does not tell an
 * attacker which step failed (no padding oracle).
 */

export type CryptoErrorCode = 'decrypt_failed' | 'receiveid_mismatch';

export class CryptoError extends Error {
  constructor(
    readonly code: CryptoErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'CryptoError';
  }
}

export function signatureOf(token: string, timestamp: string, nonce: string, encrypt: string): string {
  return getSignature(token, timestamp, nonce, encrypt);
}

/** Constant-time comparison of the expected signature with the one received. */
export function verifySignature(token: string, timestamp: string, nonce: string, encrypt: string, received: string): boolean {
  // The same SHA-1 as @wecom/crypto's getSignature (signatureOf), one-shot: this runs for every
  // request, signed or not (test/wecom/crypto.test.ts checks the two agree on WeCom's vectors).
  const expected = hash('sha1', [token, timestamp, nonce, encrypt].sort().join(''), 'hex');
  // Hash both sides to a fixed length so a wrong-length input costs the same as a wrong one.
  const a = hash('sha256', expected, 'buffer');
  const b = hash('sha256', received, 'buffer');
  return timingSafeEqual(a, b);
}

export interface AesKey {
  key: Buffer;
  iv: Buffer;
}

/**
 * AES-256 block decryption for each key (ECB, no padding), made once and reused: CBC decryption is
 * each block decrypted, then XORed with the block before it (the IV for the first), and ECB keeps
 * no state between blocks, so one long-lived decipher serves every message. Making a CBC decipher
 * per message cost more than the decryption itself (issue 8). Kept here, out of callers' reach: a
 * partial block or a final() on it would shift every later message.
 */
const BLOCKS = new WeakMap<AesKey, Decipher>();

export function aesKeyOf(encodingAesKey: string): AesKey {
  const key = Buffer.from(`${encodingAesKey}=`, 'base64');
  if (encodingAesKey.length !== 43 || key.length !== 32) throw new Error('EncodingAESKey must decode to 32 bytes');
  const aesKey = { key, iv: key.subarray(0, 16) };
  const blocks = createDecipheriv('aes-256-ecb', key, null);
  blocks.setAutoPadding(false);
  BLOCKS.set(aesKey, blocks);
  return aesKey;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

export interface Decrypted {
  /** The decrypted message, byte for byte (msg_len bytes). */
  message: Buffer;
  receiveId: string;
}

/**
 * Decrypt one `Encrypt` value: base64 → AES-256-CBC (IV = key[0..16]) → PKCS#7 padding to 32 bytes
 * → random(16) ‖ msg_len(4, BE) ‖ msg ‖ receiveid. Throws CryptoError('decrypt_failed') for any
 * malformed input and CryptoError('receiveid_mismatch') when receiveid is not the expected corp.
 */
export function decryptMessage(keys: readonly AesKey[], encrypt: string, expectedReceiveId: string): Decrypted {
  if (encrypt.length === 0 || encrypt.length % 4 !== 0 || !BASE64.test(encrypt)) {
    throw new CryptoError('decrypt_failed', 'ciphertext is not valid base64');
  }
  const cipherBytes = Buffer.from(encrypt, 'base64');
  if (cipherBytes.length === 0 || cipherBytes.length % 32 !== 0) {
    throw new CryptoError('decrypt_failed', 'ciphertext length is not a multiple of 32 bytes');
  }
  const expected = Buffer.from(expectedReceiveId, 'utf8');
  let mismatch = false;
  for (const k of keys) {
    const opened = tryOpen(k, cipherBytes);
    if (!opened) continue;
    // Compared as bytes: a receiveid is the corp id exactly or it is not ours.
    if (opened.receiveId.equals(expected)) return { message: opened.message, receiveId: expectedReceiveId };
    mismatch = true;
  }
  if (mismatch) throw new CryptoError('receiveid_mismatch', 'receiveid does not match the configured CorpID');
  throw new CryptoError('decrypt_failed', 'ciphertext could not be decrypted');
}

/** AES-256-CBC decryption of whole blocks (no padding removed): ECB per block, then the CBC XOR. */
export function cbcDecrypt(aesKey: AesKey, cipherBytes: Buffer): Buffer {
  const { iv } = aesKey;
  const blocks = BLOCKS.get(aesKey);
  if (!blocks) throw new Error('AES key not made by aesKeyOf');
  // A partial block would stay buffered in the shared decipher and shift every later message.
  if (cipherBytes.length % 16 !== 0) throw new CryptoError('decrypt_failed', 'ciphertext is not whole AES blocks');
  const plain = blocks.update(cipherBytes);
  // Without padding, ECB hands back every whole block at once; anything else would be a bug here.
  if (plain.length !== cipherBytes.length)
    throw new CryptoError('decrypt_failed', 'AES block decryption returned a partial result');
  for (let i = 0; i < 16; i++) plain[i] = (plain[i] as number) ^ (iv[i] as number);
  for (let i = 16; i < plain.length; i++) plain[i] = (plain[i] as number) ^ (cipherBytes[i - 16] as number);
  return plain;
}

function tryOpen(k: AesKey, cipherBytes: Buffer): { message: Buffer; receiveId: Buffer } | undefined {
  const plain = cbcDecrypt(k, cipherBytes);
  const pad = plain[plain.length - 1] ?? 0;
  if (pad < 1 || pad > 32 || pad > plain.length) return undefined;
  for (let i = plain.length - pad; i < plain.length; i++) if (plain[i] !== pad) return undefined;
  const body = plain.subarray(0, plain.length - pad);
  if (body.length < 20) return undefined;
  const msgLen = body.readUInt32BE(16);
  if (msgLen > body.length - 20) return undefined;
  // Copies, so the caller holds no view into the whole decrypted buffer.
  return { message: Buffer.from(body.subarray(20, 20 + msgLen)), receiveId: Buffer.from(body.subarray(20 + msgLen)) };
}
