import type { EvidenceEntry } from '../evidence';
import type { CallbackHandler } from '../platform/module';
import type { ExternalContactChangeType } from '../wecom/callbacks';
import { handledCallbackKind } from '../wecom/names';
import type { CandidateDirectory } from './directory';
import { positionOfState, tiePosition } from './positions';
import { assignRecruiter, linkRecord } from './store';

/**
 * `change_external_contact`: a member's customer contact was added, edited or deleted. The callback
 * record stays in its channel stream (`wecom:contact:<xc id>`); this handler decides, in one
 * transaction with the records that say so:
 * - the candidate of the ExternalUserID, matched (a re-applicant under the same external_userid),
 *   else created on first contact with the member as recruiter. Every change type does so, since
 *   handlers run in any order: a deletion handled before the add that preceded it still finds
 *   (or makes) the person its record is linked to;
 * - the callback is attached to the candidate by a `candidate.link` record (reason
 *   `contact_<ChangeType>`), however long after it was stored the handler runs;
 * - a `State` of `pos:<position id>` ties the candidate to that position (`candidate.position`);
 * - a candidate without a recruiter gets the member (`candidate.recruiter`).
 * The `candidates.profiles` consumer follows the link records of adds and edits and asks
 * `externalcontact/get` who the account is.
 */

/** Change types after which the member follows the candidate: they set the recruiter and the position. */
const FOLLOWS: ReadonlySet<ExternalContactChangeType> = new Set([
  'add_external_contact',
  'add_half_external_contact',
  'edit_external_contact',
]);

/** Link reasons after which the account's profile is fetched. */
export const PROFILE_REASONS: ReadonlySet<string> = new Set(
  ['add_external_contact', 'add_half_external_contact', 'edit_external_contact'].map((t) => `contact_${t}`),
);

export function contactChangeHandler(deps: { directory: CandidateDirectory }): CallbackHandler<'event.change_external_contact'> {
  return async (callback, ctx) => {
    const { changeType, userId, externalUserId, state } = callback.event;
    const record = { seq: callback.seq, hash: callback.hash, stream: callback.stream };
    const cause = `cb${callback.seq}`;
    const { result } = await ctx.transact(async (tx) => {
      const entries: EvidenceEntry[] = [];
      // Every change type matches or creates: handlers run in any order, so a deletion may be
      // handled before the add that preceded it, and must still find (or make) the person to link to.
      const candidate = await deps.directory.candidateFor(tx, ctx.corpId, externalUserId, {
        via: 'contact',
        userid: userId,
        ...(state !== undefined && state !== '' ? { state } : {}),
      });
      entries.push(...candidate.entries);
      // Decisions about the candidate are HireLedger's reading of the callback: its clock is the callback's.
      const at = callback.occurredAt;
      const link = await linkRecord(tx, {
        corpId: ctx.corpId,
        candidateId: candidate.candidateId,
        record: { ...record, kind: handledCallbackKind(callback.event.type) },
        reason: `contact_${changeType}`,
        at,
        externalUserId,
      });
      entries.push(...link.entries);
      const positionId = positionOfState(state);
      if (positionId !== null && FOLLOWS.has(changeType)) {
        const tied = await tiePosition(tx, {
          corpId: ctx.corpId,
          candidateId: candidate.candidateId,
          positionId,
          via: 'contact_way',
          cause,
          actor: userId,
          at,
          ...(state !== undefined ? { state } : {}),
          record,
        });
        if (tied) entries.push(...tied.entries);
      }
      if (FOLLOWS.has(changeType)) {
        const assigned = await assignRecruiter(tx, {
          corpId: ctx.corpId,
          candidateId: candidate.candidateId,
          userid: userId,
          cause,
          actor: userId,
          at,
          onlyIfUnknown: true,
          record,
        });
        entries.push(...assigned.entries);
      }
      // A retried job re-makes the same decision: nothing here is written twice (each write above
      // is idempotent on its table), and an entry already stored is the same fact.
      return { result: candidate.candidateId, entries, allowDuplicates: true };
    });
    ctx.log.debug({ changeType, candidate: result, seq: callback.seq }, 'external contact change handled');
  };
}
