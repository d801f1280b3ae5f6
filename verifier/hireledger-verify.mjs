#!/usr/bin/env node
// HireLedger evidence bundle verifier: `node hireledger-verify.mjs <bundle.zip> [--key <published key>]`.
//
// One file, Node's standard library only (node:zlib, node:crypto, node:fs), no network, no install:
// copy it anywhere and run it. It reads the ZIP itself, then recomputes from the bundle alone what
// format.md ("Export bundles") describes: the checkpoint's and the statement's Ed25519 signatures,
// the manifest of every file, every record's digests and hash, each stream's count, ends and chain,
// every RFC 9162 inclusion proof, the witnesses' RFC 3161 message imprints and export.json's hash.
// It prints PASS or FAIL per check and overall, names the first bad record (by seq), and exits 0
// only when every check passes (1 otherwise, 2 on a usage error). Anything unreadable is a FAIL in
// this verifier's words, never a stack trace.
//
// The checks are the CORE below, between its markers: the same text is inlined into verify.html
// (node verifier/build-verify-html.mjs), which runs it in a browser on WebCrypto, so both verifiers
// are one implementation. The Node shell after the core only reads the file and prints.
import { createHash, createPublicKey, verify as edVerify } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { inflateRawSync } from 'node:zlib';

// ---- BEGIN CORE (hireledger verifier core; the same text runs in node and in verify.html)
//
// Pure JavaScript: no import, no Node, no DOM. Everything outside comes through `platform`:
//   sha256(bytes) -> Promise<Uint8Array>, ed25519Verify(rawPub, msg, sig) -> Promise<boolean>,
//   inflateRaw(bytes, maxBytes) -> Promise<Uint8Array> (may stop once more than maxBytes come out;
//   must fail when the deflate stream ends before `bytes` do, or does not end: bytes after the
//   stream are data no tool shows, and the two verifiers must agree on them).
// verifyBundle(zipBytes, platform, { publishedKey }) never throws: it returns a report
//   { pass, format, checks: [{ id, en, zh, status: 'PASS'|'FAIL'|'NOT RUN', detail }], firstBad, notes, ... }.
// Every message in the report is this verifier's own words: an unexpected error inside a check is
// reported as malformed input, never as a JavaScript message or a stack trace.

const HL_FORMAT_1 = 'hireledger.evidence-bundle/1';
const HL_FORMAT_2 = 'hireledger.evidence-bundle/2';
// Format 1 is refused: nothing signs its manifest, so it cannot show that a stream was not cut short
// at its end, and a format 2 bundle cut short can be relabelled format 1 by dropping its statement.

const HL_LIMITS = {
  zipBytes: 2 ** 31, // the archive itself
  total: 2 ** 31, // 2 GiB uncompressed, all entries together
  ratio: 200, // deflate rarely beats ~100:1 on real text; a bomb does 1000:1
  entries: 10000,
};

const HL_CHECKS = [
  ['zip', 'the archive reads cleanly and holds only bundle files', 'ZIP 文件完好，只含证据包文件'],
  ['checkpoint', 'Ed25519 signature of the checkpoint by the bundled public key', '检查点的 Ed25519 签名（包内公钥）'],
  ['statement', 'statement.txt, signed with the same key, binds manifest.json', '声明 statement.txt 用同一密钥签名并绑定清单'],
  [
    'manifest',
    'manifest.json: checkpoint, every file with its SHA-256 and size, media',
    '清单 manifest.json：检查点、每个文件的哈希与大小、媒体文件',
  ],
  ['records', 'every record digest and hash recomputed', '每条记录的摘要与哈希重新计算'],
  [
    'streams',
    'each stream: count, first and last record, head hash, every chain link',
    '每个记录流：条数、首末记录、末条哈希、每个链接',
  ],
  [
    'proofs',
    'every record is in the signed tree (RFC 9162 inclusion proofs)',
    '每条记录都在签名的默克尔树中（RFC 9162 包含证明）',
  ],
  ['witnesses', "the checkpoint's witnesses (RFC 3161 time-stamp message imprint)", '检查点的见证（RFC 3161 时间戳的消息摘要）'],
  [
    'export',
    'export.json (unsigned): its content hash matches the bundle',
    '导出信息 export.json（未签名）：内容哈希与证据包一致',
  ],
];

class HlFail extends Error {
  constructor(message, seq) {
    super(message);
    this.seq = seq;
  }
}
const hlFail = (msg, seq) => {
  throw new HlFail(msg, seq);
};

// ---------------------------------------------------------------- bytes

const hlUtf8 = new TextEncoder();
const hlEnc = (s) => hlUtf8.encode(s);
function hlText(bytes, file) {
  try {
    // ignoreBOM keeps a byte-order mark in the text, where it makes the first line non-canonical.
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return hlFail(`${file} is not valid UTF-8 text`);
  }
}
function hlCat(...parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
const HL_HEXD = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
function hlHex(b) {
  let s = '';
  for (let i = 0; i < b.length; i++) s += HL_HEXD[b[i]];
  return s;
}
const HL_HEX64 = /^[0-9a-f]{64}$/;
function hlFromHex(s) {
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}
function hlEqual(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
const HL_B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
function hlB64Encode(b) {
  let s = '';
  for (let i = 0; i < b.length; i += 3) {
    const n = (b[i] << 16) | ((b[i + 1] ?? 0) << 8) | (b[i + 2] ?? 0);
    s += HL_B64[(n >> 18) & 63] + HL_B64[(n >> 12) & 63];
    s += i + 1 < b.length ? HL_B64[(n >> 6) & 63] : '=';
    s += i + 2 < b.length ? HL_B64[n & 63] : '=';
  }
  return s;
}
/** Strict base64 (padded, canonical): null when the text is anything else. */
function hlB64Decode(s) {
  if (typeof s !== 'string' || s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return null;
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  const out = new Uint8Array((s.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < s.length; i += 4) {
    let n = 0;
    for (let j = 0; j < 4; j++) n = (n << 6) | (s[i + j] === '=' ? 0 : HL_B64.indexOf(s[i + j]));
    if (o < out.length) out[o++] = (n >> 16) & 255;
    if (o < out.length) out[o++] = (n >> 8) & 255;
    if (o < out.length) out[o++] = n & 255;
  }
  return hlB64Encode(out) === s ? out : null;
}

const HL_CRC = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();
function hlCrc32(buf) {
  let c = 0xffffffff;
  for (let i = 0; i < buf.length; i++) c = HL_CRC[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** The platform's SHA-256 over many inputs, in batches (one await per batch, not per record). */
async function hlHashAll(platform, inputs) {
  const out = new Array(inputs.length);
  const BATCH = 2048;
  for (let i = 0; i < inputs.length; i += BATCH) {
    const part = await Promise.all(inputs.slice(i, i + BATCH).map((b) => platform.sha256(b)));
    for (let j = 0; j < part.length; j++) out[i + j] = part[j];
  }
  return out;
}

// ---------------------------------------------------------------- ZIP

function hlSafeName(name) {
  if (name === '' || name.startsWith('/') || name.includes('\\') || /^[A-Za-z]:/.test(name)) return false;
  // A NUL or control character makes other tools read another name than this verifier does.
  if (/[\u0000-\u001f\u007f]/.test(name)) return false;
  return name.split('/').every((s) => s !== '' && s !== '.' && s !== '..');
}

const HL_NAMES_2 = [
  'checkpoint.txt',
  'completeness.json',
  'custody.jsonl',
  'evidence-list.csv',
  'export.json',
  'format.md',
  'hireledger-verify.mjs',
  'manifest.json',
  'proofs.jsonl',
  'public-key.txt',
  'records.jsonl',
  'statement.txt',
  'timeline.html',
  'timeline.pdf',
  'verify.html',
  'witnesses.json',
];
const HL_MEDIA_NAME = /^media\/[0-9a-f]{64}$/;
const hlKnownName = (name) => HL_NAMES_2.includes(name) || HL_MEDIA_NAME.test(name);

/**
 * Reads every entry through the central directory, checking names, sizes, ratios and CRCs. Only the
 * one ZIP form the exporter writes is accepted (src/evidence/export/zip.ts): every byte of the file
 * belongs to an entry this verifier checks. The local entries, in central-directory order, tile the
 * file from offset 0 to the central directory; the directory ends where the end record starts, and
 * the end record ends the file (no archive comment). No data descriptors, no extra fields, and each
 * local header says what its central entry says. Anything else could make another tool (unzip, a
 * streaming reader) see files this verifier never read: hidden local entries, a Unicode Path field
 * that renames a file, a local header that gives another size.
 */
async function hlUnzip(buf, platform) {
  const u16 = (o) => {
    if (o < 0 || o + 2 > buf.length) hlFail('a ZIP structure runs past the end of the file (truncated or malformed ZIP)');
    return buf[o] | (buf[o + 1] << 8);
  };
  const u32 = (o) => {
    if (o < 0 || o + 4 > buf.length) hlFail('a ZIP structure runs past the end of the file (truncated or malformed ZIP)');
    return (buf[o] | (buf[o + 1] << 8) | (buf[o + 2] << 16) | (buf[o + 3] << 24)) >>> 0;
  };
  if (buf.length > HL_LIMITS.zipBytes) hlFail(`the file is ${buf.length} bytes, more than a bundle can be (2 GiB)`);
  if (buf.length < 22) hlFail('not a ZIP file (too short: truncated?)');
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 0xffff); i--) {
    if (u32(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) hlFail('not a ZIP file: no end of central directory (truncated?)');
  // The exporter writes no archive comment: text there is shown by archive tools as if it were part
  // of the evidence ("verified OK"), and it can hide a second, fake end record.
  if (u16(eocd + 20) !== 0) hlFail('the ZIP has an archive comment, which no bundle has: refused (bytes added to the archive)');
  if (eocd + 22 !== buf.length) hlFail('bytes after the end of the ZIP archive: refused');
  const count = u16(eocd + 10);
  const cdSize = u32(eocd + 12);
  const cdOffset = u32(eocd + 16);
  if (u16(eocd + 4) !== 0 || u16(eocd + 6) !== 0) hlFail('multi-disk ZIP files are not bundles');
  if (u16(eocd + 8) !== count) hlFail('the ZIP end record disagrees with itself about the entry count (malformed ZIP)');
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) hlFail('ZIP64 archives are not bundles');
  if (count > HL_LIMITS.entries) hlFail(`too many entries (${count})`);
  if (cdOffset + cdSize > eocd) hlFail('central directory lies outside the file (truncated or malformed ZIP)');
  if (cdOffset + cdSize !== eocd)
    hlFail(
      `${eocd - cdOffset - cdSize} bytes between the central directory and the end record that no entry accounts for: refused (bytes added to the archive)`,
    );
  const pending = [];
  const seen = new Set();
  let p = cdOffset;
  let total = 0;
  // Where the next local entry must start: the first at offset 0, each right after the one before.
  let next = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > eocd || u32(p) !== 0x02014b50) hlFail(`central directory entry ${i + 1} is malformed`);
    const needed = u16(p + 6);
    const flags = u16(p + 8);
    const method = u16(p + 10);
    const time = u16(p + 12);
    const date = u16(p + 14);
    const crc = u32(p + 16);
    const csize = u32(p + 20);
    const usize = u32(p + 24);
    const nlen = u16(p + 28);
    const xlen = u16(p + 30);
    const clen = u16(p + 32);
    const disk = u16(p + 34);
    const local = u32(p + 42);
    if (p + 46 + nlen + xlen + clen > eocd) hlFail(`central directory entry ${i + 1} runs past its end`);
    const nameBytes = buf.subarray(p + 46, p + 46 + nlen);
    const name = new TextDecoder('utf-8', { fatal: false }).decode(nameBytes);
    p += 46 + nlen + xlen + clen;
    if (!hlSafeName(name)) hlFail(`unsafe entry name ${JSON.stringify(name)} (absolute, with "..", or a control character)`);
    if (!hlKnownName(name)) hlFail(`unexpected entry ${JSON.stringify(name)}: not a file an evidence bundle holds`);
    if (seen.has(name)) hlFail(`duplicate entry ${name}`);
    seen.add(name);
    if (flags & 0x1) hlFail(`${name} is encrypted`);
    // Sizes after the data (bit 3) let a streaming reader take other bytes for the entry than the
    // central directory does; the exporter never writes them.
    if (flags & 0x8) hlFail(`${name}: a data descriptor (sizes after the data, flag bit 3), which no bundle has: refused`);
    // Bit 11 alone, as the exporter writes it: the name is UTF-8 for every tool, no other option.
    if (flags !== 0x0800) hlFail(`${name}: ZIP flags 0x${flags.toString(16)}, a bundle's are 0x800 (UTF-8 names only)`);
    // An extra field can rename the entry for other tools (0x7075 Unicode Path) or hide bytes.
    if (xlen !== 0) hlFail(`${name}: an extra field in the central directory, which no bundle has: refused`);
    if (clen !== 0) hlFail(`${name}: a file comment in the central directory, which no bundle has: refused`);
    if (disk !== 0) hlFail('multi-disk ZIP files are not bundles');
    if (method !== 0 && method !== 8) hlFail(`${name} uses compression method ${method} (only stored and deflate)`);
    // The exporter stores media (compressed already) and deflates every other file.
    const wantMethod = name.startsWith('media/') ? 0 : 8;
    if (method !== wantMethod)
      hlFail(
        `${name} is ${method === 0 ? 'stored' : 'deflated'}; a bundle ${wantMethod === 0 ? 'stores' : 'deflates'} it: not as exported`,
      );
    total += usize;
    if (total > HL_LIMITS.total) hlFail('the entries would expand to more than 2 GiB: refused (ZIP bomb?)');
    if (usize > 1024 * 1024 && usize > csize * HL_LIMITS.ratio)
      hlFail(`${name} would expand ${Math.round(usize / Math.max(csize, 1))}:1: refused (ZIP bomb?)`);
    if (method === 0 && usize !== csize) hlFail(`${name}: stored, yet its sizes differ (malformed ZIP)`);
    if (local !== next)
      hlFail(
        local > next
          ? `${local - next} bytes before ${name}'s local entry that no entry accounts for (a hidden entry, or bytes added): refused`
          : `${name}: its local entry overlaps the one before (malformed ZIP)`,
      );
    if (local + 30 > cdOffset || u32(local) !== 0x04034b50) hlFail(`${name}: local header missing (truncated or malformed ZIP)`);
    const lnlen = u16(local + 26);
    const lxlen = u16(local + 28);
    if (lxlen !== 0) hlFail(`${name}: an extra field in the local header, which no bundle has: refused`);
    // Tools that read local headers (streaming readers, unzip in places) must see what this verifier sees.
    if (
      u16(local + 4) !== needed ||
      u16(local + 6) !== flags ||
      u16(local + 8) !== method ||
      u16(local + 10) !== time ||
      u16(local + 12) !== date ||
      u32(local + 14) !== crc ||
      u32(local + 18) !== csize ||
      u32(local + 22) !== usize
    )
      hlFail(`${name}: the local header disagrees with the central directory (malformed ZIP)`);
    if (lnlen !== nlen || !hlEqual(buf.subarray(local + 30, local + 30 + lnlen), nameBytes))
      hlFail(`${name}: local header names another file`);
    const start = local + 30 + lnlen;
    if (start + csize > cdOffset) hlFail(`${name}: data runs past the central directory (truncated or malformed ZIP)`);
    next = start + csize;
    pending.push({ name, method, crc, usize, raw: buf.subarray(start, start + csize) });
  }
  if (p !== cdOffset + cdSize) hlFail('the central directory size does not match its entries (malformed ZIP)');
  if (next !== cdOffset)
    hlFail(
      `${cdOffset - next} bytes after the last local entry that no entry accounts for (a hidden entry, or bytes added): refused`,
    );
  const datas = await Promise.all(
    pending.map(async (e) => {
      if (e.method === 0) return e.raw;
      try {
        return await platform.inflateRaw(e.raw, e.usize);
      } catch {
        return null;
      }
    }),
  );
  const entries = new Map();
  pending.forEach((e, i) => {
    const data = datas[i];
    if (!ArrayBuffer.isView(data))
      hlFail(`${e.name}: cannot be decompressed (corrupt, bytes after its deflate stream, or larger than the directory says)`);
    if (data.length !== e.usize) hlFail(`${e.name}: ${data.length} bytes, the directory says ${e.usize}`);
    if (hlCrc32(data) !== e.crc) hlFail(`${e.name}: CRC-32 mismatch (corrupted)`);
    entries.set(e.name, data);
  });
  return entries;
}

// ---------------------------------------------------------------- RFC 8785 JCS

function hlJcs(value, depth = 0) {
  if (depth > 128) hlFail('JSON nested deeper than 128 levels');
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      if (value.includes('\u0000') || !value.isWellFormed()) hlFail('a string holds U+0000 or is not well-formed');
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isSafeInteger(value)) hlFail(`number ${value} is not a safe integer`);
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map((v) => hlJcs(v, depth + 1)).join(',')}]`;
      const keys = Object.keys(value).sort(); // UTF-16 code unit order
      return `{${keys.map((k) => `${JSON.stringify(k)}:${hlJcs(value[k], depth + 1)}`).join(',')}}`;
    }
    default:
      return hlFail(`${typeof value} is not JSON`);
  }
}

/** A JSON object from text, or a failure in the verifier's words. */
function hlJsonObject(text, what) {
  let v;
  try {
    v = JSON.parse(text);
  } catch {
    hlFail(`${what} is not JSON`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) hlFail(`${what} is not a JSON object`);
  return v;
}

function hlJsonLines(data, file) {
  const text = hlText(data, file);
  if (text !== '' && !text.endsWith('\n')) hlFail(`${file} does not end with a newline (truncated?)`);
  return text === '' ? [] : text.slice(0, -1).split('\n');
}

/** A value from the bundle, shown in a message: short, and never the word a JavaScript error would use. */
function hlShow(v) {
  if (v === undefined) return '(missing)';
  let t;
  try {
    t = JSON.stringify(v);
  } catch {
    t = '(unprintable)';
  }
  return t.length > 60 ? `${t.slice(0, 60)}…` : t;
}
/** Text from the bundle cannot forge a line of the report: control and direction characters are escaped. */
const hlClean = (t) =>
  String(t).replace(
    /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u2028-\u202e\u2066-\u2069]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
const hlIsObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const hlIsCount = (v) => Number.isSafeInteger(v) && v >= 0;

// ---------------------------------------------------------------- signed notes (C2SP)

async function hlParseVerifierKey(text, platform, what) {
  const vkey = text.trim();
  const a = vkey.indexOf('+');
  const b = a < 0 ? -1 : vkey.indexOf('+', a + 1);
  if (b < 0) hlFail(`${what} is not <name>+<key ID>+<key>`);
  const name = vkey.slice(0, a);
  const idHex = vkey.slice(a + 1, b);
  const key = hlB64Decode(vkey.slice(b + 1));
  if (name === '' || /[\s+]/.test(name)) hlFail(`${what}: the key name is empty or holds a space or "+"`);
  if (!/^[0-9a-f]{8}$/.test(idHex)) hlFail(`${what}: the key ID is not 8 hex digits`);
  if (key === null || key.length !== 33 || key[0] !== 0x01) hlFail(`${what}: not an Ed25519 key (base64 of 0x01 and 32 bytes)`);
  const raw = key.subarray(1);
  const id = (await platform.sha256(hlCat(hlEnc(name), new Uint8Array([0x0a, 0x01]), raw))).subarray(0, 4);
  if (hlHex(id) !== idHex) hlFail(`${what}: the key ID does not match the name and key`);
  return { name, id, raw, text: `${name}+${idHex}+${vkey.slice(b + 1)}` };
}

/**
 * Opens a signed note: returns its body lines when a signature line by `key` verifies; fails otherwise.
 * `only`: the note carries exactly one signature line, by `key` (the statement: nobody cosigns it,
 * and it is not in the manifest, so a line added there would be unsigned text a reader takes for a
 * cosignature). Without it, other lines are let through unchecked (the checkpoint's witnesses, as
 * C2SP allows; checkpoint.txt is in the signed manifest anyway).
 */
async function hlOpenNote(note, key, platform, file, only = false) {
  const split = note.lastIndexOf('\n\n');
  if (split < 0) hlFail(`${file} has no blank line before its signatures`);
  const body = note.slice(0, split + 1);
  if (!note.endsWith('\n')) hlFail(`${file} does not end with a newline (truncated?)`);
  const sigLines = note.slice(split + 2, -1).split('\n');
  if (only && sigLines.length !== 1) {
    const who = sigLines.map((line) => {
      const parts = line.slice(2).split(' ');
      const sig = line.startsWith('\u2014 ') && parts.length === 2 ? hlB64Decode(parts[1]) : null;
      return sig && sig.length >= 4 ? `${parts[0]}+${hlHex(sig.subarray(0, 4))}` : JSON.stringify(line.slice(0, 60));
    });
    hlFail(
      `${file} carries ${sigLines.length} signature lines (${who.join(', ')}); it must carry exactly one, by the ledger's key ${key.name}+${hlHex(key.id)}: lines added`,
    );
  }
  let signed = false;
  for (const line of sigLines) {
    if (!line.startsWith('\u2014 ')) hlFail(`${file}: not a signature line: ${JSON.stringify(line.slice(0, 60))}`);
    const parts = line.slice(2).split(' ');
    if (parts.length !== 2) hlFail(`${file}: a signature line is not "— <name> <signature>"`);
    const sig = hlB64Decode(parts[1]);
    if (sig === null || sig.length < 5) hlFail(`${file}: a signature is not base64`);
    if (parts[0] !== key.name || sig.length !== 68 || !hlEqual(sig.subarray(0, 4), key.id)) continue; // a cosigner's
    let ok;
    try {
      ok = await platform.ed25519Verify(key.raw, hlEnc(body), sig.subarray(4));
    } catch {
      hlFail('this program cannot check Ed25519 signatures here (no Ed25519 support): use a current browser or node');
    }
    if (ok !== true) hlFail(`the signature of ${file} does not verify with public-key.txt: altered, or signed by another key`);
    signed = true;
  }
  if (!signed) hlFail(`${file} is not signed by the bundled key ${key.name}+${hlHex(key.id)} (signed by another key)`);
  return body.slice(0, -1).split('\n');
}

function hlParseCheckpoint(lines, key) {
  if (lines.length < 3) hlFail('checkpoint body needs an origin, a size and a root hash');
  const [origin, sizeLine, rootLine] = lines;
  if (origin !== key.name) hlFail(`checkpoint origin ${origin} is not the key's name ${key.name}`);
  if (!/^(0|[1-9][0-9]{0,15})$/.test(sizeLine) || !Number.isSafeInteger(Number(sizeLine)))
    hlFail('checkpoint tree size is not a decimal');
  const root = hlB64Decode(rootLine);
  if (root === null || root.length !== 32) hlFail('checkpoint root hash is not 32 bytes of base64');
  return { origin, size: Number(sizeLine), root, rootB64: rootLine };
}

// ---------------------------------------------------------------- DER (RFC 3161), minimal and bounds-checked

function hlDerRead(buf, pos, end) {
  if (pos + 2 > end) hlFail('the time-stamp token is truncated (DER)');
  const tag = buf[pos];
  if ((tag & 0x1f) === 0x1f) hlFail('the time-stamp token uses a high tag number (not DER this verifier reads)');
  let len = buf[pos + 1];
  let p = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) hlFail('the time-stamp token has an indefinite or oversized length (not DER)');
    if (p + n > end) hlFail('the time-stamp token is truncated (DER)');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p++];
  }
  if (p + len > end) hlFail('the time-stamp token is truncated (DER)');
  return { tag, start: pos, cstart: p, end: p + len };
}
function hlDerKids(buf, node) {
  const out = [];
  for (let p = node.cstart; p < node.end;) {
    const c = hlDerRead(buf, p, node.end);
    out.push(c);
    p = c.end;
    if (out.length > 1000) hlFail('the time-stamp token has too many fields');
  }
  return out;
}
function hlDerExpect(node, tag, what) {
  if (!node || node.tag !== tag) hlFail(`the time-stamp token is malformed: ${what} missing or of the wrong type`);
  return node;
}
function hlDerOid(buf, node) {
  const b = buf.subarray(node.cstart, node.end);
  if (b.length === 0 || b.length > 64) hlFail('the time-stamp token has a malformed object identifier');
  const arcs = [];
  let v = 0;
  for (const x of b) {
    v = v * 128 + (x & 0x7f);
    if (v > Number.MAX_SAFE_INTEGER / 128) hlFail('the time-stamp token has a malformed object identifier');
    if (!(x & 0x80)) {
      arcs.push(v);
      v = 0;
    }
  }
  if (b[b.length - 1] & 0x80) hlFail('the time-stamp token has a malformed object identifier');
  const first = arcs.shift();
  const head = first < 80 ? [Math.floor(first / 40), first % 40] : [2, first - 80];
  return [...head, ...arcs].join('.');
}
const HL_OID_SIGNED_DATA = '1.2.840.113549.1.7.2';
const HL_OID_TST_INFO = '1.2.840.113549.1.9.16.1.4';
const HL_OID_SHA256 = '2.16.840.1.101.3.4.2.1';

/** TimeStampResp or TimeStampToken (DER) -> { algorithm, digest, genTime } of its TSTInfo. */
function hlTimestampImprint(der) {
  const top = hlDerRead(der, 0, der.length);
  if (top.end !== der.length) hlFail('the time-stamp token has bytes after its end');
  hlDerExpect(top, 0x30, 'the outer SEQUENCE');
  let ci = top;
  const kids = hlDerKids(der, top);
  if (kids[0] && kids[0].tag === 0x30) {
    // TimeStampResp: status, then the token
    const status = hlDerKids(der, kids[0])[0];
    hlDerExpect(status, 0x02, 'PKIStatus');
    const s = der.subarray(status.cstart, status.end);
    if (s.length !== 1 || s[0] > 1) hlFail('the time-stamp response does not grant the request (PKIStatus not 0 or 1)');
    ci = hlDerExpect(kids[1], 0x30, 'the TimeStampToken');
  }
  const [ctype, ctx] = hlDerKids(der, ci);
  if (hlDerOid(der, hlDerExpect(ctype, 0x06, 'contentType')) !== HL_OID_SIGNED_DATA)
    hlFail('the time-stamp token is not CMS SignedData');
  const sd = hlDerExpect(hlDerKids(der, hlDerExpect(ctx, 0xa0, 'content'))[0], 0x30, 'SignedData');
  const sdKids = hlDerKids(der, sd);
  const encap = hlDerExpect(sdKids[2], 0x30, 'encapContentInfo');
  const [etype, econtent] = hlDerKids(der, encap);
  if (hlDerOid(der, hlDerExpect(etype, 0x06, 'eContentType')) !== HL_OID_TST_INFO)
    hlFail('the time-stamp token does not hold a TSTInfo');
  const octets = hlDerExpect(hlDerKids(der, hlDerExpect(econtent, 0xa0, 'eContent'))[0], 0x04, 'eContent OCTET STRING');
  const tst = hlDerRead(der, octets.cstart, octets.end);
  if (tst.end !== octets.end) hlFail('the TSTInfo does not fill its OCTET STRING');
  const tk = hlDerKids(der, hlDerExpect(tst, 0x30, 'TSTInfo'));
  const mi = hlDerKids(der, hlDerExpect(tk[2], 0x30, 'messageImprint'));
  const alg = hlDerKids(der, hlDerExpect(mi[0], 0x30, 'hashAlgorithm'));
  const algorithm = hlDerOid(der, hlDerExpect(alg[0], 0x06, 'the hash algorithm'));
  const digest = der.subarray(hlDerExpect(mi[1], 0x04, 'hashedMessage').cstart, mi[1].end);
  const gt =
    tk[4] && tk[4].tag === 0x18
      ? String.fromCharCode(...der.subarray(tk[4].cstart, Math.min(tk[4].end, tk[4].cstart + 40)))
      : null;
  return { algorithm, digest, genTime: gt && /^[0-9.Z+-]+$/.test(gt) ? gt : null };
}

// ---------------------------------------------------------------- RFC 9162 inclusion, batched

/** The roots the proofs lead to, computed for all records at once, one path step per await. */
async function hlRootsFromInclusion(platform, items, size) {
  const one = new Uint8Array([0x01]);
  const st = items.map((it) => ({ fn: it.index, sn: size - 1, r: it.leaf, path: it.path, i: 0, bad: it.index >= size }));
  for (;;) {
    const active = st.filter((s) => !s.bad && s.i < s.path.length);
    if (active.length === 0) break;
    const inputs = [];
    const right = [];
    for (const s of active) {
      const p = s.path[s.i];
      if (s.sn === 0) {
        s.bad = true;
        right.push(null);
        inputs.push(new Uint8Array(0));
        continue;
      }
      if (s.fn % 2 === 1 || s.fn === s.sn) {
        inputs.push(hlCat(one, p, s.r));
        right.push(true);
      } else {
        inputs.push(hlCat(one, s.r, p));
        right.push(false);
      }
    }
    const hashes = await hlHashAll(platform, inputs);
    active.forEach((s, k) => {
      if (right[k] === null) return;
      s.r = hashes[k];
      if (right[k] && s.fn % 2 === 0)
        while (s.fn % 2 === 0 && s.fn !== 0) {
          s.fn = Math.floor(s.fn / 2);
          s.sn = Math.floor(s.sn / 2);
        }
      s.fn = Math.floor(s.fn / 2);
      s.sn = Math.floor(s.sn / 2);
      s.i++;
    });
  }
  return st.map((s) => (s.bad || s.sn !== 0 ? null : s.r));
}

// ---------------------------------------------------------------- the checks

const HL_FIELDS = [
  'hash_version',
  'seq',
  'stream',
  'kind',
  'occurred_at',
  'recorded_at',
  'actor',
  'source',
  'source_ref',
  'payload_sha256',
  'raw_sha256',
  'prev_hash',
  'hash',
  'payload',
  'raw',
];
const HL_ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/**
 * Every record's shape, canonical form, digests and hash. Returns the records when each is sound;
 * the first bad record (lowest line) fails, whatever kind of damage it has.
 */
async function hlCheckRecords(files, cp, platform) {
  const lines = hlJsonLines(files.get('records.jsonl'), 'records.jsonl');
  if (lines.length === 0) hlFail('records.jsonl holds no records');
  const records = [];
  const problems = [];
  const inputs = [];
  let prevSeq = 0;
  lines.forEach((line, i) => {
    let r = null;
    try {
      r = hlJsonObject(line, `records.jsonl line ${i + 1}`);
      const name = Number.isSafeInteger(r.seq) ? `record seq ${r.seq}` : `records.jsonl line ${i + 1}`;
      const seq = Number.isSafeInteger(r.seq) ? r.seq : undefined;
      const bad = (why) => hlFail(`${name}: ${why}`, seq);
      if (Object.keys(r).length !== HL_FIELDS.length || HL_FIELDS.some((f) => !(f in r)))
        bad('does not have exactly the record fields');
      if (!Number.isSafeInteger(r.seq) || r.seq < 1) bad('seq is not a positive integer');
      if (r.seq <= prevSeq) bad(`out of order or repeated: seq ${r.seq} after ${prevSeq}`);
      if (r.seq > cp.size) bad(`beyond the checkpoint (${cp.size} records)`);
      prevSeq = r.seq;
      if (r.hash_version !== 1) bad(`hash_version ${hlShow(r.hash_version)} is not one this verifier knows`);
      for (const f of ['stream', 'kind', 'actor', 'source', 'source_ref'])
        if (typeof r[f] !== 'string') bad(`${f} is not a string`);
      for (const f of ['occurred_at', 'recorded_at'])
        if (typeof r[f] !== 'string' || !HL_ISO_MS.test(r[f])) bad(`${f} is not ISO 8601 UTC with milliseconds`);
      if (!HL_HEX64.test(r.hash) || !HL_HEX64.test(r.payload_sha256)) bad('hash or payload_sha256 is not 64 hex digits');
      if (r.raw_sha256 !== null && !HL_HEX64.test(r.raw_sha256)) bad('raw_sha256 is not 64 hex digits');
      if (r.prev_hash !== null && !HL_HEX64.test(r.prev_hash)) bad('prev_hash is not 64 hex digits');
      let canonical;
      try {
        canonical = hlJcs(r);
      } catch (err) {
        bad(`cannot be put in canonical form: ${err instanceof HlFail ? err.message : 'malformed'}`);
      }
      // The line must be its own canonical form: a 1.0 that JSON.parse reads as 1 is caught here.
      if (canonical !== line) bad('the line is not in canonical (RFC 8785) form: altered');
      const hashed = {
        v: 1,
        seq: r.seq,
        stream: r.stream,
        kind: r.kind,
        occurred_at: r.occurred_at,
        recorded_at: r.recorded_at,
        actor: r.actor,
        source: r.source,
        source_ref: r.source_ref,
        payload_sha256: r.payload_sha256,
        raw_sha256: r.raw_sha256,
        prev_hash: r.prev_hash,
      };
      inputs.push(hlEnc(hlJcs(r.payload)));
      inputs.push(r.raw === null ? new Uint8Array(0) : hlEnc(hlJcs(r.raw)));
      inputs.push(hlCat(new Uint8Array([0]), hlEnc(hlJcs(hashed))));
      problems.push(null);
    } catch (err) {
      const e = err instanceof HlFail ? err : new HlFail(`records.jsonl line ${i + 1} is malformed`);
      problems.push(e);
      inputs.push(new Uint8Array(0), new Uint8Array(0), new Uint8Array(0));
    }
    records.push(r);
  });
  const digests = await hlHashAll(platform, inputs);
  for (let i = 0; i < records.length; i++) {
    if (problems[i]) throw problems[i];
    const r = records[i];
    const bad = (why) => hlFail(`record seq ${r.seq}: ${why}`, r.seq);
    if (hlHex(digests[3 * i]) !== r.payload_sha256) bad('payload does not match payload_sha256 (content altered)');
    if (r.raw !== null && hlHex(digests[3 * i + 1]) !== r.raw_sha256)
      bad('raw does not match raw_sha256 (raw WeCom material altered)');
    if (r.raw === null && r.raw_sha256 !== null) bad('raw is missing but raw_sha256 names one (raw WeCom material removed)');
    if (hlHex(digests[3 * i + 2]) !== r.hash) bad('the fields do not hash to its hash (hash_mismatch)');
  }
  return records;
}

function hlByStream(records) {
  const byStream = new Map();
  for (const r of records) {
    if (!byStream.has(r.stream)) byStream.set(r.stream, []);
    byStream.get(r.stream).push(r);
  }
  return byStream;
}

function hlCheckChain(stream, rs) {
  let prev = null;
  let prevSeq = null;
  for (const r of rs) {
    if (r.prev_hash !== prev) {
      hlFail(
        `record seq ${r.seq}: chain broken in ${stream}${prevSeq === null ? ' at its first record' : ` after seq ${prevSeq}`}: prev_hash ${r.prev_hash ?? 'null'} but the previous record's hash is ${prev ?? 'none (first record)'} (a record removed, added or reordered)`,
        r.seq,
      );
    }
    prev = r.hash;
    prevSeq = r.seq;
  }
  return rs.length;
}

/**
 * Per signed manifest stream, the bundle's records of it (count, first, last, head hash), and the
 * whole ones (complete: true) chained from their first record. The manifest is signed through
 * statement.txt, so it decides which streams are whole, and a stream cut short at its END no longer
 * matches its head hash: what no Merkle proof can show.
 */
function hlCheckStreams(records, manifest) {
  const byStream = hlByStream(records);
  const listed = new Map(manifest.streams.map((s) => [s.stream, s]));
  for (const stream of byStream.keys())
    if (!listed.has(stream))
      hlFail(`stream ${stream} is not listed in manifest.json (a record added)`, byStream.get(stream)[0].seq);
  let links = 0;
  const ends = [];
  for (const s of manifest.streams) {
    const rs = byStream.get(s.stream) ?? [];
    const first = rs[0];
    const last = rs[rs.length - 1];
    if (rs.length === 0)
      hlFail(
        `stream ${s.stream}: no records in the bundle, the signed manifest says ${s.records} (records removed)`,
        s.first_seq,
      );
    if (last.seq !== s.last_seq || last.hash !== s.head_hash) {
      const cut = last.seq < s.last_seq;
      hlFail(
        `stream ${s.stream}: the bundle's last record is seq ${last.seq} (hash ${last.hash.slice(0, 16)}…), the signed manifest says seq ${s.last_seq} (hash ${String(s.head_hash).slice(0, 16)}…)` +
          (cut ? ': records removed at the end of the stream' : ': the end of the stream was altered or records added'),
        cut ? s.last_seq : last.seq,
      );
    }
    if (first.seq !== s.first_seq)
      hlFail(
        `stream ${s.stream}: the bundle's first record is seq ${first.seq}, the signed manifest says seq ${s.first_seq} (records removed or added at the start)`,
        Math.min(first.seq, s.first_seq),
      );
    if (s.complete === true) {
      links += hlCheckChain(s.stream, rs);
      ends.push(`${s.stream}: whole, ${rs.length} records, seq ${first.seq}…${last.seq}`);
    } else ends.push(`${s.stream}: ${rs.length} records, not the whole stream (a range, or records another stream links to)`);
    if (rs.length !== s.records)
      hlFail(
        `stream ${s.stream}: ${rs.length} records in records.jsonl, the signed manifest says ${s.records} (a record removed or added)`,
      );
  }
  return `${links} links; ${ends.join('; ')}`;
}

async function hlCheckProofs(files, records, cp, platform) {
  const lines = hlJsonLines(files.get('proofs.jsonl'), 'proofs.jsonl');
  const items = [];
  for (let i = 0; i < Math.min(lines.length, records.length); i++) {
    const r = records[i];
    const bad = (why) => hlFail(`record seq ${r.seq}: ${why}`, r.seq);
    let p;
    try {
      p = hlJsonObject(lines[i], `proofs.jsonl line ${i + 1}`);
    } catch {
      bad(`its proof (proofs.jsonl line ${i + 1}) is not a JSON object`);
    }
    if (p.seq !== r.seq) bad(`proof ${i + 1} is for seq ${hlShow(p.seq)} (records removed, added or reordered)`);
    if (p.tree_size !== cp.size || p.leaf_index !== r.seq - 1)
      bad(`the proof is not for leaf ${r.seq - 1} of the checkpoint's tree of ${cp.size}`);
    if (p.leaf_hash !== r.hash) bad("the proof's leaf is not the record's hash");
    if (!Array.isArray(p.path) || p.path.length > 64 || !p.path.every((h) => typeof h === 'string' && HL_HEX64.test(h)))
      bad('malformed proof path');
    items.push({ index: r.seq - 1, leaf: hlFromHex(r.hash), path: p.path.map(hlFromHex) });
  }
  if (lines.length !== records.length)
    hlFail(
      `proofs.jsonl has ${lines.length} proofs for ${records.length} records (a record removed or added)`,
      records[Math.min(lines.length, records.length)] ? records[Math.min(lines.length, records.length)].seq : undefined,
    );
  const roots = await hlRootsFromInclusion(platform, items, cp.size);
  roots.forEach((root, i) => {
    const r = records[i];
    if (root === null || !hlEqual(root, cp.root))
      hlFail(
        `record seq ${r.seq}: the inclusion proof does not lead to the checkpoint's root (a proof for another tree, or not the signed ledger's record ${r.seq})`,
        r.seq,
      );
  });
  return `${records.length} proofs against root ${hlHex(cp.root).slice(0, 16)}…`;
}

/** manifest.json: its own shape (every file it lists is then compared with the ZIP by hlCheckFiles). */
function hlManifestShape(m, cp) {
  if (m.origin !== cp.origin) hlFail(`manifest.json names origin ${hlShow(m.origin)}, the checkpoint is ${cp.origin}`);
  if (!hlIsObject(m.checkpoint) || m.checkpoint.size !== cp.size || m.checkpoint.root_hash !== cp.rootB64)
    hlFail('manifest.json names another checkpoint (size or root hash differ from checkpoint.txt)');
  for (const f of ['records', 'first_seq', 'last_seq']) if (!hlIsCount(m[f])) hlFail(`manifest.json: ${f} is not a count`);
  if (!Array.isArray(m.streams) || m.streams.length === 0) hlFail('manifest.json has no stream list');
  let prev = null;
  for (const s of m.streams) {
    if (!hlIsObject(s) || typeof s.stream !== 'string' || typeof s.complete !== 'boolean')
      hlFail('manifest.json: a malformed stream entry');
    for (const f of ['records', 'first_seq', 'last_seq'])
      if (!hlIsCount(s[f])) hlFail(`manifest.json: stream ${s.stream}: ${f} is not a count`);
    if (typeof s.head_hash !== 'string' || !HL_HEX64.test(s.head_hash))
      hlFail(`manifest.json: stream ${s.stream}: head_hash is not 64 hex digits`);
    if (prev !== null && !(prev < s.stream)) hlFail('manifest.json: streams are not sorted by name, or one is listed twice');
    prev = s.stream;
  }
  if (!Array.isArray(m.files)) hlFail('manifest.json has no file list');
  prev = null;
  for (const f of m.files) {
    if (
      !hlIsObject(f) ||
      typeof f.name !== 'string' ||
      typeof f.sha256 !== 'string' ||
      !HL_HEX64.test(f.sha256) ||
      !hlIsCount(f.bytes)
    )
      hlFail('manifest.json: a malformed file entry');
    if (prev !== null && !(prev < f.name)) hlFail('manifest.json: files are not sorted by name, or one is listed twice');
    prev = f.name;
  }
  if (!Array.isArray(m.media)) hlFail('manifest.json has no media list');
  for (const x of m.media) {
    if (
      !hlIsObject(x) ||
      typeof x.sha256 !== 'string' ||
      !HL_HEX64.test(x.sha256) ||
      !Array.isArray(x.records) ||
      !x.records.every(hlIsCount)
    )
      hlFail('manifest.json: a malformed media entry');
    if (x.missing !== true && !hlIsCount(x.bytes)) hlFail(`manifest.json: media ${x.sha256} has no size`);
  }
}

async function hlCheckFiles(files, m, platform) {
  const unlisted = ['manifest.json', 'statement.txt', 'export.json'];
  const listed = new Map(m.files.map((f) => [f.name, f]));
  for (const name of unlisted) if (listed.has(name)) hlFail(`manifest.json lists ${name}, which it cannot bind`);
  for (const name of files.keys())
    if (!unlisted.includes(name) && !listed.has(name)) hlFail(`${name} is in the ZIP but not in manifest.json (a file added)`);
  for (const f of m.files)
    if (!files.has(f.name)) hlFail(`${f.name} is listed in manifest.json but missing from the ZIP (a file removed)`);
  const names = m.files.map((f) => f.name);
  const digests = await hlHashAll(
    platform,
    names.map((n) => files.get(n)),
  );
  const media = new Map(m.media.map((x) => [x.sha256, x]));
  names.forEach((name, i) => {
    const f = m.files[i];
    const data = files.get(name);
    const seqs =
      name.startsWith('media/') && media.has(name.slice(6))
        ? ` (named by record seq ${media.get(name.slice(6)).records.join(', ')})`
        : '';
    const seq = seqs ? media.get(name.slice(6)).records[0] : undefined;
    if (data.length !== f.bytes) hlFail(`${name}: ${data.length} bytes, manifest.json says ${f.bytes} (altered)${seqs}`, seq);
    const h = hlHex(digests[i]);
    if (h !== f.sha256) hlFail(`${name}: its SHA-256 is not the one manifest.json lists (altered)${seqs}`, seq);
    if (name.startsWith('media/') && h !== name.slice(6)) hlFail(`${name}: its SHA-256 is not its name (altered)${seqs}`, seq);
  });
  let missing = 0;
  for (const x of m.media) {
    const f = listed.get(`media/${x.sha256}`);
    if (x.missing === true) {
      missing++;
      if (f) hlFail(`media ${x.sha256} is listed as missing yet is in the bundle`);
    } else if (!f || f.bytes !== x.bytes)
      hlFail(`media ${x.sha256} (record seq ${x.records.join(', ')}) is not in the bundle`, x.records[0]);
  }
  for (const name of names)
    if (name.startsWith('media/') && !media.has(name.slice(6))) hlFail(`${name} is not in manifest.json's media list`);
  return { missing, media: m.media.length - missing };
}

async function hlCheckWitnesses(files, platform) {
  const doc = hlJsonObject(hlText(files.get('witnesses.json'), 'witnesses.json'), 'witnesses.json');
  const cpSha = hlHex(await platform.sha256(files.get('checkpoint.txt')));
  if (doc.checkpoint_sha256 !== cpSha)
    hlFail("witnesses.json is for another checkpoint (its checkpoint_sha256 is not checkpoint.txt's SHA-256)");
  if (!Array.isArray(doc.witnesses)) hlFail('witnesses.json has no witness list');
  const said = [];
  let tokens = 0;
  doc.witnesses.forEach((w, i) => {
    if (!hlIsObject(w) || typeof w.witness !== 'string' || typeof w.status !== 'string')
      hlFail(`witnesses.json: entry ${i + 1} is malformed`);
    const label = `${w.witness} (${w.status}${typeof w.attempted_at === 'string' ? `, ${w.attempted_at}` : ''})`;
    if (w.token_base64 === null || w.token_base64 === undefined) {
      said.push(label);
      return;
    }
    const der = hlB64Decode(w.token_base64);
    if (der === null) hlFail(`witnesses.json: the ${w.witness} token is not base64`);
    let imprint;
    try {
      imprint = hlTimestampImprint(der);
    } catch (err) {
      hlFail(`witnesses.json: the ${w.witness} token cannot be read: ${err instanceof HlFail ? err.message : 'malformed DER'}`);
    }
    if (imprint.algorithm !== HL_OID_SHA256)
      hlFail(`witnesses.json: the ${w.witness} token's imprint is not SHA-256 (${imprint.algorithm})`);
    if (hlHex(imprint.digest) !== cpSha)
      hlFail(
        `witnesses.json: the ${w.witness} token time-stamps other data (its message imprint is not SHA-256 of checkpoint.txt)`,
      );
    tokens++;
    said.push(`${label}: RFC 3161 token for SHA-256(checkpoint.txt)${imprint.genTime ? `, genTime ${imprint.genTime}` : ''}`);
  });
  return { detail: said.length ? said.join('; ') : 'no witnesses recorded', tokens };
}

async function hlContentSha256(files, platform) {
  const names = [...files.keys()].filter((n) => n !== 'export.json').sort();
  const digests = await hlHashAll(
    platform,
    names.map((n) => files.get(n)),
  );
  const listing = names.map((n, i) => `${hlHex(digests[i])}  ${n}\n`).join('');
  return hlHex(await platform.sha256(hlEnc(listing)));
}

// ---------------------------------------------------------------- the report

async function verifyBundle(zipBytes, platform, options = {}) {
  const report = {
    pass: false,
    format: null,
    checks: HL_CHECKS.map(([id, en, zh]) => ({ id, en, zh, status: 'NOT RUN', detail: '' })),
    firstBad: null,
    notes: [],
    origin: null,
    key: null,
    keyMatched: false,
    exported: null,
    // Set on a PASS without a published key: the bundle agrees with itself, but whose key signed it
    // was not checked, and a bundle re-signed end to end with another key passes just the same.
    keyWarning: null,
  };
  const check = async (id, fn) => {
    const c = report.checks.find((x) => x.id === id);
    try {
      const detail = await fn();
      c.status = 'PASS';
      c.detail = hlClean(detail || '');
      return true;
    } catch (err) {
      c.status = 'FAIL';
      c.detail = hlClean(
        err instanceof HlFail ? err.message : 'the bundle is malformed in a way this check cannot describe (treated as altered)',
      );
      if (!report.firstBad && err instanceof HlFail && Number.isSafeInteger(err.seq))
        report.firstBad = { seq: err.seq, check: id };
      return false;
    }
  };
  const note = (en, zh) => report.notes.push({ en: hlClean(en), zh: hlClean(zh) });
  try {
    if (!ArrayBuffer.isView(zipBytes)) zipBytes = new Uint8Array(zipBytes);
    let files;
    let key;
    let cp;
    let manifest = null;
    let records = null;
    let keyMatched = false;
    const ok = await check('zip', async () => {
      files = await hlUnzip(zipBytes, platform);
      if (!files.has('manifest.json')) hlFail('manifest.json is missing from the bundle');
      const m = hlJsonObject(hlText(files.get('manifest.json'), 'manifest.json'), 'manifest.json');
      if (m.format === HL_FORMAT_1)
        hlFail(
          'this is a format 1 bundle (hireledger.evidence-bundle/1), which cannot prove that a stream was not cut short at its end: ask for a new export (format 2)',
        );
      if (m.format !== HL_FORMAT_2) hlFail(`manifest.json: format ${hlShow(m.format)} is not ${HL_FORMAT_2}`);
      report.format = 2;
      const required = [
        'records.jsonl',
        'proofs.jsonl',
        'checkpoint.txt',
        'public-key.txt',
        'manifest.json',
        'statement.txt',
        'witnesses.json',
      ];
      for (const f of required) if (!files.has(f)) hlFail(`${f} is missing from the bundle`);
      manifest = m;
      return `${files.size} entries, format 2`;
    });
    if (!ok) return report;
    const signed = await check('checkpoint', async () => {
      key = await hlParseVerifierKey(hlText(files.get('public-key.txt'), 'public-key.txt'), platform, 'public-key.txt');
      cp = hlParseCheckpoint(
        await hlOpenNote(hlText(files.get('checkpoint.txt'), 'checkpoint.txt'), key, platform, 'checkpoint.txt'),
        key,
      );
      report.origin = cp.origin;
      report.key = key.text;
      // A bundle re-signed with another key is consistent in itself: only the published key tells.
      if (options.publishedKey != null) {
        const want = await hlParseVerifierKey(String(options.publishedKey), platform, 'the published key');
        if (!hlEqual(want.raw, key.raw) || want.name !== key.name)
          hlFail(`signed by key ${key.name}+${hlHex(key.id)}, not the published key ${want.name}+${hlHex(want.id)}`);
        keyMatched = true;
      }
      return `${cp.origin}, ${cp.size} records, root ${cp.rootB64} (hex ${hlHex(cp.root)}), key ${key.name}+${hlHex(key.id)}${keyMatched ? ' (the published key)' : ''}`;
    });
    report.keyMatched = keyMatched;
    if (!signed) return report;
    await check('statement', async () => {
      const lines = await hlOpenNote(hlText(files.get('statement.txt'), 'statement.txt'), key, platform, 'statement.txt', true);
      if (lines.length !== 5 || lines[0] !== HL_FORMAT_2) hlFail(`statement.txt is not a ${HL_FORMAT_2} statement`);
      if (lines[1] !== cp.origin || lines[2] !== String(cp.size) || lines[3] !== cp.rootB64)
        hlFail("statement.txt is for another checkpoint (its origin, size or root differ from checkpoint.txt's)");
      const m = /^manifest ([0-9a-f]{64})$/.exec(lines[4]);
      if (!m) hlFail('statement.txt does not name a manifest hash');
      const actual = hlHex(await platform.sha256(files.get('manifest.json')));
      if (actual !== m[1])
        hlFail(
          `manifest.json was changed after it was signed: its SHA-256 is ${actual.slice(0, 16)}…, statement.txt signs ${m[1].slice(0, 16)}…`,
        );
      return `manifest ${actual.slice(0, 16)}… signed by ${key.name}+${hlHex(key.id)}`;
    });
    let shapeOk = false;
    await check('manifest', async () => {
      hlManifestShape(manifest, cp);
      shapeOk = true;
      const r = await hlCheckFiles(files, manifest, platform);
      if (r.missing > 0)
        note(
          `${r.missing} media file(s) the records name were no longer in HireLedger's store at export time; the signed manifest lists them as missing.`,
          `有 ${r.missing} 个记录引用的媒体文件在导出时已不在存储中；签名的清单将其列为缺失。`,
        );
      return `${manifest.files.length} files, each with its SHA-256 and size; ${r.media} media file(s)`;
    });
    await check('records', async () => {
      records = await hlCheckRecords(files, cp, platform);
      const first = records[0].seq;
      const last = records[records.length - 1].seq;
      if (!shapeOk) hlFail('each record is sound, but manifest.json is malformed, so their number and range cannot be compared');
      if (records.length !== manifest.records || first !== manifest.first_seq || last !== manifest.last_seq)
        hlFail(
          `${records.length} records, seq ${first}…${last}; the signed manifest says ${manifest.records}, seq ${manifest.first_seq}…${manifest.last_seq} (a record removed or added)`,
          last < manifest.last_seq ? manifest.last_seq : undefined,
        );
      return `${records.length} records, seq ${first}…${last}`;
    });
    if (records && shapeOk) await check('streams', async () => hlCheckStreams(records, manifest));
    if (records) await check('proofs', async () => hlCheckProofs(files, records, cp, platform));
    await check('witnesses', async () => {
      const w = await hlCheckWitnesses(files, platform);
      if (w.tokens > 0)
        note(
          "The RFC 3161 token's message imprint was checked; the TSA's signature was not checked here: openssl ts -verify (see format.md).",
          'RFC 3161 时间戳的消息摘要已核对；时间戳机构的签名未在此核对：请用 openssl ts -verify（见 format.md）。',
        );
      return w.detail;
    });
    await check('export', async () => {
      if (!files.has('export.json')) return 'no export.json (who exported and when is not part of the evidence)';
      const e = hlJsonObject(hlText(files.get('export.json'), 'export.json'), 'export.json');
      const actual = await hlContentSha256(files, platform);
      if (e.content_sha256 !== actual)
        hlFail(
          `export.json names content_sha256 ${typeof e.content_sha256 === 'string' ? `${e.content_sha256.slice(0, 16)}…` : hlShow(e.content_sha256)}, the bundle's files hash to ${actual.slice(0, 16)}… (export.json edited, or files changed)`,
        );
      const who = typeof e.exported_by === 'string' ? e.exported_by : '?';
      const when = typeof e.exported_at === 'string' ? e.exported_at : '?';
      report.exported = { by: who, at: when, contentSha256: actual };
      return `exported by ${who} at ${when} (unsigned), content_sha256 ${actual.slice(0, 16)}…`;
    });
  } catch {
    // Nothing above should throw; if it does, the answer is still FAIL in the verifier's words.
    const c = report.checks.find((x) => x.status === 'NOT RUN') ?? report.checks[0];
    c.status = 'FAIL';
    c.detail = 'the bundle is malformed in a way this verifier cannot describe (treated as altered)';
  } finally {
    for (const c of report.checks) if (c.status === 'NOT RUN' && !c.detail) c.detail = 'not checked: an earlier check failed';
    report.pass = report.checks.every((c) => c.status === 'PASS') && report.format === 2;
    if (report.pass && !report.keyMatched)
      report.keyWarning = {
        en: hlClean(
          `the signer was NOT checked against a published key: compare key ${report.key} and origin ${report.origin} with the key and CorpID the company publishes, or run again with --key <that key> (verify.html: its key field). A bundle re-signed end to end with another key passes without it.`,
        ),
        zh: hlClean(
          `未核对公布的公钥：请将签名密钥 ${report.key} 和来源 ${report.origin} 与公司公布的公钥和企业 ID（CorpID）核对，或用 --key <该公钥>（verify.html 的公钥栏）重新校验。用另一把密钥从头到尾重新签名的证据包，不核对公钥时同样“全部通过”。`,
        ),
      };
    if (report.key) {
      note(
        `Origin ${report.origin}; signed by key ${report.key}. Compare them with the key and CorpID the company publishes${report.keyMatched ? ' (the key given as the published key matches)' : ', or give that key (--key <that key>, or the key field of verify.html): a bundle re-signed with another key passes every other check'}.`,
        `来源 ${report.origin}；签名密钥 ${report.key}。请与公司公布的公钥和企业 ID（CorpID）核对${report.keyMatched ? '（与所给的公布公钥一致）' : '，或在 verify.html 的公钥栏填入该公钥：用另一把密钥重新签名的证据包能通过其余所有检查'}。`,
      );
    }
  }
  return report;
}
// ---- END CORE

// ---------------------------------------------------------------- the Node shell (not in verify.html)

const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex');

/** What the core needs from outside, from Node's standard library. */
const nodePlatform = {
  sha256: async (bytes) => createHash('sha256').update(bytes).digest(),
  ed25519Verify: async (raw, msg, sig) => {
    try {
      const key = createPublicKey({ key: Buffer.concat([SPKI_ED25519, raw]), format: 'der', type: 'spki' });
      return edVerify(null, msg, key, sig);
    } catch {
      return false; // not a valid Ed25519 public key or signature: does not verify
    }
  },
  inflateRaw: async (bytes, maxBytes) => {
    // zlib stops at the end of the deflate stream and ignores what follows; the browser's
    // DecompressionStream refuses it. The engine's consumed input (bytesWritten) tells: it must be
    // all of the entry's compressed data, so both verifiers refuse bytes hidden after the stream.
    const { buffer, engine } = inflateRawSync(bytes, { maxOutputLength: Math.max(maxBytes, 1), info: true });
    if (engine.bytesWritten !== bytes.length) throw new Error('bytes after the deflate stream');
    return buffer;
  },
};

function readBundle(path) {
  let fd;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    const why = { ENOENT: 'no such file', EACCES: 'permission denied', EISDIR: 'it is a folder' }[err?.code] ?? 'cannot be read';
    return { error: `cannot open ${path}: ${why}` };
  }
  try {
    const size = fstatSync(fd).size;
    if (size > HL_LIMITS.zipBytes) return { error: `the file is ${size} bytes, more than a bundle can be (2 GiB)` };
    const buf = Buffer.alloc(size);
    let off = 0;
    while (off < size) {
      const n = readSync(fd, buf, off, size - off, off);
      if (n === 0) break;
      off += n;
    }
    return { bytes: buf.subarray(0, off) };
  } catch {
    return { error: `cannot read ${path}` };
  } finally {
    closeSync(fd);
  }
}

const USAGE = 'usage: node hireledger-verify.mjs <bundle.zip> [--key <the verifier key HireLedger publishes>]';

async function main(argv) {
  const args = [...argv];
  let publishedKey = null;
  const k = args.indexOf('--key');
  if (k >= 0) {
    publishedKey = args[k + 1] ?? '';
    args.splice(k, 2);
  }
  if (args.length !== 1 || args[0].startsWith('-') || publishedKey === '' || publishedKey?.startsWith('-')) {
    console.log(USAGE);
    return 2;
  }
  const read = readBundle(args[0]);
  let report;
  if (read.error) {
    console.log(`FAIL  zip: ${read.error}`);
  } else {
    report = await verifyBundle(read.bytes, nodePlatform, { publishedKey });
    for (const c of report.checks) {
      const tag = c.status === 'PASS' ? 'PASS' : c.status === 'FAIL' ? 'FAIL' : '-   ';
      console.log(`${tag}  ${c.id}: ${c.en}${c.detail ? `: ${c.detail}` : ''}`);
    }
    if (report.firstBad) console.log(`first bad record: seq ${report.firstBad.seq}`);
    for (const n of report.notes) console.log(`NOTE: ${n.en}`);
  }
  const pass = report?.pass === true;
  console.log(pass ? '结论：全部通过' : '结论：未通过');
  // Right above the last line, where a reader who looks only at the end still sees it.
  if (pass && report.keyWarning) {
    console.log(`警告：${report.keyWarning.zh}`);
    console.log(`WARNING: ${report.keyWarning.en}`);
  }
  console.log(pass ? 'OVERALL: PASS' : 'OVERALL: FAIL');
  return pass ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  () => {
    // verifyBundle does not throw; this is the last guard, still in the verifier's own words.
    console.log('FAIL  the verifier could not run to the end');
    console.log('OVERALL: FAIL');
    process.exitCode = 1;
  },
);
