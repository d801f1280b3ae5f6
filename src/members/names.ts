import { memberUserId } from '../wecom/names';

/**
 * Every name the members module writes (ARCHITECTURE.md, "Names"). Members are the corp's own staff,
 * named by their userid, lower-cased (DECISIONS 8); candidates never appear here.
 */

export const MEMBERS_MODULE = 'members';

/** `source` of the records this module writes. */
export const MEMBERS_SOURCE = 'hireledger.members';

export const MEMBER_KINDS = {
  /** A member opened HireLedger on a day (Asia/Shanghai): the first `enter_agent` of that day handled. */
  visit: 'member.visit',
  /** What the WeCom directory said about a member (name, departments) when HireLedger asked. */
  profile: 'member.profile',
  /** A HireLedger role (e.g. 法务, who may export evidence) granted to the member. */
  roleGranted: 'member.role_granted',
  roleRevoked: 'member.role_revoked',
} as const;

export const MEMBER_STREAMS = {
  /** One member's activity in HireLedger; the WeCom channel stream of the member is `wecom:member:<userid>`. */
  member: (userid: string) => `member:${memberUserId(userid)}`,
} as const;

export const MEMBER_SOURCE_REFS = {
  visit: (userid: string, day: string) => `visit:${memberUserId(userid)}:${day}`,
  /** One profile fetch per visit record that asked for it. */
  profile: (userid: string, visitSeq: number) => `profile:${memberUserId(userid)}:${visitSeq}`,
} as const;

export const MEMBER_CONSUMERS = {
  /** Fetches the profile of a member on a visit, when HireLedger has none or an old one. */
  profiles: `${MEMBERS_MODULE}.profiles`,
} as const;
