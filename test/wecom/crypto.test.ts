import { decrypt as officialDecrypt, encrypt as officialEncrypt, getSignature as officialSignature } from '@wecom/crypto';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { VECTORS } from '../support/vectors';
import { CryptoError, aesKeyOf, cbcDecrypt, decryptMessage, signatureOf, verifySignature } from '../../src/wecom/crypto';

const all = VECTORS;
const positive = all.filter((v) => v.kind !== 'negative');

describe('WeCom callback crypto against the official vectors', () => {
  test.each(positive.map((v) => [v.name, v] as const))(
    '%s: signature verifies and decrypts to the expected plaintext',
    (_n, v) => {
      const ciphertext = v.echostr ?? v.encrypt ?? '';
      expect(signatureOf(v.token, v.timestamp, v.nonce, ciphertext)).toBe(v.msg_signature);
      expect(verifySignature(v.token, v.timestamp, v.nonce, ciphertext, v.msg_signature)).toBe(true);
      const out = decryptMessage([aesKeyOf(v.encodingAESKey)], ciphertext, v.receiveId);
      expect(out.message.toString('utf8')).toBe(v.expected_plaintext);
      expect(out.receiveId).toBe(v.receiveId);
    },
  );

  test('the wrong-receiveid vector is refused as receiveid_mismatch (-40005)', () => {
    const v = all.find((x) => x.name === 'neg-wrong-receiveid');
    expect(v?.expected_error).toBe(-40005);
    if (!v?.encrypt) throw new Error('vector missing');
    expect(() => decryptMessage([aesKeyOf(v.encodingAESKey)], v.encrypt ?? '', v.receiveId)).toThrow(
      expect.objectContaining({ code: 'receiveid_mismatch' }),
    );
  });

  test.each(all.filter((v) => v.expected_error === -40001).map((v) => [v.name, v] as const))(
    '%s: signature does not verify (-40001)',
    (_n, v) => {
      expect(verifySignature(v.token, v.timestamp, v.nonce, v.encrypt ?? '', v.msg_signature)).toBe(false);
    },
  );

  test('the doc worked example signature (doc 90968)', () => {
    const v = positive.find((x) => x.name === 'qdg-post-xml-text');
    expect(v?.msg_signature).toBe('477715d11cdb4164915debcba66cb864d751f3e6');
  });
});

describe('decryptMessage is strict where the official library is lenient', () => {
  const keyText = 'jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C';
  const key = aesKeyOf(keyText);
  const corp = 'wx5823bf96d3bd56c7';

  function rawEncrypt(plain: Buffer): string {
    const c = createCipheriv('aes-256-cbc', key.key, key.iv);
    c.setAutoPadding(false);
    return Buffer.concat([c.update(plain), c.final()]).toString('base64');
  }
  function layout(msg: Buffer, id: string, msgLen = msg.length): Buffer {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(msgLen);
    return Buffer.concat([Buffer.alloc(16, 7), len, msg, Buffer.from(id)]);
  }
  function pad(b: Buffer, value?: number): Buffer {
    const n = 32 - (b.length % 32);
    return Buffer.concat([b, Buffer.alloc(n, value ?? n)]);
  }

  test('round-trips with the official encrypt, including multi-byte text whose msg_len is in bytes', () => {
    const msg = '<xml><Content><![CDATA[你好，我再考虑一下 🙂]]></Content></xml>';
    const enc = officialEncrypt(keyText, msg, corp);
    expect(decryptMessage([key], enc, corp).message.toString('utf8')).toBe(msg);
    expect(officialDecrypt(keyText, enc).message).toBe(msg);
  });

  test.each([
    ['not base64', '!!!!'],
    ['empty', ''],
    ['length not a multiple of 32', Buffer.alloc(48).toString('base64')],
  ])('refuses ciphertext that is %s', (_n, ciphertext) => {
    expect(() => decryptMessage([key], ciphertext, corp)).toThrow(CryptoError);
  });

  test('refuses padding byte 0 and padding above 32 with the same error', () => {
    const body = layout(Buffer.from('<xml/>'), corp);
    const zero = Buffer.concat([body, Buffer.alloc(32 - (body.length % 32), 0)]);
    const big = Buffer.concat([body, Buffer.alloc(32 - (body.length % 32), 33)]);
    for (const p of [zero, big]) {
      expect(() => decryptMessage([key], rawEncrypt(p), corp)).toThrow(expect.objectContaining({ code: 'decrypt_failed' }));
    }
  });

  test('refuses msg_len pointing past the end of the buffer (no out-of-bounds read)', () => {
    const p = pad(layout(Buffer.from('<xml/>'), corp, 0x7fffffff));
    expect(() => decryptMessage([key], rawEncrypt(p), corp)).toThrow(expect.objectContaining({ code: 'decrypt_failed' }));
  });

  test('gives the message bytes exactly: invalid UTF-8 is neither refused nor replaced, a BOM is kept', () => {
    for (const msg of [
      Buffer.from([0x3c, 0xff, 0xfe, 0x3e]),
      Buffer.from('\uFEFF<xml/>', 'utf8'),
      Buffer.from([0x3c, 0x00, 0x3e]),
    ]) {
      const out = decryptMessage([key], rawEncrypt(pad(layout(msg, corp))), corp);
      expect(out.message.equals(msg)).toBe(true);
      expect(out.receiveId).toBe(corp);
    }
  });

  test('compares receiveid as bytes: a receiveid that is not UTF-8 is a mismatch, not a crash', () => {
    const p = pad(Buffer.concat([layout(Buffer.from('<xml/>'), ''), Buffer.from([0xff, 0xfe])]));
    expect(() => decryptMessage([key], rawEncrypt(p), corp)).toThrow(expect.objectContaining({ code: 'receiveid_mismatch' }));
  });

  test('accepts a message under the previous key during rotation (B12)', () => {
    const oldKey = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';
    const enc = officialEncrypt(oldKey, '<xml/>', corp);
    expect(() => decryptMessage([key], enc, corp)).toThrow(CryptoError);
    expect(decryptMessage([key, aesKeyOf(oldKey)], enc, corp).message.toString('utf8')).toBe('<xml/>');
  });

  test('signature check rejects a signature of another length without throwing', () => {
    expect(verifySignature('t', '1', '2', 'x', 'abc')).toBe(false);
    expect(verifySignature('t', '1', '2', 'x', signatureOf('t', '1', '2', 'x'))).toBe(true);
  });
});

describe('the reused block decipher decrypts exactly as a fresh AES-256-CBC decipher would (issue 8)', () => {
  const keys = [aesKeyOf('jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C'), aesKeyOf('abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG')];
  const reference = (k: ReturnType<typeof aesKeyOf>, c: Buffer) => {
    const d = createDecipheriv('aes-256-cbc', k.key, k.iv);
    d.setAutoPadding(false);
    return Buffer.concat([d.update(c), d.final()]);
  };

  test('on 500 random ciphertexts of 1 to 64 blocks, interleaving two keys', () => {
    for (let i = 0; i < 500; i++) {
      const k = keys[i % 2] as ReturnType<typeof aesKeyOf>;
      const c = randomBytes(16 * (1 + (i % 64)));
      expect(cbcDecrypt(k, c).equals(reference(k, c))).toBe(true);
    }
  });

  test('a partial block is refused before it reaches the shared decipher, which then still decrypts correctly', () => {
    const k = keys[0] as ReturnType<typeof aesKeyOf>;
    expect(() => cbcDecrypt(k, randomBytes(33))).toThrow(CryptoError);
    const c = randomBytes(64);
    expect(cbcDecrypt(k, c).equals(reference(k, c))).toBe(true);
  });

  test('signing and verifying agree with @wecom/crypto on random inputs', () => {
    for (let i = 0; i < 200; i++) {
      const [token, ts, nonce, enc] = [randomBytes(8), randomBytes(5), randomBytes(6), randomBytes(40)].map((b) =>
        b.toString('base64'),
      );
      const sig = officialSignature(token as string, ts as string, nonce as string, enc as string);
      expect(verifySignature(token as string, ts as string, nonce as string, enc as string, sig)).toBe(true);
      expect(verifySignature(token as string, ts as string, nonce as string, `${enc as string}x`, sig)).toBe(false);
    }
  });
});
