/**
 * The offers module: offers and their versions, the state machine, the send gate, and the steps
 * before an offer (interview invitation, intent notice). Every step is a record on the candidate's
 * stream committed with the row it changes. Other domains reach it only through this file
 * (ARCHITECTURE.md, "Dependency rules"); docs/offers.md explains the states, the gate and the money unit.
 */

import type { Pool } from 'pg';
import type { JsonValue } from '../evidence';
import type { HireLedgerModule, LedgerConsumer } from '../platform/module';
import { contentSha256, type OfferContent } from './content';
import { OFFER_CONSUMERS, OFFER_KINDS, OFFERS_MODULE, OFFERS_SOURCE } from './names';
import { createNotices, type Notices } from './notices';
import { createOffers, type Offers, type OffersDeps } from './offers';

/** What the delivery seam is handed: one `offer.sent` record whose offer is still sent and whose content still hashes right. */
export interface OfferDelivery {
  corpId: string;
  offerId: string;
  candidateId: string;
  version: number;
  content: OfferContent;
  contentSha256: string;
  /** The `offer.sent` record: a delivery is idempotent by its seq (a repeated job hands the same one again). */
  sentRecord: { seq: number; hash: string; stream: string };
}

/**
 * Delivery of a sent formal offer to the candidate: the link to the H5 acceptance page by the open
 * route (DECISIONS 12), recording the route. Arrives with the delivery issue; it must be idempotent
 * by `sentRecord.seq` and record its own outcome.
 */
export type DeliverOffer = (delivery: OfferDelivery) => Promise<void>;

export interface OffersModuleDeps extends Omit<OffersDeps, 'transact'> {
  db: Pick<Pool, 'query'>;
  /** The ledger's decision path for the domain functions (`ledger.transact`). */
  transact: OffersDeps['transact'];
  /** When given, the `offers.delivery` consumer hands every `offer.sent` to it. */
  deliver?: DeliverOffer;
}

export interface OffersModule extends HireLedgerModule {
  /** The domain functions (routes and the approvals module call these). */
  offers: Offers;
  notices: Notices;
}

function deliveryConsumer(db: Pick<Pool, 'query'>, deliver: DeliverOffer): LedgerConsumer {
  return {
    accepts: (h) => h.kind === OFFER_KINDS.sent && h.source === OFFERS_SOURCE,
    async handle(record, ctx) {
      const p = record.payload as { [key: string]: JsonValue };
      const offerId = p['offer_id'] as string;
      const version = p['version'] as number;
      const content = p['content'] as OfferContent;
      const hash = p['content_sha256'] as string;
      const { rows } = await db.query<{ state: string; current_version: number; candidate_id: string; approved: string | null }>(
        `SELECT o.state, o.current_version, o.candidate_id, v.approved_content_sha256 AS approved
           FROM offers o JOIN offer_versions v ON v.offer_id = o.id AND v.version = $3
          WHERE o.corp_id = $1 AND o.id = $2`,
        [ctx.corpId, offerId, version],
      );
      const o = rows[0];
      // Rescinded, expired or answered before delivery ran: nothing to deliver any more.
      if (!o || o.state !== 'sent' || o.current_version !== version) {
        ctx.log.info({ offerId, seq: record.seq, state: o?.state }, 'offer no longer sent: not delivered');
        return;
      }
      // The gate once more, on what is about to leave: the record's content is what was approved.
      if (contentSha256(content) !== hash || o.approved !== hash) {
        ctx.log.error({ offerId, seq: record.seq }, 'sent offer content does not hash to the approved content: not delivered');
        return;
      }
      await deliver({
        corpId: ctx.corpId,
        offerId,
        candidateId: o.candidate_id,
        version,
        content,
        contentSha256: hash,
        sentRecord: { seq: record.seq, hash: record.hash, stream: record.stream },
      });
    },
  };
}

/**
 * The module (ARCHITECTURE.md, "Modules"). No callback handlers: the approvals module turns
 * sys_approval_change into `offers.recordApprovalOutcome`. With `deliver`, one consumer
 * (`offers.delivery`) follows `offer.sent` records.
 */
export function createOffersModule(deps: OffersModuleDeps): OffersModule {
  const offers = createOffers(deps);
  const notices = createNotices(deps);
  return {
    name: OFFERS_MODULE,
    ...(deps.deliver ? { consumers: { [OFFER_CONSUMERS.delivery]: deliveryConsumer(deps.db, deps.deliver) } } : {}),
    offers,
    notices,
  };
}

/** Rescinds need an HRBP: the members named (lower-cased) until the approvals module's rules know HRBPs. */
export function hrbpsFromList(userids: readonly string[]): OffersDeps['isHrbp'] {
  const set = new Set(userids.map((u) => u.toLowerCase()));
  return (_corpId, userid) => Promise.resolve(set.has(userid.toLowerCase()));
}

export {
  beijingTime,
  CONTENT_SCHEMA,
  contentSha256,
  diffContent,
  diffText,
  offerContent,
  termsOf,
  yuan,
  type OfferChange,
  type OfferContent,
  type OfferTerms,
} from './content';
export {
  offerErrorResponse,
  OfferGateError,
  OfferInputError,
  OfferNotFoundError,
  OfferStateError,
  stateName,
  type GateRefusal,
} from './errors';
export { isLegal, OFFER_ACTIONS, OFFER_STATES, TERMINAL_STATES, TRANSITIONS, type OfferAction, type OfferState } from './machine';
export {
  NOTICE_ID,
  OFFER_CONSUMERS,
  OFFER_ID,
  OFFER_KINDS,
  OFFER_SOURCE_REFS,
  OFFER_STREAMS,
  OFFERS_MODULE,
  OFFERS_SOURCE,
} from './names';
export { intentNoticeText, type Notices } from './notices';
export { OFFER_RENDERERS, type OfferRenderer, type OfferTimelineRole } from './render';
export {
  approvalStatusOfSpStatus,
  CANDIDATE_REASONS,
  createOffers,
  INTENT_NOTICE_CLAUSE,
  OfferRescindWarningError,
  rescindWarnings,
  type ApprovalStatus,
  type CandidateReason,
  type Offers,
  type OffersDeps,
  type OfferRef,
  type OfferStatusView,
  type OfferVersionRef,
  type OfferView,
  type RescindWarning,
} from './offers';
