import type { Pool, PoolClient } from 'pg';
import type { EvidenceEntry, JsonValue, StoredRecord } from '../evidence';
import { PermanentJobError } from '../platform/errors';
import type { ConsumerContext, JobContext, JobDefinition, LedgerConsumer } from '../platform/module';
import { HIRELEDGER_ACTOR } from '../platform/names';
import type { MessageApi } from '../wecom/api';
import { memberUserId } from '../wecom/names';
import type { HitPayload } from './hits';
import {
  SIGNAL_KINDS,
  SIGNAL_SEND_KEYS,
  SIGNAL_SOURCE_REFS,
  SIGNALS_SOURCE,
  type SignalAlertOutcome,
  type SignalType,
} from './names';

/**
 * Alerts: a recruiter is told, through WeCom (message/send on the recorded send path), of each
 * `resigned_before_offer` and `over_promise` hit, once. Hesitation is shown in the timeline, not
 * pushed. An alert advises a person; nothing is decided on it.
 *
 * Who: for over_promise the member who wrote the message (the hit's `recruiter`); otherwise the
 * candidate's recruiter (`recruiterOf`, from the candidates module). Nobody known: an
 * `undeliverable` alert record, never silence. Alerts go to members, so quiet hours (which protect
 * candidates, DECISIONS 13) do not apply.
 *
 * Once per hit, across crashes and re-runs: the WeCom send is keyed by the hit (SIGNAL_SEND_KEYS.alert),
 * so a re-run after the send finds its recorded `sent` outcome and sends nothing (sendRecorded);
 * the `signal.alert` record commits with the consumer's done mark.
 *
 * Rate limit, per recruiter: at most `limit.messages` alert messages in any `limit.windowMs`
 * (default 5 per 10 minutes), counted in PostgreSQL (signal_alerts) under a per-recruiter advisory
 * lock, so concurrent workers agree. An alert over the limit is `held`: recorded at once, and
 * carried by the next digest (the `signals.alert-digest` job, every minute), one message listing up
 * to 10 held alerts, sent when the window has room again. So a burst of hits reaches the recruiter
 * as a few messages, and no hit is dropped. WeCom's own per-member limit (30/min, 1000/h, enforced
 * by the client) stays underneath.
 */

export interface AlertLimit {
  messages: number;
  windowMs: number;
}

export const DEFAULT_ALERT_LIMIT: AlertLimit = { messages: 5, windowMs: 10 * 60_000 };

/** Alerts one digest carries at most (WeCom text ≤ 2048 bytes). */
export const DIGEST_MAX = 10;

/** The member responsible for a candidate, lower-cased, or null (the candidates module's directory). */
export type RecruiterOf = (corpId: string, candidateId: string) => Promise<string | null>;

export interface AlertDeps {
  db: Pick<Pool, 'query' | 'connect'>;
  messages: Pick<MessageApi, 'send'>;
  recruiterOf: RecruiterOf;
  candidateStreamPrefix: string;
  limit: AlertLimit;
  now: () => number;
}

const ALERTED: ReadonlySet<SignalType> = new Set(['resigned_before_offer', 'over_promise']);

const TYPE_TITLE: Record<'resigned_before_offer' | 'over_promise', string> = {
  resigned_before_offer: '候选人表示已离职（offer 尚未审批）',
  over_promise: '聊天中可能有超出审批的承诺（offer 尚未审批）',
};

const TYPE_ADVICE: Record<'resigned_before_offer' | 'over_promise', string> = {
  resigned_before_offer: '建议：请尽快与候选人沟通，说明正式 offer 尚未审批通过，了解其离职进展。',
  over_promise: '建议：请以审批通过的正式 offer 为准，必要时向候选人澄清。',
};

const SHANGHAI = new Intl.DateTimeFormat('zh-CN', {
  timeZone: 'Asia/Shanghai',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  hour12: false,
});

/** A time as people in China read it (DECISIONS: shown Asia/Shanghai). */
export function shanghaiTime(d: Date): string {
  return `${SHANGHAI.format(d)}（北京时间）`;
}

function clip(text: string, max: number): string {
  const chars = [...text.replace(/\s+/g, ' ').trim()];
  return chars.length > max ? `${chars.slice(0, max - 1).join('')}…` : chars.join('');
}

function candidateLabel(candidateId: string): string {
  return `候选人 ${candidateId.slice(0, 11)}`;
}

/** A hit beyond the approved terms (rule ovp.beyond_terms) reads differently: the offer is approved. */
const BEYOND_TITLE = '聊天中的承诺可能超出已审批的 offer 条款';
const BEYOND_ADVICE = '建议：请以审批通过的 offer 条款为准，必要时向候选人澄清；如条款确需变更，请修改 offer 并重新审批。';

function titleOf(hit: HitPayload): string {
  return hit.beyond && hit.beyond.length > 0 ? BEYOND_TITLE : TYPE_TITLE[hit.type as 'resigned_before_offer' | 'over_promise'];
}

/** The alert of one hit, in Chinese. */
export function alertText(hit: HitPayload, candidateId: string, messageText: string | undefined): string {
  const type = hit.type as 'resigned_before_offer' | 'over_promise';
  const beyond = hit.beyond ?? [];
  return [
    `【HireLedger 风险提醒】${titleOf(hit)}`,
    `${candidateLabel(candidateId)}，消息时间 ${shanghaiTime(new Date(hit.message_occurred_at))}`,
    `原话：「${clip(messageText ?? hit.match.text, 200)}」`,
    `命中：「${clip(hit.match.text, 40)}」（规则 ${hit.rule}，第 ${hit.rule_version} 版）`,
    ...(beyond.length > 0 && hit.offer
      ? [
          ...beyond.slice(0, 5).map((b) => `· ${b.why}`),
          `对照：offer ${hit.offer.offer_id.slice(0, 11)} 第 ${hit.offer.version} 版（内容哈希 ${hit.offer.content_sha256.slice(0, 12)}…）`,
          BEYOND_ADVICE,
        ]
      : [TYPE_ADVICE[type]]),
    '此提醒仅供参考，系统不会据此自动做任何决定。',
  ].join('\n');
}

/** One message for several held alerts. */
export function digestText(items: readonly { hit: HitPayload; candidateId: string }[]): string {
  const lines = items.map(
    ({ hit, candidateId }, i) =>
      `${i + 1}. ${titleOf(hit)}｜${candidateLabel(candidateId)}｜「${clip(hit.match.text, 30)}」｜${shanghaiTime(new Date(hit.message_occurred_at))}`,
  );
  return [
    `【HireLedger 风险提醒汇总】近期提醒较多，以下 ${items.length} 条合并发送：`,
    ...lines,
    '详情见候选人时间线。此提醒仅供参考，系统不会据此自动做任何决定。',
  ].join('\n');
}

function hitOf(record: StoredRecord): HitPayload {
  const p = record.payload as unknown as Partial<HitPayload> | null;
  if (
    !p ||
    typeof p !== 'object' ||
    typeof p.type !== 'string' ||
    typeof p.rule !== 'string' ||
    typeof p.rule_version !== 'number' ||
    !p.match ||
    !p.message ||
    typeof p.message.seq !== 'number'
  )
    throw new PermanentJobError(`signal.hit record ${record.seq} is not a hit`);
  return p as HitPayload;
}

function alertEntry(
  hitRecord: { seq: number; hash: string; stream: string },
  hit: HitPayload,
  outcome: SignalAlertOutcome,
  at: Date,
  details: { [key: string]: JsonValue },
): EvidenceEntry {
  return {
    stream: hitRecord.stream,
    kind: SIGNAL_KINDS.alert,
    occurredAt: at,
    actor: HIRELEDGER_ACTOR,
    source: SIGNALS_SOURCE,
    sourceRef: SIGNAL_SOURCE_REFS.alert(hitRecord.seq, outcome),
    payload: { hit: { seq: hitRecord.seq, hash: hitRecord.hash }, type: hit.type, status: outcome, ...details },
    raw: null,
  };
}

async function inTransaction<T>(db: Pick<Pool, 'connect'>, work: (tx: PoolClient) => Promise<T>): Promise<T> {
  const client = await db.connect();
  let broken = false;
  try {
    await client.query('BEGIN');
    const out = await work(client);
    await client.query('COMMIT');
    return out;
  } catch (err) {
    try {
      await client.query('ROLLBACK');
    } catch {
      broken = true;
    }
    throw err;
  } finally {
    client.release(broken);
  }
}

/** Serialises the limit's arithmetic for one recruiter across workers. */
async function lockRecruiter(tx: PoolClient, corpId: string, recruiter: string): Promise<void> {
  await tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`signals.alerts\u001f${corpId}\u001f${recruiter}`]);
}

/** Messages (single alerts and digests) sent or under way to a recruiter within the window. */
async function messagesInWindow(
  tx: PoolClient,
  corpId: string,
  recruiter: string,
  limit: AlertLimit,
  now: Date,
): Promise<number> {
  const { rows } = await tx.query<{ n: number }>(
    `SELECT count(DISTINCT send_key)::int AS n FROM signal_alerts
      WHERE corp_id = $1 AND recruiter = $2 AND send_key IS NOT NULL
        AND coalesce(sent_at, decided_at) > $3`,
    [corpId, recruiter, new Date(now.getTime() - limit.windowMs)],
  );
  return rows[0]?.n ?? 0;
}

type Reservation = { send: true; key: string } | { send: false };

/** Reserves a message slot for this hit's alert, or says the recruiter is over the limit. A reservation made before (a re-run) is kept. */
async function reserve(
  deps: AlertDeps,
  corpId: string,
  hit: { seq: number; hash: string; type: SignalType },
  recruiter: string,
): Promise<Reservation> {
  return inTransaction(deps.db, async (tx) => {
    await lockRecruiter(tx, corpId, recruiter);
    const { rows } = await tx.query<{ status: string; send_key: string | null }>(
      'SELECT status, send_key FROM signal_alerts WHERE corp_id = $1 AND hit_seq = $2',
      [corpId, hit.seq],
    );
    const prior = rows[0];
    if (prior?.status === 'sending' && prior.send_key) return { send: true, key: prior.send_key };
    if (prior) throw new PermanentJobError(`alert of hit ${hit.seq} is already ${prior.status}, yet its record is not done`);
    const now = new Date(deps.now());
    if ((await messagesInWindow(tx, corpId, recruiter, deps.limit, now)) >= deps.limit.messages) return { send: false };
    const key = SIGNAL_SEND_KEYS.alert(hit.seq, hit.hash);
    await tx.query(
      `INSERT INTO signal_alerts (corp_id, hit_seq, hit_hash, type, recruiter, status, send_key, decided_at)
       VALUES ($1, $2, $3, $4, $5, 'sending', $6, $7)`,
      [corpId, hit.seq, hit.hash, hit.type, recruiter, key, now],
    );
    return { send: true, key };
  });
}

async function messageTextOf(ctx: Pick<ConsumerContext, 'reader'>, seq: number): Promise<string | undefined> {
  const rec = await ctx.reader.readRecord(seq);
  const p = rec?.payload;
  if (typeof p !== 'object' || p === null || Array.isArray(p)) return undefined;
  return typeof p['text'] === 'string' ? p['text'] : undefined;
}

export function alertConsumer(deps: AlertDeps): LedgerConsumer {
  return {
    accepts: (h) => h.kind === SIGNAL_KINDS.hit && h.source === SIGNALS_SOURCE,
    async handle(record, ctx) {
      const hit = hitOf(record);
      if (!ALERTED.has(hit.type)) return;
      if (!record.stream.startsWith(deps.candidateStreamPrefix))
        throw new PermanentJobError(`signal.hit ${record.seq} is not on a candidate stream`);
      const candidateId = record.stream.slice(deps.candidateStreamPrefix.length);
      const told = hit.type === 'over_promise' && hit.recruiter ? hit.recruiter : await deps.recruiterOf(ctx.corpId, candidateId);
      const recruiter = told ? memberUserId(told) : null;
      const hitRef = { seq: record.seq, hash: record.hash, stream: record.stream };

      if (!recruiter) {
        ctx.log.warn(
          { hit: record.seq, type: hit.type },
          'signal alert: no recruiter known for the candidate; recorded as undeliverable',
        );
        await ctx.transact(async (tx) => {
          await tx.query(
            `INSERT INTO signal_alerts (corp_id, hit_seq, hit_hash, type, recruiter, status, decided_at)
             VALUES ($1, $2, $3, $4, NULL, 'undeliverable', $5)`,
            [ctx.corpId, record.seq, record.hash, hit.type, new Date(deps.now())],
          );
          return {
            result: null,
            entries: [alertEntry(hitRef, hit, 'undeliverable', new Date(deps.now()), { reason: 'no_recruiter' })],
          };
        });
        return;
      }

      const slot = await reserve(deps, ctx.corpId, { seq: record.seq, hash: record.hash, type: hit.type }, recruiter);
      if (!slot.send) {
        ctx.log.info(
          { hit: record.seq, recruiter },
          'signal alert held: the recruiter reached the alert limit; the digest carries it',
        );
        await ctx.transact(async (tx) => {
          const at = new Date(deps.now());
          await tx.query(
            `INSERT INTO signal_alerts (corp_id, hit_seq, hit_hash, type, recruiter, status, decided_at)
             VALUES ($1, $2, $3, $4, $5, 'held', $6)`,
            [ctx.corpId, record.seq, record.hash, hit.type, recruiter, at],
          );
          return {
            result: null,
            entries: [
              alertEntry(hitRef, hit, 'held', at, {
                recruiter,
                reason: 'rate_limited',
                limit: { messages: deps.limit.messages, window_ms: deps.limit.windowMs },
              }),
            ],
          };
        });
        return;
      }

      // The send first, outside any transaction; then what WeCom answered, with the done mark.
      const text = alertText(hit, candidateId, await messageTextOf(ctx, hit.message.seq));
      const answer = await deps.messages.send(
        { touser: recruiter, msgtype: 'text', text: { content: text } },
        { idempotencyKey: slot.key },
      );
      await ctx.transact(async (tx) => {
        const at = new Date(deps.now());
        await tx.query(`UPDATE signal_alerts SET status = 'sent', sent_at = $3 WHERE corp_id = $1 AND hit_seq = $2`, [
          ctx.corpId,
          record.seq,
          at,
        ]);
        return {
          result: null,
          entries: [alertEntry(hitRef, hit, 'sent', at, { recruiter, send_key: slot.key, msgid: answer.msgid, via: 'alert' })],
        };
      });
    },
  };
}

interface HeldRow {
  hit_seq: string;
  hit_hash: string;
  send_key: string | null;
}

/**
 * Claims a recruiter's next digest: the held alerts already claimed by a digest not yet sent (a
 * crash between claim and send: the same digest again, under its key), else up to DIGEST_MAX held
 * alerts when the window has room.
 */
async function claimDigest(deps: AlertDeps, corpId: string, recruiter: string): Promise<{ key: string; seqs: number[] } | null> {
  return inTransaction(deps.db, async (tx) => {
    await lockRecruiter(tx, corpId, recruiter);
    const { rows: claimed } = await tx.query<HeldRow>(
      `SELECT hit_seq, hit_hash, send_key FROM signal_alerts
        WHERE corp_id = $1 AND recruiter = $2 AND status = 'held' AND send_key IS NOT NULL ORDER BY hit_seq`,
      [corpId, recruiter],
    );
    const first = claimed[0];
    if (first?.send_key) {
      const key = first.send_key;
      return { key, seqs: claimed.filter((r) => r.send_key === key).map((r) => Number(r.hit_seq)) };
    }
    const now = new Date(deps.now());
    if ((await messagesInWindow(tx, corpId, recruiter, deps.limit, now)) >= deps.limit.messages) return null;
    const { rows: held } = await tx.query<HeldRow>(
      `SELECT hit_seq, hit_hash, send_key FROM signal_alerts
        WHERE corp_id = $1 AND recruiter = $2 AND status = 'held' ORDER BY hit_seq LIMIT ${DIGEST_MAX}`,
      [corpId, recruiter],
    );
    const head = held[0];
    if (!head) return null;
    const seqs = held.map((r) => Number(r.hit_seq));
    const key = SIGNAL_SEND_KEYS.digest(Number(head.hit_seq), head.hit_hash);
    await tx.query(`UPDATE signal_alerts SET send_key = $3, decided_at = $4 WHERE corp_id = $1 AND hit_seq = ANY($2::bigint[])`, [
      corpId,
      seqs,
      key,
      now,
    ]);
    return { key, seqs };
  });
}

/** The scheduled digest: every recruiter with held alerts and room in the window gets one message. */
export function digestJob(deps: AlertDeps): JobDefinition {
  return {
    schedule: { every: 60_000 },
    async process(_data, ctx: JobContext) {
      const { rows } = await deps.db.query<{ recruiter: string }>(
        `SELECT DISTINCT recruiter FROM signal_alerts WHERE corp_id = $1 AND status = 'held' ORDER BY recruiter`,
        [ctx.corpId],
      );
      let sent = 0;
      for (const { recruiter } of rows) {
        const digest = await claimDigest(deps, ctx.corpId, recruiter);
        if (!digest) continue;
        const items: { record: StoredRecord; hit: HitPayload; candidateId: string }[] = [];
        for (const seq of digest.seqs) {
          const record = await ctx.reader.readRecord(seq);
          if (!record) throw new Error(`held alert names hit ${seq}, which the ledger does not hold`);
          items.push({ record, hit: hitOf(record), candidateId: record.stream.slice(deps.candidateStreamPrefix.length) });
        }
        const answer = await deps.messages.send(
          { touser: recruiter, msgtype: 'text', text: { content: digestText(items) } },
          { idempotencyKey: digest.key },
        );
        await ctx.transact(async (tx) => {
          const at = new Date(deps.now());
          await tx.query(
            `UPDATE signal_alerts SET status = 'sent', sent_at = $3 WHERE corp_id = $1 AND send_key = $2 AND status = 'held'`,
            [ctx.corpId, digest.key, at],
          );
          return {
            result: null,
            entries: items.map(({ record, hit }) =>
              alertEntry(record, hit, 'sent', at, {
                recruiter,
                send_key: digest.key,
                msgid: answer.msgid,
                via: 'digest',
                digest: digest.seqs,
              }),
            ),
            // A re-run after this commit finds nothing held; one that raced it adds nothing twice.
            allowDuplicates: true,
          };
        });
        sent++;
      }
      return { digests: sent };
    },
  };
}
