/**
 * The offer state machine: one table, the only place that says which action moves an offer from
 * which state to which. docs/offers.md shows it as a table and a diagram.
 *
 * Decisions taken here (from issue 10 and DECISIONS 14):
 * - A rejected or revoked approval sends the offer back to `draft`, not to a terminal state: the
 *   company may change the terms (a new version) and ask again, or cancel. The rejection stays on
 *   the version it concerned (offer_versions.approval_status) and in the ledger.
 * - An approval revoked after approval (WeCom SpStatus 6) sends an approved, unsent offer back to
 *   `draft`. Once the offer is sent, the company's way out is `rescind` (a reason, an HRBP's
 *   approval, the deadline warning), never a silent change of state: such an outcome is recorded as a
 *   fact (`offer.approval_outcome`) and moves nothing.
 * - A change of terms is `revise`: a new version, back to `draft`, needing a new approval. It is
 *   allowed while nothing is pending or sent (draft, approved); a pending approval is revoked first.
 * - `cancel` drops an offer that was never sent (draft or approved): nothing binding existed.
 * - The company `rescind`s a sent or accepted offer; the candidate `decline`s a sent one, or
 *   `renege`s an accepted one before the start date. `expire` is HireLedger's, at the deadline.
 */

export const OFFER_STATES = [
  'draft',
  'pending_approval',
  'approved',
  'sent',
  'accepted',
  'declined',
  'expired',
  'rescinded',
  'reneged',
  'onboarded',
  'cancelled',
] as const;
export type OfferState = (typeof OFFER_STATES)[number];

export const TERMINAL_STATES: ReadonlySet<OfferState> = new Set<OfferState>([
  'declined',
  'expired',
  'rescinded',
  'reneged',
  'onboarded',
  'cancelled',
]);

export type OfferAction =
  | 'revise'
  | 'submit'
  | 'approve'
  | 'reject'
  | 'revoke'
  | 'revoke_after_approval'
  | 'send'
  | 'accept'
  | 'decline'
  | 'expire'
  | 'rescind'
  | 'renege'
  | 'onboard'
  | 'cancel';

/** Who takes the action: a member, the candidate, WeCom's approval, or HireLedger itself. */
export type ActorKind = 'member' | 'candidate' | 'approval' | 'system';

export interface Transition {
  from: readonly OfferState[];
  to: OfferState;
  by: ActorKind;
}

export const TRANSITIONS: { readonly [A in OfferAction]: Transition } = {
  revise: { from: ['draft', 'approved'], to: 'draft', by: 'member' },
  submit: { from: ['draft'], to: 'pending_approval', by: 'member' },
  approve: { from: ['pending_approval'], to: 'approved', by: 'approval' },
  reject: { from: ['pending_approval'], to: 'draft', by: 'approval' },
  revoke: { from: ['pending_approval'], to: 'draft', by: 'approval' },
  revoke_after_approval: { from: ['approved'], to: 'draft', by: 'approval' },
  send: { from: ['approved'], to: 'sent', by: 'member' },
  accept: { from: ['sent'], to: 'accepted', by: 'candidate' },
  decline: { from: ['sent'], to: 'declined', by: 'candidate' },
  expire: { from: ['sent'], to: 'expired', by: 'system' },
  rescind: { from: ['sent', 'accepted'], to: 'rescinded', by: 'member' },
  renege: { from: ['accepted'], to: 'reneged', by: 'candidate' },
  onboard: { from: ['accepted'], to: 'onboarded', by: 'member' },
  cancel: { from: ['draft', 'approved'], to: 'cancelled', by: 'member' },
};

export const OFFER_ACTIONS = Object.keys(TRANSITIONS) as OfferAction[];

export function isLegal(action: OfferAction, state: OfferState): boolean {
  return TRANSITIONS[action].from.includes(state);
}
