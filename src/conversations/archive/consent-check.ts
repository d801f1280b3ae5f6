import type { PoolClient } from 'pg';
import type { CandidateDirectory } from '../../candidates';
import type { AppendResult, Decision, EvidenceEntry, JsonValue } from '../../evidence';
import type { MsgauditApi } from '../../wecom/api/msgaudit';
import { memberUserId } from '../../wecom/names';
import { CONVERSATION_KINDS, CONVERSATION_SOURCES } from '../names';
import { ARCHIVE_SOURCE_REFS } from './names';

/**
 * Consent asked of WeCom (msgaudit/check_single_agree, doc 91782), recorded as evidence: whether an
 * external contact agreed that their 1:1 conversation with a member is archived, as WeCom answered
 * at the time HireLedger asked. The archive's own agree/disagree items (puller.ts) say when the
 * person decided; this says what WeCom held when asked, also for people whose consent item is older
 * than the archive's five days.
 *
 * One `conversation.consent` record per candidate, member, status and WeCom's status_change_time,
 * on the candidate's stream (created on first contact like any archive party), named by the opaque
 * id only (DECISIONS 4): asking again while nothing changed adds nothing; a change adds a record.
 * WeCom's whole answer item is the record's `raw`. WeCom is asked before the transaction.
 */

export interface ConsentCheckDeps {
  /** On a client built with the archive's Secret (MSGAUDIT_SECRET). */
  msgaudit: Pick<MsgauditApi, 'checkSingleAgree'>;
  directory: CandidateDirectory;
  transact<T>(work: (tx: PoolClient) => Promise<Decision<T>>): Promise<{ result: T; records: AppendResult[] }>;
  now?: () => number;
}

export interface ConsentCheckResult {
  userid: string;
  externalUserId: string;
  candidateId: string;
  /** `agree`, `disagree`, or WeCom's word lower-cased. */
  status: string;
  /** false when the same status at the same change time was recorded already. */
  recorded: boolean;
}

export async function checkConsent(
  deps: ConsentCheckDeps,
  corpId: string,
  pairs: readonly { userid: string; externalUserId: string }[],
): Promise<ConsentCheckResult[]> {
  const asked = new Set(pairs.map((p) => `${memberUserId(p.userid)}\u001f${p.externalUserId}`));
  const { agreeinfo } = await deps.msgaudit.checkSingleAgree(pairs);
  const checkedAt = new Date((deps.now ?? Date.now)());
  const { result, records } = await deps.transact(async (tx) => {
    const entries: EvidenceEntry[] = [];
    const out: Array<Omit<ConsentCheckResult, 'recorded'> & { entry: number }> = [];
    // Candidates in a fixed order (external_userid), as the KF pull takes them.
    const items = [...agreeinfo]
      .filter((i) => asked.has(`${memberUserId(i.userid)}\u001f${i.exteranalopenid}`))
      .sort((a, b) => (a.exteranalopenid < b.exteranalopenid ? -1 : a.exteranalopenid > b.exteranalopenid ? 1 : 0));
    for (const info of items) {
      const userid = memberUserId(info.userid);
      const found = await deps.directory.candidateFor(tx, corpId, info.exteranalopenid, { via: 'archive', userid });
      entries.push(...found.entries);
      // WeCom says Agree or Disagree; anything else is kept in `raw` and named `unknown` here.
      const word = info.agree_status.toLowerCase();
      const status = /^[a-z_]{1,32}$/.test(word) ? word : 'unknown';
      const changeSec = Number(info.status_change_time);
      const changedAt = Number.isSafeInteger(changeSec) && changeSec > 0 ? new Date(changeSec * 1000) : null;
      const sourceRef = ARCHIVE_SOURCE_REFS.consentCheck(found.candidateId, userid, status, changedAt ? changeSec : null);
      out.push({
        userid,
        externalUserId: info.exteranalopenid,
        candidateId: found.candidateId,
        status,
        entry: entries.length,
      });
      entries.push({
        stream: found.stream,
        kind: CONVERSATION_KINDS.consent,
        occurredAt: changedAt ?? checkedAt,
        actor: found.candidateId,
        source: CONVERSATION_SOURCES.archive,
        sourceRef,
        payload: {
          channel: 'archive',
          via: 'check_single_agree',
          status,
          candidate: found.candidateId,
          recruiter: userid,
          // The person, in erasable content only.
          external_userid: info.exteranalopenid,
          decided_at: changedAt ? changedAt.toISOString() : null,
          checked_at: checkedAt.toISOString(),
          ...(changedAt ? {} : { anomaly: 'status_change_time missing or not a time: occurred_at is the time of the check' }),
        },
        raw: info as unknown as JsonValue,
      });
    }
    // Asked again unchanged: the same key, a duplicate the ledger keeps once.
    return { result: out, entries, allowDuplicates: true };
  });
  return result.map(({ entry, ...r }) => ({ ...r, recorded: records[entry]?.status === 'appended' }));
}
