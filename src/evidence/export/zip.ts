import * as zlib from 'node:zlib';
import { deflateRawSync } from 'node:zlib';

/**
 * A deterministic ZIP writer: the same files give the same bytes, on any machine, any day. Entries
 * are sorted by name (UTF-8 bytes), every timestamp is the DOS epoch (1980-01-01 00:00:00), no
 * extra fields, no comments, no data descriptors, no ZIP64, fixed "version made by" and
 * attributes, names flagged UTF-8 (bit 11). Data is deflated at level 9 by Node's zlib, whose
 * output for a given input and level does not change between runs. A bundle whose files are
 * byte-identical is then byte-identical as a ZIP, so two exports can be compared with cmp.
 */

export interface ZipFile {
  /** A relative path with `/` separators: no leading `/`, no `..` or empty segments. */
  name: string;
  data: Buffer;
  /** Store the bytes as they are (method 0): for media, which is compressed already and large. */
  stored?: boolean;
}

/** ZIP without ZIP64 stops at 4 GiB per entry and for the archive; bundles stay far below. */
const MAX_ZIP32 = 0xffffffff;
const DOS_TIME = 0; // 00:00:00
const DOS_DATE = (0 << 9) | (1 << 5) | 1; // 1980-01-01
const FLAG_UTF8 = 0x0800;
const VERSION = 20; // 2.0: deflate

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** zlib's own CRC-32 where Node has it (20.15+, 22.2+): ~50× the table loop on large media. */
const nativeCrc32 = (zlib as { crc32?: (data: Buffer) => number }).crc32;

/** CRC-32 (ISO 3309), as ZIP stores it. */
export function crc32(data: Buffer): number {
  if (nativeCrc32) return nativeCrc32(data) >>> 0;
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = (CRC_TABLE[(c ^ (data[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export function isSafeEntryName(name: string): boolean {
  if (name === '' || name.startsWith('/') || name.includes('\\') || /^[A-Za-z]:/.test(name)) return false;
  return name.split('/').every((s) => s !== '' && s !== '.' && s !== '..');
}

export function writeZip(files: readonly ZipFile[]): Buffer {
  const sorted = [...files].sort((a, b) => Buffer.compare(Buffer.from(a.name, 'utf8'), Buffer.from(b.name, 'utf8')));
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  let previous: string | undefined;
  for (const f of sorted) {
    if (!isSafeEntryName(f.name)) throw new Error(`unsafe ZIP entry name ${JSON.stringify(f.name)}`);
    if (f.name === previous) throw new Error(`duplicate ZIP entry ${f.name}`);
    previous = f.name;
    const name = Buffer.from(f.name, 'utf8');
    const method = f.stored ? 0 : 8;
    const compressed = f.stored ? f.data : deflateRawSync(f.data, { level: 9 });
    const crc = crc32(f.data);
    if (f.data.length > MAX_ZIP32 || compressed.length > MAX_ZIP32)
      throw new Error(`${f.name} is too large for a ZIP without ZIP64`);

    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(VERSION, 4);
    local.writeUInt16LE(FLAG_UTF8, 6);
    local.writeUInt16LE(method, 8); // 0 stored, 8 deflate
    local.writeUInt16LE(DOS_TIME, 10);
    local.writeUInt16LE(DOS_DATE, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(compressed.length, 18);
    local.writeUInt32LE(f.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28); // no extra field
    locals.push(local, name, compressed);

    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(VERSION, 4); // made by: MS-DOS, 2.0 (no host-specific attributes)
    central.writeUInt16LE(VERSION, 6);
    central.writeUInt16LE(FLAG_UTF8, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt16LE(DOS_TIME, 12);
    central.writeUInt16LE(DOS_DATE, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(compressed.length, 20);
    central.writeUInt32LE(f.data.length, 24);
    central.writeUInt16LE(name.length, 28);
    // extra, comment, disk, internal attributes, external attributes: all 0
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name);
    offset += 30 + name.length + compressed.length;
    if (offset > MAX_ZIP32) throw new Error('the bundle is too large for a ZIP without ZIP64');
  }
  const cdSize = centrals.reduce((n, b) => n + b.length, 0);
  if (sorted.length > 0xffff) throw new Error('too many entries for a ZIP without ZIP64');
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(sorted.length, 8);
  end.writeUInt16LE(sorted.length, 10);
  end.writeUInt32LE(cdSize, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, ...centrals, end]);
}
