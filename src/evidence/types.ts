import type { JsonValue } from './canonical';

/** What a caller asks the ledger to keep. The ledger assigns seq, recorded_at and the hashes. */
export interface EvidenceEntry {
  /** What the record is about, e.g. `wecom:approval:202611220001`. One hash chain per stream. */
  stream: string;
  /** What happened, dotted, e.g. `wecom.callback.sys_approval_change`. */
  kind: string;
  /** The source's own clock (CreateTime, msgtime, SpTime). Years 1 to 9999 only. */
  occurredAt: Date;
  /** Who did it: a WeCom userid, an external userid, `sys`, or `hireledger` for the app itself. */
  actor: string;
  /** Where it came from; with sourceRef, unique: appending the same pair again is a no-op. */
  source: string;
  sourceRef: string;
  /** Normalised content. Strings, safe integers, booleans, null, arrays, objects. */
  payload: JsonValue;
  /** Exactly what was received, for re-verification by third parties; null when nothing was. */
  raw: JsonValue | null;
  /**
   * For facts delivered by an outside party that may deliver them again (WeCom callbacks): how to
   * tell a redelivery from a distinct event that happens to share the key (DECISIONS 2). Without
   * it, a known (source, sourceRef) is always a redelivery.
   */
  redelivery?: RedeliveryRule;
}

export interface RedeliveryRule {
  /**
   * Lower-case hex digest of what makes two deliveries the same event (the parsed fields, not the
   * bytes). A delivery whose key is stored but whose digest differs is a new record, stored under
   * `<sourceRef>#<first 16 hex digits of digest>` with `variant_of` added to its (object) payload.
   */
  digest: string;
  /** The same digest computed from a stored record's payload; null when it cannot be derived. */
  digestOf(storedPayload: JsonValue): string | null;
  /** Keys this event had under an earlier key format: a stored record under one of them whose digest matches is this event. */
  aliases?: string[];
}

export type AppendResult =
  | { status: 'appended'; seq: number; hash: string; recordedAt: Date; variantOf?: { seq: number; hash: string } }
  | { status: 'duplicate'; seq: number; hash: string };
