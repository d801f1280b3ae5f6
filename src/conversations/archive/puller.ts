import type { Pool, PoolClient } from 'pg';
import type { CandidateDirectory } from '../../candidates';
import { createHash } from 'node:crypto';
import {
  canonicalize,
  type AppendResult,
  type Decision,
  type EvidenceEntry,
  type JsonValue,
  type RedeliveryRule,
} from '../../evidence';
import type { Logger } from '../../observability/logger';
import { HIRELEDGER_ACTOR } from '../../platform/names';
import type { ConversationMetrics } from '../metrics';
import { CONVERSATION_KINDS, CONVERSATION_SOURCE_REFS, CONVERSATION_SOURCES, type ConversationMessagePayload } from '../names';
import { ArchiveItemError, mediaOf, parseSdkJson, readChatItem, readMessage, type ChatItem, type ReadMessage } from './decode';
import { ArchiveKeyError, type ArchiveKeyRing } from './keys';
import { ARCHIVE_KINDS, ARCHIVE_SOURCE_REFS, ARCHIVE_STREAMS, type ArchiveSkipReason } from './names';
import { FinanceSdkError, type FinanceSdk } from './sdk';

/**
 * The chat-archive puller. The archive's `seq` is a ledger: HireLedger keeps the largest seq whose
 * item is accounted for (`chat_archive_cursors.last_seq`) and asks GetChatData for what follows.
 * For each page it:
 *
 * 1. calls the SDK outside any transaction (GetChatData, then per item the RSA unwrap of
 *    `encrypt_random_key` with the private key of its `publickey_ver` and DecryptData), all off the
 *    event loop;
 * 2. in ONE ledger transaction (`transact`): re-reads the cursor under a row lock and stops if
 *    another pull moved it; finds or creates each item's candidate (CandidateDirectory, in the same
 *    transaction); appends one record per item (a `conversation.message` or `conversation.consent`
 *    on the candidate's stream, or a `conversation.placeholder` with the error on the corp's archive
 *    stream), a `conversation.gap` for seqs WeCom skipped, and the page record that names every
 *    item's outcome; and moves the cursor to the page's last seq.
 *
 * So a crash anywhere leaves the cursor at the last committed page: the next pull asks again from
 * there, nothing is skipped and nothing stored twice (and a msgid already stored would be a no-op:
 * the ledger's unique (source, source_ref)). An item that will not decrypt is a placeholder, never a
 * gap, and never stops the items around it.
 */

export interface ArchivePullerDeps {
  corpId: string;
  db: Pick<Pool, 'query'>;
  /** Opens (once) and returns the SDK; lazily, so a process that never pulls never loads the library. */
  sdk: () => Promise<FinanceSdk>;
  keys: ArchiveKeyRing;
  directory: CandidateDirectory;
  metrics: ConversationMetrics;
  /** Items per GetChatData call (≤ 1000). */
  pageSize?: number;
  /** Pages per pull at most; the next pull (callback or schedule) goes on. */
  maxPages?: number;
  now?: () => number;
}

export type Transact = <T>(work: (tx: PoolClient) => Promise<Decision<T>>) => Promise<{ result: T; records: AppendResult[] }>;

export interface PullReport {
  pages: number;
  items: number;
  messages: number;
  consents: number;
  placeholders: number;
  skipped: number;
  lastSeq: number;
  /** Another pull committed the page first; this one stopped. */
  raced: boolean;
}

/** What became of one item, in the page record. */
type Outcome =
  | { seq: number; msgid: string; outcome: 'message' | 'consent'; candidate: string }
  | { seq: number; msgid: string | null; outcome: 'placeholder'; stage: string }
  | { seq: number; msgid: string; outcome: 'skipped'; reason: ArchiveSkipReason };

/** One item after the SDK calls, before the transaction. */
type Prepared =
  | { seq: number; item: ChatItem; plaintext: Buffer; message: { [key: string]: JsonValue }; read: ReadMessage }
  | { seq: number; item: JsonValue; msgid: string | null; publickeyVer: number | null; error: ArchiveItemError };

export class ArchivePullError extends Error {
  constructor(
    message: string,
    readonly errcode?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ArchivePullError';
  }
}

const MAX_ERROR = 2000;

function errorPayload(err: ArchiveItemError): { [key: string]: JsonValue } {
  return { stage: err.stage, message: err.message.slice(0, MAX_ERROR), ...(err.code !== undefined ? { code: err.code } : {}) };
}

export function createArchivePuller(deps: ArchivePullerDeps) {
  const pageSize = deps.pageSize ?? 200;
  const maxPages = deps.maxPages ?? 50;
  const now = deps.now ?? Date.now;
  const { corpId, metrics } = deps;
  const archiveStream = ARCHIVE_STREAMS.corp(corpId);
  let running: Promise<PullReport> | null = null;
  let again = false;

  async function cursor(): Promise<number> {
    const { rows } = await deps.db.query<{ last_seq: string }>('SELECT last_seq FROM chat_archive_cursors WHERE corp_id = $1', [
      corpId,
    ]);
    return rows[0] ? Number(rows[0].last_seq) : 0;
  }

  async function noteFailure(err: unknown, log: Logger): Promise<void> {
    const message = (err instanceof Error ? err.message : String(err)).slice(0, MAX_ERROR);
    try {
      await deps.db.query(
        `INSERT INTO chat_archive_cursors (corp_id, failures, last_error, last_failed_at) VALUES ($1, 1, $2, $3)
         ON CONFLICT (corp_id) DO UPDATE SET failures = chat_archive_cursors.failures + 1, last_error = $2, last_failed_at = $3`,
        [corpId, message, new Date(now())],
      );
    } catch (noteErr) {
      log.warn({ err: noteErr }, 'could not note the chat archive failure');
    }
  }

  /** SDK calls for one item: unwrap the random key, DecryptData, parse, read. Never throws for the item's own faults. */
  async function prepare(raw: JsonValue, sdk: FinanceSdk): Promise<Prepared> {
    const checked = readChatItem(raw);
    if ('error' in checked) {
      if (checked.seq === null) {
        // Without its seq an item cannot be accounted for: the page is refused and asked for again.
        throw new ArchivePullError(`GetChatData returned an item without a usable seq: ${checked.error}`);
      }
      const obj = raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? raw : {};
      return {
        seq: checked.seq,
        item: raw,
        msgid: typeof obj['msgid'] === 'string' ? obj['msgid'] : null,
        publickeyVer: typeof obj['publickey_ver'] === 'number' ? obj['publickey_ver'] : null,
        error: new ArchiveItemError('shape', checked.error),
      };
    }
    const item = checked;
    const fail = (error: ArchiveItemError): Prepared => ({
      seq: item.seq,
      item: raw,
      msgid: item.msgid,
      publickeyVer: item.publickey_ver,
      error,
    });
    let randomKey: Buffer;
    try {
      randomKey = deps.keys.unwrap(item.publickey_ver, item.encrypt_random_key);
    } catch (err) {
      if (err instanceof ArchiveKeyError) return fail(new ArchiveItemError('rsa', err.message));
      throw err;
    }
    let plaintext: Buffer;
    try {
      plaintext = await sdk.decryptData(randomKey, item.encrypt_chat_msg);
    } catch (err) {
      // 10006 and the like concern this item only; a retryable code (network, system call) is the
      // page's problem: it is asked for again rather than recorded as undecryptable.
      if (err instanceof FinanceSdkError && !err.retryable) return fail(new ArchiveItemError('decrypt', err.message, err.code));
      throw err;
    }
    let message: { [key: string]: JsonValue };
    try {
      message = parseSdkJson(plaintext.toString('utf8'));
    } catch (err) {
      return fail(new ArchiveItemError('parse', `the decrypted message is not a JSON object: ${(err as Error).message}`));
    }
    if (message['msgid'] !== undefined && message['msgid'] !== item.msgid) {
      return fail(new ArchiveItemError('parse', 'the decrypted message names another msgid than its item'));
    }
    return { seq: item.seq, item, plaintext, message, read: readMessage(message) };
  }

  /** The records and cursor move of one page, in the ledger transaction. */
  async function commitPage(transact: Transact, from: number, prepared: Prepared[]): Promise<'committed' | 'raced'> {
    const last = prepared[prepared.length - 1];
    if (!last) return 'committed';
    const toSeq = last.seq;
    const { result } = await transact(async (tx) => {
      await tx.query('INSERT INTO chat_archive_cursors (corp_id) VALUES ($1) ON CONFLICT (corp_id) DO NOTHING', [corpId]);
      const { rows } = await tx.query<{ last_seq: string }>(
        'SELECT last_seq FROM chat_archive_cursors WHERE corp_id = $1 FOR UPDATE',
        [corpId],
      );
      if (Number(rows[0]?.last_seq ?? 0) !== from) return { result: 'raced' as const, entries: [] };

      const entries: EvidenceEntry[] = [];
      const outcomes: Outcome[] = [];
      const gaps: Array<{ from_seq: number; to_seq: number }> = [];
      let expected = from + 1;
      let placeholders = 0;
      const recordedAt = new Date(now());
      const candidates = new Map<string, { candidateId: string; stream: string }>();
      // Candidates first, in a fixed order (external_userid, as the KF pull takes them), so an archive
      // page and a KF page meeting the same new people never wait on each other's locks in a cycle.
      const firstOf = new Map<string, string | null>();
      for (const p of prepared) {
        if ('error' in p || p.read.kind === 'skip' || firstOf.has(p.read.externalUserId)) continue;
        firstOf.set(p.read.externalUserId, p.read.recruiter);
      }
      for (const ext of [...firstOf.keys()].sort()) {
        const recruiter = firstOf.get(ext);
        const found = await deps.directory.candidateFor(tx, corpId, ext, {
          via: 'archive',
          ...(recruiter ? { userid: recruiter } : {}),
        });
        entries.push(...found.entries);
        candidates.set(ext, { candidateId: found.candidateId, stream: found.stream });
      }

      for (const p of prepared) {
        if (p.seq > expected) gaps.push({ from_seq: expected, to_seq: p.seq - 1 });
        expected = p.seq + 1;

        if ('error' in p) {
          placeholders += 1;
          metrics.badInput.inc({ channel: 'archive', reason: `undecryptable_${p.error.stage}` });
          outcomes.push({ seq: p.seq, msgid: p.msgid, outcome: 'placeholder', stage: p.error.stage });
          entries.push({
            stream: archiveStream,
            kind: CONVERSATION_KINDS.placeholder,
            occurredAt: recordedAt,
            actor: HIRELEDGER_ACTOR,
            source: CONVERSATION_SOURCES.archive,
            sourceRef: CONVERSATION_SOURCE_REFS.archivePlaceholder(String(p.seq)),
            payload: {
              channel: 'archive',
              archive_seq: p.seq,
              msgid: p.msgid,
              publickey_ver: p.publickeyVer,
              error: errorPayload(p.error),
            },
            raw: { item: p.item },
          });
          continue;
        }

        const { read, item, message } = p;
        if (read.kind === 'skip') {
          metrics.badInput.inc({ channel: 'archive', reason: `skipped_${read.reason}` });
          outcomes.push({ seq: p.seq, msgid: item.msgid, outcome: 'skipped', reason: read.reason });
          continue;
        }
        // One lookup per candidate and page: a conversation is many items of the same two people.
        let candidate = candidates.get(read.externalUserId);
        if (!candidate) {
          const found = await deps.directory.candidateFor(tx, corpId, read.externalUserId, {
            via: 'archive',
            ...(read.recruiter ? { userid: read.recruiter } : {}),
          });
          entries.push(...found.entries);
          candidate = { candidateId: found.candidateId, stream: found.stream };
          candidates.set(read.externalUserId, candidate);
        }
        const occurredAt = read.msgtime ?? recordedAt;
        const anomaly: { [key: string]: JsonValue } = read.msgtime
          ? {}
          : { anomaly: 'msgtime missing or not a sane time: occurred_at is the time of the pull' };
        const raw = { item: item as unknown as JsonValue, plaintext_base64: p.plaintext.toString('base64') };

        if (read.kind === 'consent') {
          outcomes.push({ seq: p.seq, msgid: item.msgid, outcome: 'consent', candidate: candidate.candidateId });
          entries.push({
            stream: candidate.stream,
            kind: CONVERSATION_KINDS.consent,
            occurredAt,
            actor: candidate.candidateId,
            source: CONVERSATION_SOURCES.archive,
            // The consent is the message itself: one msgid, one record, whatever its kind.
            sourceRef: CONVERSATION_SOURCE_REFS.archiveMessage(item.msgid),
            redelivery: messageRedelivery(message),
            payload: {
              channel: 'archive',
              status: read.status,
              msgid: item.msgid,
              archive_seq: p.seq,
              publickey_ver: item.publickey_ver,
              candidate: candidate.candidateId,
              recruiter: read.recruiter,
              decided_at: (read.decidedAt ?? occurredAt).toISOString(),
              message,
              ...anomaly,
            },
            raw,
          });
          continue;
        }

        metrics.messages.inc({ channel: 'archive', role: read.role });
        outcomes.push({ seq: p.seq, msgid: item.msgid, outcome: 'message', candidate: candidate.candidateId });
        const media = mediaOf(message, read.msgtype);
        const payload: ConversationMessagePayload & { [key: string]: unknown } = {
          channel: 'archive',
          role: read.role,
          msgid: item.msgid,
          msgtype: read.msgtype,
          ...(read.text !== undefined ? { text: read.text } : {}),
          ...(read.recruiter ? { recruiter: read.recruiter } : {}),
          message,
          archive_seq: p.seq,
          publickey_ver: item.publickey_ver,
          candidate: candidate.candidateId,
          // The bytes stay with WeCom for five days, fetched by GetMediaData(sdkfileid): see media.ts.
          ...(media ? { media: { sdkfileid: media.sdkfileid, content_type: media.contentType } } : {}),
          ...anomaly,
        };
        entries.push({
          stream: candidate.stream,
          kind: CONVERSATION_KINDS.message,
          occurredAt,
          actor: read.role === 'recruiter' && read.recruiter ? read.recruiter : candidate.candidateId,
          source: CONVERSATION_SOURCES.archive,
          sourceRef: CONVERSATION_SOURCE_REFS.archiveMessage(item.msgid),
          payload: payload as unknown as JsonValue,
          raw,
          redelivery: messageRedelivery(message),
        });
      }

      for (const gap of gaps) {
        metrics.badInput.inc({ channel: 'archive', reason: 'seq_gap' });
        entries.push({
          stream: archiveStream,
          kind: CONVERSATION_KINDS.gap,
          occurredAt: recordedAt,
          actor: HIRELEDGER_ACTOR,
          source: CONVERSATION_SOURCES.archive,
          sourceRef: ARCHIVE_SOURCE_REFS.gap(gap.from_seq, gap.to_seq),
          payload: {
            channel: 'archive',
            ...gap,
            reason:
              from === 0 && gap.from_seq === 1
                ? 'before_first_pull: the archive held these seqs before HireLedger first pulled it (WeCom keeps five days)'
                : 'seq_jump: WeCom returned no item for these seqs (expired after five days, or never issued)',
          },
          raw: null,
        });
      }

      entries.push({
        stream: archiveStream,
        kind: ARCHIVE_KINDS.page,
        occurredAt: recordedAt,
        actor: HIRELEDGER_ACTOR,
        source: CONVERSATION_SOURCES.archive,
        sourceRef: ARCHIVE_SOURCE_REFS.page(from + 1, toSeq),
        payload: {
          channel: 'archive',
          after_seq: from,
          from_seq: prepared[0]?.seq ?? from + 1,
          to_seq: toSeq,
          items: outcomes as unknown as JsonValue,
          gaps,
        },
        raw: null,
      });

      await tx.query(
        `UPDATE chat_archive_cursors
            SET last_seq = $2, pages = pages + 1, items = items + $3, placeholders = placeholders + $4,
                last_pulled_at = $5, failures = 0, last_error = NULL
          WHERE corp_id = $1`,
        [corpId, toSeq, prepared.length, placeholders, recordedAt],
      );
      // A re-pulled msgid (a cursor set back by an operator) is a redelivery, not a refused decision.
      return { result: 'committed' as const, entries, allowDuplicates: true };
    });
    return result;
  }

  async function pullOnce(transact: Transact, log: Logger): Promise<PullReport> {
    const report: PullReport = {
      pages: 0,
      items: 0,
      messages: 0,
      consents: 0,
      placeholders: 0,
      skipped: 0,
      lastSeq: 0,
      raced: false,
    };
    try {
      const sdk = await deps.sdk();
      let from = await cursor();
      report.lastSeq = from;
      while (report.pages < maxPages) {
        const text = await sdk.getChatData(BigInt(from), pageSize);
        let answer: { [key: string]: JsonValue };
        try {
          answer = parseSdkJson(text);
        } catch (err) {
          metrics.badInput.inc({ channel: 'archive', reason: 'malformed_answer' });
          throw new ArchivePullError(`GetChatData answered something that is not JSON: ${(err as Error).message}`, undefined, {
            cause: err,
          });
        }
        const errcode = answer['errcode'];
        if (errcode !== 0 && errcode !== undefined) {
          throw new ArchivePullError(
            `GetChatData: WeCom answered errcode ${JSON.stringify(errcode)} ${typeof answer['errmsg'] === 'string' ? answer['errmsg'] : ''}`.trim(),
            typeof errcode === 'number' ? errcode : undefined,
          );
        }
        const chatdata = answer['chatdata'];
        if (!Array.isArray(chatdata)) {
          metrics.badInput.inc({ channel: 'archive', reason: 'malformed_answer' });
          throw new ArchivePullError('GetChatData answered without a chatdata list');
        }
        if (chatdata.length === 0) {
          await deps.db.query(
            `INSERT INTO chat_archive_cursors (corp_id, last_pulled_at) VALUES ($1, $2)
             ON CONFLICT (corp_id) DO UPDATE SET last_pulled_at = $2, failures = 0, last_error = NULL`,
            [corpId, new Date(now())],
          );
          break;
        }
        const prepared: Prepared[] = [];
        for (const raw of chatdata) prepared.push(await prepare(raw, sdk));
        // In seq order, each once, all after the cursor: anything else is not the ledger the archive promises.
        prepared.sort((a, b) => a.seq - b.seq);
        for (let i = 0; i < prepared.length; i++) {
          const p = prepared[i] as Prepared;
          if (p.seq <= from || (i > 0 && p.seq === prepared[i - 1]?.seq)) {
            throw new ArchivePullError(`GetChatData returned seq ${p.seq} again or before the cursor ${from}`);
          }
        }
        const outcome = await commitPage(transact, from, prepared);
        if (outcome === 'raced') {
          report.raced = true;
          break;
        }
        report.pages += 1;
        report.items += prepared.length;
        for (const p of prepared) {
          if ('error' in p) report.placeholders += 1;
          else if (p.read.kind === 'message') report.messages += 1;
          else if (p.read.kind === 'consent') report.consents += 1;
          else report.skipped += 1;
        }
        from = (prepared[prepared.length - 1] as Prepared).seq;
        report.lastSeq = from;
        if (chatdata.length < pageSize) {
          await deps.db.query('UPDATE chat_archive_cursors SET last_pulled_at = $2 WHERE corp_id = $1', [
            corpId,
            new Date(now()),
          ]);
          break;
        }
      }
      log.info({ channel: 'archive', ...report }, 'chat archive pulled');
      return report;
    } catch (err) {
      await noteFailure(err, log);
      throw err;
    }
  }

  return {
    /**
     * Pulls until the archive has nothing new (or maxPages). Pulls of one puller never overlap: a
     * call while one runs waits for it and then pulls once more, so a notify that arrives mid-pull
     * is never lost; pulls in other processes serialise on the cursor row.
     */
    async pull(transact: Transact, log: Logger): Promise<PullReport> {
      if (running) {
        // The running pull looks again before it resolves, and reports what it reached.
        again = true;
        return running;
      }
      const run = (async () => {
        try {
          let report = await pullOnce(transact, log);
          while (again) {
            again = false;
            report = await pullOnce(transact, log);
          }
          return report;
        } finally {
          running = null;
        }
      })();
      running = run;
      return run;
    },
    cursor,
  };
}

export type ArchivePuller = ReturnType<typeof createArchivePuller>;

/**
 * A msgid pulled again (a cursor set back) is a redelivery when its decrypted message is the same;
 * with other content it is a new record linked to the first (DECISIONS 2), never dropped.
 */
function messageRedelivery(message: { [key: string]: JsonValue }): RedeliveryRule {
  const digestOf = (m: JsonValue) => createHash('sha256').update(canonicalize(m), 'utf8').digest('hex');
  return {
    digest: digestOf(message),
    digestOf: (stored) =>
      typeof stored === 'object' && stored !== null && !Array.isArray(stored) && stored['message'] !== undefined
        ? digestOf(stored['message'])
        : null,
  };
}
