import { hash } from 'node:crypto';
import { canonicalize, type JsonValue } from './canonical';

/**
 * The hashed form of one evidence record (hash_version 1). docs/evidence-format.md is the
 * normative description; keep the two in step. Changing anything here needs a new version.
 *
 * The record hash covers payload and raw through their SHA-256 digests rather than inline: the
 * chain then stays verifiable when personal data is later erased or crypto-shredded (PIPL), and a
 * verifier can check a record's place in the chain without holding its content.
 */
export const HASH_VERSION = 1;

export interface RecordFields {
  seq: number;
  stream: string;
  kind: string;
  occurredAt: Date;
  recordedAt: Date;
  actor: string;
  source: string;
  sourceRef: string;
  payload: JsonValue;
  raw: JsonValue | null;
  prevHash: string | null;
}

export type RecordHeader = Omit<RecordFields, 'payload' | 'raw'> & { payloadSha256: string; rawSha256: string | null };

/** SHA-256 of the RFC 8785 encoding of a value, lower-case hex. */
export function contentDigest(value: JsonValue): string {
  return sha256Hex(canonicalize(value));
}

export function sha256Hex(text: string): string {
  // One-shot: createHash().update().digest() costs three times as much for a short text (issue 8).
  return hash('sha256', text, 'hex');
}

export function headerOf(r: RecordFields): RecordHeader {
  const { payload, raw, ...rest } = r;
  return { ...rest, payloadSha256: contentDigest(payload), rawSha256: raw === null ? null : contentDigest(raw) };
}

export function hashedForm(h: RecordHeader): Record<string, JsonValue> {
  return {
    v: HASH_VERSION,
    seq: h.seq,
    stream: h.stream,
    kind: h.kind,
    occurred_at: h.occurredAt.toISOString(),
    recorded_at: h.recordedAt.toISOString(),
    actor: h.actor,
    source: h.source,
    source_ref: h.sourceRef,
    payload_sha256: h.payloadSha256,
    raw_sha256: h.rawSha256,
    prev_hash: h.prevHash,
  };
}

/** RFC 9162 §2.1.1 leaf hash: SHA-256(0x00 ‖ JCS(hashed form)), lower-case hex. */
export function leafHashOfHeader(h: RecordHeader): string {
  // U+0000 is the single byte 0x00 in UTF-8: the prefix travels in the same string.
  return hash('sha256', `\u0000${hashedFormJcs(h)}`, 'hex');
}

/**
 * canonicalize(hashedForm(h)), written directly: the keys of the hashed form in their RFC 8785
 * order, each string as JSON.stringify writes it (which is what canonicalize does for a string it
 * accepts). Every record appended and verified goes through here, so the general encoder's object
 * building, key sorting and checks are skipped when they cannot change the result; anything
 * canonicalize would refuse (U+0000, lone surrogates, an unsafe seq) takes the general path and is
 * refused there. test/evidence/record-jcs.test.ts compares the two on random headers.
 */
export function hashedFormJcs(h: RecordHeader): string {
  const { stream, kind, actor, source, sourceRef, payloadSha256, rawSha256, prevHash } = h;
  if (
    !Number.isSafeInteger(h.seq) ||
    !plain(stream) ||
    !plain(kind) ||
    !plain(actor) ||
    !plain(source) ||
    !plain(sourceRef) ||
    !plain(payloadSha256) ||
    (rawSha256 !== null && !plain(rawSha256)) ||
    (prevHash !== null && !plain(prevHash))
  ) {
    return canonicalize(hashedForm(h));
  }
  const str = JSON.stringify;
  return (
    `{"actor":${str(actor)},"kind":${str(kind)},"occurred_at":"${h.occurredAt.toISOString()}",` +
    `"payload_sha256":${str(payloadSha256)},"prev_hash":${prevHash === null ? 'null' : str(prevHash)},` +
    `"raw_sha256":${rawSha256 === null ? 'null' : str(rawSha256)},"recorded_at":"${h.recordedAt.toISOString()}",` +
    `"seq":${h.seq},"source":${str(source)},"source_ref":${str(sourceRef)},"stream":${str(stream)},"v":${HASH_VERSION}}`
  );
}

/** A string canonicalize accepts as it is. */
function plain(s: unknown): s is string {
  return typeof s === 'string' && !s.includes('\u0000') && s.isWellFormed();
}

export function leafHash(r: RecordFields): string {
  return leafHashOfHeader(headerOf(r));
}
