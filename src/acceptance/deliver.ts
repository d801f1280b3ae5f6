import type { CandidateRouteFacts } from '../conversations';
import type { EvidenceEntry, JsonValue, Ledger, LedgerReader } from '../evidence';
import { beijingTime, type DeliverOffer, type OfferDelivery } from '../offers';
import type { Logger } from '../observability/logger';
import { PermanentJobError } from '../platform/errors';
import { chooseRoute, inQuietHours, type CandidateRoute } from '../reminders';
import {
  KF_ROUTE_CLOSED,
  MSG_TEMPLATE_NO_CUSTOMER,
  WecomApiError,
  type KfApi,
  type MessageApi,
  type MsgTemplateApi,
} from '../wecom/api';
import type { OfferLinks } from './links';
import { ACCEPTANCE_SOURCE, ACCEPTANCE_STREAMS } from './names';

/**
 * Delivery of a sent formal offer (issue 10 item 4, docs/delivery.md): the link to the H5
 * acceptance page goes to the candidate by the route that is open (DECISIONS 12), and the route
 * chosen, and why, is a record on the candidate's stream.
 *
 * 1. The link is issued under a key derived from the `offer.sent` record's seq (idempotent: a
 *    repeated job gets the same link).
 * 2. The route is decided from the candidate's route facts at send time (`chooseRoute`) and
 *    recorded (`offer.delivery_routed`) BEFORE anything is sent. A repeated job (a crash, a retry)
 *    reads that record back and goes on along the same route: it never decides again, so one offer
 *    can never leave by two routes because the facts changed between two runs.
 * 3. It sends under idempotency keys derived from the seq, through the WeCom client's recorded send
 *    path (src/wecom/api/evidence.ts): KF `kf/send_msg` (our msgid: WeCom drops a repeat),
 *    企业群发 `add_msg_template` (never sent twice: a repeat is refused) and `message/send` to the
 *    recruiter (WeCom's duplicate check). So a repeated job sends nothing twice.
 * 4. When the route turns out closed at WeCom (KF 95001/95002/95013/95018, the 群发's customer in
 *    `fail_list` or 41048), the next route is taken and recorded as a new routed record with the
 *    refusal as its reason: KF → 企业群发 (when the candidate is a recruiter's contact) → recruiter task.
 * 5. The outcome (`offer.delivery_handed`: msgid, link id) is recorded after the send.
 *
 * Quiet hours (21:00–09:00 Asia/Shanghai, DECISIONS 13): a formal offer is never pushed to the
 * candidate then. KF, the only route that reaches the candidate without a person, is skipped; the
 * offer goes as a 企业群发 (the recruiter confirms it, told to do so after 09:00) or as the
 * recruiter's task, and the record says `quiet_hours: true`. A deferred KF send (09:00, if the
 * window is still open) would need a reminders-style deferral: not built (docs/delivery.md).
 */

export const DELIVERY_KINDS = {
  /** The route chosen for one offer.sent (or the next one after WeCom refused the previous), and why. */
  routed: 'offer.delivery_routed',
  /** What the route's send answered: KF msgid, 企业群发 msgid (pending the recruiter's confirmation), or the recruiter told. */
  handed: 'offer.delivery_handed',
} as const;

export const DELIVERY_SOURCE_REFS = {
  routed: (sentSeq: number, attempt: number) => `offer-delivery:${sentSeq}:${attempt}`,
  handed: (sentSeq: number, attempt: number) => `offer-delivery:${sentSeq}:${attempt}:handed`,
} as const;

/** The send keys of one offer.sent (printable ASCII without `#`, requireKey in evidence.ts). */
export const DELIVERY_KEYS = {
  link: (sentSeq: number) => `offer-delivery.${sentSeq}`,
  kf: (sentSeq: number) => `offer-delivery.${sentSeq}.kf`,
  group: (sentSeq: number) => `offer-delivery.${sentSeq}.group`,
  groupNotice: (sentSeq: number) => `offer-delivery.${sentSeq}.group-notice`,
  task: (sentSeq: number) => `offer-delivery.${sentSeq}.task`,
} as const;

export interface OfferDeliveryDeps {
  links: OfferLinks;
  /** The conversations module's `createRouteFacts(...)`. */
  facts: (corpId: string, candidateId: string) => Promise<CandidateRouteFacts>;
  wecom: { kf: Pick<KfApi, 'sendMsg'>; msgTemplate: Pick<MsgTemplateApi, 'add'>; message: Pick<MessageApi, 'send'> };
  /** The ledger's decision path (`ledger.transact`). */
  transact: Ledger['transact'];
  /** Reads the routed records back (a repeated job goes on along the recorded route). */
  reader: Pick<LedgerReader, 'readStream'>;
  /** How long a link lives when the offer states no acceptance deadline; default 14 days. */
  linkTtlMs?: number;
  logger: Logger;
  now?: () => number;
}

/** Who a route's send goes to, fixed when the route is recorded (a repeat sends the same request under the same key). */
interface Target {
  /** KF: the account and the candidate's external_userid. */
  open_kfid?: string;
  external_userid?: string;
  /** 企业群发: the member who confirms it. */
  sender?: string;
  /** Task: the recruiter. */
  recruiter?: string;
}

interface Routed {
  attempt: number;
  route: CandidateRoute | 'none';
  seq: number;
  hash: string;
  /** Decided in the quiet hours: the texts say to send after 09:00. */
  quiet: boolean;
  /** Null when the route has nobody to send to (then the next route is taken). */
  target: Target | null;
}

const DAY_MS = 86_400_000;

function obj(v: JsonValue | undefined): { [key: string]: JsonValue } | null {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? v : null;
}

function targetOf(v: JsonValue | undefined): Target | null {
  const o = obj(v);
  if (!o) return null;
  const t: Target = {};
  for (const k of ['open_kfid', 'external_userid', 'sender', 'recruiter'] as const) {
    const x = o[k];
    if (typeof x === 'string' && x !== '') t[k] = x;
  }
  return t;
}

/** The text the candidate receives (KF, 企业群发) and the recruiter is given to forward (task). */
export function candidateText(d: OfferDelivery, url: string): string {
  const deadline = d.content.acceptance_deadline;
  return (
    `您好，您的正式录用通知（offer）已发出。请打开以下页面查看经审批的录用条件，并确认接受或拒绝：\n${url}\n` +
    (deadline ? `接受截止时间：${beijingTime(deadline)}。\n` : '') +
    `录用条件内容指纹（SHA-256）：${d.contentSha256}`
  );
}

export function createOfferDelivery(deps: OfferDeliveryDeps): DeliverOffer {
  const now = deps.now ?? Date.now;
  const ttl = deps.linkTtlMs ?? 14 * DAY_MS;

  async function recordedRoutes(d: OfferDelivery): Promise<Routed[]> {
    const out: Routed[] = [];
    let after = d.sentRecord.seq;
    for (;;) {
      const page = await deps.reader.readStream(d.sentRecord.stream, { afterSeq: after, limit: 500 });
      for (const r of page) {
        const p = obj(r.payload);
        if (
          r.kind === DELIVERY_KINDS.routed &&
          r.source === ACCEPTANCE_SOURCE &&
          obj(p?.['offer_sent'])?.['seq'] === d.sentRecord.seq
        )
          out.push({
            attempt: p?.['attempt'] as number,
            route: p?.['route'] as Routed['route'],
            seq: r.seq,
            hash: r.hash,
            quiet: p?.['quiet_hours'] === true,
            target: targetOf(p?.['target']),
          });
      }
      if (page.length < 500) return out;
      after = page[page.length - 1]?.seq ?? after;
    }
  }

  async function record(entry: Omit<EvidenceEntry, 'stream' | 'source' | 'raw'>, d: OfferDelivery) {
    const { records } = await deps.transact(async () => ({
      result: null,
      entries: [{ ...entry, stream: ACCEPTANCE_STREAMS.candidate(d.candidateId), source: ACCEPTANCE_SOURCE, raw: null }],
      // A repeated job re-making the same record (same sourceRef, same content) is not a new decision.
      allowDuplicates: true,
    }));
    const r = records[0];
    if (!r) throw new Error('the ledger returned no record');
    return r;
  }

  async function route(
    d: OfferDelivery,
    attempt: number,
    chosen: CandidateRoute | 'none',
    why: string,
    facts: CandidateRouteFacts,
    quiet: boolean,
    extra: { [key: string]: JsonValue },
  ): Promise<Routed> {
    const at = new Date(now());
    const target: Target | null =
      chosen === 'kf'
        ? facts.kf && { open_kfid: facts.kf.openKfId, external_userid: facts.kf.externalUserId }
        : chosen === 'group_send'
          ? facts.groupSend && { sender: facts.groupSend.sender, external_userid: facts.groupSend.externalUserId }
          : chosen === 'recruiter_task'
            ? facts.recruiter === null
              ? null
              : { recruiter: facts.recruiter }
            : null;
    const r = await record(
      {
        kind: DELIVERY_KINDS.routed,
        occurredAt: at,
        actor: 'hireledger',
        sourceRef: DELIVERY_SOURCE_REFS.routed(d.sentRecord.seq, attempt),
        payload: {
          offer_id: d.offerId,
          candidate_id: d.candidateId,
          version: d.version,
          content_sha256: d.contentSha256,
          offer_sent: { seq: d.sentRecord.seq, hash: d.sentRecord.hash },
          attempt,
          route: chosen,
          why,
          target: target ? { ...target } : null,
          quiet_hours: quiet,
          facts: {
            last_kf_message_at: facts.lastKfMessageAt ? facts.lastKfMessageAt.toISOString() : null,
            kf_sent_since_last: facts.kfSentSinceLast,
            kf_session_open: facts.kfSessionOpen,
            has_recruiter_contact: facts.hasRecruiterContact,
            recruiter: facts.recruiter,
            group_sender: facts.groupSend?.sender ?? null,
          },
          ...extra,
        },
      },
      d,
    );
    return { attempt, route: chosen, seq: r.seq, hash: r.hash, quiet, target };
  }

  async function handed(d: OfferDelivery, routed: Routed, payload: { [key: string]: JsonValue }): Promise<void> {
    await record(
      {
        kind: DELIVERY_KINDS.handed,
        occurredAt: new Date(now()),
        actor: 'hireledger',
        sourceRef: DELIVERY_SOURCE_REFS.handed(d.sentRecord.seq, routed.attempt),
        payload: {
          offer_id: d.offerId,
          candidate_id: d.candidateId,
          routed: { seq: routed.seq, hash: routed.hash },
          route: routed.route,
          ...payload,
        },
      },
      d,
    );
  }

  return async (d) => {
    const log = deps.logger.child({ offerId: d.offerId, sentSeq: d.sentRecord.seq });
    const deadline = d.content.acceptance_deadline ? new Date(d.content.acceptance_deadline) : null;
    const link = await deps.links.issue({
      corpId: d.corpId,
      offerId: d.offerId,
      version: d.version,
      contentSha256: d.contentSha256,
      candidateId: d.candidateId,
      expiresAt: deadline ?? new Date(now() + ttl),
      key: DELIVERY_KEYS.link(d.sentRecord.seq),
    });
    const text = candidateText(d, link.url);
    const facts = await deps.facts(d.corpId, d.candidateId);
    const at = new Date(now());
    const quiet = inQuietHours(at);

    // The recorded route, when a run before this one decided already; else decide now.
    const done = await recordedRoutes(d);
    let current: Routed;
    const last = done.reduce<Routed | undefined>((a, b) => (a && a.attempt > b.attempt ? a : b), undefined);
    if (last) {
      log.info({ route: last.route, attempt: last.attempt }, 'delivery already routed: going on along the recorded route');
      current = last;
    } else {
      let { route: chosen, why } = chooseRoute(facts, at);
      if (quiet && chosen === 'kf') {
        // A formal offer is not pushed to a candidate in the quiet hours: a person sends it.
        ({ route: chosen, why } = facts.hasRecruiterContact
          ? { route: 'group_send' as const, why: '免打扰时段（21:00–09:00）不向候选人直接推送，改由招聘专员确认群发' }
          : { route: 'recruiter_task' as const, why: '免打扰时段（21:00–09:00）不向候选人直接推送，转为招聘专员待办' });
      }
      current = await route(d, 1, chosen, why, facts, quiet, { link_id: link.linkId });
    }

    for (;;) {
      const next = await send(current);
      if (next === null) return;
      current = await route(d, current.attempt + 1, next.route, next.why, facts, current.quiet, {
        link_id: link.linkId,
        previous: { seq: current.seq, hash: current.hash, route: current.route },
        ...(next.refusal ? { refusal: next.refusal } : {}),
      });
    }

    /** Sends along one route; the next route when WeCom says this one is closed, else null. */
    async function send(
      r: Routed,
    ): Promise<{ route: CandidateRoute | 'none'; why: string; refusal?: { [key: string]: JsonValue } } | null> {
      const t = r.target;
      const fallback = (why: string, refusal: { [key: string]: JsonValue }, from: CandidateRoute) => {
        if (from === 'kf' && facts.groupSend) return { route: 'group_send' as const, why, refusal };
        return { route: 'recruiter_task' as const, why, refusal };
      };
      switch (r.route) {
        case 'kf': {
          if (!t?.open_kfid || !t.external_userid) return fallback('没有候选人的微信客服会话', {}, 'kf');
          try {
            const res = await deps.wecom.kf.sendMsg(
              { touser: t.external_userid, open_kfid: t.open_kfid, msgtype: 'text', text: { content: text } },
              { idempotencyKey: DELIVERY_KEYS.kf(d.sentRecord.seq) },
            );
            await handed(d, r, { kf_msgid: res.msgid, link_id: link.linkId, open_kfid: t.open_kfid });
            return null;
          } catch (err) {
            if (err instanceof WecomApiError && KF_ROUTE_CLOSED.has(err.errcode)) {
              log.info({ errcode: err.errcode }, 'KF refused the offer link: next route');
              return fallback(`微信客服拒绝发送（${err.errcode}）`, { api: 'kf/send_msg', errcode: err.errcode }, 'kf');
            }
            throw err;
          }
        }
        case 'group_send': {
          const g = t?.sender && t.external_userid ? { sender: t.sender, externalUserId: t.external_userid } : null;
          if (!g) return fallback('候选人不是任何成员的客户联系人', {}, 'group_send');
          let failed: { [key: string]: JsonValue } | null = null;
          let msgid = '';
          try {
            const res = await deps.wecom.msgTemplate.add(
              { chat_type: 'single', external_userid: [g.externalUserId], sender: g.sender, text: { content: text } },
              { idempotencyKey: DELIVERY_KEYS.group(d.sentRecord.seq) },
            );
            if (res.fail_list.includes(g.externalUserId)) failed = { api: 'externalcontact/add_msg_template', fail_list: true };
            msgid = res.msgid;
          } catch (err) {
            if (!(err instanceof WecomApiError && err.errcode === MSG_TEMPLATE_NO_CUSTOMER)) throw err;
            failed = { api: 'externalcontact/add_msg_template', errcode: err.errcode };
          }
          if (failed) {
            log.info(failed, '企业群发 could not be queued for the candidate: recruiter task');
            return fallback('企业群发未能发给候选人（不是该成员的客户或已达接收上限）', failed, 'group_send');
          }
          const later = r.quiet ? '现为免打扰时段（21:00–09:00），请在 09:00 后确认发送。' : '请尽快确认发送。';
          const notice = await deps.wecom.message.send(
            {
              touser: g.sender,
              msgtype: 'text',
              text: {
                content:
                  `【请确认群发 offer】候选人 ${d.candidateId} 的正式录用通知（offer ${d.offerId.slice(0, 11)}，第 ${d.version} 版）` +
                  `已生成企业群发，请在企业微信「客户联系 → 群发助手」中确认发送给候选人。${later}`,
              },
            },
            { idempotencyKey: DELIVERY_KEYS.groupNotice(d.sentRecord.seq) },
          );
          await handed(d, r, { group_msgid: msgid, sender: g.sender, notice_msgid: notice.msgid, link_id: link.linkId });
          return null;
        }
        case 'recruiter_task': {
          const recruiter = t?.recruiter;
          if (!recruiter) return { route: 'none', why: '候选人没有招聘负责人，无人可转交', refusal: {} };
          const why = r.attempt === 1 ? '目前没有可直接联系候选人的渠道' : '可用渠道发送失败';
          const res = await deps.wecom.message.send(
            {
              touser: recruiter,
              msgtype: 'text',
              text: {
                content:
                  `【请发送 offer】候选人 ${d.candidateId} 的正式录用通知（offer ${d.offerId.slice(0, 11)}，第 ${d.version} 版）` +
                  `已审批并发出，${why}。请将以下内容发给候选人${r.quiet ? '（免打扰时段 21:00–09:00，请在 09:00 后发送）' : ''}：\n\n${text}`,
              },
            },
            { idempotencyKey: DELIVERY_KEYS.task(d.sentRecord.seq) },
          );
          await handed(d, r, { task_msgid: res.msgid, recruiter, link_id: link.linkId });
          return null;
        }
        case 'none':
          throw new PermanentJobError(
            `offer ${d.offerId} (offer.sent ${d.sentRecord.seq}) has no route to the candidate and no recruiter`,
          );
      }
    }
  };
}
