import { execFile } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  CheckpointError,
  NoteError,
  checkpointOrigin,
  formatCheckpoint,
  isValidKeyName,
  keyId,
  openCheckpoint,
  openSignedNote,
  parseCheckpoint,
  parseVerifierKey,
  signCheckpoint,
  signNote,
  verifierKeyOf,
  type Checkpoint,
} from '../../src/evidence/checkpoint';
import { rootOf, leafHash } from '../../src/evidence/merkle';
import { loadSigningKey, signingKeyFromPem, writeNewSigningKey, SigningKeyError } from '../../src/evidence/signing-key';

const run = promisify(execFile);

/** A Go note signer key `PRIVATE+KEY+<name>+<id>+<base64(0x01 ‖ seed)>` as a Node KeyObject. */
function goSignerKey(skey: string): { name: string; privateKey: KeyObject } {
  const [p1, p2, name, , b64] = skey.split('+', 4).concat(skey.split('+').slice(4).join('+'));
  if (p1 !== 'PRIVATE' || p2 !== 'KEY' || name === undefined || b64 === undefined) throw new Error(`bad signer key ${skey}`);
  const raw = Buffer.from(b64, 'base64');
  expect(raw[0]).toBe(1);
  // PKCS#8 wrapping of a 32-byte Ed25519 seed (RFC 8410).
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), raw.subarray(1)]);
  return { name, privateKey: createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }) };
}

function expectNoteError(f: () => unknown, code: NoteError['code']): void {
  let caught: unknown;
  try {
    f();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(NoteError);
  expect((caught as NoteError).code).toBe(code);
}

// golang.org/x/mod/sumdb/note note_test.go
const PETER_SKEY = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz';
const PETER_VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const ENOCH_VKEY = 'EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop';
const TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_SIG = '— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n';
const ENOCH_SIG = '— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n';
// transparency-dev/formats log/note_test.go
const LOG_SKEY = 'PRIVATE+KEY+Log+2271c621+AdEIq9FLRQni54Wg68T96VJO+iayOaulswav2DUMKgvQ';
const LOG_VKEY = 'Log+2271c621+AemuH5ooBpEPcr+W8onrjA1NfuzBVHdezakU81Ekarvs';
// A real checkpoint of Go's checksum database and its published verifier key (transparency-dev/formats).
const SUMDB_VKEY = 'sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8';
const SUMDB_NOTE =
  'go.sum database tree\n6476701\nmb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=\n\n' +
  '— sum.golang.org Az3grsLX85Gz+s1SiTbgkuqxgItqFq7gsMUEyVnrsa9LM7Us9S+1xbFIGu95949rj4nPRYfvimWEPWL+o3GeoWwOoAw=\n';
// The examples of c2sp.org/signed-note and c2sp.org/tlog-checkpoint (their keys are not published).
const C2SP_NOTE =
  'Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n\n' +
  '— quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n';
const C2SP_CHECKPOINT =
  'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n' +
  '— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n';

describe('signed notes: golang.org/x/mod/sumdb/note vectors', () => {
  const peter = goSignerKey(PETER_SKEY);

  test('verifier key and key ID from the private key', () => {
    expect(verifierKeyOf('PeterNeumann', peter.privateKey)).toBe(PETER_VKEY);
    expect(keyId('PeterNeumann', peter.privateKey)).toBe(0xc74f20a3);
    const log = goSignerKey(LOG_SKEY);
    expect(verifierKeyOf(log.name, log.privateKey)).toBe(LOG_VKEY);
  });

  test('signing gives the published note byte for byte', () => {
    expect(signNote(TEXT, 'PeterNeumann', peter.privateKey)).toBe(`${TEXT}\n${PETER_SIG}`);
  });

  test('opening: unknown signatures are ignored, known ones verified', () => {
    const one = openSignedNote(TEXT + '\n' + PETER_SIG + ENOCH_SIG, PETER_VKEY);
    expect(one.body).toBe(TEXT);
    expect(one.signatures).toEqual([
      { name: 'PeterNeumann', keyId: 0xc74f20a3, verified: true },
      { name: 'EnochRoot', keyId: 0xaf0cfe78, verified: false },
    ]);
    const both = openSignedNote(TEXT + '\n' + PETER_SIG + ENOCH_SIG, [PETER_VKEY, ENOCH_VKEY]);
    expect(both.signatures.map((s) => s.verified)).toEqual([true, true]);
    // A repeated signature by one key counts once.
    expect(openSignedNote(TEXT + '\n' + PETER_SIG + PETER_SIG, PETER_VKEY).signatures).toHaveLength(1);
  });

  test('no signature by a trusted key', () => {
    expectNoteError(() => openSignedNote(TEXT + '\n' + PETER_SIG + ENOCH_SIG, LOG_VKEY), 'unknown_key');
    expect(() => openSignedNote(TEXT + '\n' + PETER_SIG, LOG_VKEY)).toThrow(
      'note is not signed by Log+2271c621 (signed by: PeterNeumann+c74f20a3)',
    );
    // Same name, other key ID: an unknown key, not a bad signature.
    expectNoteError(() => openSignedNote(TEXT + '\n' + PETER_SIG.replace('x08g', 'xxxx'), PETER_VKEY), 'unknown_key');
  });

  test('an invalid signature by a trusted key rejects the note', () => {
    const b = Buffer.from(PETER_SIG);
    const mangled = Buffer.concat([b.subarray(0, 60), Buffer.from('ABCD'), b.subarray(60)]).toString();
    expectNoteError(() => openSignedNote(TEXT + '\n' + mangled, PETER_VKEY), 'bad_signature');
    expect(() => openSignedNote(TEXT + '\n' + mangled, PETER_VKEY)).toThrow('PeterNeumann+c74f20a3');
    // Even with another valid signature by a trusted key beside it.
    expectNoteError(() => openSignedNote(TEXT + '\n' + ENOCH_SIG + mangled, [PETER_VKEY, ENOCH_VKEY]), 'bad_signature');
    // An altered text.
    expectNoteError(() => openSignedNote(TEXT.replace('answer', 'Answer') + '\n' + PETER_SIG, PETER_VKEY), 'bad_signature');
  });

  test('malformed notes', () => {
    const bad = [
      TEXT,
      TEXT + '\n',
      TEXT + '\n' + PETER_SIG.slice(0, -1),
      '\x01' + TEXT + '\n' + PETER_SIG,
      '\uD800' + TEXT + '\n' + PETER_SIG, // not valid Unicode (Go's test uses the byte 0xff)
      TEXT + '\n' + '— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=',
      TEXT + '\n' + PETER_SIG + 'Unexpected line.\n',
      TEXT + '\n' + PETER_SIG.repeat(101),
      TEXT + '\n' + PETER_SIG.replace('— ', '-- '),
      TEXT + '\n' + PETER_SIG.replace('x08go/', 'x08go_'), // not standard base64
      TEXT + '\n' + PETER_SIG.replace('\n', '\r\n'),
      TEXT + '\n' + PETER_SIG.replace('AM=', 'AN='), // same bytes, non-canonical base64
    ];
    for (const msg of bad) expectNoteError(() => openSignedNote(msg, PETER_VKEY), 'malformed');
  });

  test('verifier keys: the published ones parse; every mangling is refused', () => {
    expect(parseVerifierKey(PETER_VKEY)).toMatchObject({ name: 'PeterNeumann', keyId: 0xc74f20a3 });
    expect(parseVerifierKey(SUMDB_VKEY).name).toBe('sum.golang.org'); // its key contains '+'
    const refused: string[] = [];
    const accepted: string[] = [];
    const tryKey = (k: string): void => {
      try {
        parseVerifierKey(k);
        accepted.push(k);
      } catch (err) {
        if (!(err instanceof NoteError)) throw err;
        refused.push(k);
      }
    };
    for (let i = 0; i <= PETER_VKEY.length; i++) {
      for (let j = i + 1; j <= PETER_VKEY.length; j++) if (i !== 0 || j !== PETER_VKEY.length) tryKey(PETER_VKEY.slice(i, j));
    }
    for (let i = 0; i < PETER_VKEY.length; i++) {
      tryKey(PETER_VKEY.slice(0, i) + String.fromCharCode(PETER_VKEY.charCodeAt(i) + 1) + PETER_VKEY.slice(i + 1));
    }
    expect(accepted).toEqual([]);
    expect(refused.length).toBeGreaterThan(2000);
    expect(() => parseVerifierKey('PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==')).toThrow(
      NoteError,
    );
    expect(() => parseVerifierKey('PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW')).toThrow(
      'unsupported signature type',
    );
  });
});

describe('checkpoints', () => {
  test("a real checkpoint of Go's checksum database opens with its published key", () => {
    const cp = openCheckpoint(SUMDB_NOTE, SUMDB_VKEY, 'go.sum database tree');
    expect(cp).toEqual({
      origin: 'go.sum database tree',
      size: 6476701,
      rootHash: Buffer.from('mb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=', 'base64'),
    });
    expect(formatCheckpoint(cp)).toBe(SUMDB_NOTE.slice(0, SUMDB_NOTE.indexOf('\n\n') + 1));
    expect(() => openCheckpoint(SUMDB_NOTE, SUMDB_VKEY, 'Go rocks but I might have the wrong ID')).toThrow(CheckpointError);
    expectNoteError(() => openCheckpoint(SUMDB_NOTE.replace('6476701', '6476702'), SUMDB_VKEY), 'bad_signature');
  });

  test('the C2SP examples parse (their keys are not published, so they stay unverified)', () => {
    expect(parseCheckpoint(C2SP_CHECKPOINT.slice(0, C2SP_CHECKPOINT.indexOf('\n\n') + 1))).toEqual({
      origin: 'example.com/behind-the-sofa',
      size: 20852163,
      rootHash: Buffer.from('CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=', 'base64'),
    });
    expectNoteError(() => openSignedNote(C2SP_CHECKPOINT, PETER_VKEY), 'unknown_key');
    // The text may hold blank lines: it ends at the last one.
    expect(() => openSignedNote(C2SP_NOTE, PETER_VKEY)).toThrow(/signed by: quasimodo\.example\/salvatore\+[0-9a-f]{8}\)/);
  });

  test('strict body parsing', () => {
    const root = Buffer.alloc(32, 7).toString('base64');
    expect(parseCheckpoint(`o\n0\n${root}\n`).size).toBe(0);
    expect(parseCheckpoint(`o\n${Number.MAX_SAFE_INTEGER}\n${root}\nx\ny z\n`)).toMatchObject({ extensions: ['x', 'y z'] });
    const bad = [
      `o\n0123\n${root}\n`,
      `o\n-1\n${root}\n`,
      `o\n+1\n${root}\n`,
      `o\n 1\n${root}\n`,
      `o\n1.0\n${root}\n`,
      `o\n1e3\n${root}\n`,
      `o\n9007199254740992\n${root}\n`,
      `o\n3438945738945739845734895735\n${root}\n`,
      `\n1\n${root}\n`,
      `o\n1\n${Buffer.alloc(31).toString('base64')}\n`,
      `o\n1\n${root.replace(/=$/, '')}\n`,
      `o\n1\n${Buffer.alloc(32, 0xfb).toString('base64url')}\n`,
      `o\n1\nThisIsn'tBase64\n`,
      `o\n1\n${'A'.repeat(42)}B=\n`, // non-zero padding bits: another spelling of the same bytes
      `o\n1\n${root}`,
      `o\n1\n${root}\n\n`,
      `o\n1\n${root}\nx\n\ny\n`,
      `o\n1\n`,
      `o\t1\n1\n${root}\n`,
      'Log\n123\nYmFuYW5hcw==\n', // transparency-dev's example: a 7-byte "root" is not a SHA-256 tree
    ];
    const accepted = bad.filter((b) => {
      try {
        parseCheckpoint(b);
        return true;
      } catch (err) {
        if (!(err instanceof CheckpointError)) throw err;
        return false;
      }
    });
    expect(accepted).toEqual([]);
  });

  test('HireLedger checkpoints: sign, open, round trip; tampering is caught', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const origin = checkpointOrigin('ww0123456789abcdef');
    expect(origin).toBe('hireledger.evidence/ww0123456789abcdef');
    const vkey = verifierKeyOf(origin, publicKey);
    const leaves = Array.from({ length: 5 }, (_, i) => leafHash(Buffer.from(`r${i}`)));
    const cp: Checkpoint = { origin, size: 5, rootHash: rootOf(leaves) };
    const note = signCheckpoint(cp, origin, privateKey);
    expect(note).toMatch(
      /^hireledger\.evidence\/ww0123456789abcdef\n5\n[A-Za-z0-9+/]{43}=\n\n— hireledger\.evidence\/ww0123456789abcdef [A-Za-z0-9+/]{91}=\n$/,
    );
    expect(openCheckpoint(note, vkey, origin)).toEqual(cp);
    const withExt = { ...cp, extensions: ['time 1700000000'] };
    expect(openCheckpoint(signCheckpoint(withExt, origin, privateKey), vkey)).toEqual(withExt);

    // A witness cosignature (unknown key) beside ours is fine.
    const witness = generateKeyPairSync('ed25519');
    const cosigned = note + signNote(formatCheckpoint(cp), 'witness.example/w1', witness.privateKey).split('\n\n')[1];
    expect(openCheckpoint(cosigned, vkey)).toEqual(cp);
    expect(openSignedNote(cosigned, [vkey, verifierKeyOf('witness.example/w1', witness.publicKey)]).signatures).toHaveLength(2);

    const [body, sigs] = note.split('\n\n') as [string, string];
    const sigLine = sigs.slice(0, -1);
    const b64 = sigLine.slice(sigLine.lastIndexOf(' ') + 1);
    const sigBytes = Buffer.from(b64, 'base64');
    const flipped = Buffer.from(sigBytes);
    flipped[10] = (flipped[10] as number) ^ 1;
    const cases: [string, string, NoteError['code'] | 'checkpoint'][] = [
      ['size changed', note.replace('\n5\n', '\n4\n'), 'bad_signature'],
      ['root changed', note.replace(cp.rootHash.toString('base64'), Buffer.alloc(32).toString('base64')), 'bad_signature'],
      ['origin changed', note.replace(`${origin}\n5`, `${origin}x\n5`), 'bad_signature'],
      ['extension added', `${body}\nextra\n\n${sigs}`, 'bad_signature'],
      ['signature bit flipped', note.replace(b64, flipped.toString('base64')), 'bad_signature'],
      ['signature truncated', note.replace(b64, sigBytes.subarray(0, 60).toString('base64')), 'bad_signature'],
      ['signed by another key', signCheckpoint(cp, origin, generateKeyPairSync('ed25519').privateKey), 'unknown_key'],
      ['key name changed', note.replace(`— ${origin} `, `— ${origin}2 `), 'unknown_key'],
      ['blank line removed', `${body}\n${sigs}`, 'malformed'],
      ['hyphen for em dash', note.replace('— ', '- '), 'malformed'],
      ['trailing text', `${note}x\n`, 'malformed'],
      ['CRLF', note.replace(/\n/g, '\r\n'), 'malformed'],
    ];
    const wrong: string[] = [];
    for (const [what, text, code] of cases) {
      try {
        openCheckpoint(text, vkey, origin);
        wrong.push(`${what}: accepted`);
      } catch (err) {
        const got = err instanceof NoteError ? err.code : err instanceof CheckpointError ? 'checkpoint' : String(err);
        if (got !== code) wrong.push(`${what}: ${got}, expected ${code}`);
      }
    }
    expect(wrong).toEqual([]);
    // Another corp's checkpoint signed with the same key is not this corp's.
    const other = checkpointOrigin('wwother');
    expect(() => openCheckpoint(signCheckpoint({ ...cp, origin: other }, origin, privateKey), vkey, origin)).toThrow(
      CheckpointError,
    );
  });

  test('key names and origins', () => {
    for (const ok of ['a', 'example.com/log', 'hireledger.evidence/ww1', 'x\uFEFFy', 'é']) expect(isValidKeyName(ok)).toBe(true);
    for (const bad of ['', 'a b', 'a+b', 'a\u00a0b', 'a\u0085b', 'a\u3000b', 'a\u2028b', 'a\tb', '\uD800'])
      expect(isValidKeyName(bad)).toBe(false);
    const { privateKey } = generateKeyPairSync('ed25519');
    expectNoteError(() => signNote('x\n', 'a b', privateKey), 'malformed');
    expectNoteError(() => signNote('no newline', 'a', privateKey), 'malformed');
    expectNoteError(() => signNote('bell\x07\n', 'a', privateKey), 'malformed');
    expectNoteError(() => signNote('x\n', 'a', generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey), 'malformed');
    expect(() => checkpointOrigin('ww 1')).toThrow(CheckpointError);
    expect(() => checkpointOrigin('ww+1')).toThrow(CheckpointError);
    expect(() => checkpointOrigin('')).toThrow(CheckpointError);
    expect(() => formatCheckpoint({ origin: 'a\nb', size: 1, rootHash: Buffer.alloc(32) })).toThrow(CheckpointError);
    expect(() => formatCheckpoint({ origin: 'a', size: -1, rootHash: Buffer.alloc(32) })).toThrow(CheckpointError);
    expect(() => formatCheckpoint({ origin: 'a', size: 1, rootHash: Buffer.alloc(31) })).toThrow(CheckpointError);
    expect(() => formatCheckpoint({ origin: 'a', size: 1, rootHash: Buffer.alloc(32), extensions: [''] })).toThrow(
      CheckpointError,
    );
  });
});

describe('signing key files', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hireledger-key-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('a new key is written 0600, never over an existing file, and loads back', async () => {
    const path = join(dir, 'new.pem');
    const written = await writeNewSigningKey(path);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readFile(path, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    const loaded = await loadSigningKey(path);
    expect(loaded.publicKeyRaw.equals(written.publicKeyRaw)).toBe(true);
    expect(loaded.publicKeyRaw).toHaveLength(32);
    const before = await readFile(path, 'utf8');
    await expect(writeNewSigningKey(path)).rejects.toThrow('already exists');
    expect(await readFile(path, 'utf8')).toBe(before);
  });

  test('a key others can read is refused, or loaded with a warning when so configured', async () => {
    const path = join(dir, 'open.pem');
    await writeNewSigningKey(path);
    for (const mode of [0o640, 0o604, 0o620]) {
      await chmod(path, mode);
      await expect(loadSigningKey(path)).rejects.toThrow(/accessible by group or others \(mode 06[0-4]{2}\)/);
    }
    await chmod(path, 0o644);
    const warnings: string[] = [];
    const key = await loadSigningKey(path, { insecurePermissions: 'warn', onWarning: (m) => warnings.push(m) });
    expect(key.publicKeyRaw).toHaveLength(32);
    expect(warnings).toEqual([expect.stringContaining('chmod 600')]);
    await chmod(path, 0o400);
    await expect(loadSigningKey(path)).resolves.toBeDefined();
  });

  test('only an unencrypted PKCS#8 Ed25519 private key is accepted', async () => {
    const write = async (name: string, content: string): Promise<string> => {
      const p = join(dir, name);
      await writeFile(p, content, { mode: 0o600 });
      return p;
    };
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const ed = generateKeyPairSync('ed25519');
    const cases: [string, string, RegExp][] = [
      ['rsa.pem', rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, /is a rsa key/],
      ['rsa1.pem', rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }) as string, /not "RSA PRIVATE KEY"/],
      ['sec1.pem', ec.privateKey.export({ type: 'sec1', format: 'pem' }) as string, /not "EC PRIVATE KEY"/],
      ['ec8.pem', ec.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, /is a ec key/],
      ['pub.pem', ed.publicKey.export({ type: 'spki', format: 'pem' }) as string, /not "PUBLIC KEY"/],
      [
        'enc.pem',
        ed.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'x' }) as string,
        /is encrypted/,
      ],
      ['two.pem', (ed.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string).repeat(2), /exactly one PEM block, found 2/],
      ['junk.pem', '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n', /not a readable private key/],
      ['empty.pem', '', /found 0/],
    ];
    for (const [name, content, message] of cases) {
      await expect(loadSigningKey(await write(name, content))).rejects.toThrow(message);
    }
    await expect(loadSigningKey(join(dir, 'missing.pem'))).rejects.toThrow(SigningKeyError);
    await mkdir(join(dir, 'adir'), { mode: 0o700 });
    await expect(loadSigningKey(join(dir, 'adir'))).rejects.toThrow('not a regular file');
  });

  test('a key made by openssl genpkey loads and signs notes its verifier key opens', async () => {
    const path = join(dir, 'openssl.pem');
    await run('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', path]);
    await chmod(path, 0o600);
    const key = await loadSigningKey(path);
    const { stdout } = await run('openssl', ['pkey', '-in', path, '-pubout', '-outform', 'DER'], { encoding: 'buffer' });
    expect(stdout.subarray(-32).equals(key.publicKeyRaw)).toBe(true);
    const note = signNote('hello\n', 'test.example/k', key.privateKey);
    expect(openSignedNote(note, verifierKeyOf('test.example/k', key.publicKeyRaw)).body).toBe('hello\n');
  });

  test('signingKeyFromPem names its source', () => {
    expect(() => signingKeyFromPem('', '/etc/hireledger/key.pem')).toThrow('/etc/hireledger/key.pem');
  });
});

describe('npm run evidence:keygen', () => {
  const tsx = join(__dirname, '../../node_modules/.bin/tsx');
  const script = join(__dirname, '../../scripts/evidence-keygen.ts');
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hireledger-keygen-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const keygen = async (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
    try {
      const { stdout, stderr } = await run(tsx, [script, ...args]);
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };

  test('writes a 0600 key, prints its verifier key, refuses to overwrite', async () => {
    const out = join(dir, `k-${randomBytes(3).toString('hex')}.pem`);
    const origin = 'hireledger.evidence/wwkeygentest';
    const first = await keygen('--out', out, '--origin', origin);
    expect(first.code).toBe(0);
    const vkey = first.stdout.trim();
    expect(vkey).toMatch(/^hireledger\.evidence\/wwkeygentest\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}$/);
    expect((await stat(out)).mode & 0o777).toBe(0o600);
    const key = await loadSigningKey(out);
    expect(vkey).toBe(verifierKeyOf(origin, key.publicKeyRaw));
    const cp = { origin, size: 0, rootHash: rootOf([]) };
    expect(openCheckpoint(signCheckpoint(cp, origin, key.privateKey), vkey, origin)).toEqual(cp);

    const again = await keygen('--out', out, '--origin', origin);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already exists/);
    expect(again.stdout).toBe('');

    const other = await keygen('--key', out, '--origin', origin, '--origin', 'hireledger.evidence/wwsecond');
    expect(other.code).toBe(0);
    expect(other.stdout.trim().split('\n')).toEqual([vkey, verifierKeyOf('hireledger.evidence/wwsecond', key.publicKeyRaw)]);
  }, 30000);

  test('bad usage exits 2', async () => {
    expect((await keygen()).code).toBe(2);
    expect((await keygen('--out', join(dir, 'x.pem'), '--origin', 'has space')).code).toBe(2);
    expect((await keygen('--bogus')).code).toBe(2);
  }, 30000);
});
