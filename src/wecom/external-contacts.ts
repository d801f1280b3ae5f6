import { randomBytes } from 'node:crypto';
import type { Pool } from 'pg';

/**
 * Opaque ids for external contacts (DECISIONS 4). An `external_userid` names a person (a candidate,
 * a customer), and whatever enters a record's stream, actor or source_ref stays in every proof for
 * ever; so new records carry `xc_<32 hex digits>` there instead, and the mapping lives here, in a
 * table that is not part of any hash: deleting a person's row (PIPL erasure, ROADMAP 3) leaves the
 * opaque id pointing at no one, while every chain and checkpoint still verifies.
 *
 * The id is random, not a hash of the external_userid: a hash would let anyone who can list the
 * corp's contacts in WeCom link the proofs back to the person after erasure. A contact keeps its id
 * for good (same corp, same external_userid → same id), so its redeliveries find their key.
 */

export interface ExternalContactIds {
  /** The opaque id of each external_userid, minting one for those seen for the first time. */
  idsFor(corpId: string, externalUserIds: readonly string[]): Promise<Map<string, string>>;
}

export function newExternalContactId(): string {
  return `xc_${randomBytes(16).toString('hex')}`;
}

export function createExternalContactIds(pool: Pick<Pool, 'query'>): ExternalContactIds {
  return {
    async idsFor(corpId, externalUserIds) {
      const wanted = [...new Set(externalUserIds)];
      const found = new Map<string, string>();
      if (wanted.length === 0) return found;
      // One round trip: mint where missing, return the stored id of the others. A row another
      // transaction inserts concurrently is neither inserted here (ON CONFLICT waits for it, then
      // skips) nor in this statement's snapshot; the second read below picks it up.
      const { rows } = await pool.query<{ external_userid: string; id: string }>(
        `WITH minted AS (
           INSERT INTO wecom_external_contacts (corp_id, external_userid, id)
           SELECT $1, u.external_userid, u.id FROM unnest($2::text[], $3::text[]) AS u(external_userid, id)
           ON CONFLICT (corp_id, external_userid) DO NOTHING
           RETURNING external_userid, id)
         SELECT external_userid, id FROM minted
         UNION ALL
         SELECT external_userid, id FROM wecom_external_contacts WHERE corp_id = $1 AND external_userid = ANY($2::text[])`,
        [corpId, wanted, wanted.map(() => newExternalContactId())],
      );
      for (const r of rows) found.set(r.external_userid, r.id);
      const missing = wanted.filter((e) => !found.has(e));
      if (missing.length > 0) {
        const again = await pool.query<{ external_userid: string; id: string }>(
          'SELECT external_userid, id FROM wecom_external_contacts WHERE corp_id = $1 AND external_userid = ANY($2::text[])',
          [corpId, missing],
        );
        for (const r of again.rows) found.set(r.external_userid, r.id);
      }
      for (const e of wanted) if (!found.has(e)) throw new Error('an external contact id could not be minted or read');
      return found;
    },
  };
}
