import { execFile } from 'node:child_process';
import { createHash, type KeyObject } from 'node:crypto';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { inflateRawSync } from 'node:zlib';
import { canonicalize, signNote, type JsonValue } from '../../src/evidence';
import { writeZip } from '../../src/evidence/export';

/** What the export tests share: reading and rewriting bundles, running the verifier from an empty folder. */
export const run = promisify(execFile);
export const root = join(__dirname, '..', '..');
export const VERIFIER = join(root, 'verifier', 'hireledger-verify.mjs');

export type Out = { code: number; stdout: string; stderr: string };
export const settle = (p: Promise<{ stdout: string; stderr: string }>): Promise<Out> =>
  p.then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

/** The test's own ZIP reader (trusting): entries by name, stored or deflated. */
export function unzip(buf: Buffer): Map<string, Buffer> {
  const eocd = buf.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  const out = new Map<string, Buffer>();
  for (let i = 0; i < count; i++) {
    const method = buf.readUInt16LE(p + 10);
    const csize = buf.readUInt32LE(p + 20);
    const nlen = buf.readUInt16LE(p + 28);
    const local = buf.readUInt32LE(p + 42);
    const name = buf.subarray(p + 46, p + 46 + nlen).toString('utf8');
    const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    const raw = buf.subarray(start, start + csize);
    out.set(name, method === 0 ? Buffer.from(raw) : inflateRawSync(raw));
    p += 46 + nlen + buf.readUInt16LE(p + 30) + buf.readUInt16LE(p + 32);
  }
  return out;
}

export const rezip = (files: Map<string, Buffer>) =>
  writeZip([...files].map(([name, data]) => ({ name, data, stored: name.startsWith('media/') })));
export const lines = (b: Buffer) => b.toString('utf8').trimEnd().split('\n');
export const fromLines = (ls: string[]) => Buffer.from(`${ls.join('\n')}\n`, 'utf8');
export const sha256Hex = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
export const seqOf = (l: string) => (JSON.parse(l) as { seq: number }).seq;

export interface Manifest {
  records: number;
  first_seq: number;
  last_seq: number;
  streams: { stream: string; complete: boolean; records: number; first_seq: number; last_seq: number; head_hash: string }[];
  files: { name: string; sha256: string; bytes: number }[];
  media: { sha256: string; bytes?: number; records: number[] }[];
  [k: string]: unknown;
}
export const manifestOf = (files: Map<string, Buffer>) =>
  JSON.parse((files.get('manifest.json') as Buffer).toString('utf8')) as Manifest;
export const setManifest = (files: Map<string, Buffer>, m: Manifest) =>
  files.set('manifest.json', Buffer.from(`${canonicalize(m as unknown as JsonValue)}\n`, 'utf8'));

/** The body of a signed note (everything up to and including the blank line's first newline). */
export const noteBody = (note: Buffer) => {
  const t = note.toString('utf8');
  return t.slice(0, t.lastIndexOf('\n\n') + 1);
};

/**
 * Does what the exporter does after the files are final: lists every file in manifest.json and
 * signs a new statement with `key` (the ledger's key, or another one for a forgery).
 */
export function resign(files: Map<string, Buffer>, origin: string, key: KeyObject, edit?: (m: Manifest) => void): void {
  const m = manifestOf(files);
  m.files = [...files.keys()]
    .filter((n) => !['manifest.json', 'statement.txt', 'export.json'].includes(n))
    .sort()
    .map((name) => ({ name, sha256: sha256Hex(files.get(name) as Buffer), bytes: (files.get(name) as Buffer).length }));
  edit?.(m);
  setManifest(files, m);
  const lines = noteBody(files.get('statement.txt') as Buffer).split('\n');
  lines[4] = `manifest ${sha256Hex(files.get('manifest.json') as Buffer)}`;
  files.set('statement.txt', Buffer.from(signNote(lines.join('\n'), origin, key), 'utf8'));
}

/** Copies the verifier and a bundle into a fresh, otherwise empty folder and runs it there. */
export async function verify(zip: Buffer, extra: string[] = []): Promise<Out> {
  const empty = await mkdtemp(join(tmpdir(), 'hl-verify-'));
  try {
    await copyFile(VERIFIER, join(empty, 'hireledger-verify.mjs'));
    await writeFile(join(empty, 'bundle.zip'), zip);
    return await settle(
      run(process.execPath, ['hireledger-verify.mjs', 'bundle.zip', ...extra], {
        cwd: empty,
        env: { PATH: process.env['PATH'] ?? '' },
        maxBuffer: 16 * 1024 * 1024,
      }),
    );
  } finally {
    await rm(empty, { recursive: true, force: true });
  }
}

export function expectFail(out: Out, ...why: (string | RegExp)[]) {
  expect(out.stdout).toMatch(/OVERALL: FAIL\n$/);
  expect(out.code).toBe(1);
  expect(out.stdout).not.toMatch(/OVERALL: PASS/);
  expect(out.stdout + out.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/); // no stack trace
  // only the verifier's own words: no JavaScript error text
  expect(out.stdout).not.toMatch(/TypeError|RangeError|SyntaxError|Cannot read|is not a function|undefined|ERR_/);
  expect(out.stderr).toBe('');
  for (const w of why) expect(out.stdout).toMatch(w);
}

export function expectPass(out: Out) {
  expect(out.stdout).toMatch(/OVERALL: PASS\n$/);
  expect(out.stdout).not.toMatch(/^FAIL/m);
  expect(out.code).toBe(0);
}

// ---------------------------------------------------------------- a minimal RFC 3161 TimeStampToken (DER)

const tlv = (tag: number, content: Buffer): Buffer => {
  const n = content.length;
  const len = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), len, content]);
};
const seq = (...xs: Buffer[]) => tlv(0x30, Buffer.concat(xs));
const oid = (dotted: string) => {
  const [a = 0, b = 0, ...rest] = dotted.split('.').map(Number);
  const bytes = [40 * a + b];
  for (const v of rest) {
    const enc = [v & 0x7f];
    for (let x = Math.floor(v / 128); x > 0; x = Math.floor(x / 128)) enc.unshift((x & 0x7f) | 0x80);
    bytes.push(...enc);
  }
  return tlv(0x06, Buffer.from(bytes));
};

/**
 * A TimeStampToken (CMS ContentInfo, SignedData holding a TSTInfo) that stamps `digest`. Unsigned:
 * the verifiers read only the message imprint (the TSA's signature is for `openssl ts -verify`).
 */
export function timeStampToken(digest: Buffer): Buffer {
  const tstInfo = seq(
    tlv(0x02, Buffer.from([1])),
    oid('1.2.3.4.1'),
    seq(seq(oid('2.16.840.1.101.3.4.2.1'), Buffer.from([0x05, 0x00])), tlv(0x04, digest)),
    tlv(0x02, Buffer.from([0x2a])),
    tlv(0x18, Buffer.from('20261126010203Z', 'ascii')),
  );
  const signedData = seq(
    tlv(0x02, Buffer.from([3])),
    tlv(0x31, Buffer.alloc(0)),
    seq(oid('1.2.840.113549.1.9.16.1.4'), tlv(0xa0, tlv(0x04, tstInfo))),
    tlv(0x31, Buffer.alloc(0)),
  );
  return seq(oid('1.2.840.113549.1.7.2'), tlv(0xa0, signedData));
}
