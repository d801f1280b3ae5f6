import type { Pool, PoolClient } from 'pg';
import { assignRecruiter, linkRecord, type CandidateDirectory, type CandidateRef } from '../candidates';
import { createHash } from 'node:crypto';
import {
  canonicalize,
  type AppendResult,
  type Decision,
  type EvidenceEntry,
  type JsonValue,
  type LedgerReader,
  type RedeliveryRule,
} from '../evidence';
import type { Logger } from '../observability/logger';
import { HIRELEDGER_ACTOR } from '../platform/names';
import { OUTBOUND_INTENT_KIND, OUTBOUND_SOURCE } from '../wecom/api/evidence';
import { RESPONSE_TOO_LARGE, WecomApiError, WecomNetworkError, WecomRateLimitedError } from '../wecom/api/errors';
import { KfAnswerMalformedError, type KfApi } from '../wecom/api/kf';
import type { KfSyncMsgResponse } from '../wecom/api/types';
import type { ExternalContactIds } from '../wecom/external-contacts';
import { WECOM_STREAMS } from '../wecom/names';
import { cursorDigest, cutUtf8, isObject, KF_KNOWN_MSGTYPES, readKfItem, utf8Bytes, type KfItem } from './kf-items';
import type { MediaStore } from './media-store';
import type { ConversationMetrics } from './metrics';
import {
  CONVERSATION_KINDS,
  CONVERSATION_SOURCE_REFS,
  CONVERSATION_SOURCES,
  CONVERSATION_STREAMS,
  type ConversationMessagePayload,
} from './names';

/**
 * The KF pull (doc 94670): kf/sync_msg from the account's stored cursor, page after page while
 * `has_more`, each page's messages appended to their candidates' streams in ONE transaction with
 * the cursor that follows them. So:
 * - a crash between pages resumes at the first page not committed: nothing skipped, nothing twice;
 * - two pulls of one account (a callback's and the sweep's, or two callbacks) serialise on the
 *   cursor row: a page is committed only if the cursor is still the one it was asked with; the
 *   loser re-reads the cursor and goes on from there (its page is the winner's, already stored);
 * - a page WeCom refuses or answers malformed leaves the cursor where it is, records a
 *   `conversation.gap` on the account's stream (once per cursor), and throws, so the caller retries
 *   later; the page pulled after all records `conversation.gap_closed`. Nothing around it is lost:
 *   the cursor has not moved.
 *
 * WeCom is called before each transaction, never inside it. The callback's token lasts 10 minutes:
 * a pull that runs later (a retry, a worker that was down) meets 95007 and goes on without it, under
 * WeCom's stricter rate limit. sync_msg reads only 3 days back: a pull whose last page was
 * committed longer ago than that records the time it may have lost as a gap.
 */

export const KF_WINDOW_MS = 3 * 86_400_000;
/** Pages per pull at most; the next callback or sweep goes on from the cursor. */
const MAX_PAGES = 200;
const EXPIRED_TOKEN = 95007;
const ANSWER_MAX_BYTES = 16 * 1024 * 1024;
const ITEM_MAX_BYTES = 64 * 1024;
/** Top-level fields an item cut for size keeps: those whose JSON is at most this many bytes (and short names). */
const KEPT_FIELD_BYTES = 1024;
const KEPT_NAME_CHARS = 128;

/** The item's short top-level fields (what identifies it), for a record whose item is too large to keep. */
function shortFields(item: JsonValue): { kept: { [key: string]: JsonValue }; dropped: string[] } {
  const kept: { [key: string]: JsonValue } = {};
  const dropped: string[] = [];
  if (!isObject(item)) return { kept, dropped: ['(item)'] };
  for (const [k, v] of Object.entries(item)) {
    const short = k.length <= KEPT_NAME_CHARS && Buffer.byteLength(JSON.stringify(v), 'utf8') <= KEPT_FIELD_BYTES;
    const name = k.length <= KEPT_NAME_CHARS ? k : `${k.slice(0, KEPT_NAME_CHARS)}…`;
    if (short) Object.defineProperty(kept, k, { value: v, enumerable: true, writable: true, configurable: true });
    else dropped.push(name);
  }
  return { kept, dropped: dropped.slice(0, 100) };
}

export interface KfPullDeps {
  pool: Pick<Pool, 'query'>;
  kf: Pick<KfApi, 'syncMsg'>;
  directory: CandidateDirectory;
  /** Opaque ids of external contacts: the stream of the app's own sends (msg_send_fail links to them). */
  contactIds: ExternalContactIds;
  mediaStore: MediaStore;
  metrics: ConversationMetrics;
  /** UTF-8 bytes of a message's text kept in the record; longer text is cut there and kept whole as media. */
  textMaxBytes: number;
  /** sync_msg `limit` (1..1000). */
  pageLimit?: number;
  /**
   * Largest sync_msg answer accepted, in bytes (default 16 MiB; 1,000 messages of WeCom's 2,048-byte
   * texts are about 3 MiB). A larger one is cut off while it arrives and asked again for half the messages.
   */
  answerMaxBytes?: number;
  /**
   * Largest item kept whole in its record, in UTF-8 bytes of its JSON (default 64 KiB; WeCom's own
   * items are a few KiB). A larger one (a link with a megabyte title, an unknown type, a 10 MB msgid)
   * keeps only its short top-level fields in the record, the whole item being kept as the
   * candidate's media when it has a candidate, and the cut noted with its size.
   */
  itemMaxBytes?: number;
  now?: () => number;
  /** Tests: called after each committed page (a crash between pages is a throw here). */
  afterPage?: (info: { openKfId: string; page: number; cursor: string }) => Promise<void> | void;
}

export interface KfPullRequest {
  openKfId: string;
  /** The kf_msg_or_event callback's Token; absent for the sweep. */
  token?: string;
  /** The kf_msg_or_event record that asked for the pull: linked to each candidate whose messages it brought. */
  callback?: { seq: number; hash: string; stream: string; kind: string };
}

export interface KfPullContext {
  corpId: string;
  log: Logger;
  reader: LedgerReader;
  transact<T>(work: (tx: PoolClient) => Promise<Decision<T>>): Promise<{ result: T; records: AppendResult[] }>;
}

export interface KfPullResult {
  pages: number;
  messages: number;
  /** Pages another pull committed first. */
  raced: number;
  tokenExpired: boolean;
}

/** A page could not be pulled: the gap is recorded; the cause is what WeCom (or the network) said. */
export class KfPageError extends Error {
  constructor(
    readonly openKfId: string,
    readonly reason: string,
    options: { cause: unknown },
  ) {
    super(`kf/sync_msg of ${openKfId} failed (${reason}); the gap is recorded and the page will be pulled again`, options);
    this.name = 'KfPageError';
  }
}

interface CursorRow {
  cursor: string | null;
  last_pulled_at: Date | null;
  /** The gap record at the current cursor, once its seq is known (set right after it commits). */
  open_gap_seq: string | null;
  open_gap_hash: string | null;
  /** Failed pulls at the current cursor: > 0 exactly when a gap is recorded there (reset with each page). */
  failures: number;
}

const CURSOR_COLUMNS = 'cursor, last_pulled_at, open_gap_seq, open_gap_hash, failures';

export function createKfPuller(deps: KfPullDeps) {
  const now = deps.now ?? Date.now;
  const limit = deps.pageLimit ?? 1000;

  async function readCursor(corpId: string, openKfId: string): Promise<CursorRow> {
    await deps.pool.query('INSERT INTO kf_cursors (corp_id, open_kfid) VALUES ($1, $2) ON CONFLICT DO NOTHING', [
      corpId,
      openKfId,
    ]);
    const { rows } = await deps.pool.query<CursorRow>(
      `SELECT ${CURSOR_COLUMNS} FROM kf_cursors WHERE corp_id = $1 AND open_kfid = $2`,
      [corpId, openKfId],
    );
    const row = rows[0];
    if (!row) throw new Error(`the cursor row of ${openKfId} vanished`);
    return row;
  }

  /** The gap at `cursor`: one record per account and cursor however often the page fails. */
  async function recordGap(
    ctx: KfPullContext,
    openKfId: string,
    cursor: string | null,
    reason: string,
    err: unknown,
  ): Promise<void> {
    const digest = cursorDigest(cursor);
    const at = new Date(now());
    const error = errorOf(err);
    await ctx
      .transact(async (tx) => {
        const { rows } = await tx.query<CursorRow>(
          `SELECT ${CURSOR_COLUMNS} FROM kf_cursors WHERE corp_id = $1 AND open_kfid = $2 FOR UPDATE`,
          [ctx.corpId, openKfId],
        );
        const row = rows[0];
        // Another pull moved the cursor meanwhile: this page was pulled after all, no gap.
        if (!row || row.cursor !== cursor) return { result: null, entries: [] };
        const entries: EvidenceEntry[] = [];
        // The first failure at this cursor records the gap; later ones only count (the record says since when).
        if (row.failures === 0 || row.open_gap_seq === null) {
          entries.push({
            stream: CONVERSATION_STREAMS.kfAccount(openKfId),
            kind: CONVERSATION_KINDS.gap,
            occurredAt: at,
            actor: HIRELEDGER_ACTOR,
            source: CONVERSATION_SOURCES.kf,
            sourceRef: CONVERSATION_SOURCE_REFS.kfGap(openKfId, digest),
            payload: {
              channel: 'kf',
              open_kfid: openKfId,
              reason,
              // The page not read starts after the last committed page: its cursor (null: the start of the 3 days).
              cursor,
              last_pulled_at: row.last_pulled_at ? row.last_pulled_at.toISOString() : null,
              error,
              status: 'open',
            },
            raw: isObject(error['answer']) ? error['answer'] : null,
          });
        }
        await tx.query(
          `UPDATE kf_cursors SET failures = failures + 1, last_error = $3, last_failed_at = $4 WHERE corp_id = $1 AND open_kfid = $2`,
          [ctx.corpId, openKfId, `${reason}: ${typeof error['message'] === 'string' ? error['message'] : ''}`.slice(0, 2000), at],
        );
        return { result: null, entries, allowDuplicates: true };
      })
      .then(async ({ records }) => {
        // Only after COMMIT is the gap's seq known. Should this update not happen, the next failure
        // finds the gap stored (a duplicate, same seq) and sets it then; closing needs only `failures`.
        const gap = records[0];
        if (gap)
          await deps.pool.query(
            `UPDATE kf_cursors SET open_gap_seq = $4, open_gap_hash = $5
            WHERE corp_id = $1 AND open_kfid = $2 AND cursor IS NOT DISTINCT FROM $3 AND open_gap_seq IS NULL`,
            [ctx.corpId, openKfId, cursor, gap.seq, gap.hash],
          );
      });
  }

  /** Where the app's own kf/send_msg of `msgid` is recorded (sendRecorded: intent on the contact's stream). */
  async function sentRecordOf(
    ctx: KfPullContext,
    openKfId: string,
    externalUserId: string,
    msgid: string,
  ): Promise<{ seq: number; hash: string; stream: string; kind: string } | null> {
    const contact = (await deps.contactIds.idsFor(ctx.corpId, [externalUserId])).get(externalUserId);
    if (!contact) return null;
    const stream = WECOM_STREAMS.externalContact(contact);
    for await (const r of ctx.reader.cursor({ stream, pageSize: 200 })) {
      if (r.source !== OUTBOUND_SOURCE || r.kind !== OUTBOUND_INTENT_KIND || !isObject(r.payload)) continue;
      const request = r.payload['request'];
      if (
        r.payload['api'] === 'kf/send_msg' &&
        isObject(request) &&
        request['msgid'] === msgid &&
        request['open_kfid'] === openKfId
      )
        return { seq: r.seq, hash: r.hash, stream: r.stream, kind: r.kind };
    }
    return null;
  }

  /**
   * An item over `itemMaxBytes`: its short top-level fields for the record, the whole kept as the
   * candidate's media when it has a candidate and fits the media cap. null when it fits as it is.
   */
  async function cutItem(
    tx: PoolClient,
    corpId: string,
    candidateId: string | null,
    item: JsonValue,
  ): Promise<{ item: { [key: string]: JsonValue }; note: { [key: string]: JsonValue } } | null> {
    const whole = Buffer.from(JSON.stringify(item), 'utf8');
    const cap = deps.itemMaxBytes ?? ITEM_MAX_BYTES;
    if (whole.length <= cap) return null;
    const kept =
      candidateId !== null && whole.length <= deps.mediaStore.maxBytes
        ? await deps.mediaStore.put(tx, { corpId, owner: candidateId }, whole, 'application/json; charset=utf-8')
        : null;
    const { kept: fields, dropped } = shortFields(item);
    return {
      item: fields,
      note: {
        reason: 'item_over_cap',
        bytes: whole.length,
        cap,
        dropped,
        whole_item: kept ? { sha256: kept.sha256, size: kept.size, content_type: kept.contentType } : null,
      },
    };
  }

  async function pull(ctx: KfPullContext, req: KfPullRequest): Promise<KfPullResult> {
    const { openKfId } = req;
    const log = ctx.log.child({ open_kfid: openKfId });
    let token = req.token;
    let tokenExpired = false;
    const result: KfPullResult = { pages: 0, messages: 0, raced: 0, tokenExpired: false };
    let row = await readCursor(ctx.corpId, openKfId);
    // Halved for the rest of this pull when an answer is larger than the client accepts.
    let pageLimit = limit;

    for (let page = 0; page < MAX_PAGES; page++) {
      const cursor = row.cursor;
      let answer: KfSyncMsgResponse;
      try {
        answer = await deps.kf.syncMsg(
          {
            open_kfid: openKfId,
            limit: pageLimit,
            ...(cursor !== null ? { cursor } : {}),
            ...(token !== undefined ? { token } : {}),
          },
          { maxBytes: deps.answerMaxBytes ?? ANSWER_MAX_BYTES },
        );
      } catch (err) {
        if (err instanceof WecomApiError && err.errcode === EXPIRED_TOKEN && token !== undefined) {
          // The callback's token lived 10 minutes; without it WeCom still answers, under a stricter limit.
          log.warn('kf/sync_msg: the callback token expired (95007); pulling without it');
          token = undefined;
          tokenExpired = true;
          page--;
          continue;
        }
        // A rate limit is not a refusal of the page: the job policy waits it out.
        if (err instanceof WecomRateLimitedError) throw err;
        const tooLarge = err instanceof WecomNetworkError && err.code === RESPONSE_TOO_LARGE;
        if (tooLarge && pageLimit > 1) {
          // The answer was cut off while it arrived (nothing of it read): ask again for fewer messages.
          pageLimit = Math.max(1, Math.floor(pageLimit / 2));
          log.warn({ limit: pageLimit }, 'kf/sync_msg answer over the size cap; asking again for fewer messages');
          page--;
          continue;
        }
        const reason =
          err instanceof KfAnswerMalformedError
            ? 'malformed_answer'
            : err instanceof WecomApiError
              ? `errcode_${err.errcode}`
              : tooLarge
                ? 'answer_too_large'
                : 'network';
        if (reason === 'malformed_answer' || reason === 'answer_too_large') deps.metrics.badInput.inc({ channel: 'kf', reason });
        deps.metrics.pages.inc({ outcome: 'gap' });
        log.warn(
          { reason, err: errorOf(err)['message'] },
          'kf/sync_msg page not pulled: recording a gap; it will be pulled again',
        );
        await recordGap(ctx, openKfId, cursor, reason, err);
        throw new KfPageError(openKfId, reason, { cause: err });
      }

      const committed = await commitPage(ctx, log, req, cursor, answer);
      if (committed === 'raced') {
        result.raced++;
        deps.metrics.pages.inc({ outcome: 'raced' });
        row = await readCursor(ctx.corpId, openKfId);
        continue;
      }
      result.pages++;
      result.messages += committed.messages;
      deps.metrics.pages.inc({ outcome: committed.messages > 0 ? 'committed' : 'empty' });
      const nextCursor = committed.cursor;
      await deps.afterPage?.({ openKfId, page: result.pages, cursor: nextCursor ?? '' });
      if (answer.has_more !== 1) break;
      if (nextCursor === cursor && answer.msg_list.length === 0) {
        // has_more with nothing new and the same cursor: asking again would loop; the next pull goes on.
        log.warn('kf/sync_msg: has_more without progress; stopping this pull');
        break;
      }
      row = { cursor: nextCursor, last_pulled_at: new Date(now()), open_gap_seq: null, open_gap_hash: null, failures: 0 };
    }
    result.tokenExpired = tokenExpired;
    return result;
  }

  async function commitPage(
    ctx: KfPullContext,
    log: Logger,
    req: KfPullRequest,
    cursor: string | null,
    answer: KfSyncMsgResponse,
  ): Promise<'raced' | { messages: number; cursor: string | null }> {
    const { openKfId } = req;
    const at = now();
    const items: KfItem[] = answer.msg_list.map((m) => readKfItem(m, at));
    // An empty next_cursor with messages would re-read them for ever: malformed (checked before any write).
    const nextCursor = answer.next_cursor === '' ? cursor : answer.next_cursor;
    if (items.length > 0 && answer.next_cursor === '') {
      const err = new KfAnswerMalformedError('messages without a next_cursor', { ...answer });
      deps.metrics.badInput.inc({ channel: 'kf', reason: 'malformed_answer' });
      deps.metrics.pages.inc({ outcome: 'gap' });
      await recordGap(ctx, openKfId, cursor, 'malformed_answer', err);
      throw new KfPageError(openKfId, 'malformed_answer', { cause: err });
    }
    // WeCom is asked before the transaction: the app's own sends that msg_send_fail events name.
    const sent = new Map<string, { seq: number; hash: string; stream: string; kind: string } | null>();
    for (const it of items) {
      if (it.ok && it.failMsgid !== null && it.externalUserId !== null && !sent.has(it.failMsgid))
        sent.set(it.failMsgid, await sentRecordOf(ctx, openKfId, it.externalUserId, it.failMsgid));
    }
    const digest = cursorDigest(cursor);
    const counted: { reason: string }[] = [];

    type PageOutcome = 'raced' | { messages: number; cursor: string | null };
    const { result, records } = await ctx.transact<PageOutcome>(async (tx) => {
      const { rows } = await tx.query<CursorRow>(
        `SELECT ${CURSOR_COLUMNS} FROM kf_cursors WHERE corp_id = $1 AND open_kfid = $2 FOR UPDATE`,
        [ctx.corpId, openKfId],
      );
      const row = rows[0];
      if (!row || row.cursor !== cursor) return { result: 'raced', entries: [] };
      counted.length = 0;
      const entries: EvidenceEntry[] = [];
      const pulledAt = new Date(at);

      // Candidates first, in a fixed order (external_userid), so two pages never wait on each other's locks.
      const externals = [...new Set(items.map((i) => i.externalUserId).filter((e): e is string => e !== null))].sort();
      const firstOf = new Map<string, KfItem & { ok: true }>();
      for (const it of items)
        if (it.ok && it.externalUserId !== null && !firstOf.has(it.externalUserId)) firstOf.set(it.externalUserId, it);
      const candidates = new Map<string, CandidateRef>();
      for (const ext of externals) {
        const first = firstOf.get(ext);
        const sceneParam = items.find((i) => i.ok && i.externalUserId === ext && i.sceneParam !== null);
        const c = await deps.directory.candidateFor(tx, ctx.corpId, ext, {
          via: 'kf',
          openKfId,
          ...(sceneParam?.ok && sceneParam.sceneParam !== null ? { sceneParam: sceneParam.sceneParam } : {}),
        });
        candidates.set(ext, c);
        entries.push(...c.entries);
        if (c.created && first?.eventType !== 'enter_session') {
          // Nobody knew this external_userid and it did not come in through a session: its earlier
          // messages (if any) are older than the 3 days sync_msg keeps, or came on another path.
          counted.push({ reason: 'unknown_external_userid' });
          log.warn(
            { candidate: c.candidateId, msgid: first?.msgid },
            'KF message from an external_userid nobody knew: candidate created mid-conversation',
          );
        }
      }

      const touched = new Set<string>();
      for (const [index, it] of items.entries()) {
        const candidate = it.externalUserId !== null ? candidates.get(it.externalUserId) : undefined;
        if (!it.ok) {
          counted.push({ reason: 'malformed_item' });
          log.warn({ index, reason: it.reason }, 'KF item without a msgid: kept as a placeholder');
          const cut = await cutItem(tx, ctx.corpId, candidate?.candidateId ?? null, it.item);
          if (cut) counted.push({ reason: 'item_over_cap' });
          entries.push({
            stream: candidate?.stream ?? CONVERSATION_STREAMS.kfAccount(openKfId),
            kind: CONVERSATION_KINDS.placeholder,
            occurredAt: pulledAt,
            actor: HIRELEDGER_ACTOR,
            source: CONVERSATION_SOURCES.kf,
            sourceRef: CONVERSATION_SOURCE_REFS.kfPlaceholder(openKfId, digest, index),
            payload: {
              channel: 'kf',
              open_kfid: openKfId,
              reason: it.reason,
              index,
              page_cursor: cursor,
              item: cut ? cut.item : it.item,
              anomalies: it.anomalies,
              ...(cut ? { item_cut: cut.note } : {}),
            },
            raw: null,
          });
          continue;
        }
        if (candidate) touched.add(candidate.candidateId);
        const sourceRef = CONVERSATION_SOURCE_REFS.kfMessage(openKfId, it.msgid);
        const notes: Record<string, JsonValue> = {};
        if (!KF_KNOWN_MSGTYPES.has(it.msgtype)) {
          counted.push({ reason: 'unknown_msgtype' });
          log.warn({ msgid: it.msgid, msgtype: it.msgtype }, 'KF message of an unknown msgtype: kept as it came');
          notes['unknown_msgtype'] = true;
        }
        if (it.anomalies.includes('bad_send_time')) counted.push({ reason: 'bad_send_time' });
        if ((it.role === 'candidate' || it.role === 'recruiter') && it.externalUserId === null) {
          counted.push({ reason: 'missing_external_userid' });
          log.warn({ msgid: it.msgid }, 'KF message names no external_userid: kept on the account stream');
        }

        let message = it.message;
        let text = it.text ?? undefined;
        // WeCom's item before any cut: a msgid that comes back with other content is a new record
        // linked to the first (DECISIONS 2), never dropped as a redelivery.
        const itemSha256 = itemDigest(it.message);
        if (text !== undefined && utf8Bytes(text) > deps.textMaxBytes) {
          // The record keeps the text up to the cap; the whole message is kept as media of the candidate.
          const whole = Buffer.from(JSON.stringify(it.message), 'utf8');
          const cut = cutUtf8(text, deps.textMaxBytes);
          const textBody = isObject(message['text']) ? message['text'] : {};
          message = { ...message, text: { ...textBody, content: cut } };
          const kept =
            candidate && whole.length <= deps.mediaStore.maxBytes
              ? await deps.mediaStore.put(
                  tx,
                  { corpId: ctx.corpId, owner: candidate.candidateId },
                  whole,
                  'application/json; charset=utf-8',
                )
              : null;
          notes['text_cut'] = {
            reason: 'text_over_cap',
            bytes: utf8Bytes(text),
            cap: deps.textMaxBytes,
            whole_message: kept ? { sha256: kept.sha256, size: kept.size, content_type: kept.contentType } : null,
          };
          text = cut;
          counted.push({ reason: 'text_over_cap' });
          log.warn(
            { msgid: it.msgid, bytes: utf8Bytes(it.text ?? ''), cap: deps.textMaxBytes },
            'KF text over the cap: cut in the record, kept whole as media',
          );
        }

        // Whatever else makes the item too large to keep whole in its record.
        const cutWhole = await cutItem(tx, ctx.corpId, candidate?.candidateId ?? null, message);
        if (cutWhole) {
          message = cutWhole.item;
          notes['item_cut'] = cutWhole.note;
          counted.push({ reason: 'item_over_cap' });
          log.warn(
            { msgid: it.msgid, bytes: cutWhole.note['bytes'] },
            'KF item over the size cap: short fields in the record, kept whole as media',
          );
        }

        if (it.failMsgid !== null) {
          const target = sent.get(it.failMsgid) ?? null;
          if (target && candidate) {
            const link = await linkRecord(tx, {
              corpId: ctx.corpId,
              candidateId: candidate.candidateId,
              record: target,
              reason: 'kf_msg_send_fail',
              at: pulledAt,
            });
            entries.push(...link.entries);
            notes['send_failed'] = { seq: target.seq, hash: target.hash, stream: target.stream, fail_type: it.failType };
          } else {
            counted.push({ reason: 'unknown_fail_msgid' });
            log.warn(
              { msgid: it.msgid, fail_msgid: it.failMsgid },
              'msg_send_fail for a message HireLedger has no record of sending',
            );
            notes['send_failed'] = { seq: null, fail_type: it.failType };
          }
        }

        if (it.role === 'recruiter' && it.servicer !== null && candidate) {
          const assigned = await assignRecruiter(tx, {
            corpId: ctx.corpId,
            candidateId: candidate.candidateId,
            userid: it.servicer,
            cause: `kf-${it.msgid}`.slice(0, 200),
            actor: it.servicer,
            at: pulledAt,
            onlyIfUnknown: true,
          });
          entries.push(...assigned.entries);
        }

        const payload: ConversationMessagePayload & { [key: string]: JsonValue | undefined } = {
          channel: 'kf',
          role: it.role,
          msgid: it.msgid,
          msgtype: it.msgtype,
          ...(text !== undefined ? { text } : {}),
          ...(it.servicer !== null ? { recruiter: it.servicer } : {}),
          open_kfid: openKfId,
          message,
          origin: it.origin,
          ...(candidate ? { candidate_id: candidate.candidateId } : {}),
          ...(it.sendTime !== null ? { send_time: it.sendTime } : {}),
          ...(it.anomalies.length > 0 ? { anomalies: it.anomalies } : {}),
          ...notes,
          item_sha256: itemSha256,
        };
        entries.push({
          stream: candidate?.stream ?? CONVERSATION_STREAMS.kfAccount(openKfId),
          kind: CONVERSATION_KINDS.message,
          occurredAt: it.sendTime !== null ? new Date(it.sendTime * 1000) : pulledAt,
          actor:
            it.role === 'candidate'
              ? (candidate?.candidateId ?? 'candidate')
              : it.role === 'recruiter'
                ? (it.servicer ?? 'servicer')
                : 'sys',
          source: CONVERSATION_SOURCES.kf,
          sourceRef,
          payload: payload as { [key: string]: JsonValue },
          raw: null,
          redelivery: itemRedelivery(itemSha256),
        });
      }

      // The callback that asked for this pull concerns each candidate whose messages it brought.
      if (req.callback) {
        for (const id of touched) {
          const link = await linkRecord(tx, {
            corpId: ctx.corpId,
            candidateId: id,
            record: req.callback,
            reason: 'kf_msg_or_event',
            at: pulledAt,
          });
          entries.push(...link.entries);
        }
      }
      // Pulled after all: the gap at this cursor is closed.
      if (row.failures > 0) {
        entries.push({
          stream: CONVERSATION_STREAMS.kfAccount(openKfId),
          kind: CONVERSATION_KINDS.gapClosed,
          occurredAt: pulledAt,
          actor: HIRELEDGER_ACTOR,
          source: CONVERSATION_SOURCES.kf,
          sourceRef: CONVERSATION_SOURCE_REFS.kfGapClosed(openKfId, digest),
          payload: {
            channel: 'kf',
            open_kfid: openKfId,
            gap: {
              source_ref: CONVERSATION_SOURCE_REFS.kfGap(openKfId, digest),
              ...(row.open_gap_seq !== null && row.open_gap_hash !== null
                ? { seq: Number(row.open_gap_seq), hash: row.open_gap_hash }
                : {}),
            },
            failures: row.failures,
            cursor,
            messages: items.length,
          },
          raw: null,
        });
      }
      // sync_msg keeps 3 days: a pull resuming later than that may have missed what aged out meanwhile.
      if (row.last_pulled_at !== null && at - row.last_pulled_at.getTime() > KF_WINDOW_MS) {
        entries.push({
          stream: CONVERSATION_STREAMS.kfAccount(openKfId),
          kind: CONVERSATION_KINDS.gap,
          occurredAt: pulledAt,
          actor: HIRELEDGER_ACTOR,
          source: CONVERSATION_SOURCES.kf,
          sourceRef: CONVERSATION_SOURCE_REFS.kfWindowGap(openKfId, row.last_pulled_at.getTime()),
          payload: {
            channel: 'kf',
            open_kfid: openKfId,
            reason: 'outside_3_day_window',
            cursor,
            // Messages sent in [from, to) may have left sync_msg's window unread.
            from: row.last_pulled_at.toISOString(),
            to: new Date(at - KF_WINDOW_MS).toISOString(),
            status: 'possible_loss',
          },
          raw: null,
        });
        counted.push({ reason: 'outside_3_day_window' });
      }
      await tx.query(
        `UPDATE kf_cursors SET cursor = $3, pages = pages + 1, messages = messages + $4, last_pulled_at = $5,
                open_gap_seq = NULL, open_gap_hash = NULL, failures = 0, last_error = NULL
          WHERE corp_id = $1 AND open_kfid = $2`,
        [ctx.corpId, openKfId, nextCursor, items.length, pulledAt],
      );
      // A message already stored (WeCom repeating one across pages) is a redelivery, not a refusal.
      return { result: { messages: items.length, cursor: nextCursor }, entries, allowDuplicates: true };
    });
    if (result === 'raced') return 'raced';
    for (const c of counted) deps.metrics.badInput.inc({ channel: 'kf', reason: c.reason });
    for (const it of items) if (it.ok) deps.metrics.messages.inc({ channel: 'kf', role: it.role });
    const duplicates = records.filter((r) => r.status === 'duplicate').length;
    if (duplicates > 0) log.warn({ duplicates }, 'kf/sync_msg page repeated records already stored');
    return result;
  }

  return { pull };
}

export type KfPuller = ReturnType<typeof createKfPuller>;

/** SHA-256 of an item's canonical JSON: what makes two deliveries of one msgid the same message. */
function itemDigest(item: JsonValue): string {
  return createHash('sha256').update(canonicalize(item), 'utf8').digest('hex');
}

/** A stored message is the same message when its item digests alike (records without one: their item, uncut). */
function itemRedelivery(digest: string): RedeliveryRule {
  return {
    digest,
    digestOf: (stored) => {
      if (!isObject(stored)) return null;
      if (typeof stored['item_sha256'] === 'string') return stored['item_sha256'];
      return isObject(stored['message']) && stored['text_cut'] === undefined && stored['item_cut'] === undefined
        ? itemDigest(stored['message'])
        : null;
    },
  };
}

function errorOf(err: unknown): { [key: string]: JsonValue } {
  const name = err instanceof Error ? err.name : typeof err;
  const message = (err instanceof Error ? err.message : String(err)).replaceAll('\u0000', '\uFFFD').toWellFormed().slice(0, 1000);
  const out: { [key: string]: JsonValue } = { name, message };
  if (err instanceof WecomApiError) {
    out['errcode'] = err.errcode;
    out['errmsg'] = err.errmsg.slice(0, 500);
  }
  if (err instanceof KfAnswerMalformedError) {
    out['problem'] = err.problem;
    out['answer'] = JSON.parse(
      JSON.stringify(err.answer, (_k, v: unknown) => (typeof v === 'number' && !Number.isSafeInteger(v) ? String(v) : v)),
    ) as JsonValue;
  }
  return out;
}
