import type { JsonValue } from './canonical';

/** What a caller asks the ledger to keep. The ledger assigns seq, recorded_at and the hashes. */
export interface EvidenceEntry {
  /** What the record is about, e.g. `wecom:approval:202611220001`. One hash chain per stream. */
  stream: string;
  /** What happened, dotted, e.g. `wecom.callback.sys_approval_change`. */
  kind: string;
  /** The source's own clock (CreateTime, msgtime, SpTime). */
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
}

export type AppendResult =
  { status: 'appended'; seq: number; hash: string; recordedAt: Date } | { status: 'duplicate'; seq: number; hash: string };
