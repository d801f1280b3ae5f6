import { createDecipheriv, createHash, timingSafeEqual } from 'node:crypto';
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
  const expected = Buffer.from(signatureOf(token, timestamp, nonce, encrypt), 'utf8');
  // Hash both sides to a fixed length so a wrong-length input costs the same as a wrong one.
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(received, 'utf8').digest();
  return timingSafeEqual(a, b);
}

export interface AesKey {
  key: Buffer;
  iv: Buffer;
}

export function aesKeyOf(encodingAesKey: string): AesKey {
  const key = Buffer.from(`${encodingAesKey}=`, 'base64');
  if (encodingAesKey.length !== 43 || key.length !== 32) throw new Error('EncodingAESKey must decode to 32 bytes');
  return { key, iv: key.subarray(0, 16) };
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

function tryOpen({ key, iv }: AesKey, cipherBytes: Buffer): { message: Buffer; receiveId: Buffer } | undefined {
  const decipher = createDecipheriv('aes-256-cbc', key, iv);
  decipher.setAutoPadding(false);
  const plain = Buffer.concat([decipher.update(cipherBytes), decipher.final()]);
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
