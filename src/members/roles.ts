import type { Pool } from 'pg';
import type { Ledger } from '../evidence';
import { memberUserId } from '../wecom/names';
import { MEMBER_KINDS, MEMBER_STREAMS, MEMBERS_SOURCE } from './names';

/**
 * Roles a member holds in HireLedger itself (migration 1764547200016). WeCom's directory has
 * departments, not "who may hand a candidate's evidence to an arbitrator", so the corp grants that
 * here. A grant or a revocation and its member.role_* record commit together: the evidence says who
 * could export when, and an export names its exporter, checked against this.
 */

export const MEMBER_ROLES = ['legal'] as const;
export type MemberRole = (typeof MEMBER_ROLES)[number];

export const ROLE_LABEL: Readonly<Record<MemberRole, string>> = { legal: '法务' };

const USERID = /^[A-Za-z0-9_.@-]{1,64}$/;

export class RoleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RoleError';
  }
}

function checkUserId(userid: string, what: string): string {
  if (!USERID.test(userid))
    throw new RoleError(`${what} 不是有效的企业微信 userid (not a WeCom userid): ${JSON.stringify(userid)}`);
  return memberUserId(userid);
}

export function isMemberRole(role: string): role is MemberRole {
  return (MEMBER_ROLES as readonly string[]).includes(role);
}

/** Whether the member holds the role now. */
export async function holdsRole(db: Pick<Pool, 'query'>, corpId: string, userid: string, role: MemberRole): Promise<boolean> {
  if (!USERID.test(userid)) return false;
  const { rowCount } = await db.query(
    'SELECT 1 FROM member_roles WHERE corp_id = $1 AND userid = $2 AND role = $3 AND revoked_at IS NULL',
    [corpId, memberUserId(userid), role],
  );
  return (rowCount ?? 0) > 0;
}

async function liveHolders(db: Pick<Pool, 'query'>, corpId: string, role: MemberRole): Promise<string[]> {
  const { rows } = await db.query<{ userid: string }>(
    'SELECT userid FROM member_roles WHERE corp_id = $1 AND role = $2 AND revoked_at IS NULL ORDER BY userid',
    [corpId, role],
  );
  return rows.map((r) => r.userid);
}

/**
 * Grants the role (nothing when already held) with its member.role_granted record. Who may grant:
 * a member who holds the role (法务 names 法务), never oneself; the first holder of a corp is the
 * one exception (`bootstrap` in the record), since someone must be first. Whoever runs this command
 * can name any `by`: it is an operator's tool against the database, and the record says who was
 * named; the corp's own people hold the role, not the operator.
 */
export async function grantRole(
  ledger: Ledger,
  corpId: string,
  req: { userid: string; role: MemberRole; by: string; at?: Date },
): Promise<'granted' | 'already held'> {
  const userid = checkUserId(req.userid, 'userid');
  const by = checkUserId(req.by, '--as');
  const at = new Date(Math.floor((req.at ?? new Date()).getTime()));
  if (userid === by) throw new RoleError(`不能给自己授予角色 (a member cannot grant a role to themself): ${by}`);
  const { result } = await ledger.transact(async (tx) => {
    // Serialises grants of one corp's role, so two first grants cannot both be the bootstrap.
    await tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`member_roles:${corpId}:${req.role}`]);
    const holders = await liveHolders(tx, corpId, req.role);
    if (holders.includes(userid)) return { result: 'already held' as const, entries: [] };
    const bootstrap = holders.length === 0;
    if (!bootstrap && !holders.includes(by))
      throw new RoleError(
        `${by} 没有${ROLE_LABEL[req.role]}角色，不能授予该角色 (only a holder of the role may grant it; holders: ${holders.join(', ')})`,
      );
    const { rowCount } = await tx.query(
      `INSERT INTO member_roles (corp_id, userid, role, granted_by, granted_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (corp_id, userid, role) WHERE revoked_at IS NULL DO NOTHING`,
      [corpId, userid, req.role, by, at],
    );
    if (rowCount === 0) return { result: 'already held' as const, entries: [] };
    return {
      result: 'granted' as const,
      entries: [
        {
          stream: MEMBER_STREAMS.member(userid),
          kind: MEMBER_KINDS.roleGranted,
          occurredAt: at,
          actor: by,
          source: MEMBERS_SOURCE,
          sourceRef: `role:${userid}:${req.role}:granted:${at.toISOString()}`,
          payload: { userid, role: req.role, role_label: ROLE_LABEL[req.role], granted_by: by, bootstrap },
          raw: null,
        },
      ],
    };
  });
  return result;
}

/** Revokes the role (nothing when not held) with its member.role_revoked record; `by` must hold the role. */
export async function revokeRole(
  ledger: Ledger,
  corpId: string,
  req: { userid: string; role: MemberRole; by: string; at?: Date },
): Promise<'revoked' | 'not held'> {
  const userid = checkUserId(req.userid, 'userid');
  const by = checkUserId(req.by, '--as');
  const at = new Date(Math.floor((req.at ?? new Date()).getTime()));
  const { result } = await ledger.transact(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`member_roles:${corpId}:${req.role}`]);
    const holders = await liveHolders(tx, corpId, req.role);
    if (!holders.includes(by))
      throw new RoleError(`${by} 没有${ROLE_LABEL[req.role]}角色，不能撤销该角色 (only a holder of the role may revoke it)`);
    const { rowCount } = await tx.query(
      `UPDATE member_roles SET revoked_by = $4, revoked_at = $5
        WHERE corp_id = $1 AND userid = $2 AND role = $3 AND revoked_at IS NULL`,
      [corpId, userid, req.role, by, at],
    );
    if (rowCount === 0) return { result: 'not held' as const, entries: [] };
    return {
      result: 'revoked' as const,
      entries: [
        {
          stream: MEMBER_STREAMS.member(userid),
          kind: MEMBER_KINDS.roleRevoked,
          occurredAt: at,
          actor: by,
          source: MEMBERS_SOURCE,
          sourceRef: `role:${userid}:${req.role}:revoked:${at.toISOString()}`,
          payload: { userid, role: req.role, role_label: ROLE_LABEL[req.role], revoked_by: by },
          raw: null,
        },
      ],
    };
  });
  return result;
}
