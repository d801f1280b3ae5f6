import { execFileSync } from 'node:child_process';
import { constants, generateKeyPairSync, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isExternalUserId, parseSdkJson, readChatItem, readMessage } from '../../../src/conversations/archive/decode';
import forge from 'node-forge';
import { ArchiveKeyError, loadArchiveKeys, unpadPkcs1v15 } from '../../../src/conversations/archive/keys';

/** How an archive message is read (doc 91774), and how the private keys are found by publickey_ver. */

describe('reading archive messages', () => {
  const base = { msgid: 'm1', action: 'send', roomid: '', msgtime: 1764000000000, msgtype: 'text', text: { content: '你好' } };

  test('external ids are wm…/wo… as WeCom issues them; a member called wolf is a member', () => {
    expect(isExternalUserId('wmCandChenChen0001')).toBe(true);
    expect(isExternalUserId('woAJ2GCAAAXtWyujaWJHDDGi0mACHAAA')).toBe(true);
    expect(isExternalUserId('wolf')).toBe(false);
    expect(isExternalUserId('wmzhang')).toBe(false);
    expect(isExternalUserId('zhangmin')).toBe(false);
  });

  test('who wrote it, who the candidate is, and what is left out', () => {
    expect(readMessage({ ...base, from: 'ZhangMin', tolist: ['wmCandChenChen0001'] })).toEqual({
      kind: 'message',
      role: 'recruiter',
      externalUserId: 'wmCandChenChen0001',
      recruiter: 'zhangmin',
      msgtype: 'text',
      text: '你好',
      msgtime: new Date(1764000000000),
    });
    expect(readMessage({ ...base, from: 'wmCandChenChen0001', tolist: ['ZhangMin'] })).toEqual(
      expect.objectContaining({ role: 'candidate', externalUserId: 'wmCandChenChen0001', recruiter: 'zhangmin' }),
    );
    expect(readMessage({ ...base, from: 'zhangmin', tolist: ['wolf'] })).toEqual({ kind: 'skip', reason: 'internal' });
    expect(readMessage({ ...base, from: 'zhangmin', tolist: ['wmCandChenChen0001'], roomid: 'wr1' })).toEqual({
      kind: 'skip',
      reason: 'group_chat',
    });
    expect(readMessage({ msgid: 'm2', action: 'switch', time: 1, user: 'zhangmin' })).toEqual({ kind: 'skip', reason: 'switch' });
    expect(readMessage({ ...base, from: 'wbRobot01', tolist: ['zhangmin'] })).toEqual({ kind: 'skip', reason: 'robot' });
    expect(readMessage({ ...base, from: 'zhangmin', tolist: ['wmCandChenChen0001', 'wmCandLinXiao000002'] })).toEqual({
      kind: 'skip',
      reason: 'several_external_parties',
    });
    // A msgtime that is not a sane instant is not trusted (DECISIONS 1).
    expect(readMessage({ ...base, from: 'zhangmin', tolist: ['wmCandChenChen0001'], msgtime: 12 })).toEqual(
      expect.objectContaining({ kind: 'message', msgtime: null }),
    );
    expect(
      readMessage({
        ...base,
        from: 'wmCandChenChen0001',
        tolist: ['zhangmin'],
        msgtype: 'disagree',
        disagree: { userid: 'wmCandChenChen0001', disagree_time: 1764000001000 },
      }),
    ).toEqual({
      kind: 'consent',
      status: 'disagree',
      externalUserId: 'wmCandChenChen0001',
      recruiter: 'zhangmin',
      msgtime: new Date(1764000000000),
      decidedAt: new Date(1764000001000),
    });
  });

  test('SDK JSON: raw control characters dropped, 19-digit ids kept exact, floats kept as text, duplicate keys refused', () => {
    expect(parseSdkJson('{"msgid":"a\u0001b","seq":4561255354251345929,"x":1.5,\n"n":3}')).toEqual({
      msgid: 'ab',
      seq: '4561255354251345929',
      x: '1.5',
      n: 3,
    });
    expect(parseSdkJson('{"t":"a\\u0000b\\ud800c"}')).toEqual({ t: 'a\uFFFDb\uFFFDc' });
    expect(() => parseSdkJson('{"a":1,"a":2}')).toThrow();
    expect(() => parseSdkJson('[1]')).toThrow(/not a JSON object/);
    expect(readChatItem({ seq: 0, msgid: 'x' })).toEqual({ seq: null, error: 'seq is missing or not a positive integer' });
    expect(readChatItem({ seq: 3, msgid: 'x', publickey_ver: 1 })).toEqual({
      seq: 3,
      error: 'encrypt_random_key or encrypt_chat_msg is missing',
    });
  });
});

describe('the private keys by publickey_ver', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hl-archive-keys-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('a directory of <ver>.pem / v<ver>.pem, PKCS#1 from openssl genrsa and PKCS#8 alike; RSA PKCS#1 v1.5 unwrapped without --security-revert', () => {
    execFileSync('openssl', ['genrsa', '-out', join(dir, '1.pem'), '2048'], { stdio: 'ignore' });
    const pub1 = execFileSync('openssl', ['rsa', '-in', join(dir, '1.pem'), '-pubout'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    }).toString();
    const k2 = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(join(dir, 'v2.pem'), k2.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(join(dir, 'README.txt'), 'not a key');
    const ring = loadArchiveKeys(dir);
    expect(ring.versions).toEqual([1, 2]);
    const wrap = (pem: string | KeyObject, text: string) =>
      publicEncrypt({ key: pem, padding: constants.RSA_PKCS1_PADDING }, Buffer.from(text)).toString('base64');
    expect(ring.unwrap(1, wrap(pub1, 'randomkey-one')).toString()).toBe('randomkey-one');
    expect(ring.unwrap(2, wrap(k2.publicKey, 'randomkey-two')).toString()).toBe('randomkey-two');
    expect(() => ring.unwrap(1, wrap(k2.publicKey, 'x'))).toThrow(ArchiveKeyError);
    expect(() => ring.unwrap(3, wrap(k2.publicKey, 'x'))).toThrow(/no private key for publickey_ver 3 \(held: 1, 2\)/);
    expect(() => ring.unwrap(1, 'not base64!')).toThrow(/not base64/);
    // One file is fine too, named by its version.
    expect(loadArchiveKeys(join(dir, 'v2.pem')).versions).toEqual([2]);
  });

  test('the PKCS#1 v1.5 unwrap agrees with node-forge byte for byte, and refuses bad padding of every kind', () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    writeFileSync(join(dir, '7.pem'), pem);
    const ring = loadArchiveKeys(dir);
    const reference = forge.pki.privateKeyFromPem(pem);
    for (let i = 0; i < 8; i++) {
      const secret = randomBytes(1 + i * 13).map((b) => b || 1); // any byte but NUL, up to 92 bytes
      const ct = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, secret).toString('base64');
      const ours = ring.unwrap(7, ct);
      expect(ours.equals(secret)).toBe(true);
      expect(ours.equals(Buffer.from(reference.decrypt(forge.util.decode64(ct), 'RSAES-PKCS1-V1_5'), 'binary'))).toBe(true);
    }
    const em = (bytes: number[]) => Buffer.from([...bytes, ...Array(256 - bytes.length).fill(0x41)]);
    const good = [0, 2, ...Array(8).fill(0x11), 0];
    expect(unpadPkcs1v15(em(good), 256)?.length).toBe(256 - 11);
    expect(unpadPkcs1v15(em([1, 2, ...Array(8).fill(0x11), 0]), 256)).toBeNull(); // first byte not 0
    expect(unpadPkcs1v15(em([0, 1, ...Array(8).fill(0x11), 0]), 256)).toBeNull(); // block type 1
    expect(unpadPkcs1v15(em([0, 2, ...Array(7).fill(0x11), 0]), 256)).toBeNull(); // PS of 7 bytes
    expect(unpadPkcs1v15(Buffer.from([0, 2, ...Array(254).fill(0x11)]), 256)).toBeNull(); // no separator
    expect(unpadPkcs1v15(em(good).subarray(1), 256)).toBeNull(); // wrong length
    expect(() => ring.unwrap(7, Buffer.alloc(255, 1).toString('base64'))).toThrow(/255 bytes, not the key's 256/);
  });

  test('two files for one version, or a file that is not a key, are refused by name', () => {
    const k = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs1', format: 'pem' });
    writeFileSync(join(dir, '1.pem'), k);
    writeFileSync(join(dir, 'v1.pem'), k);
    expect(() => loadArchiveKeys(dir)).toThrow(/two key files for publickey_ver 1/);
    rmSync(join(dir, 'v1.pem'));
    writeFileSync(join(dir, '2.pem'), 'garbage');
    expect(() => loadArchiveKeys(dir)).toThrow(/publickey_ver 2 is not a private key in PEM/);
  });
});
