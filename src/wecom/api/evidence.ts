import { createHash } from 'node:crypto';
import {
  canonicalize,
  type AppendResult,
  type EvidenceEntry,
  type JsonValue,
  type RedeliveryRule,
  type StoredRecord,
} from '../../evidence';
import {
  EvidenceWriteError,
  IdempotencyConflictError,
  IntentNotRecordedError,
  RateLimitedError,
  SendAlreadyAttemptedError,
  WecomApiError,
  WecomCredentialUnavailableError,
  WecomNetworkError,
  WecomRequestError,
} from './errors';
import { isRecord } from './http';
import type { OutboundLedger, OutboundReader, WecomLogger } from './types';

/**
 * The one path by which the app sends anything to a person (message/send, kf/send_msg,
 * externalcontact/add_msg_template), and the evidence of it.
 *
 * Every send is recorded twice per recipient, in the recipient's stream:
 * 1. an INTENT (`wecom.outbound.intent`), appended and committed before the request leaves, holding the request
 *    exactly as it will be sent (the access_token travels in the URL, never in the body);
 * 2. an OUTCOME (`wecom.outbound.outcome`) after it, linked to the intent by seq and hash: `sent` with WeCom's
 *    answer (msgid included), `failed` (WeCom answered with an errcode, or the request provably never left), or
 *    `unknown` (it may have reached WeCom but no answer came back: a timeout, a reset, a 5xx).
 * A process killed between the two leaves an intent without an outcome: a visible "outcome unknown", never
 * nothing. A send refused locally before its intent (bad input, the per-member rate limit) sent nothing and is
 * not recorded.
 *
 * sourceRefs are derived from the caller's idempotency key only (`<key>#intent`; `<key>#r<n>#intent` for the
 * n-th of several recipients, sorted), so a retried job that re-uses its key adds no second intent: the
 * ledger answers `duplicate`. Each intent carries a redelivery rule whose digest covers the API and the request
 * body, so the ledger tells the same request again (`duplicate`) from a different one under the same key (stored
 * as a variant, `<ref>#<digest>` with `variant_of`). A second attempt under a recorded key then:
 * - is refused when its request differs (IdempotencyConflictError; nothing sent, the variant intent gets a
 *   `failed` outcome);
 * - returns the recorded answer, sending nothing, when a `sent` outcome of the intent exists (read through
 *   `reader`: WeCom's own duplicate check covers only identical bodies within hours);
 * - otherwise depends on the API, because the first attempt may have reached WeCom (`repeat`):
 *   - `resend`: WeCom itself drops the copy (message/send with enable_duplicate_check, kf/send_msg with our own
 *     msgid), so sending again is safe and turns an unknown outcome into a known one;
 *   - `refuse`: nothing on WeCom's side makes a repeat harmless (add_msg_template would queue a second message for
 *     the recruiter to confirm), so it is not sent again: SendAlreadyAttemptedError, and a person looks.
 * Without a reader the client cannot tell these apart, and never sends again under a recorded key.
 * Outcome refs: `…#sent:<msgid>` (a repeat that WeCom deduplicated answers with the same msgid, so it is the same
 * record; a real second delivery has a new msgid and gets a record of its own), `…#failed@<ms>` and
 * `…#unknown@<ms>` (each attempt its own record).
 *
 * Hashed header fields carry no personal data (DECISIONS 4): streams come from names.ts (members by userid, the
 * corp's own identifier; external contacts by their opaque `xc_…` id), and the recipients' WeCom ids are kept in
 * the erasable payload only, never in sourceRef. Member userids are lower-cased
 * wherever they are stored (DECISIONS 8); external_userid and open_kfid are kept exactly.
 */

export const OUTBOUND_SOURCE = 'wecom.outbound';
export const OUTBOUND_INTENT_KIND = 'wecom.outbound.intent';
export const OUTBOUND_OUTCOME_KIND = 'wecom.outbound.outcome';
/** The app itself is the actor of everything it sends. */
export const OUTBOUND_ACTOR = 'hireledger';

export type OutboundApi = 'message/send' | 'kf/send_msg' | 'externalcontact/add_msg_template';
export type OutcomeStatus = 'sent' | 'failed' | 'unknown';

export interface OutboundRecipient {
  /** The evidence stream of the person (or, for a department/tag broadcast, of the app). */
  stream: string;
  /** Who, as stored in the payload: `{userid}`, `{external_userid, open_kfid}`, `{external_userid, sender}`, `{broadcast}`. */
  who: Record<string, JsonValue>;
  /** The id WeCom lists when it refused this recipient in a successful answer (invaliduser, fail_list…). */
  listedAs?: string;
}

export interface OutboundSend {
  api: OutboundApi;
  msgtype: string;
  idempotencyKey: string;
  /** The body exactly as it will be posted. */
  request: Record<string, unknown>;
  recipients: OutboundRecipient[];
  /** What a second attempt under the same key does (see above). */
  repeat: 'resend' | 'refuse';
  /** Which fields of WeCom's answer list refused recipients, compared lower-cased for members. */
  rejectedFields?: readonly string[];
  /** Compare `listedAs` case-insensitively (member userids; WeCom returns them lower-cased). */
  caseInsensitiveIds?: boolean;
}

export interface SendDeps {
  ledger: OutboundLedger;
  /** See WecomClientDeps.reader. */
  reader?: OutboundReader;
  logger: WecomLogger;
  now: () => number;
}

/** 1–256 printable ASCII characters without `#`, which separates the key from the rest of a sourceRef. */
export function requireKey(opts: { idempotencyKey?: unknown } | undefined): string {
  const key = opts?.idempotencyKey;
  if (typeof key !== 'string' || !/^[\x21-\x22\x24-\x7e]{1,256}$/.test(key)) {
    throw new TypeError(
      'idempotencyKey is required: 1-256 printable ASCII characters without spaces or "#" (it keys this send in the evidence ledger)',
    );
  }
  return key;
}

/** sourceRef stem of recipient i of n. */
function stemOf(key: string, i: number, n: number): string {
  return n === 1 ? key : `${key}#r${i + 1}`;
}

/** What makes two intents the same request: the API and the body, as stored in the intent's payload. */
function requestDigest(api: JsonValue | undefined, request: JsonValue | undefined): string | null {
  if (typeof api !== 'string' || request === undefined) return null;
  return createHash('sha256').update(canonicalize({ api, request }), 'utf8').digest('hex');
}

/** The redelivery rule of an intent: the same key with another request is a variant, not a redelivery. */
export function intentRedelivery(api: OutboundApi, request: JsonValue): RedeliveryRule {
  const digest = requestDigest(api, request);
  if (digest === null) throw new Error('intentRedelivery: no digest');
  return {
    digest,
    digestOf(stored) {
      if (typeof stored !== 'object' || stored === null || Array.isArray(stored)) return null;
      return requestDigest(stored['api'], stored['request']);
    },
  };
}

/** The sourceRef under which the ledger stores a variant (RedeliveryRule, src/evidence/types.ts). */
function variantRefOf(sourceRef: string, digest: string): string {
  return `${sourceRef}#${digest.slice(0, 16)}`;
}

export function intentEntries(send: OutboundSend, occurredAt: Date): EvidenceEntry[] {
  const n = send.recipients.length;
  const request = toEvidenceJson(send.request);
  const redelivery = intentRedelivery(send.api, request);
  return send.recipients.map((r, i) => ({
    stream: r.stream,
    kind: OUTBOUND_INTENT_KIND,
    occurredAt,
    actor: OUTBOUND_ACTOR,
    source: OUTBOUND_SOURCE,
    sourceRef: `${stemOf(send.idempotencyKey, i, n)}#intent`,
    payload: { api: send.api, msgtype: send.msgtype, recipient: r.who, recipients: n, request },
    // Nothing was received yet; the outcome holds WeCom's answer.
    raw: null,
    redelivery,
  }));
}

export interface OutcomeInput {
  status: OutcomeStatus;
  /** For `sent`: the fields HireLedger reads from WeCom's answer (msgid included). */
  result?: Record<string, unknown>;
  /** For `failed`/`unknown`: what went wrong. */
  error?: JsonValue;
  /** WeCom's whole answer when there was one (success or errcode), else null. */
  raw: JsonValue | null;
}

export function outcomeEntries(
  send: OutboundSend,
  intents: readonly AppendResult[],
  outcome: OutcomeInput,
  occurredAt: Date,
  /** The intents' sourceRefs when not `<stem>#intent` (variants). */
  intentRefs?: readonly string[],
): EvidenceEntry[] {
  const n = send.recipients.length;
  const answer = outcome.result ?? {};
  const suffix =
    outcome.status === 'sent'
      ? `sent${msgidRef(answer['msgid'])}`
      : `${outcome.status === 'failed' ? 'failed' : 'unknown'}@${occurredAt.getTime()}`;
  return send.recipients.map((r, i) => {
    const stem = stemOf(send.idempotencyKey, i, n);
    const intent = intents[i];
    if (!intent) throw new Error('outcomeEntries: one intent per recipient expected');
    const rejected = outcome.status === 'sent' ? rejectedBy(send, r, answer) : undefined;
    const payload: Record<string, JsonValue> = {
      intent: { seq: intent.seq, hash: intent.hash, source_ref: intentRefs?.[i] ?? `${stem}#intent` },
      api: send.api,
      status: outcome.status,
      ...(outcome.result ? { result: toEvidenceJson(outcome.result) } : {}),
      ...(outcome.error !== undefined ? { error: outcome.error } : {}),
      ...(rejected ? { recipient_rejected: rejected } : {}),
    };
    return {
      stream: r.stream,
      kind: OUTBOUND_OUTCOME_KIND,
      occurredAt,
      actor: OUTBOUND_ACTOR,
      source: OUTBOUND_SOURCE,
      sourceRef: `${stem}#${suffix}`,
      payload,
      raw: outcome.raw,
    };
  });
}

/** `:<msgid>` when it is short printable ASCII (WeCom's are), else a digest of it; empty when there is none. */
function msgidRef(msgid: unknown): string {
  if (typeof msgid !== 'string' || msgid === '') return '';
  if (/^[\x21-\x7e]{1,128}$/.test(msgid)) return `:${msgid}`;
  return `:sha256-${createHash('sha256').update(msgid, 'utf8').digest('hex').slice(0, 32)}`;
}

/** The answer field that names this recipient as not reached, if any (errcode 0 with some recipients refused). */
function rejectedBy(send: OutboundSend, r: OutboundRecipient, answer: Record<string, unknown>): string | undefined {
  if (r.listedAs === undefined) return undefined;
  const norm = (s: string) => (send.caseInsensitiveIds ? s.toLowerCase() : s);
  const me = norm(r.listedAs);
  for (const field of send.rejectedFields ?? []) {
    const v = answer[field];
    const ids = Array.isArray(v) ? v.map(String) : typeof v === 'string' ? v.split('|') : [];
    if (ids.some((id) => norm(id.trim()) === me)) return field;
  }
  return undefined;
}

/**
 * Records the intent, runs `perform` (the request), records the outcome, and returns WeCom's answer.
 * `pick` extracts the fields of a successful answer kept in the outcome's `result`.
 *
 * Errors: IntentNotRecordedError (the ledger refused the intent: nothing was sent, safe to retry);
 * SendAlreadyAttemptedError (repeat `refuse` and the intent existed: nothing was sent); the send's own error
 * after a failed or unknown outcome (a ledger failure then is logged: the intent without an outcome already shows
 * "unknown"); EvidenceWriteError after a success whose outcome could not be written (do not send again under
 * another key; append its `entries`, or retry under the same key).
 */
export async function sendRecorded(
  d: SendDeps,
  send: OutboundSend,
  perform: () => Promise<Record<string, unknown>>,
  pick: (answer: Record<string, unknown>) => Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const log = d.logger;
  const intents = intentEntries(send, new Date(d.now()));
  let recorded: AppendResult[];
  try {
    // All intents are durable before the first byte of the request is written.
    recorded = await Promise.all(intents.map((e) => d.ledger.append(e)));
  } catch (err) {
    throw new IntentNotRecordedError(send.api, send.idempotencyKey, err);
  }
  const conflict = await conflictOf(d, send, intents, recorded);
  if (conflict) {
    log.warn(
      { api: send.api, idempotencyKey: send.idempotencyKey },
      'idempotency key already used for a different request: not sent',
    );
    if (conflict.refs.length > 0) {
      // The variant intents just stored were refused here: a failed outcome, so they do not read as "unknown".
      const entries = outcomeEntries(
        send,
        recorded,
        {
          status: 'failed',
          error: { type: 'IdempotencyConflictError', message: 'the key was already used for a different request' },
          raw: null,
        },
        new Date(d.now()),
        conflict.refs,
      ).filter((_, i) => recorded[i]?.status === 'appended');
      try {
        await Promise.all(entries.map((e) => d.ledger.append(e)));
      } catch (err) {
        log.error(
          { api: send.api, idempotencyKey: send.idempotencyKey, err: messageOf(err) },
          'could not record the refusal of a conflicting send',
        );
      }
    }
    throw new IdempotencyConflictError(send.api, send.idempotencyKey, conflict.intents);
  }
  if (recorded.some((r) => r.status === 'duplicate')) {
    const sent = d.reader ? await sentOutcome(d.reader, intents, recorded) : undefined;
    if (sent) {
      log.info(
        { api: send.api, idempotencyKey: send.idempotencyKey, outcomeSeq: sent.seq },
        'already sent under this key: the recorded answer is returned, nothing is sent again',
      );
      return sent.answer;
    }
    if (send.repeat === 'refuse' || !d.reader) {
      log.warn(
        { api: send.api, idempotencyKey: send.idempotencyKey },
        d.reader
          ? 'a send under this key was already attempted and WeCom cannot drop a copy: not sent again'
          : 'a send under this key was already attempted and no reader can tell whether it was sent: not sent again',
      );
      throw new SendAlreadyAttemptedError(
        send.api,
        send.idempotencyKey,
        recorded.map((r) => ({ seq: r.seq, hash: r.hash })),
      );
    }
    log.info(
      { api: send.api, idempotencyKey: send.idempotencyKey },
      'sending again under a recorded intent without outcome; WeCom drops the copy if the first attempt reached it',
    );
  }

  let answer: Record<string, unknown>;
  try {
    answer = await perform();
  } catch (err) {
    const outcome = outcomeOfError(send.api, err);
    const entries = outcomeEntries(send, recorded, outcome, new Date(d.now()));
    try {
      await Promise.all(entries.map((e) => d.ledger.append(e)));
    } catch (ledgerErr) {
      // The send's own error is what the caller must act on; the intent without an outcome already reads as
      // "outcome unknown", which is true of a failure we could not record.
      log.error(
        { api: send.api, idempotencyKey: send.idempotencyKey, status: outcome.status, err: messageOf(ledgerErr) },
        'could not record the outcome of a failed WeCom send',
      );
    }
    throw err;
  }

  const entries = outcomeEntries(
    send,
    recorded,
    { status: 'sent', result: pick(answer), raw: toEvidenceJson(answer) },
    new Date(d.now()),
  );
  try {
    await Promise.all(entries.map((e) => d.ledger.append(e)));
  } catch (err) {
    throw new EvidenceWriteError(answer, entries, messageOf(err));
  }
  return answer;
}

/**
 * Whether the key was already used for another request: the ledger stored one of this send's intents as a variant
 * (appended with `variantOf`), or (read back) a duplicate is of an earlier variant rather than of the intent itself.
 * `refs`: the sourceRefs of this send's intents as stored, when any was appended now (empty otherwise).
 */
async function conflictOf(
  d: SendDeps,
  send: OutboundSend,
  intents: readonly EvidenceEntry[],
  recorded: readonly AppendResult[],
): Promise<{ intents: { seq: number; hash: string }[]; refs: string[] } | undefined> {
  let conflict = false;
  const firsts: { seq: number; hash: string }[] = [];
  const refs: string[] = [];
  for (const [i, r] of recorded.entries()) {
    const entry = intents[i] as EvidenceEntry;
    if (r.status === 'appended') {
      if (r.variantOf) {
        conflict = true;
        firsts.push(r.variantOf);
        refs.push(variantRefOf(entry.sourceRef, entry.redelivery?.digest ?? ''));
      } else refs.push(entry.sourceRef);
    } else {
      refs.push(entry.sourceRef);
      const stored = d.reader ? await d.reader.readRecord(r.seq) : null;
      if (stored && stored.sourceRef !== entry.sourceRef) {
        conflict = true;
        const first =
          stored.payload !== null && typeof stored.payload === 'object' && !Array.isArray(stored.payload)
            ? stored.payload['variant_of']
            : undefined;
        firsts.push(
          isRecord(first) && typeof first['seq'] === 'number' && typeof first['hash'] === 'string'
            ? { seq: first['seq'], hash: first['hash'] }
            : { seq: r.seq, hash: r.hash },
        );
      }
    }
  }
  if (!conflict) return undefined;
  return { intents: firsts, refs: recorded.some((r) => r.status === 'appended') ? refs : [] };
}

/** Records after an intent in its stream read looking for its outcome, at most (a safety bound). */
const OUTCOME_SCAN_LIMIT = 10_000;

/**
 * The `sent` outcome of a recorded intent, with WeCom's answer as stored, if one exists. An outcome follows its
 * intent in the intent's stream and names it by seq (outcomeEntries); every recipient's outcome holds the same
 * answer, so the first found is enough.
 */
async function sentOutcome(
  reader: OutboundReader,
  intents: readonly EvidenceEntry[],
  recorded: readonly AppendResult[],
): Promise<{ seq: number; answer: Record<string, unknown> } | undefined> {
  for (const [i, r] of recorded.entries()) {
    if (r.status !== 'duplicate') continue;
    const stream = (intents[i] as EvidenceEntry).stream;
    let read = 0;
    for await (const rec of reader.cursor({ stream, afterSeq: r.seq, pageSize: 200 })) {
      if (isSentOutcomeOf(rec, r.seq)) return { seq: rec.seq, answer: isRecord(rec.raw) ? rec.raw : {} };
      if (++read >= OUTCOME_SCAN_LIMIT) break;
    }
  }
  return undefined;
}

function isSentOutcomeOf(rec: StoredRecord, intentSeq: number): boolean {
  if (rec.kind !== OUTBOUND_OUTCOME_KIND || rec.source !== OUTBOUND_SOURCE || !isRecord(rec.payload)) return false;
  const intent = rec.payload['intent'];
  return rec.payload['status'] === 'sent' && isRecord(intent) && intent['seq'] === intentSeq;
}

/** How a thrown error reads as an outcome: `failed` only when nothing can have been delivered. */
export function outcomeOfError(api: OutboundApi, err: unknown): OutcomeInput {
  if (err instanceof WecomApiError) {
    // An errcode: WeCom refused (or, for gettoken, the send never left). WeCom's answer is raw only when it is
    // the answer to the send itself.
    const error = toEvidenceJson({
      type: err.name,
      path: err.path,
      errcode: err.errcode,
      errmsg: err.errmsg,
      hint: err.hint,
      ...err.body,
    });
    const raw = err.path === api ? toEvidenceJson({ errcode: err.errcode, errmsg: err.errmsg, ...err.body }) : null;
    return { status: 'failed', error, raw };
  }
  if (err instanceof WecomNetworkError) {
    return {
      status: err.maybeSent ? 'unknown' : 'failed',
      error: {
        type: err.name,
        path: err.path,
        code: err.code,
        maybeSent: err.maybeSent,
        ...(err.status !== undefined ? { status: err.status } : {}),
      },
      raw: null,
    };
  }
  if (err instanceof RateLimitedError || err instanceof WecomCredentialUnavailableError || err instanceof WecomRequestError) {
    // Refused before the request was written (the app's outbound budget, no access_token, bad input).
    return { status: 'failed', error: { type: err.name, message: err.message }, raw: null };
  }
  // Anything else is a failure we cannot place: the request may have left.
  return { status: 'unknown', error: { type: err instanceof Error ? err.name : 'unknown', message: messageOf(err) }, raw: null };
}

/** A WeCom id as the string it is meant to be (a bare JSON number already arrives as a string, see http.ts). */
export function idString(v: unknown, fallback = ''): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  return fallback;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
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
  // undefined, functions and symbols: nothing WeCom sends or HireLedger stores.
  return null;
}
