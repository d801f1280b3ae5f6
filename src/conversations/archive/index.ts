import type { Pool } from 'pg';
import type { CandidateDirectory } from '../../candidates';
import type { Ledger } from '../../evidence';
import type { HireLedgerModule, JobDefinition } from '../../platform/module';
import type { MediaStore } from '../media-store';
import { createConversationMetrics, type ConversationMetrics } from '../metrics';
import { loadArchiveKeys, type ArchiveKeyRing } from './keys';
import { archiveMediaConsumer } from './media';
import { ARCHIVE_CONSUMERS, ARCHIVE_JOBS, ARCHIVE_MODULE, ARCHIVE_STREAMS } from './names';
import { createArchivePuller, type ArchivePuller } from './puller';
import { openFinanceSdk, type FinanceSdk } from './sdk';
import { archiveChannelStatus, type ArchiveChannelStatus, type ArchiveConfig } from './status';

/**
 * Channel 2 of the conversations module: the chat archive (会话内容存档), recruiters' own 1:1 chats
 * with candidates, pulled through WeCom's Finance SDK (sdk.ts), decrypted with the private key of
 * each item's publickey_ver (keys.ts), and stored on the candidates' streams with the archive's seq
 * as a ledger (puller.ts). `msgaudit_notify` pulls at once; a scheduled job pulls anyway.
 *
 * Without MSGAUDIT_SDK_LIBRARY the channel is off: the module contributes nothing, and
 * `archiveChannelStatus(config)` says so to /health and the completeness report. Configured but
 * unusable (no secret, no keys, a key that does not parse): the factory throws, so the worker
 * refuses to start rather than run a channel that captures nothing.
 */

export interface ArchiveChannelDeps {
  config: ArchiveConfig;
  db: Pick<Pool, 'query'>;
  /** The worker's ledger: the msgaudit_notify handler pulls several pages, each its own transaction. */
  ledger: Pick<Ledger, 'transact'>;
  directory: CandidateDirectory;
  /**
   * Where media of archive messages goes (the conversations module's store, shared with KF). Without
   * one, messages keep their sdkfileid only, and the bytes are lost with WeCom's five days.
   */
  mediaStore?: MediaStore;
  /** The conversations module's counters (shared with the KF channel); a private set when omitted. */
  metrics?: ConversationMetrics;
  /** Instead of reading MSGAUDIT_PRIVATE_KEYS (tests). */
  keys?: ArchiveKeyRing;
  pageSize?: number;
  maxPages?: number;
  /** Seconds the SDK may take per call. Default 30. */
  sdkTimeoutSeconds?: number;
}

export interface ArchiveChannel {
  /** Its handler, job and nothing else; a module of its own, or merged into the conversations module. */
  module: HireLedgerModule;
  status: ArchiveChannelStatus;
  /** null when the channel is off. */
  puller: ArchivePuller | null;
  /** DestroySdk (waits for calls in flight). */
  close(): Promise<void>;
}

export function createArchiveChannel(deps: ArchiveChannelDeps): ArchiveChannel {
  const status = archiveChannelStatus(deps.config);
  if (status.state === 'off') {
    return { module: { name: ARCHIVE_MODULE }, status, puller: null, close: async () => undefined };
  }
  if (status.state === 'misconfigured') throw new Error(status.detail);
  const { config } = deps;
  const library = config.MSGAUDIT_SDK_LIBRARY as string;
  const keys = deps.keys ?? loadArchiveKeys(config.MSGAUDIT_PRIVATE_KEYS as string);

  let opening: Promise<FinanceSdk> | null = null;
  const sdk = (): Promise<FinanceSdk> => {
    opening ??= openFinanceSdk({
      library,
      corpId: config.WECOM_CORP_ID,
      secret: config.MSGAUDIT_SECRET as string,
      ...(config.MSGAUDIT_PROXY ? { proxy: config.MSGAUDIT_PROXY } : {}),
      ...(config.MSGAUDIT_PROXY_PASSWORD ? { proxyPassword: config.MSGAUDIT_PROXY_PASSWORD } : {}),
      timeoutSeconds: deps.sdkTimeoutSeconds ?? 30,
    }).catch((err: unknown) => {
      opening = null; // Init refused (a wrong corp id or secret): the next pull tries again.
      throw err;
    });
    return opening;
  };

  const metrics = deps.metrics ?? createConversationMetrics();
  const puller = createArchivePuller({
    corpId: config.WECOM_CORP_ID,
    db: deps.db,
    sdk,
    keys,
    directory: deps.directory,
    metrics,
    ...(deps.pageSize !== undefined ? { pageSize: deps.pageSize } : {}),
    ...(deps.maxPages !== undefined ? { maxPages: deps.maxPages } : {}),
  });

  const pullJob: JobDefinition = {
    schedule: { every: config.MSGAUDIT_PULL_INTERVAL_SECONDS * 1000 },
    async process(_data, ctx) {
      const report = await puller.pull((work) => ctx.transact(work), ctx.log);
      return { ...report };
    },
    evidenceStream: () => ARCHIVE_STREAMS.corp(config.WECOM_CORP_ID),
  };

  return {
    status,
    puller,
    module: {
      name: ARCHIVE_MODULE,
      callbackHandlers: {
        // No payload: it only means "there is something after your seq". The pull is idempotent by
        // seq and msgid, so a redelivered or late notify costs one empty GetChatData call.
        'event.msgaudit_notify': async (callback, ctx) => {
          const report = await puller.pull((work) => deps.ledger.transact(work), ctx.log);
          ctx.log.debug({ callbackSeq: callback.seq, ...report }, 'msgaudit_notify pulled the chat archive');
        },
      },
      jobs: { [ARCHIVE_JOBS.pull]: pullJob },
      ...(deps.mediaStore
        ? {
            consumers: { [ARCHIVE_CONSUMERS.media]: archiveMediaConsumer({ db: deps.db, sdk, store: deps.mediaStore, metrics }) },
          }
        : {}),
    },
    async close() {
      const open = opening;
      opening = null;
      if (open) await (await open.catch(() => null))?.close();
    },
  };
}

export { ARCHIVE_CONSUMERS, ARCHIVE_JOBS, ARCHIVE_KINDS, ARCHIVE_MODULE, ARCHIVE_SOURCE_REFS, ARCHIVE_STREAMS } from './names';
export { archiveChannelHealth, archiveChannelStatus, type ArchiveChannelStatus, type ArchiveConfig } from './status';
export { archiveKeyRing, loadArchiveKeys, ArchiveKeyError, type ArchiveKeyRing } from './keys';
export { FinanceSdkError, openFinanceSdk, type FinanceSdk } from './sdk';
export type { ArchivePuller, PullReport } from './puller';
export { ARCHIVE_MEDIA_MAX_ATTEMPTS } from './media';
export { checkConsent, type ConsentCheckDeps, type ConsentCheckResult } from './consent-check';
