#!/usr/bin/env node
// HireLedger evidence bundle verifier: `node hireledger-verify.mjs <bundle.zip>`.
//
// One file, Node's standard library only (node:zlib, node:crypto, node:fs), no network, no install.
// It reads the ZIP itself, then recomputes from the bundle alone, as format.md describes:
//   1. every record's payload/raw digests and its hash (RFC 8785 JCS, SHA-256 with the 0x00 leaf prefix);
//   2. every hash-chain link of each stream the bundle holds whole;
//   3. every RFC 9162 inclusion proof against the root of the bundled checkpoint;
//   4. the checkpoint's Ed25519 signature (C2SP signed note) with the bundled public key.
// It prints PASS or FAIL per check and overall, names the first bad record (by seq), and exits 0
// only when every check passes (1 otherwise). Anything unreadable is a FAIL, never a stack trace.
import { createHash, createPublicKey, verify as edVerify } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { inflateRawSync } from 'node:zlib';

const MAX_ZIP_BYTES = 2 ** 31; // the archive itself
const MAX_TOTAL = 2 ** 31; // 2 GiB uncompressed, all entries together
const MAX_RATIO = 200; // deflate rarely beats ~100:1 on real text; a bomb does 1000:1
const MAX_ENTRIES = 10000;
const FORMAT = 'hireledger.evidence-bundle/1';

class Fail extends Error {}
const fail = (msg) => {
  throw new Fail(msg);
};

// ---------------------------------------------------------------- ZIP

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();
function crc32(buf) {
  let c = 0xffffffff;
  for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function safeName(name) {
  if (name === '' || name.startsWith('/') || name.includes('\\') || /^[A-Za-z]:/.test(name)) return false;
  // A NUL or control character makes other tools read another name than this verifier does.
  if (/[\u0000-\u001f\u007f]/.test(name)) return false;
  return name.split('/').every((s) => s !== '' && s !== '.' && s !== '..');
}

/** The files a bundle of this format holds, and nothing else: what is checked is all there is. */
const KNOWN_FILES = new Set([
  'records.jsonl',
  'proofs.jsonl',
  'checkpoint.txt',
  'public-key.txt',
  'manifest.json',
  'format.md',
  'export.json',
]);

function readZipFile(path) {
  let fd;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    fail(`cannot open ${path}: ${err.code ?? err.message}`);
  }
  try {
    const size = fstatSync(fd).size;
    if (size > MAX_ZIP_BYTES) fail(`the file is ${size} bytes, more than a bundle can be (2 GiB)`);
    const buf = Buffer.alloc(size);
    let off = 0;
    while (off < size) {
      const n = readSync(fd, buf, off, size - off, off);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off);
  } finally {
    closeSync(fd);
  }
}

/** Reads every entry through the central directory, checking names, sizes, ratios and CRCs. */
function unzip(buf) {
  if (buf.length < 22) fail('not a ZIP file (too short: truncated?)');
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 0xffff); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) fail('not a ZIP file: no end of central directory (truncated?)');
  // The end record and its comment must end the file: otherwise a second, fake end record hidden in
  // a comment could make other tools read another archive than this verifier does.
  if (eocd + 22 + buf.readUInt16LE(eocd + 20) !== buf.length) fail('bytes after the end of the ZIP archive: refused');
  const count = buf.readUInt16LE(eocd + 10);
  const cdSize = buf.readUInt32LE(eocd + 12);
  const cdOffset = buf.readUInt32LE(eocd + 16);
  if (buf.readUInt16LE(eocd + 4) !== 0 || buf.readUInt16LE(eocd + 6) !== 0) fail('multi-disk ZIP files are not bundles');
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) fail('ZIP64 archives are not bundles');
  if (count > MAX_ENTRIES) fail(`too many entries (${count})`);
  if (cdOffset + cdSize > eocd) fail('central directory lies outside the file (truncated or malformed ZIP)');
  const entries = new Map();
  let p = cdOffset;
  let total = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > eocd || buf.readUInt32LE(p) !== 0x02014b50) fail(`central directory entry ${i + 1} is malformed`);
    const flags = buf.readUInt16LE(p + 8);
    const method = buf.readUInt16LE(p + 10);
    const crc = buf.readUInt32LE(p + 16);
    const csize = buf.readUInt32LE(p + 20);
    const usize = buf.readUInt32LE(p + 24);
    const nlen = buf.readUInt16LE(p + 28);
    const xlen = buf.readUInt16LE(p + 30);
    const clen = buf.readUInt16LE(p + 32);
    const local = buf.readUInt32LE(p + 42);
    if (p + 46 + nlen + xlen + clen > eocd) fail(`central directory entry ${i + 1} runs past its end`);
    const nameBytes = buf.subarray(p + 46, p + 46 + nlen);
    const name = new TextDecoder('utf-8', { fatal: false }).decode(nameBytes);
    p += 46 + nlen + xlen + clen;
    if (!safeName(name)) fail(`unsafe entry name ${JSON.stringify(name)} (absolute, with "..", or a control character)`);
    if (!KNOWN_FILES.has(name))
      fail(`unexpected entry ${JSON.stringify(name)}: a bundle holds only ${[...KNOWN_FILES].join(', ')}`);
    if (entries.has(name)) fail(`duplicate entry ${name}`);
    if (flags & 0x1) fail(`${name} is encrypted`);
    if (method !== 0 && method !== 8) fail(`${name} uses compression method ${method} (only stored and deflate)`);
    total += usize;
    if (total > MAX_TOTAL) fail('the entries would expand to more than 2 GiB: refused (ZIP bomb?)');
    if (usize > 1024 * 1024 && usize > csize * MAX_RATIO)
      fail(`${name} would expand ${Math.round(usize / Math.max(csize, 1))}:1: refused (ZIP bomb?)`);
    if (local + 30 > buf.length || buf.readUInt32LE(local) !== 0x04034b50)
      fail(`${name}: local header missing (truncated or malformed ZIP)`);
    const lnlen = buf.readUInt16LE(local + 26);
    const lxlen = buf.readUInt16LE(local + 28);
    if (!buf.subarray(local + 30, local + 30 + lnlen).equals(nameBytes)) fail(`${name}: local header names another file`);
    const start = local + 30 + lnlen + lxlen;
    if (start + csize > cdOffset) fail(`${name}: data runs past the central directory (truncated or malformed ZIP)`);
    const raw = buf.subarray(start, start + csize);
    let data;
    if (method === 0) data = raw;
    else {
      try {
        data = inflateRawSync(raw, { maxOutputLength: Math.max(usize, 1) });
      } catch (err) {
        fail(`${name}: cannot be decompressed (${err.code ?? 'corrupt data'})`);
      }
    }
    if (data.length !== usize) fail(`${name}: ${data.length} bytes, the directory says ${usize}`);
    if (crc32(data) !== crc) fail(`${name}: CRC-32 mismatch (corrupted)`);
    entries.set(name, data);
  }
  if (p !== cdOffset + cdSize) fail('the central directory size does not match its entries (malformed ZIP)');
  return entries;
}

// ---------------------------------------------------------------- RFC 8785 JCS

function jcs(value, depth = 0) {
  if (depth > 128) fail('JSON nested deeper than 128 levels');
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      if (value.includes('\u0000') || !value.isWellFormed()) fail('a string holds U+0000 or is not well-formed');
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isSafeInteger(value)) fail(`number ${value} is not a safe integer`);
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map((v) => jcs(v, depth + 1)).join(',')}]`;
      const keys = Object.keys(value).sort(); // UTF-16 code unit order
      return `{${keys.map((k) => `${JSON.stringify(k)}:${jcs(value[k], depth + 1)}`).join(',')}}`;
    }
    default:
      fail(`${typeof value} is not JSON`);
  }
}

const sha256 = (...parts) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};
const hex = (b) => b.toString('hex');
const HEX64 = /^[0-9a-f]{64}$/;
const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

// ---------------------------------------------------------------- checkpoint

function parseVerifierKey(text) {
  const vkey = text.trim();
  const a = vkey.indexOf('+');
  const b = a < 0 ? -1 : vkey.indexOf('+', a + 1);
  if (b < 0) fail('public-key.txt is not <name>+<key ID>+<key>');
  const name = vkey.slice(0, a);
  const idHex = vkey.slice(a + 1, b);
  const key = Buffer.from(vkey.slice(b + 1), 'base64');
  if (!/^[0-9a-f]{8}$/.test(idHex)) fail('public-key.txt: the key ID is not 8 hex digits');
  if (key.length !== 33 || key[0] !== 0x01) fail('public-key.txt: not an Ed25519 key (0x01 and 32 bytes)');
  const raw = key.subarray(1);
  const id = sha256(Buffer.from(name, 'utf8'), Buffer.from([0x0a, 0x01]), raw).subarray(0, 4);
  if (hex(id) !== idHex) fail('public-key.txt: the key ID does not match the name and key');
  const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw]);
  return { name, id, raw, publicKey: createPublicKey({ key: spki, format: 'der', type: 'spki' }) };
}

function openCheckpoint(note, key) {
  const split = note.lastIndexOf('\n\n');
  if (split < 0) fail('checkpoint.txt has no blank line before its signatures');
  const body = note.slice(0, split + 1);
  const sigLines = note
    .slice(split + 2)
    .replace(/\n$/, '')
    .split('\n');
  let signed = false;
  for (const line of sigLines) {
    if (!line.startsWith('\u2014 ')) fail(`checkpoint.txt: not a signature line: ${JSON.stringify(line.slice(0, 60))}`);
    const [name, b64] = line.slice(2).split(' ');
    const sig = Buffer.from(b64 ?? '', 'base64');
    if (name !== key.name || sig.length !== 68 || !sig.subarray(0, 4).equals(key.id)) continue; // a cosigner's
    if (!edVerify(null, Buffer.from(body, 'utf8'), key.publicKey, sig.subarray(4))) {
      fail('the checkpoint signature does not verify with public-key.txt: altered, or signed by another key');
    }
    signed = true;
  }
  if (!signed) fail(`checkpoint.txt is not signed by the bundled key ${key.name}+${hex(key.id)} (signed by another key)`);
  const lines = body.slice(0, -1).split('\n');
  if (lines.length < 3) fail('checkpoint body needs an origin, a size and a root hash');
  const [origin, sizeLine, rootLine] = lines;
  if (origin !== key.name) fail(`checkpoint origin ${origin} is not the key's name ${key.name}`);
  if (!/^(0|[1-9][0-9]{0,15})$/.test(sizeLine)) fail('checkpoint tree size is not a decimal');
  const root = Buffer.from(rootLine, 'base64');
  if (root.length !== 32 || root.toString('base64') !== rootLine) fail('checkpoint root hash is not 32 bytes of base64');
  return { origin, size: Number(sizeLine), root };
}

// ---------------------------------------------------------------- RFC 9162 inclusion

function rootFromInclusion(index, size, leaf, path) {
  if (index >= size) return null;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  const one = Buffer.from([0x01]);
  for (const p of path) {
    if (sn === 0) return null;
    if (fn % 2 === 1 || fn === sn) {
      r = sha256(one, p, r);
      if (fn % 2 === 0)
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
    } else r = sha256(one, r, p);
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : null;
}

// ---------------------------------------------------------------- the checks

function jsonLines(data, file) {
  // ignoreBOM keeps a byte-order mark in the text, where it makes the first line non-canonical.
  const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(data);
  if (text !== '' && !text.endsWith('\n')) fail(`${file} does not end with a newline (truncated?)`);
  return text === '' ? [] : text.slice(0, -1).split('\n');
}

function parseLine(line, file, n) {
  let v;
  try {
    v = JSON.parse(line);
  } catch {
    fail(`${file} line ${n} is not JSON`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) fail(`${file} line ${n} is not an object`);
  return v;
}

const FIELDS = [
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

function checkRecords(files, cp) {
  const lines = jsonLines(files.get('records.jsonl'), 'records.jsonl');
  if (lines.length === 0) fail('records.jsonl holds no records');
  const records = [];
  let prevSeq = 0;
  lines.forEach((line, i) => {
    const r = parseLine(line, 'records.jsonl', i + 1);
    const name = Number.isSafeInteger(r.seq) ? `record seq ${r.seq}` : `records.jsonl line ${i + 1}`;
    const bad = (why) => fail(`${name}: ${why}`);
    if (Object.keys(r).length !== FIELDS.length || FIELDS.some((f) => !(f in r))) bad('does not have exactly the record fields');
    if (!Number.isSafeInteger(r.seq) || r.seq < 1) bad('seq is not a positive integer');
    if (r.seq <= prevSeq) bad(`out of order or repeated: seq ${r.seq} after ${prevSeq}`);
    if (r.seq > cp.size) bad(`beyond the checkpoint (${cp.size} records)`);
    prevSeq = r.seq;
    if (r.hash_version !== 1) bad(`hash_version ${r.hash_version} is not one this verifier knows`);
    for (const f of ['stream', 'kind', 'actor', 'source', 'source_ref'])
      if (typeof r[f] !== 'string') bad(`${f} is not a string`);
    for (const f of ['occurred_at', 'recorded_at'])
      if (typeof r[f] !== 'string' || !ISO_MS.test(r[f])) bad(`${f} is not ISO 8601 UTC with milliseconds`);
    if (!HEX64.test(r.hash) || !HEX64.test(r.payload_sha256)) bad('hash or payload_sha256 is not 64 hex digits');
    if (r.raw_sha256 !== null && !HEX64.test(r.raw_sha256)) bad('raw_sha256 is not 64 hex digits');
    if (r.prev_hash !== null && !HEX64.test(r.prev_hash)) bad('prev_hash is not 64 hex digits');
    // The line must be its own canonical form: a 1.0 that JSON.parse reads as 1 is caught here.
    if (jcs(r) !== line) bad('the line is not in canonical (RFC 8785) form: altered');
    if (hex(sha256(Buffer.from(jcs(r.payload), 'utf8'))) !== r.payload_sha256)
      bad('payload does not match payload_sha256 (content altered)');
    const rawSha = r.raw === null ? null : hex(sha256(Buffer.from(jcs(r.raw), 'utf8')));
    if (rawSha !== r.raw_sha256) bad('raw does not match raw_sha256 (raw WeCom material altered)');
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
    if (hex(sha256(Buffer.from([0]), Buffer.from(jcs(hashed), 'utf8'))) !== r.hash)
      bad('the fields do not hash to its hash (hash_mismatch)');
    records.push(r);
  });
  return records;
}

/**
 * Which streams must be whole is decided from what is signed, never from the manifest's flags (which
 * nothing signs): a stream all of whose records are named by a `candidate.link` record in the bundle
 * is a set of single linked records; every other stream must be its whole chain from its first
 * record (prev_hash null), each link unbroken, so a record left out, added or moved fails.
 */
function checkChains(records, manifest) {
  const listed = new Map();
  for (const s of manifest.streams) {
    if (listed.has(s.stream)) fail(`stream ${s.stream} is listed twice in manifest.json`);
    listed.set(s.stream, s);
  }
  const linked = new Set();
  for (const r of records) {
    const l = r.kind === 'candidate.link' && r.payload && typeof r.payload === 'object' ? r.payload.linked : null;
    if (l && typeof l === 'object' && typeof l.stream === 'string' && Number.isSafeInteger(l.seq)) {
      linked.add(`${l.stream}\u0000${l.seq}`);
    }
  }
  const byStream = new Map();
  for (const r of records) {
    if (!byStream.has(r.stream)) byStream.set(r.stream, []);
    byStream.get(r.stream).push(r);
  }
  for (const [stream, s] of listed) {
    const rs = byStream.get(stream) ?? [];
    if (rs.length !== s.records)
      fail(
        `stream ${stream}: ${rs.length} records in records.jsonl, manifest.json says ${s.records} (a record removed or added)`,
      );
  }
  for (const stream of byStream.keys())
    if (!listed.has(stream)) fail(`stream ${stream} is not listed in manifest.json (a record added)`);
  let links = 0;
  let whole = 0;
  const ends = [];
  for (const [stream, rs] of byStream) {
    if (rs.every((r) => linked.has(`${stream}\u0000${r.seq}`))) continue; // single records, each shown by a link and its proof
    whole++;
    ends.push(`${stream} from its first record to seq ${rs[rs.length - 1].seq}`);
    let prev = null;
    for (const r of rs) {
      if (r.prev_hash !== prev) {
        fail(
          `record seq ${r.seq}: chain broken in ${stream}: prev_hash ${r.prev_hash ?? 'null'} but the previous record's hash is ${prev ?? 'none (first record)'} (a record removed, added or reordered)`,
        );
      }
      prev = r.hash;
      links++;
    }
  }
  if (whole === 0) fail('no stream is held whole: a bundle holds at least its subject stream from its first record');
  return { links, ends };
}

function checkProofs(files, records, cp) {
  const lines = jsonLines(files.get('proofs.jsonl'), 'proofs.jsonl');
  if (lines.length !== records.length)
    fail(`proofs.jsonl has ${lines.length} proofs for ${records.length} records (a record removed or added)`);
  lines.forEach((line, i) => {
    const p = parseLine(line, 'proofs.jsonl', i + 1);
    const r = records[i];
    if (p.seq !== r.seq) fail(`record seq ${r.seq}: proof ${i + 1} is for seq ${p.seq} (records removed, added or reordered)`);
    if (p.tree_size !== cp.size || p.leaf_index !== r.seq - 1)
      fail(`record seq ${r.seq}: the proof is not for leaf ${r.seq - 1} of the checkpoint's tree of ${cp.size}`);
    if (p.leaf_hash !== r.hash) fail(`record seq ${r.seq}: the proof's leaf is not the record's hash`);
    if (!Array.isArray(p.path) || p.path.length > 64 || !p.path.every((h) => typeof h === 'string' && HEX64.test(h)))
      fail(`record seq ${r.seq}: malformed proof path`);
    const root = rootFromInclusion(
      r.seq - 1,
      cp.size,
      Buffer.from(r.hash, 'hex'),
      p.path.map((h) => Buffer.from(h, 'hex')),
    );
    if (root === null || !root.equals(cp.root))
      fail(
        `record seq ${r.seq}: the inclusion proof does not lead to the checkpoint's root (not the signed ledger's record ${r.seq})`,
      );
  });
}

function main(argv) {
  const results = [];
  let firstBad = null;
  const check = (label, fn) => {
    try {
      const detail = fn();
      results.push(true);
      console.log(`PASS  ${label}${detail ? `: ${detail}` : ''}`);
      return true;
    } catch (err) {
      const msg = err instanceof Fail ? err.message : `could not be checked (${err?.message ?? String(err)})`;
      if (!firstBad) {
        const m = /record seq (\d+)/.exec(msg);
        if (m) firstBad = m[1];
      }
      results.push(false);
      console.log(`FAIL  ${label}: ${msg}`);
      return false;
    }
  };
  let published = null;
  const args = [...argv];
  const k = args.indexOf('--key');
  if (k >= 0) {
    published = args[k + 1] ?? '';
    args.splice(k, 2);
  }
  if (args.length !== 1 || args[0].startsWith('-') || published === '') {
    console.log('usage: node hireledger-verify.mjs <bundle.zip> [--key <the verifier key HireLedger publishes>]');
    return 1;
  }
  argv = args;
  let files;
  let key;
  let cp;
  let manifest;
  let records;
  const ok =
    check('zip: the archive reads cleanly', () => {
      files = unzip(readZipFile(argv[0]));
      for (const f of ['records.jsonl', 'proofs.jsonl', 'checkpoint.txt', 'public-key.txt', 'manifest.json', 'format.md']) {
        if (!files.has(f)) fail(`${f} is missing from the bundle`);
      }
      return `${files.size} entries`;
    }) &&
    check('checkpoint: Ed25519 signature by the bundled public key', () => {
      key = parseVerifierKey(new TextDecoder('utf-8', { fatal: true }).decode(files.get('public-key.txt')));
      cp = openCheckpoint(new TextDecoder('utf-8', { fatal: true }).decode(files.get('checkpoint.txt')), key);
      // A bundle re-signed with another key is consistent in itself: only the published key tells.
      if (published !== null) {
        const want = parseVerifierKey(published.trim());
        if (!want.raw.equals(key.raw) || want.name !== key.name)
          fail(`signed by key ${key.name}+${hex(key.id)}, not the published key ${want.name}+${hex(want.id)}`);
      }
      return `${cp.origin}, ${cp.size} records, root ${hex(cp.root)}, key ${key.name}+${hex(key.id)}${published !== null ? ' (the published key)' : ''}`;
    }) &&
    check('manifest: bundle format and checkpoint', () => {
      manifest = parseLine(
        new TextDecoder('utf-8', { fatal: true }).decode(files.get('manifest.json')).trimEnd(),
        'manifest.json',
        1,
      );
      if (manifest.format !== FORMAT) fail(`format ${JSON.stringify(manifest.format)} is not ${FORMAT}`);
      if (manifest.checkpoint_size !== cp.size) fail('manifest.json names another checkpoint');
      if (!Array.isArray(manifest.streams)) fail('manifest.json has no stream list');
      return `${manifest.records} records in ${manifest.streams.length} streams`;
    });
  if (ok) {
    const hashed = check('records: every digest and hash recomputed', () => {
      records = checkRecords(files, cp);
      if (records.length !== manifest.records)
        fail(`${records.length} records, manifest.json says ${manifest.records} (a record removed or added)`);
      return `${records.length} records`;
    });
    if (hashed) {
      check('chains: every link of each whole stream', () => {
        const { links, ends } = checkChains(records, manifest);
        // What the bundle alone cannot show: whether the stream had records after the last one here.
        return `${links} links; held whole: ${ends.join('; ')} (records after these, if any, are not in this bundle)`;
      });
      check('proofs: every record is in the signed tree (RFC 9162)', () => {
        checkProofs(files, records, cp);
        return `${records.length} proofs against root ${hex(cp.root).slice(0, 16)}…`;
      });
    }
  }
  const pass = results.length > 0 && results.every(Boolean) && results.length >= 6;
  if (firstBad) console.log(`first bad record: seq ${firstBad}`);
  console.log(pass ? 'OVERALL: PASS' : 'OVERALL: FAIL');
  if (pass && published === null && key) {
    console.log(
      `NOTE: the checkpoint is signed by key ${key.name}+${hex(key.id)}, the one in the bundle. Compare it with the key HireLedger publishes, or run again with --key <that key>: a bundle re-signed with another key passes every other check.`,
    );
  }
  return pass ? 0 : 1;
}

let code = 1;
try {
  code = main(process.argv.slice(2));
} catch (err) {
  console.log(`FAIL  ${err instanceof Fail ? err.message : `unexpected error: ${err?.message ?? String(err)}`}`);
  console.log('OVERALL: FAIL');
  code = 1;
}
process.exitCode = code;
