import { randomBytes } from 'node:crypto';
import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Pool, PoolClient } from 'pg';
import type { Counter } from 'prom-client';
import { CandidateInputError, getPosition, identifierDigest, normalisePhone } from '../candidates';
import type { Decision, JsonValue } from '../evidence';
import {
  beijingTime,
  CANDIDATE_REASONS,
  OfferInputError,
  OfferNotFoundError,
  OfferStateError,
  type CandidateReason,
  type OfferContent,
  type Offers,
} from '../offers';
import { LinkRefusal, OfferLinkConfigError, type LinkRefusalCode } from './errors';
import { MAX_TOKEN_CHARS, type LinkClaims, type LinkRow, type OfferLinksImpl } from './links';
import { ACCEPTANCE_KINDS, ACCEPTANCE_SOURCE, ACCEPTANCE_SOURCE_REFS, ACCEPTANCE_STREAMS } from './names';
import type { FailureLimiter } from './rate-limit';
import { BINDING_CLAUSE, SHOWN_TEXT_FORMAT, shownText, textSha256 } from './shown-text';

/**
 * The candidate's API behind the H5 acceptance page (docs/acceptance.md): no WeCom login, the link's
 * token is the only credential. Every answer is JSON; a refusal is a 4xx with a stable `error` code
 * and a Chinese `message`, a log line and `hireledger_offer_link_refusals_total{route,reason}`, and
 * changes nothing. The order of checks: the IP's failure budget (Redis), the body, the token's MAC
 * and expiry (no database), then the link row, the offer, and the decision in one transaction.
 */

type Transact = <T>(work: (tx: PoolClient) => Promise<Decision<T>>) => Promise<{ result: T }>;

export interface AcceptanceRoutesDeps {
  corpId: string;
  db: Pick<Pool, 'query'>;
  transact: Transact;
  links: OfferLinksImpl;
  offers: Pick<Offers, 'getOffer' | 'recordAcceptance' | 'recordDecline'>;
  limiter: FailureLimiter;
  /** CANDIDATE_IDENTIFIER_HMAC_KEY: the typed phone is kept (and compared) as this HMAC; without it only its masked form. */
  identifierHmacKey: string | undefined;
  companyName: string | null;
  refusals: Counter<'route' | 'reason'>;
  now: () => Date;
}

/** Small bodies only: a token, a name, a phone, a hash, a reason of at most 2,000 characters. */
export const BODY_LIMIT_BYTES = 8 * 1024;

const REASON_LABELS: Record<CandidateReason, string> = {
  salary: '薪资待遇',
  other_offer: '已接受其他 offer',
  counter_offer: '现单位挽留',
  location: '工作地点',
  role: '岗位或职责',
  personal: '个人原因',
  other: '其他',
};

/** Refusals that spend the IP's failure budget: what a guesser or a prober produces. */
const COUNTED: ReadonlySet<LinkRefusalCode> = new Set<LinkRefusalCode>([
  'link_invalid',
  'link_expired',
  'link_not_found',
  'link_used',
  'link_superseded',
  'identity_mismatch',
]);

const HASH = /^[0-9a-f]{64}$/;

type Body = { [key: string]: unknown };

function bodyOf(req: FastifyRequest): Body {
  const b = req.body;
  if (typeof b !== 'object' || b === null || Array.isArray(b)) throw new LinkRefusal('bad_request', '请求体应为 JSON 对象');
  return b as Body;
}

function tokenOf(b: Body): string {
  const t = b['token'];
  if (typeof t !== 'string' || t === '') throw new LinkRefusal('bad_request', '缺少链接凭证（token），请使用完整链接打开');
  if (t.length > MAX_TOKEN_CHARS) throw new LinkRefusal('link_invalid');
  return t;
}

function nameOf(v: unknown): string {
  if (typeof v !== 'string') throw new LinkRefusal('invalid_name');
  const n = v.trim().replace(/\s+/g, ' ');
  if (n.length < 1 || n.length > 50 || !n.isWellFormed() || /[\p{Cc}\p{Cf}]/u.test(n)) throw new LinkRefusal('invalid_name');
  return n;
}

function phoneOf(v: unknown): string {
  if (typeof v !== 'string' || v.length > 40) throw new LinkRefusal('invalid_phone');
  try {
    return normalisePhone(v);
  } catch (err) {
    if (err instanceof CandidateInputError) throw new LinkRefusal('invalid_phone');
    throw err;
  }
}

/** `138****5678`, `+852****5678`: enough for a person to recognise, not to reach. */
export function maskPhone(phone: string): string {
  return `${phone.slice(0, 3)}${'*'.repeat(Math.max(phone.length - 7, 1))}${phone.slice(-4)}`;
}

function userAgentOf(req: FastifyRequest): string | null {
  const ua = req.headers['user-agent'];
  if (typeof ua !== 'string' || ua === '') return null;
  // Kept as sent, bounded (a header is at most a few KiB anyway).
  return ua.slice(0, 1024);
}

interface Opened {
  claims: LinkClaims;
  link: LinkRow;
  content: OfferContent;
  positionId: string;
  text: string;
  textSha256: string;
  positionTitle: string | null;
  positionDepartment: string | null;
}

export function acceptanceRoutes(deps: AcceptanceRoutesDeps): FastifyPluginAsync {
  /** A valid token's link and the offer it shows, or the refusal that says why not. Writes nothing. */
  async function open(token: string, at: Date): Promise<Opened> {
    const claims = deps.links.verify(token, at);
    // Another deployment's (or corp's) token, even correctly signed, is not ours to answer.
    if (claims.corpId !== deps.corpId) throw new LinkRefusal('link_invalid');
    const link = await deps.links.find(claims, token);
    if (link.used_at !== null) {
      throw new LinkRefusal(
        'link_used',
        `您已于 ${beijingTime(link.used_at.toISOString())}${link.used_outcome === 'accepted' ? '接受' : '拒绝'}该 offer`,
      );
    }
    const offer = await deps.offers.getOffer({ corpId: deps.corpId, offerId: link.offer_id });
    if (!offer) throw new LinkRefusal('link_not_found');
    const v = offer.versions.find((x) => x.version === link.version);
    if (offer.currentVersion !== link.version || !v || v.contentSha256 !== link.content_sha256) {
      throw new LinkRefusal('link_superseded');
    }
    if (offer.state !== 'sent') throw new LinkRefusal('offer_not_open', stateText(offer.state));
    const position = await getPosition(deps.db, deps.corpId, offer.positionId);
    const text = shownText({
      content: v.content,
      version: v.version,
      contentSha256: v.contentSha256,
      positionTitle: position?.title ?? null,
      companyName: deps.companyName,
    });
    return {
      claims,
      link,
      content: v.content,
      positionId: offer.positionId,
      text,
      textSha256: textSha256(text),
      positionTitle: position?.title ?? null,
      positionDepartment: position?.department ?? null,
    };
  }

  function stateText(state: string): string {
    const names: { [s: string]: string } = {
      accepted: '已接受',
      declined: '已拒绝',
      expired: '已过期',
      rescinded: '公司已撤回',
      reneged: '已毁约',
      onboarded: '已入职',
      cancelled: '已作废',
      draft: '正在修改',
      pending_approval: '正在审批',
      approved: '尚未发出',
    };
    return `该 offer 当前状态为「${names[state] ?? state}」`;
  }

  function refuseAfterDeadline(content: OfferContent, at: Date): void {
    const d = content.acceptance_deadline;
    if (d !== null && at.getTime() >= Date.parse(d))
      throw new LinkRefusal('offer_deadline_passed', `截止时间为 ${beijingTime(d)}`);
  }

  /** Consumes the link inside the answer's transaction (the offer row is already locked by it). */
  function consume(link: LinkRow, outcome: 'accepted' | 'declined') {
    return async (tx: PoolClient, at: Date): Promise<void> => {
      const { rows } = await tx.query<{ current_version: number }>('SELECT current_version FROM offers WHERE id = $1', [
        link.offer_id,
      ]);
      if (rows[0]?.current_version !== link.version) throw new LinkRefusal('link_superseded');
      const { rowCount } = await tx.query(
        'UPDATE offer_links SET used_at = $1, used_outcome = $2 WHERE id = $3 AND used_at IS NULL AND expires_at > $1',
        [at, outcome, link.id],
      );
      if (rowCount !== 1) throw new LinkRefusal('link_used');
    };
  }

  /** The phone HMACs the recruiter entered for this person (the candidate, the row it was merged into, and rows merged with it). */
  async function recordedPhones(candidateId: string): Promise<string[]> {
    const { rows } = await deps.db.query<{ digest: string }>(
      `WITH person AS (SELECT coalesce(merged_into, id) AS id FROM candidates WHERE corp_id = $1 AND id = $2)
       SELECT i.digest FROM candidate_identifiers i
         JOIN candidates c ON c.corp_id = i.corp_id AND c.id = i.candidate_id
         JOIN person p ON c.id = p.id OR c.merged_into = p.id
        WHERE i.corp_id = $1 AND i.kind = 'phone'`,
      [deps.corpId, candidateId],
    );
    return rows.map((r) => r.digest);
  }

  function linkPayload(o: Opened, req: FastifyRequest, at: Date): { [key: string]: JsonValue } {
    return {
      link_id: o.link.id,
      offer_id: o.link.offer_id,
      candidate_id: o.link.candidate_id,
      version: o.link.version,
      content_sha256: o.link.content_sha256,
      at: at.toISOString(),
      ip: req.ip,
      user_agent: userAgentOf(req),
    };
  }

  async function view(req: FastifyRequest) {
    const at = deps.now();
    const o = await open(tokenOf(bodyOf(req)), at);
    // The first view is evidence (the candidate had the terms in front of them at this time, from this address).
    await deps.transact(async (tx) => {
      const { rowCount } = await tx.query(
        'UPDATE offer_links SET first_viewed_at = $1 WHERE id = $2 AND first_viewed_at IS NULL',
        [at, o.link.id],
      );
      if (rowCount === 0) return { result: null, entries: [] };
      return {
        result: null,
        entries: [
          {
            stream: ACCEPTANCE_STREAMS.candidate(o.link.candidate_id),
            kind: ACCEPTANCE_KINDS.linkViewed,
            occurredAt: at,
            actor: o.link.candidate_id,
            source: ACCEPTANCE_SOURCE,
            sourceRef: ACCEPTANCE_SOURCE_REFS.viewed(o.link.id),
            payload: { ...linkPayload(o, req, at), shown_text_sha256: o.textSha256, shown_text_format: SHOWN_TEXT_FORMAT },
            raw: null,
          },
        ],
      };
    });
    const deadline = o.content.acceptance_deadline;
    return {
      link_id: o.link.id,
      offer_id: o.link.offer_id,
      version: o.link.version,
      content: o.content,
      content_sha256: o.link.content_sha256,
      company: deps.companyName,
      position: { id: o.positionId, title: o.positionTitle, department: o.positionDepartment },
      deadline,
      deadline_shown: deadline === null ? null : beijingTime(deadline),
      link_expires_at: o.link.expires_at.toISOString(),
      link_expires_at_shown: beijingTime(o.link.expires_at.toISOString()),
      binding: true,
      binding_clause: BINDING_CLAUSE,
      shown_text: o.text,
      shown_text_sha256: o.textSha256,
      shown_text_format: SHOWN_TEXT_FORMAT,
      decline_reasons: CANDIDATE_REASONS.map((code) => ({ code, label: REASON_LABELS[code] })),
    };
  }

  /**
   * The candidate's own confirmation of who they are (name and phone), compared with a phone the
   * recruiter recorded. Asked for every answer: a forwarded or leaked link alone neither accepts nor
   * declines an offer. A mismatch is kept as evidence (someone holding the link typed another
   * number), then refused; the link stays usable.
   */
  async function confirmIdentity(
    req: FastifyRequest,
    b: { [key: string]: unknown },
    o: Awaited<ReturnType<typeof open>>,
    at: Date,
    attempted: 'accept' | 'decline',
  ): Promise<{ [key: string]: JsonValue }> {
    const name = nameOf(b['name']);
    const phone = phoneOf(b['phone']);
    const key = deps.identifierHmacKey;
    const phoneHmac = key === undefined ? null : identifierDigest(key, 'phone', phone);
    const recorded = key === undefined ? [] : await recordedPhones(o.link.candidate_id);
    const phoneCheck =
      key === undefined
        ? 'not_checked'
        : recorded.length === 0
          ? 'none_recorded'
          : recorded.includes(phoneHmac as string)
            ? 'matched'
            : 'mismatch';
    const identity: { [key: string]: JsonValue } = {
      name,
      phone_hmac: phoneHmac,
      phone_masked: maskPhone(phone),
      phone_check: phoneCheck,
    };
    if (phoneCheck === 'mismatch') {
      await deps.transact(async () => ({
        result: null,
        entries: [
          {
            stream: ACCEPTANCE_STREAMS.candidate(o.link.candidate_id),
            kind: ACCEPTANCE_KINDS.linkRefused,
            occurredAt: at,
            actor: o.link.candidate_id,
            source: ACCEPTANCE_SOURCE,
            sourceRef: ACCEPTANCE_SOURCE_REFS.refused(o.link.id, randomBytes(8).toString('hex')),
            payload: { ...linkPayload(o, req, at), reason: 'identity_mismatch', attempted, ...identity },
            raw: null,
          },
        ],
      }));
      throw new LinkRefusal('identity_mismatch');
    }
    return identity;
  }

  async function accept(req: FastifyRequest) {
    const b = bodyOf(req);
    const token = tokenOf(b);
    // Read (and refused when malformed) before the link is opened: bad input costs no query.
    nameOf(b['name']);
    phoneOf(b['phone']);
    const shown = b['shownTextSha256'];
    if (typeof shown !== 'string' || !HASH.test(shown))
      throw new LinkRefusal('bad_request', '缺少页面文本的哈希（shownTextSha256）');
    const at = deps.now();
    const o = await open(token, at);
    refuseAfterDeadline(o.content, at);
    if (shown !== o.textSha256) throw new LinkRefusal('shown_text_changed');
    const identity = await confirmIdentity(req, b, o, at, 'accept');
    const offer = await deps.offers.recordAcceptance({
      corpId: deps.corpId,
      offerId: o.link.offer_id,
      version: o.link.version,
      contentSha256: o.link.content_sha256,
      ip: req.ip,
      ...(userAgentOf(req) !== null ? { userAgent: userAgentOf(req) as string } : {}),
      shownTextSha256: o.textSha256,
      confirmation: {
        link_id: o.link.id,
        ...identity,
        shown_text: o.text,
        shown_text_format: SHOWN_TEXT_FORMAT,
      },
      within: consume(o.link, 'accepted'),
    });
    return {
      outcome: 'accepted',
      state: offer.state,
      answered_at: offer.updatedAt.toISOString(),
      answered_at_shown: beijingTime(offer.updatedAt.toISOString()),
    };
  }

  async function decline(req: FastifyRequest) {
    const b = bodyOf(req);
    const token = tokenOf(b);
    nameOf(b['name']);
    phoneOf(b['phone']);
    const code = b['reasonCode'];
    if (typeof code !== 'string' || !(CANDIDATE_REASONS as readonly string[]).includes(code))
      throw new LinkRefusal('invalid_reason');
    const reason = b['reason'];
    if (reason !== undefined && reason !== null && (typeof reason !== 'string' || reason.length > 2000)) {
      throw new LinkRefusal('invalid_reason');
    }
    const at = deps.now();
    const o = await open(token, at);
    const identity = await confirmIdentity(req, b, o, at, 'decline');
    const offer = await deps.offers.recordDecline({
      corpId: deps.corpId,
      offerId: o.link.offer_id,
      reasonCode: code as CandidateReason,
      ...(typeof reason === 'string' ? { reason } : {}),
      confirmation: {
        link_id: o.link.id,
        ...identity,
        ip: req.ip,
        user_agent: userAgentOf(req),
        shown_text_sha256: o.textSha256,
      },
      within: consume(o.link, 'declined'),
    });
    return {
      outcome: 'declined',
      state: offer.state,
      answered_at: offer.updatedAt.toISOString(),
      answered_at_shown: beijingTime(offer.updatedAt.toISOString()),
    };
  }

  /** A refusal for what the offers module or the configuration refused; null for anything else (a 500). */
  function refusalOf(err: unknown): LinkRefusal | null {
    if (err instanceof LinkRefusal) return err;
    if (err instanceof OfferLinkConfigError) return new LinkRefusal('not_configured');
    if (err instanceof OfferStateError) return new LinkRefusal('offer_not_open', err.message);
    if (err instanceof OfferNotFoundError) return new LinkRefusal('link_not_found');
    if (err instanceof OfferInputError) return new LinkRefusal('bad_request', err.message);
    return null;
  }

  async function refuse(req: FastifyRequest, reply: FastifyReply, route: string, refusal: LinkRefusal, retryAfterMs?: number) {
    deps.refusals.inc({ route, reason: refusal.code });
    req.log.warn({ route, reason: refusal.code, status: refusal.status, ip: req.ip }, 'offer link request refused');
    if (retryAfterMs !== undefined) void reply.header('Retry-After', String(Math.ceil(retryAfterMs / 1000)));
    return reply.code(refusal.status).send({ error: refusal.code, message: refusal.message });
  }

  function handler(route: string, work: (req: FastifyRequest) => Promise<object>) {
    return async (req: FastifyRequest, reply: FastifyReply) => {
      void reply.header('Cache-Control', 'no-store').header('Referrer-Policy', 'no-referrer');
      // JSON only: Fastify would hand a text/plain body over as a string (a 400 further on); the page never sends one.
      if (!/^application\/json\s*(;|$)/i.test(req.headers['content-type'] ?? '')) {
        return refuse(req, reply, route, new LinkRefusal('unsupported_media_type'));
      }
      // A failure slot is taken before the work and given back unless the request fails as counted
      // (COUNTED): parallel bad requests cannot pass a budget they have not yet spent.
      let admitted = false;
      try {
        const blocked = await deps.limiter.admit(req.ip);
        if (blocked !== null) return await refuse(req, reply, route, new LinkRefusal('rate_limited'), blocked);
        admitted = true;
      } catch (err) {
        // Fail open: the MAC is the real defence; a Redis outage must not lock candidates out.
        req.log.error({ err, route }, 'offer link rate limit not checked: Redis unavailable');
      }
      const giveBack = async () => {
        if (!admitted) return;
        await deps.limiter.release(req.ip).catch((err: unknown) => {
          req.log.error({ err, route }, 'offer link failure slot not given back: Redis unavailable');
        });
      };
      try {
        const answer = await work(req);
        await giveBack();
        return reply.code(200).send(answer);
      } catch (err) {
        const refusal = refusalOf(err);
        if (!refusal || !COUNTED.has(refusal.code)) await giveBack();
        if (!refusal) throw err;
        return refuse(req, reply, route, refusal);
      }
    };
  }

  return async (scope) => {
    // Errors before a handler runs (body too large, not JSON, wrong content type) answer in the same shape.
    scope.setErrorHandler(async (err: FastifyError, req, reply) => {
      const route = req.routeOptions.url ?? 'unknown';
      const code: LinkRefusalCode | null =
        err.statusCode === 413
          ? 'body_too_large'
          : err.statusCode === 415
            ? 'unsupported_media_type'
            : err.statusCode === 400 && typeof err.code === 'string' && err.code.startsWith('FST_ERR_CTP')
              ? 'malformed_json'
              : null;
      if (code) return refuse(req, reply, route, new LinkRefusal(code));
      req.log.error({ err, route }, 'offer link request failed');
      return reply.code(500).send({ error: 'internal', message: '服务器内部错误，请稍后重试' });
    });
    const opts = { bodyLimit: BODY_LIMIT_BYTES };
    scope.post('/h5/api/offer-link/view', opts, handler('view', view));
    scope.post('/h5/api/offer-link/accept', opts, handler('accept', accept));
    scope.post('/h5/api/offer-link/decline', opts, handler('decline', decline));
    await Promise.resolve();
  };
}
