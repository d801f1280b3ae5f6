import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

/**
 * Signed checkpoints of the ledger's Merkle tree, in the formats the transparency-log ecosystem
 * reads, so anyone can check them with tools HireLedger did not write (Go's
 * golang.org/x/mod/sumdb/note, transparency-dev, sigsum):
 *
 * - the body is a C2SP tlog-checkpoint: `<origin>\n<size>\n<base64 root>\n` and optional
 *   extension lines;
 * - it travels as a C2SP signed-note with Ed25519 signatures: body, a blank line, then one line
 *   per signature `— <key name> <base64(4-byte key ID ‖ 64-byte signature)>`;
 * - keys are shared as verifier keys `<name>+<8 hex key ID>+<base64(0x01 ‖ public key)>`.
 *
 * Parsing is strict (C2SP's MUSTs, plus canonical base64 and safe-integer sizes) so that exactly
 * one byte string is accepted for each checkpoint.
 */

/** DECISIONS 5: one ledger per corp, and the origin line names it. */
export const ORIGIN_PREFIX = 'hireledger.evidence/';

/** signed-note: the type byte of an Ed25519 key in key IDs and verifier keys. */
const ALG_ED25519 = 0x01;
/** Go's note.Open limit; C2SP asks verifiers to accept at least 16. */
const MAX_SIGNATURES = 100;
const SIG_PREFIX = '\u2014 '; // em dash, space
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
// Unicode spaces as Go's unicode.IsSpace defines them (what note.isValidName refuses). Not JS \s,
// which also matches U+FEFF and misses U+0085.
const UNICODE_SPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/u;
// ASCII control characters other than newline, refused anywhere in a note.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0009\u000b-\u001f]/;

export interface Checkpoint {
  origin: string;
  /** Number of records (leaves) the root covers. */
  size: number;
  /** MTH of the first `size` records, 32 bytes. */
  rootHash: Buffer;
  /** Opaque extension lines, usually none (C2SP: NOT RECOMMENDED). */
  extensions?: string[];
}

export type NoteErrorCode = 'malformed' | 'unknown_key' | 'bad_signature';

export class CheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
  }
}

export class NoteError extends Error {
  constructor(
    readonly code: NoteErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'NoteError';
  }
}

/** The origin (and key name) of a corp's ledger: `hireledger.evidence/<CorpID>`. */
export function checkpointOrigin(corpId: string): string {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(corpId)) throw new CheckpointError(`not a WeCom CorpID: ${JSON.stringify(corpId)}`);
  return `${ORIGIN_PREFIX}${corpId}`;
}

export function formatCheckpoint(cp: Checkpoint): string {
  if (cp.origin === '' || cp.origin.includes('\n') || CONTROL.test(cp.origin)) {
    throw new CheckpointError('origin must be a non-empty line without control characters');
  }
  if (!Number.isSafeInteger(cp.size) || cp.size < 0) throw new CheckpointError('size must be a non-negative safe integer');
  if (!Buffer.isBuffer(cp.rootHash) || cp.rootHash.length !== 32) throw new CheckpointError('rootHash must be 32 bytes');
  for (const ext of cp.extensions ?? []) {
    if (ext === '' || ext.includes('\n') || CONTROL.test(ext)) {
      throw new CheckpointError('extension lines must be non-empty lines without control characters');
    }
  }
  const lines = [cp.origin, String(cp.size), cp.rootHash.toString('base64'), ...(cp.extensions ?? [])];
  return `${lines.join('\n')}\n`;
}

/** Parses a checkpoint body (the note text, without signatures). */
export function parseCheckpoint(body: string): Checkpoint {
  if (!body.endsWith('\n')) throw new CheckpointError('checkpoint must end with a newline');
  if (CONTROL.test(body)) throw new CheckpointError('checkpoint contains a control character');
  const lines = body.slice(0, -1).split('\n');
  if (lines.length < 3) throw new CheckpointError('checkpoint needs an origin, a size and a root hash line');
  const [origin, sizeLine, rootLine, ...extensions] = lines as [string, string, string, ...string[]];
  if (origin === '') throw new CheckpointError('origin is empty');
  if (!/^(0|[1-9][0-9]*)$/.test(sizeLine))
    throw new CheckpointError(`tree size is not a decimal without leading zeros: ${JSON.stringify(sizeLine)}`);
  const size = Number(sizeLine);
  if (!Number.isSafeInteger(size)) throw new CheckpointError(`tree size ${sizeLine} is beyond 2^53 - 1`);
  const rootHash = decodeBase64(rootLine);
  if (!rootHash) throw new CheckpointError('root hash is not canonical standard base64');
  if (rootHash.length !== 32) throw new CheckpointError(`root hash is ${rootHash.length} bytes, not 32`);
  if (extensions.some((e) => e === '')) throw new CheckpointError('extension lines must not be empty');
  return extensions.length > 0 ? { origin, size, rootHash, extensions } : { origin, size, rootHash };
}

/** signed-note key IDs: SHA-256(name ‖ 0x0A ‖ 0x01 ‖ 32-byte public key)[:4], big-endian. */
export function keyId(name: string, publicKey: KeyObject | Buffer): number {
  const raw = Buffer.isBuffer(publicKey) ? publicKey : rawPublicKey(publicKey);
  if (raw.length !== 32) throw new NoteError('malformed', 'an Ed25519 public key is 32 bytes');
  const digest = createHash('sha256')
    .update(name, 'utf8')
    .update(Buffer.from([0x0a, ALG_ED25519]))
    .update(raw)
    .digest();
  return digest.readUInt32BE(0);
}

/** `<name>+<8 hex key ID>+<base64(0x01 ‖ public key)>`, what verifiers are configured with. */
export function verifierKeyOf(name: string, publicKey: KeyObject | Buffer): string {
  if (!isValidKeyName(name)) throw new NoteError('malformed', `invalid key name ${JSON.stringify(name)}`);
  const raw = Buffer.isBuffer(publicKey) ? publicKey : rawPublicKey(publicKey);
  const id = keyId(name, raw);
  return `${name}+${hex8(id)}+${Buffer.concat([Buffer.from([ALG_ED25519]), raw]).toString('base64')}`;
}

export interface VerifierKey {
  name: string;
  keyId: number;
  publicKey: KeyObject;
}

/** Parses and checks a verifier key string (its key ID must match its name and key). */
export function parseVerifierKey(vkey: string): VerifierKey {
  // Split at the first two '+' only: the base64 key may itself contain '+'.
  const first = vkey.indexOf('+');
  const second = first < 0 ? -1 : vkey.indexOf('+', first + 1);
  if (second < 0) throw new NoteError('malformed', 'a verifier key is <name>+<key ID>+<key>');
  const name = vkey.slice(0, first);
  const idHex = vkey.slice(first + 1, second);
  const b64 = vkey.slice(second + 1);
  if (!isValidKeyName(name)) throw new NoteError('malformed', `invalid key name in verifier key: ${JSON.stringify(name)}`);
  if (!/^[0-9a-f]{8}$/.test(idHex)) throw new NoteError('malformed', 'the key ID of a verifier key is 8 lower-case hex digits');
  const key = decodeBase64(b64);
  if (!key || key.length === 0) throw new NoteError('malformed', 'the key of a verifier key is not canonical base64');
  if (key[0] !== ALG_ED25519)
    throw new NoteError('malformed', `unsupported signature type 0x${hex2(key[0] ?? 0)} (only Ed25519)`);
  if (key.length !== 33) throw new NoteError('malformed', 'an Ed25519 verifier key holds a 32-byte public key');
  const raw = key.subarray(1);
  const id = keyId(name, raw);
  if (hex8(id) !== idHex)
    throw new NoteError('malformed', `verifier key ID ${idHex} does not match its name and key (${hex8(id)})`);
  return { name, keyId: id, publicKey: publicKeyFromRaw(raw) };
}

/**
 * Signs a note text (which must end with a newline) and returns the signed note: text, blank
 * line, one signature line. Ed25519 is deterministic, so the same key and text give the same note.
 */
export function signNote(body: string, name: string, privateKey: KeyObject): string {
  if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'ed25519') {
    throw new NoteError('malformed', 'notes are signed with an Ed25519 private key');
  }
  if (!isValidKeyName(name)) throw new NoteError('malformed', `invalid key name ${JSON.stringify(name)}`);
  checkNoteText(body);
  const id = keyId(name, createPublicKey(privateKey));
  const sig = sign(null, Buffer.from(body, 'utf8'), privateKey);
  const idBytes = Buffer.alloc(4);
  idBytes.writeUInt32BE(id, 0);
  return `${body}\n${SIG_PREFIX}${name} ${Buffer.concat([idBytes, sig]).toString('base64')}\n`;
}

export function signCheckpoint(cp: Checkpoint, name: string, privateKey: KeyObject): string {
  return signNote(formatCheckpoint(cp), name, privateKey);
}

export interface NoteSignature {
  name: string;
  keyId: number;
  /** Signed by a key passed to openSignedNote, and verified. */
  verified: boolean;
}

export interface OpenedNote {
  /** The signed text, ending in a newline (without the blank line and signatures). */
  body: string;
  signatures: NoteSignature[];
}

/**
 * Opens a signed note with the trusted verifier key(s), per C2SP signed-note and Go's note.Open:
 * signatures from unknown keys are ignored (witnesses may cosign), a signature from a known key
 * that fails rejects the whole note, and at least one known key must have signed.
 * Throws NoteError: 'malformed' (syntax), 'unknown_key' (no signature by a trusted key),
 * 'bad_signature' (a trusted key's signature does not verify).
 */
export function openSignedNote(text: string, verifierKeys: string | readonly string[]): OpenedNote {
  const keys = (typeof verifierKeys === 'string' ? [verifierKeys] : verifierKeys).map(parseVerifierKey);
  const known = new Map<string, VerifierKey>();
  for (const k of keys) {
    const id = `${k.name}+${hex8(k.keyId)}`;
    // Two different keys under one name and ID would make "which key signed" ambiguous.
    const prior = known.get(id);
    if (prior && !prior.publicKey.equals(k.publicKey)) throw new NoteError('malformed', `ambiguous verifier key ${id}`);
    known.set(id, k);
  }

  if (!text.isWellFormed()) throw new NoteError('malformed', 'note is not valid Unicode');
  if (CONTROL.test(text)) throw new NoteError('malformed', 'note contains a control character other than newline');
  // The text ends at the LAST blank line (the text itself may contain blank lines).
  const split = text.lastIndexOf('\n\n');
  if (split < 0) throw new NoteError('malformed', 'note has no blank line before its signatures');
  const body = text.slice(0, split + 1);
  const sigBlock = text.slice(split + 2);
  if (sigBlock === '' || !sigBlock.endsWith('\n')) throw new NoteError('malformed', 'note must end with signature lines');

  const signatures: NoteSignature[] = [];
  const seen = new Set<string>();
  const lines = sigBlock.slice(0, -1).split('\n');
  if (lines.length > MAX_SIGNATURES) throw new NoteError('malformed', `note has more than ${MAX_SIGNATURES} signatures`);
  const message = Buffer.from(body, 'utf8');
  for (const line of lines) {
    if (!line.startsWith(SIG_PREFIX))
      throw new NoteError('malformed', `not a signature line: ${JSON.stringify(line.slice(0, 80))}`);
    const rest = line.slice(SIG_PREFIX.length);
    const space = rest.indexOf(' ');
    const name = space < 0 ? rest : rest.slice(0, space);
    const b64 = space < 0 ? '' : rest.slice(space + 1);
    const raw = decodeBase64(b64);
    if (!isValidKeyName(name) || !raw || raw.length < 5) {
      throw new NoteError('malformed', `malformed signature line: ${JSON.stringify(line.slice(0, 80))}`);
    }
    const id = raw.readUInt32BE(0);
    const label = `${name}+${hex8(id)}`;
    const key = known.get(label);
    if (!key) {
      signatures.push({ name, keyId: id, verified: false });
      continue;
    }
    if (seen.has(label)) continue; // a repeated signature by one key counts once (as in Go)
    seen.add(label);
    const sig = raw.subarray(4);
    if (sig.length !== 64 || !verify(null, message, key.publicKey, sig)) {
      throw new NoteError(
        'bad_signature',
        `the signature by ${label} does not verify: the note was altered or signed by another key`,
      );
    }
    signatures.push({ name, keyId: id, verified: true });
  }
  if (!signatures.some((s) => s.verified)) {
    const found = signatures.map((s) => `${s.name}+${hex8(s.keyId)}`).join(', ');
    const wanted = [...known.keys()].join(', ');
    throw new NoteError('unknown_key', `note is not signed by ${wanted} (signed by: ${found})`);
  }
  return { body, signatures };
}

/**
 * Opens a signed checkpoint: signature by a trusted key (openSignedNote), then a strict body
 * parse, and when `origin` is given, the origin line must equal it (a checkpoint of another
 * corp's ledger is not this ledger's, whoever signed it).
 */
export function openCheckpoint(text: string, verifierKeys: string | readonly string[], origin?: string): Checkpoint {
  const { body } = openSignedNote(text, verifierKeys);
  const cp = parseCheckpoint(body);
  if (origin !== undefined && cp.origin !== origin) {
    throw new CheckpointError(`checkpoint is for ${JSON.stringify(cp.origin)}, not ${JSON.stringify(origin)}`);
  }
  return cp;
}

/** signed-note key names: non-empty, no Unicode spaces, no plus. */
export function isValidKeyName(name: string): boolean {
  return name !== '' && name.isWellFormed() && !UNICODE_SPACE.test(name) && !name.includes('+') && !CONTROL.test(name);
}

/** The 32 raw bytes of an Ed25519 public key (or of the public half of a private key). */
export function rawPublicKey(key: KeyObject): Buffer {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  if (pub.asymmetricKeyType !== 'ed25519') throw new NoteError('malformed', 'not an Ed25519 key');
  const der = pub.export({ format: 'der', type: 'spki' });
  return Buffer.from(der.subarray(der.length - 32));
}

export function publicKeyFromRaw(raw: Buffer): KeyObject {
  if (raw.length !== 32) throw new NoteError('malformed', 'an Ed25519 public key is 32 bytes');
  return createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

function checkNoteText(body: string): void {
  if (body === '' || !body.endsWith('\n')) throw new NoteError('malformed', 'note text must end with a newline');
  if (!body.isWellFormed()) throw new NoteError('malformed', 'note text is not valid Unicode');
  if (CONTROL.test(body)) throw new NoteError('malformed', 'note text contains a control character other than newline');
}

/** Strict RFC 4648 §4 base64: padded, standard alphabet, and canonical (re-encodes to itself). */
function decodeBase64(s: string): Buffer | null {
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(s)) return null;
  const b = Buffer.from(s, 'base64');
  return b.toString('base64') === s ? b : null;
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}
