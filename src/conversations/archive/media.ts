import type { Pool } from 'pg';
import type { JsonValue } from '../../evidence';
import type { LedgerConsumer } from '../../platform/module';
import { HIRELEDGER_ACTOR } from '../../platform/names';
import { MediaTooLargeError, type MediaStore } from '../media-store';
import type { ConversationMetrics } from '../metrics';
import { CONVERSATION_KINDS, CONVERSATION_SOURCE_REFS, CONVERSATION_SOURCES, type ConversationMediaPayload } from '../names';
import { FinanceSdkError, type FinanceSdk } from './sdk';

/**
 * Media of archive messages (image, voice, video, file, emotion): a ledger consumer follows the
 * `conversation.message` records of the archive, fetches each one's bytes with GetMediaData
 * (chunks of at most 512 KiB, each `outindexbuf` passed to the next call, until is_finish), and
 * stores them content-addressed within the candidate (src/conversations/media-store.ts,
 * DECISIONS 11) with a `conversation.media` record on the candidate's stream, in one transaction.
 *
 * WeCom keeps media five days. A fetch that fails with a code worth retrying (network, system call)
 * is retried under the job policy, its attempts counted in PostgreSQL
 * (`conversation_media_attempts`, shared with the KF channel); after MAX_ATTEMPTS, or at once for a
 * code that cannot succeed (10005 bad fileid, 10010 expired), it is recorded as `failed` with the
 * sdkfileid kept; over MEDIA_MAX_BYTES, as `refused`. Never dropped silently.
 */

export const ARCHIVE_MEDIA_MAX_ATTEMPTS = 5;

interface MediaRef {
  sdkfileid: string;
  content_type: string;
}

function mediaRefOf(payload: JsonValue): { media: MediaRef; candidate: string; msgtype: string } | null {
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) return null;
  const media = payload['media'];
  const candidate = payload['candidate'];
  const msgtype = payload['msgtype'];
  if (media === null || typeof media !== 'object' || Array.isArray(media)) return null;
  const sdkfileid = media['sdkfileid'];
  const contentType = media['content_type'];
  if (typeof sdkfileid !== 'string' || typeof contentType !== 'string' || typeof candidate !== 'string') return null;
  return {
    media: { sdkfileid, content_type: contentType },
    candidate,
    msgtype: typeof msgtype === 'string' ? msgtype : 'unknown',
  };
}

class OverCap extends Error {
  constructor(readonly size: number) {
    super(`over the cap after ${size} bytes`);
  }
}

export function archiveMediaConsumer(deps: {
  db: Pick<Pool, 'query'>;
  sdk: () => Promise<FinanceSdk>;
  store: MediaStore;
  metrics: ConversationMetrics;
}): LedgerConsumer {
  async function fetchAll(sdk: FinanceSdk, sdkfileid: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let size = 0;
    let index = '';
    for (let calls = 0; ; calls++) {
      // A chunk is ≤ 512 KiB: a file that never finishes is WeCom's fault, not a reason to loop forever.
      if (calls > Math.ceil(deps.store.maxBytes / (512 * 1024)) + 2) throw new OverCap(size);
      const chunk = await sdk.getMediaChunk(sdkfileid, index);
      size += chunk.data.length;
      if (size > deps.store.maxBytes) throw new OverCap(size);
      chunks.push(chunk.data);
      if (chunk.finished) return Buffer.concat(chunks);
      index = chunk.nextIndex;
    }
  }

  return {
    accepts: (h) => h.source === CONVERSATION_SOURCES.archive && h.kind === CONVERSATION_KINDS.message,
    async handle(record, ctx) {
      const ref = mediaRefOf(record.payload);
      if (!ref) return; // Not a media message: done.
      const owner = { corpId: ctx.corpId, owner: ref.candidate };
      const message = { seq: record.seq, hash: record.hash, source_ref: record.sourceRef };
      const base: Omit<ConversationMediaPayload, 'status'> = {
        channel: 'archive',
        message,
        msgtype: ref.msgtype,
        media_id: ref.media.sdkfileid,
      };
      const record_ = (payload: ConversationMediaPayload, suffix: string) => ({
        stream: record.stream,
        kind: CONVERSATION_KINDS.media,
        occurredAt: new Date(),
        actor: HIRELEDGER_ACTOR,
        source: CONVERSATION_SOURCES.archive,
        sourceRef: CONVERSATION_SOURCE_REFS.media(record.sourceRef, suffix),
        payload: payload as unknown as JsonValue,
        raw: null,
      });

      let bytes: Buffer;
      try {
        bytes = await fetchAll(await deps.sdk(), ref.media.sdkfileid);
      } catch (err) {
        if (err instanceof OverCap) {
          deps.metrics.media.inc({ channel: 'archive', outcome: 'refused' });
          await ctx.transact(async () => ({
            result: null,
            entries: [
              record_(
                {
                  ...base,
                  status: 'refused',
                  reason: `over MEDIA_MAX_BYTES (${deps.store.maxBytes}): ${err.size} bytes or more`,
                },
                'refused',
              ),
            ],
          }));
          return;
        }
        if (!(err instanceof FinanceSdkError)) throw err;
        const { rows } = await deps.db.query<{ attempts: number }>(
          `INSERT INTO conversation_media_attempts (corp_id, message_ref, attempts, last_error, last_attempt_at) VALUES ($1, $2, 1, $3, now())
           ON CONFLICT (corp_id, message_ref) DO UPDATE SET attempts = conversation_media_attempts.attempts + 1, last_error = $3, last_attempt_at = now()
           RETURNING attempts`,
          [ctx.corpId, record.sourceRef, err.message.slice(0, 2000)],
        );
        const attempts = rows[0]?.attempts ?? 1;
        if (err.retryable && attempts < ARCHIVE_MEDIA_MAX_ATTEMPTS) {
          deps.metrics.media.inc({ channel: 'archive', outcome: 'retry' });
          throw err; // transient under the job policy: tried again with back-off
        }
        deps.metrics.media.inc({ channel: 'archive', outcome: 'failed' });
        await ctx.transact(async () => ({
          result: null,
          entries: [
            record_(
              { ...base, status: 'failed', reason: err.message, attempts, error: { name: err.name, code: err.code, op: err.op } },
              'failed',
            ),
          ],
        }));
        return;
      }

      await ctx.transact(async (tx) => {
        let stored;
        try {
          stored = await deps.store.put(tx, owner, bytes, ref.media.content_type);
        } catch (err) {
          if (!(err instanceof MediaTooLargeError)) throw err;
          deps.metrics.media.inc({ channel: 'archive', outcome: 'refused' });
          return {
            result: null,
            entries: [record_({ ...base, status: 'refused', reason: err.message, size: err.size }, 'refused')],
          };
        }
        deps.metrics.media.inc({ channel: 'archive', outcome: stored.created ? 'stored' : 'duplicate' });
        return {
          result: null,
          entries: [
            record_(
              {
                ...base,
                status: 'stored',
                sha256: stored.sha256,
                size: stored.size,
                content_type: stored.contentType,
                already_stored: !stored.created,
              },
              stored.sha256,
            ),
          ],
        };
      });
    },
  };
}
