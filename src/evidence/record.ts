import { createHash } from 'node:crypto';
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
  return createHash('sha256').update(text, 'utf8').digest('hex');
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

const LEAF_PREFIX = Buffer.from([0x00]);

/** RFC 9162 §2.1.1 leaf hash: SHA-256(0x00 ‖ JCS(hashed form)), lower-case hex. */
export function leafHashOfHeader(h: RecordHeader): string {
  return createHash('sha256')
    .update(LEAF_PREFIX)
    .update(canonicalize(hashedForm(h)), 'utf8')
    .digest('hex');
}

export function leafHash(r: RecordFields): string {
  return leafHashOfHeader(headerOf(r));
}
