import { createHash } from 'node:crypto';
import { canonicalize, type JsonValue } from './canonical';

/**
 * The hashed form of one evidence record (hash_version 1). docs/evidence-format.md is the
 * normative description; keep the two in step. Changing anything here needs a new version.
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

export function hashedForm(r: RecordFields): Record<string, JsonValue> {
  return {
    v: HASH_VERSION,
    seq: r.seq,
    stream: r.stream,
    kind: r.kind,
    occurred_at: r.occurredAt.toISOString(),
    recorded_at: r.recordedAt.toISOString(),
    actor: r.actor,
    source: r.source,
    source_ref: r.sourceRef,
    payload: r.payload,
    raw: r.raw,
    prev_hash: r.prevHash,
  };
}

const LEAF_PREFIX = Buffer.from([0x00]);

/** RFC 9162 §2.1.1 leaf hash: SHA-256(0x00 ‖ JCS(record)), lower-case hex. */
export function leafHash(r: RecordFields): string {
  return createHash('sha256')
    .update(LEAF_PREFIX)
    .update(canonicalize(hashedForm(r)), 'utf8')
    .digest('hex');
}
