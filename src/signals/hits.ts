import type { EvidenceEntry, JsonValue, StoredRecord } from '../evidence';
import type { LedgerConsumer } from '../platform/module';
import { HIRELEDGER_ACTOR } from '../platform/names';
import { memberUserId } from '../wecom/names';
import { beyondHit, beyondTerms, type BeyondFinding } from './beyond';
import type { OfferStatus, SignalHit, SignalRole } from './classifier';
import { SIGNAL_KINDS, SIGNAL_SOURCE_REFS, SIGNALS_SOURCE, type SignalType } from './names';
import type { RuleSource } from './store';

/**
 * The classifier consumer: judges every `conversation.message` on a candidate's stream once, and
 * appends one `signal.hit` per hit on the same stream (DECISIONS 9), all in one decision with the
 * done mark of the message (ctx.transact): a re-run finds the message done and appends nothing.
 *
 * Only what a person wrote is judged: role candidate or recruiter, a text. System events, the app's
 * own sends and media without text are done at once with no hit.
 */

/** The candidate's offer, as the offers module will tell it; until then every answer is "none approved". */
export type OfferStatusOf = (corpId: string, candidateId: string) => Promise<OfferStatus>;

export const NO_OFFER_YET: OfferStatusOf = () => Promise.resolve({ approved: false });

/** The `conversation.message` kind and the candidate stream prefix (src/conversations, src/candidates names). */
export interface MessageSelector {
  kind: string;
  streamPrefix: string;
}

export interface HitPayload {
  message: { seq: number; hash: string };
  type: SignalType;
  rule: string;
  rule_version: number;
  match: { start: number; end: number; text: string };
  role: SignalRole;
  /** The member who wrote (over_promise) or served the conversation, lower-cased, when the message names one. */
  recruiter: string | null;
  /** What the message was judged against: false until the offers module answers otherwise. */
  offer_approved: boolean;
  /** When the message was written (its record's occurred_at). */
  message_occurred_at: string;
  /** A hit beyond the approved terms (rule ovp.beyond_terms): the approved version it was compared with. */
  offer?: { offer_id: string; version: number; content_sha256: string };
  /** …and every statement beyond it: the term, what was stated, what was approved, why (Chinese), the span. */
  beyond?: BeyondFinding[];
}

function objectOf(v: JsonValue): { [key: string]: JsonValue } | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? v : undefined;
}

/** The role, text and recruiter of a conversation message, or undefined when nothing in it is a person's text. */
export function messageText(record: StoredRecord): { role: SignalRole; text: string; recruiter: string | null } | undefined {
  const p = objectOf(record.payload);
  if (!p) return undefined;
  const role = p['role'];
  const text = p['text'];
  if ((role !== 'candidate' && role !== 'recruiter') || typeof text !== 'string' || text.trim() === '') return undefined;
  const recruiter = typeof p['recruiter'] === 'string' && p['recruiter'] !== '' ? memberUserId(p['recruiter']) : null;
  return { role, text, recruiter };
}

export function hitEntry(
  record: StoredRecord,
  hit: SignalHit,
  msg: { role: SignalRole; recruiter: string | null },
  offer: OfferStatus,
  at: Date,
  beyond?: readonly BeyondFinding[],
): EvidenceEntry {
  const payload: HitPayload = {
    message: { seq: record.seq, hash: record.hash },
    type: hit.type,
    rule: hit.rule,
    rule_version: hit.ruleVersion,
    match: { start: hit.match.start, end: hit.match.end, text: hit.match.text },
    role: msg.role,
    recruiter: msg.recruiter,
    offer_approved: offer.approved,
    message_occurred_at: record.occurredAt.toISOString(),
  };
  if (beyond && beyond.length > 0 && offer.approved && offer.offer) {
    payload.offer = { offer_id: offer.offer.offerId, version: offer.offer.version, content_sha256: offer.offer.contentSha256 };
    payload.beyond = beyond.map((b) => ({ ...b, match: { ...b.match } }));
  }
  return {
    stream: record.stream,
    kind: SIGNAL_KINDS.hit,
    occurredAt: at,
    actor: HIRELEDGER_ACTOR,
    source: SIGNALS_SOURCE,
    sourceRef: SIGNAL_SOURCE_REFS.hit(record.seq, hit.rule, hit.ruleVersion),
    payload: payload as unknown as JsonValue,
    raw: null,
  };
}

export function classifierConsumer(deps: {
  rules: RuleSource;
  offerStatus: OfferStatusOf;
  messages: MessageSelector;
  now: () => number;
}): LedgerConsumer {
  return {
    accepts: (h) => h.kind === deps.messages.kind && h.stream.startsWith(deps.messages.streamPrefix),
    async handle(record, ctx) {
      const msg = messageText(record);
      if (!msg) return;
      const candidateId = record.stream.slice(deps.messages.streamPrefix.length);
      const offer = await deps.offerStatus(ctx.corpId, candidateId);
      const classifier = await deps.rules.classifier(ctx.corpId, ctx.log);
      const hits = classifier.classify(msg.role, msg.text, offer);
      // With an approved offer, a recruiter's words are compared with its terms (beyond.ts): at
      // most one over_promise hit, the lexicon's over_promise rules having ended with the approval.
      const beyond =
        offer.approved && offer.offer && msg.role === 'recruiter' ? beyondTerms(msg.text, offer.offer, record.occurredAt) : [];
      const beyondAsHit = beyondHit(beyond);
      if (beyondAsHit && !hits.some((h) => h.type === beyondAsHit.type)) hits.push(beyondAsHit);
      if (hits.length === 0) return;
      const at = new Date(deps.now());
      await ctx.transact(() =>
        Promise.resolve({
          result: null,
          entries: hits.map((h) => hitEntry(record, h, msg, offer, at, h === beyondAsHit ? beyond : undefined)),
          // A hit key already stored means this very judgement was recorded (same message, rule
          // and version): nothing to add, never a conflicting decision.
          allowDuplicates: true,
        }),
      );
      ctx.log.info({ hits: hits.map((h) => `${h.type}:${h.rule}@${h.ruleVersion}`) }, 'signals found in a message');
    },
  };
}
