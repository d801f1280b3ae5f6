import type { Pool } from 'pg';
import type { Registry } from 'prom-client';
import type { CandidateDirectory } from '../candidates';
import type { Ledger } from '../evidence';
import type { CallbackHandler, HireLedgerModule, JobDefinition } from '../platform/module';
import { WecomRateLimitedError } from '../wecom/api/errors';
import type { KfApi } from '../wecom/api/kf';
import type { MediaApi } from '../wecom/api/media';
import { createExternalContactIds } from '../wecom/external-contacts';
import { handledCallbackKind } from '../wecom/names';
import { kfMediaConsumer } from './kf-media';
import { createKfPuller, type KfPullDeps } from './kf-pull';
import { createMediaStore, type MediaStore, type MediaStoreConfig } from './media-store';
import { createConversationMetrics, type ConversationMetrics } from './metrics';
import { CONVERSATION_CONSUMERS, CONVERSATION_JOBS, CONVERSATIONS_MODULE } from './names';

/**
 * The conversations module: every message between candidates and recruiters, both ways, captured
 * into the candidate's own stream (DECISIONS 9), with what it takes to prove nothing is missing.
 * Channel 1, 微信客服 (KF), lives here; channel 2, the chat archive, in ./archive and reuses the
 * media store (media-store.ts).
 *
 * - `event.kf_msg_or_event` (a callback handler): pulls the account with the callback's token,
 *   page by page, each page committed with its cursor (kf-pull.ts). It never calls ctx.transact:
 *   its pages are several decisions, made through the ledger it is given, and a repeat of the job
 *   finds the cursor past everything already stored, so it pulls nothing twice. It is marked done
 *   when it returns; when a page fails it records the gap and throws, so the job policy retries.
 * - `conversations.kf-sweep` (a scheduled job): pulls every account (kf/account/list and every
 *   cursor known), without a token, for callbacks that were lost or given up on.
 * - `conversations.kf-media` (a ledger consumer): fetches and stores the media of KF messages.
 */

export interface ConversationsDeps {
  pool: Pick<Pool, 'query'>;
  /** The pages of a callback's pull are committed here (several decisions per callback record). */
  ledger: Pick<Ledger, 'transact'>;
  wecom: { kf: Pick<KfApi, 'syncMsg' | 'listAccounts'>; media: Pick<MediaApi, 'get'> };
  directory: CandidateDirectory;
  /** MEDIA_STORE / MEDIA_DIR / MEDIA_MAX_BYTES, or a store built already (shared with the archive channel). */
  media: MediaStoreConfig | MediaStore;
  /** MESSAGE_TEXT_MAX_BYTES: longer text is cut in the record and kept whole as media. */
  textMaxBytes: number;
  /** The process's metrics registry (`metrics.registry`); a private one when absent. */
  registry?: Registry;
  /** How often the sweep runs; default 5 minutes (well inside sync_msg's 3 days and its tokenless rate limit). */
  sweepEveryMs?: number;
  /** Tests. */
  now?: () => number;
  pageLimit?: number;
  answerMaxBytes?: number;
  itemMaxBytes?: number;
  afterPage?: KfPullDeps['afterPage'];
  mediaAttempts?: number;
}

export interface ConversationsModule extends HireLedgerModule {
  readonly metrics: ConversationMetrics;
  readonly mediaStore: MediaStore;
}

export const KF_SWEEP_EVERY_MS = 5 * 60_000;

export function createConversationsModule(deps: ConversationsDeps): ConversationsModule {
  const metrics = createConversationMetrics(deps.registry);
  const mediaStore = 'put' in deps.media ? deps.media : createMediaStore(deps.pool, deps.media);
  const puller = createKfPuller({
    pool: deps.pool,
    kf: deps.wecom.kf,
    directory: deps.directory,
    contactIds: createExternalContactIds(deps.pool),
    mediaStore,
    metrics,
    textMaxBytes: deps.textMaxBytes,
    ...(deps.pageLimit !== undefined ? { pageLimit: deps.pageLimit } : {}),
    ...(deps.answerMaxBytes !== undefined ? { answerMaxBytes: deps.answerMaxBytes } : {}),
    ...(deps.itemMaxBytes !== undefined ? { itemMaxBytes: deps.itemMaxBytes } : {}),
    ...(deps.now ? { now: deps.now } : {}),
    ...(deps.afterPage ? { afterPage: deps.afterPage } : {}),
  });

  const onKfCallback: CallbackHandler<'event.kf_msg_or_event'> = async (callback, ctx) => {
    const { openKfId, token } = callback.event;
    const done = await puller.pull(
      { corpId: ctx.corpId, log: ctx.log, reader: ctx.reader, transact: (work) => deps.ledger.transact(work) },
      {
        openKfId,
        token,
        callback: {
          seq: callback.seq,
          hash: callback.hash,
          stream: callback.stream,
          kind: handledCallbackKind('event.kf_msg_or_event'),
        },
      },
    );
    ctx.log.info({ open_kfid: openKfId, ...done }, 'KF pull done');
  };

  const sweep: JobDefinition = {
    schedule: { every: deps.sweepEveryMs ?? KF_SWEEP_EVERY_MS },
    async process(_data, ctx) {
      const accounts = new Set<string>();
      try {
        for (let offset = 0; ; offset += 100) {
          const { account_list } = await deps.wecom.kf.listAccounts(offset, 100);
          // Only accounts the app manages can be pulled (doc 94661: manage_privilege).
          for (const a of account_list) if (a.manage_privilege !== false) accounts.add(a.open_kfid);
          if (account_list.length < 100) break;
        }
      } catch (err) {
        if (err instanceof WecomRateLimitedError) throw err;
        ctx.log.warn({ err: (err as Error).message }, 'kf/account/list failed; sweeping the accounts already known');
      }
      const { rows } = await deps.pool.query<{ open_kfid: string }>('SELECT open_kfid FROM kf_cursors WHERE corp_id = $1', [
        ctx.corpId,
      ]);
      for (const r of rows) accounts.add(r.open_kfid);
      let pulled = 0;
      let messages = 0;
      const failed: string[] = [];
      for (const openKfId of [...accounts].sort()) {
        try {
          const r = await puller.pull(ctx, { openKfId });
          pulled++;
          messages += r.messages;
        } catch (err) {
          // WeCom's limit applies to every account alike: the policy delays the whole sweep.
          if (err instanceof WecomRateLimitedError) throw err;
          // One account's failure (its gap is recorded) never stops the others.
          failed.push(openKfId);
          ctx.log.warn(
            { open_kfid: openKfId, err: (err as Error).message },
            'KF sweep: account not pulled; the next sweep tries again',
          );
        }
      }
      return { accounts: accounts.size, pulled, messages, failed };
    },
  };

  return {
    name: CONVERSATIONS_MODULE,
    metrics,
    mediaStore,
    callbackHandlers: { 'event.kf_msg_or_event': onKfCallback },
    consumers: {
      [CONVERSATION_CONSUMERS.kfMedia]: kfMediaConsumer({
        pool: deps.pool,
        media: deps.wecom.media,
        store: mediaStore,
        metrics,
        ...(deps.mediaAttempts !== undefined ? { attempts: deps.mediaAttempts } : {}),
      }),
    },
    jobs: { [CONVERSATION_JOBS.kfSweep]: sweep },
  };
}

export {
  createMediaStore,
  MediaIntegrityError,
  MediaTooLargeError,
  sha256Of,
  type MediaOwner,
  type MediaStore,
  type MediaStoreConfig,
  type MediaStoreKind,
  type StoredMedia,
} from './media-store';
export { createConversationMetrics, type ConversationMetrics } from './metrics';
export { storable, cutUtf8, utf8Bytes } from './kf-items';
export { KF_WINDOW_MS, KfPageError } from './kf-pull';
export { MEDIA_FETCH_ATTEMPTS } from './kf-media';
export {
  CONVERSATION_CONSUMERS,
  CONVERSATION_JOBS,
  CONVERSATION_KINDS,
  CONVERSATION_SOURCE_REFS,
  CONVERSATION_SOURCES,
  CONVERSATION_STREAMS,
  CONVERSATIONS_MODULE,
  type ConversationChannel,
  type ConversationMediaPayload,
  type ConversationMessagePayload,
  type ConversationRole,
} from './names';

export {
  archiveChannelHealth,
  archiveChannelStatus,
  createArchiveChannel,
  type ArchiveChannel,
  type ArchiveConfig,
} from './archive';
export { createRouteFacts, type CandidateRouteFacts, type RouteFactsDeps } from './route-facts';
