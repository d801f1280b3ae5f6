import type { EvidenceEntry, JsonValue, Ledger } from '../../evidence';
import { EvidenceWriteError, WecomApiError, WecomNetworkError } from './errors';
import { isRecord } from './http';
import type { WecomLogger } from './types';

/**
 * Evidence of what the app sent to a person (message/send, kf/send_msg): one record per recipient
 * stream, success and failure alike, for every attempt that reached (or may have reached) WeCom.
 * A send refused locally by the rate limiter sent nothing and is not recorded.
 *
 * sourceRef is the caller's idempotency key, so recording the same send twice is a no-op. Two refinements
 * keep that true without losing records:
 * - a send to several members gets one record per member, sourceRef `<key>:<userid>`;
 * - a failed attempt gets `<key>#failed@<epoch ms>`: otherwise it would occupy the key and the
 *   successful retry of the same send would be dropped as a duplicate.
 * The request is stored as sent (the access_token travels in the URL, never in the body).
 */

export interface OutboundRecord {
  streams: { stream: string; ref: string }[];
  kind: string;
  idempotencyKey: string;
  occurredAt: Date;
  request: unknown;
}

export type OutboundOutcome =
  { ok: true; response: Record<string, unknown>; result: Record<string, unknown> } | { ok: false; error: unknown };

export function outboundEntries(rec: OutboundRecord, outcome: OutboundOutcome): EvidenceEntry[] {
  const request = toEvidenceJson(rec.request);
  const payload: JsonValue = outcome.ok
    ? { request, result: toEvidenceJson(outcome.result) }
    : { request, error: describeError(outcome.error) };
  const raw: JsonValue | null = outcome.ok
    ? toEvidenceJson(outcome.response)
    : outcome.error instanceof WecomApiError
      ? toEvidenceJson({ errcode: outcome.error.errcode, errmsg: outcome.error.errmsg, ...outcome.error.body })
      : null;
  const single = rec.streams.length === 1;
  return rec.streams.map(({ stream, ref }) => {
    const base = single ? rec.idempotencyKey : `${rec.idempotencyKey}:${ref}`;
    return {
      stream,
      kind: rec.kind,
      occurredAt: rec.occurredAt,
      actor: 'hireledger',
      source: 'wecom.outbound',
      sourceRef: outcome.ok ? base : `${base}#failed@${rec.occurredAt.getTime()}`,
      payload,
      raw,
    };
  });
}

/**
 * Appends the records. After a success a ledger failure becomes EvidenceWriteError (the message went out;
 * the caller must not send again, only re-append). After a failed send the send's own error wins and the
 * ledger failure is logged.
 */
export async function recordOutbound(
  ledger: Pick<Ledger, 'append'> | undefined,
  logger: WecomLogger,
  rec: OutboundRecord,
  outcome: OutboundOutcome,
): Promise<void> {
  if (!ledger) return;
  const entries = outboundEntries(rec, outcome);
  try {
    for (const e of entries) await ledger.append(e);
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    if (outcome.ok) throw new EvidenceWriteError(outcome.response, entries, detail);
    logger.error(
      { kind: rec.kind, idempotencyKey: rec.idempotencyKey, err: detail },
      'could not record a failed WeCom send as evidence',
    );
  }
}

function describeError(err: unknown): JsonValue {
  if (err instanceof WecomApiError) {
    return toEvidenceJson({ type: err.name, errcode: err.errcode, errmsg: err.errmsg, hint: err.hint, ...err.body });
  }
  if (err instanceof WecomNetworkError) {
    return {
      type: err.name,
      code: err.code,
      maybeSent: err.maybeSent,
      ...(err.status !== undefined ? { status: err.status } : {}),
    };
  }
  return { type: err instanceof Error ? err.name : 'unknown', message: err instanceof Error ? err.message : String(err) };
}

/**
 * Makes a value storable by the ledger, which accepts only strings, safe integers, booleans, null,
 * arrays and plain objects: other numbers become strings, undefined members are left out.
 */
export function toEvidenceJson(v: unknown): JsonValue {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') return Number.isSafeInteger(v) ? v : String(v);
  if (typeof v === 'bigint') return v.toString();
  if (Array.isArray(v)) return v.map((x) => (x === undefined ? null : toEvidenceJson(x)));
  if (isRecord(v)) {
    const out: Record<string, JsonValue> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = toEvidenceJson(x);
    return out;
  }
  return v === undefined ? null : String(v);
}
