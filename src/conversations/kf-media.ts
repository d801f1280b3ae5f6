import type { Pool } from 'pg';
import type { JsonValue, StoredRecord } from '../evidence';
import type { LedgerConsumer } from '../platform/module';
import { HIRELEDGER_ACTOR } from '../platform/names';
import { RESPONSE_TOO_LARGE, WecomApiError, WecomNetworkError, WecomRateLimitedError } from '../wecom/api/errors';
import type { MediaApi } from '../wecom/api/media';
import { isObject, KF_MEDIA_TYPES } from './kf-items';
import type { MediaStore } from './media-store';
import type { ConversationMetrics } from './metrics';
import { CONVERSATION_KINDS, CONVERSATION_SOURCE_REFS, CONVERSATION_SOURCES, type ConversationMediaPayload } from './names';

/**
 * The media of KF messages (image, voice, video, file): a ledger consumer of the message records,
 * so each fetch runs from PostgreSQL, once in effect, under the job error policy. media/get is
 * asked before the transaction; the object (content-addressed within the candidate, DECISIONS 11)
 * and its `conversation.media` record commit together, with the record's done mark.
 *
 * Never silently dropped: media over MEDIA_MAX_BYTES is recorded as `refused` with its size; a
 * media_id WeCom no longer knows (40007: KF media lives 3 days) is recorded as `failed` at once; any
 * other failure is retried by the job policy and counted here, and the `MEDIA_FETCH_ATTEMPTS`-th
 * failure is recorded as `failed` with the last error (before the policy's own attempts run out;
 * should they anyway, the policy records the job's failure itself).
 */

export const MEDIA_FETCH_ATTEMPTS = 5;
/** media/get errors no retry can mend: the media_id is unknown or expired, or malformed. */
const GONE = new Set([40007, 41006]);

const CANDIDATE_STREAM = /^candidate:(cd_[0-9a-f]{32})$/;

export function kfMediaConsumer(deps: {
  pool: Pick<Pool, 'query'>;
  media: Pick<MediaApi, 'get'>;
  store: MediaStore;
  metrics: ConversationMetrics;
  attempts?: number;
}): LedgerConsumer {
  const maxAttempts = deps.attempts ?? MEDIA_FETCH_ATTEMPTS;
  return {
    accepts: (r) => r.source === CONVERSATION_SOURCES.kf && r.kind === CONVERSATION_KINDS.message,
    async handle(record, ctx) {
      const target = mediaOf(record);
      if (!target) return;
      const log = ctx.log.child({ msgid: target.msgid, msgtype: target.msgtype });
      const mediaId = target.mediaId;
      const candidateId = target.candidateId;
      const base = {
        channel: 'kf' as const,
        message: { seq: record.seq, hash: record.hash, source_ref: record.sourceRef },
        msgtype: target.msgtype,
        media_id: mediaId ?? '',
      };
      const recordOutcome = async (payload: ConversationMediaPayload, refKey: string) => {
        await ctx.transact(async () => ({
          result: null,
          entries: [
            {
              stream: record.stream,
              kind: CONVERSATION_KINDS.media,
              occurredAt: new Date(),
              actor: HIRELEDGER_ACTOR,
              source: CONVERSATION_SOURCES.kf,
              sourceRef: CONVERSATION_SOURCE_REFS.media(record.sourceRef, refKey),
              payload: payload as unknown as JsonValue,
              raw: null,
            },
          ],
          allowDuplicates: true,
        }));
      };

      if (candidateId === null) {
        deps.metrics.media.inc({ channel: 'kf', outcome: 'failed' });
        log.warn('KF media message of no candidate (no external_userid): recorded as failed, not fetched');
        await recordOutcome({ ...base, status: 'failed', reason: 'no_candidate', attempts: 0 }, 'failed');
        return;
      }
      const owner = { corpId: ctx.corpId, owner: candidateId };
      if (mediaId === null) {
        deps.metrics.media.inc({ channel: 'kf', outcome: 'failed' });
        deps.metrics.badInput.inc({ channel: 'kf', reason: 'malformed_item' });
        log.warn('KF media message without a media_id: recorded as failed');
        await recordOutcome({ ...base, status: 'failed', reason: 'no_media_id', attempts: 0 }, 'failed');
        return;
      }
      let file: { data: Buffer; contentType: string; filename?: string | undefined };
      try {
        // Cut off while it arrives when over the cap: a file larger than the store takes is never held whole.
        file = await deps.media.get(mediaId, { maxBytes: deps.store.maxBytes });
      } catch (err) {
        // WeCom's rate limit: the policy waits it out, without spending an attempt of ours.
        if (err instanceof WecomRateLimitedError) throw err;
        const error = errorOf(err);
        if (err instanceof WecomNetworkError && err.code === RESPONSE_TOO_LARGE) {
          deps.metrics.media.inc({ channel: 'kf', outcome: 'refused' });
          deps.metrics.badInput.inc({ channel: 'kf', reason: 'media_over_cap' });
          log.warn(
            { cap: deps.store.maxBytes },
            'KF media over MEDIA_MAX_BYTES (cut off while downloading): refused and recorded',
          );
          await recordOutcome(
            {
              ...base,
              status: 'refused',
              reason: 'over_cap',
              error: { cap: deps.store.maxBytes, detail: error['message'] ?? null },
            },
            'refused',
          );
          return;
        }
        if (err instanceof WecomApiError && GONE.has(err.errcode)) {
          deps.metrics.media.inc({ channel: 'kf', outcome: 'failed' });
          log.warn({ errcode: err.errcode }, 'KF media no longer fetchable: recorded as failed');
          await recordOutcome({ ...base, status: 'failed', reason: `errcode_${err.errcode}`, attempts: 1, error }, 'failed');
          return;
        }
        const { rows } = await deps.pool.query<{ attempts: number }>(
          `INSERT INTO conversation_media_attempts (corp_id, message_ref, attempts, last_error, last_attempt_at)
           VALUES ($1, $2, 1, $3, now())
           ON CONFLICT (corp_id, message_ref) DO UPDATE
             SET attempts = conversation_media_attempts.attempts + 1, last_error = EXCLUDED.last_error, last_attempt_at = now()
           RETURNING attempts`,
          [ctx.corpId, record.sourceRef, String(error['message']).slice(0, 2000)],
        );
        const attempts = rows[0]?.attempts ?? 1;
        if (attempts >= maxAttempts) {
          deps.metrics.media.inc({ channel: 'kf', outcome: 'failed' });
          log.error({ attempts, err: error['message'] }, 'KF media fetch kept failing: recorded as failed');
          await recordOutcome({ ...base, status: 'failed', reason: 'retries_exhausted', attempts, error }, 'failed');
          return;
        }
        deps.metrics.media.inc({ channel: 'kf', outcome: 'retry' });
        log.warn({ attempts, err: error['message'] }, 'KF media fetch failed; retrying');
        throw err;
      }

      if (file.data.length > deps.store.maxBytes) {
        deps.metrics.media.inc({ channel: 'kf', outcome: 'refused' });
        deps.metrics.badInput.inc({ channel: 'kf', reason: 'media_over_cap' });
        log.warn({ size: file.data.length, cap: deps.store.maxBytes }, 'KF media over MEDIA_MAX_BYTES: refused and recorded');
        await recordOutcome(
          {
            ...base,
            status: 'refused',
            reason: 'over_cap',
            size: file.data.length,
            content_type: file.contentType,
            ...(file.filename !== undefined ? { filename: file.filename } : {}),
            error: { cap: deps.store.maxBytes },
          },
          'refused',
        );
        return;
      }

      await ctx.transact(async (tx) => {
        const stored = await deps.store.put(tx, owner, file.data, file.contentType);
        const payload: ConversationMediaPayload = {
          ...base,
          status: 'stored',
          sha256: stored.sha256,
          size: stored.size,
          content_type: stored.contentType,
          ...(file.filename !== undefined
            ? { filename: file.filename.toWellFormed().replaceAll('\u0000', '\uFFFD').slice(0, 255) }
            : {}),
          already_stored: !stored.created,
        };
        deps.metrics.media.inc({ channel: 'kf', outcome: stored.created ? 'stored' : 'duplicate' });
        return {
          result: null,
          entries: [
            {
              stream: record.stream,
              kind: CONVERSATION_KINDS.media,
              occurredAt: new Date(),
              actor: HIRELEDGER_ACTOR,
              source: CONVERSATION_SOURCES.kf,
              sourceRef: CONVERSATION_SOURCE_REFS.media(record.sourceRef, stored.sha256),
              payload: payload as unknown as JsonValue,
              raw: null,
            },
          ],
          allowDuplicates: true,
        };
      });
    },
  };
}

/** The media a message record refers to, when it is a media message on a candidate's stream. */
function mediaOf(
  record: StoredRecord,
): { candidateId: string | null; msgtype: string; mediaId: string | null; msgid: string } | null {
  const p = record.payload;
  if (!isObject(p)) return null;
  const msgtype = p['msgtype'];
  const message = p['message'];
  if (typeof msgtype !== 'string' || !KF_MEDIA_TYPES.has(msgtype) || !isObject(message)) return null;
  // Media is kept within a candidate (DECISIONS 11); a media message that reached no candidate is recorded as failed.
  const candidate = CANDIDATE_STREAM.exec(record.stream)?.[1] ?? null;
  const body = message[msgtype];
  const mediaId = isObject(body) ? body['media_id'] : undefined;
  // A media message without its media_id is still answered for: recorded as failed, never skipped.
  if (typeof mediaId !== 'string' || mediaId === '')
    return { candidateId: candidate, msgtype, mediaId: null, msgid: typeof p['msgid'] === 'string' ? p['msgid'] : '' };
  return { candidateId: candidate, msgtype, mediaId, msgid: typeof p['msgid'] === 'string' ? p['msgid'] : '' };
}

function errorOf(err: unknown): { [key: string]: string | number | boolean | null } {
  const out: { [key: string]: string | number | boolean | null } = {
    name: err instanceof Error ? err.name : typeof err,
    message: (err instanceof Error ? err.message : String(err)).replaceAll('\u0000', '\uFFFD').toWellFormed().slice(0, 1000),
  };
  if (err instanceof WecomApiError) out['errcode'] = err.errcode;
  return out;
}
