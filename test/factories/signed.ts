/**
 * Signed and encrypted callback requests, as WeCom sends them. Encryption and signing are the
 * sandbox's (sandbox/callbacks.ts, on the official @wecom/crypto library, not our code), so the
 * tests check our decryption against an independent implementation.
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import { getSignature } from '@wecom/crypto';
import { envelopeXml, randomNonce, signAndEncrypt, type CallbackKeys } from '../../sandbox/callbacks';
import { TEST_KEYS } from '../support/keys';

export interface SignedCallback {
  /** msg_signature=…&timestamp=…&nonce=…, in that order. */
  query: string;
  body: string;
  encrypt: string;
}

const queryOf = (signature: string, timestamp: string, nonce: string): string =>
  `msg_signature=${signature}&timestamp=${timestamp}&nonce=${nonce}`;

/**
 * A callback carrying `plaintext`, encrypted for `receiveId` (default: the corp itself) and signed
 * with the corp's token, in the usual XML envelope.
 */
export function signedCallback(
  keys: CallbackKeys,
  plaintext: string,
  opts: { timestamp?: number; nonce?: string; receiveId?: string; agentId?: string } = {},
): SignedCallback {
  const s = signAndEncrypt({ ...keys, corpId: opts.receiveId ?? keys.corpId }, plaintext, opts);
  return {
    query: queryOf(s.msgSignature, s.timestamp, s.nonce),
    body: envelopeXml(keys.corpId, s.encrypt, opts.agentId ?? TEST_KEYS.agentId),
    encrypt: s.encrypt,
  };
}

/**
 * Encrypts arbitrary message bytes (which the official library cannot: it takes a string), with
 * WeCom's layout random(16) ‖ msg_len ‖ msg ‖ receiveid, PKCS#7 to 32 bytes, AES-256-CBC.
 */
export function encryptBytes(encodingAESKey: string, message: Buffer, receiveId: string): string {
  const key = Buffer.from(`${encodingAESKey}=`, 'base64');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(message.length);
  const plain = Buffer.concat([randomBytes(16), len, message, Buffer.from(receiveId, 'utf8')]);
  const n = 32 - (plain.length % 32);
  const cipher = createCipheriv('aes-256-cbc', key, key.subarray(0, 16));
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(Buffer.concat([plain, Buffer.alloc(n, n)])), cipher.final()]).toString('base64');
}

/**
 * A signed callback whose message and envelope are given as bytes: `envelope` receives the
 * ciphertext and returns the body (default: the usual XML envelope, as signedCallback's).
 */
export function signedBytes(
  keys: CallbackKeys,
  message: Buffer,
  opts: { timestamp?: number; nonce?: string; agentId?: string; envelope?: (encrypt: string) => Buffer } = {},
): { query: string; body: Buffer; encrypt: string } {
  const timestamp = String(opts.timestamp ?? Math.floor(Date.now() / 1000));
  const nonce = opts.nonce ?? randomNonce();
  const enc = encryptBytes(keys.encodingAESKey, message, keys.corpId);
  const signature = getSignature(keys.token, timestamp, nonce, enc);
  const body = opts.envelope?.(enc) ?? Buffer.from(envelopeXml(keys.corpId, enc, opts.agentId ?? TEST_KEYS.agentId));
  return { query: queryOf(signature, timestamp, nonce), body, encrypt: enc };
}

/** POSTs a signed callback to the app at `baseUrl`, as WeCom does (text/xml). */
export function postCallback(baseUrl: string, cb: { query: string; body: string | Buffer }): Promise<Response> {
  return fetch(`${baseUrl}/wecom/callback?${cb.query}`, {
    method: 'POST',
    body: cb.body,
    headers: { 'content-type': 'text/xml' },
  });
}
