import { execFile } from 'node:child_process';
import { createHash, type KeyObject } from 'node:crypto';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { canonicalize, signNote, type JsonValue } from '../../src/evidence';
import { writeZip } from '../../src/evidence/export';
import { crc32 as zlibCrc32 } from '../../src/evidence/export/zip';

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

// ---------------------------------------------------------------- forged ZIP forms (what other tools read differently)

export interface ForgeOptions {
  /** Bytes before the first local entry (every offset moved past them). */
  prefix?: Buffer;
  /** Local entries after the real ones that the central directory does not list. */
  hiddenAfter?: { name: string; data: Buffer }[];
  /** The archive comment. */
  comment?: Buffer;
  /** Names whose sizes and CRC follow the data (flag bit 3, local sizes 0). */
  dataDescriptor?: string[];
  /** Extra fields, by name, in the local and the central headers. */
  localExtra?: Record<string, Buffer>;
  centralExtra?: Record<string, Buffer>;
  /** Bytes appended to an entry's deflate stream (counted in its compressed size). */
  tailJunk?: Record<string, Buffer>;
  /** The method, by name (0 stored, 8 deflate), instead of the exporter's. */
  method?: Record<string, number>;
  /** The general-purpose flags of every entry (the exporter writes 0x0800). */
  flags?: number;
  /** Changes to one entry's local header after it is written (offsets as in the ZIP spec). */
  patchLocal?: Record<string, (header: Buffer) => void>;
  patchCentral?: Record<string, (header: Buffer) => void>;
}

/**
 * A ZIP writer with the exporter's layout (src/evidence/export/zip.ts: sorted names, DOS epoch,
 * version 2.0, UTF-8 flag, media stored, the rest deflated at level 9) and knobs for what a forger
 * changes. With no options it writes the exporter's bytes exactly (a test checks that), so each
 * knob is the only difference a forged bundle has.
 */
export function forgeZip(files: Map<string, Buffer>, o: ForgeOptions = {}): Buffer {
  const names = [...files.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const out: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = o.prefix?.length ?? 0;
  if (o.prefix) out.push(o.prefix);
  const local = (name: string, data: Buffer, method: number, flags: number, extra: Buffer, junk: Buffer) => {
    const nameBytes = Buffer.from(name, 'utf8');
    const comp = Buffer.concat([method === 0 ? data : deflateRawSync(data, { level: 9 }), junk]);
    const crc = zlibCrc32(data) >>> 0;
    const dd = (flags & 0x8) !== 0;
    const h = Buffer.alloc(30);
    h.writeUInt32LE(0x04034b50, 0);
    h.writeUInt16LE(20, 4);
    h.writeUInt16LE(flags, 6);
    h.writeUInt16LE(method, 8);
    h.writeUInt16LE(0x21, 12);
    h.writeUInt32LE(dd ? 0 : crc, 14);
    h.writeUInt32LE(dd ? 0 : comp.length, 18);
    h.writeUInt32LE(dd ? 0 : data.length, 22);
    h.writeUInt16LE(nameBytes.length, 26);
    h.writeUInt16LE(extra.length, 28);
    o.patchLocal?.[name]?.(h);
    const descriptor = Buffer.alloc(dd ? 16 : 0);
    if (dd) {
      descriptor.writeUInt32LE(0x08074b50, 0);
      descriptor.writeUInt32LE(crc, 4);
      descriptor.writeUInt32LE(comp.length, 8);
      descriptor.writeUInt32LE(data.length, 12);
    }
    const bytes = Buffer.concat([h, nameBytes, extra, comp, descriptor]);
    return { bytes, crc, csize: comp.length, nameBytes };
  };
  for (const name of names) {
    const data = files.get(name) as Buffer;
    const method = o.method?.[name] ?? (name.startsWith('media/') ? 0 : 8);
    const flags = (o.flags ?? 0x0800) | (o.dataDescriptor?.includes(name) ? 0x8 : 0);
    const l = local(name, data, method, flags, o.localExtra?.[name] ?? Buffer.alloc(0), o.tailJunk?.[name] ?? Buffer.alloc(0));
    const ce = o.centralExtra?.[name] ?? Buffer.alloc(0);
    const c = Buffer.alloc(46);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(20, 4);
    c.writeUInt16LE(20, 6);
    c.writeUInt16LE(flags, 8);
    c.writeUInt16LE(method, 10);
    c.writeUInt16LE(0x21, 14);
    c.writeUInt32LE(l.crc, 16);
    c.writeUInt32LE(l.csize, 20);
    c.writeUInt32LE(data.length, 24);
    c.writeUInt16LE(l.nameBytes.length, 28);
    c.writeUInt16LE(ce.length, 30);
    c.writeUInt32LE(offset, 42);
    o.patchCentral?.[name]?.(c);
    central.push(c, l.nameBytes, ce);
    out.push(l.bytes);
    offset += l.bytes.length;
  }
  for (const h of o.hiddenAfter ?? []) {
    const l = local(h.name, h.data, 8, 0x0800, Buffer.alloc(0), Buffer.alloc(0));
    out.push(l.bytes);
    offset += l.bytes.length;
  }
  const cd = Buffer.concat(central);
  const comment = o.comment ?? Buffer.alloc(0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(names.length, 8);
  end.writeUInt16LE(names.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  end.writeUInt16LE(comment.length, 20);
  return Buffer.concat([...out, cd, end, comment]);
}

/** A local entry as the exporter writes one (for a forger who hides it before the real ones). */
export const localEntry = (name: string, data: Buffer): Buffer => {
  const one = forgeZip(new Map([[name, data]]));
  return one.subarray(0, one.readUInt32LE(one.length - 6));
};

/** A Unicode Path extra field (0x7075): unzip and others extract the entry as `shown`. */
export const unicodePath = (name: string, shown: string): Buffer => {
  const n = Buffer.from(shown, 'utf8');
  const f = Buffer.alloc(9);
  f.writeUInt16LE(0x7075, 0);
  f.writeUInt16LE(5 + n.length, 2);
  f.writeUInt8(1, 4);
  f.writeUInt32LE(zlibCrc32(Buffer.from(name, 'utf8')) >>> 0, 5);
  return Buffer.concat([f, n]);
};
