import type { Pool } from 'pg';
import type { HireLedgerModule } from '../platform/module';
import { MEMBER_CONSUMERS, MEMBERS_MODULE } from './names';
import { profileConsumer, type MemberDirectory } from './profiles';
import { recordVisit } from './visits';

/**
 * The members module: who among the corp's members uses HireLedger. The smallest module that shows
 * every seam (ARCHITECTURE.md, "Modules"): a typed callback handler (`enter_agent`), a decision
 * and its evidence in one transaction (a visit), and a ledger consumer whose outside effect (a
 * WeCom directory call) runs under the job error policy, exactly once in effect.
 */

export interface MembersDeps {
  db: Pick<Pool, 'query'>;
  directory: MemberDirectory;
  now?: () => number;
}

export function createMembersModule(deps: MembersDeps): HireLedgerModule {
  return {
    name: MEMBERS_MODULE,
    callbackHandlers: { 'event.enter_agent': recordVisit },
    consumers: { [MEMBER_CONSUMERS.profiles]: profileConsumer(deps) },
  };
}

export { MEMBER_CONSUMERS, MEMBER_KINDS, MEMBER_STREAMS, MEMBERS_MODULE, MEMBERS_SOURCE } from './names';
export { PROFILE_MAX_AGE_MS, type MemberDirectory } from './profiles';
export { shanghaiDay } from './visits';
export {
  grantRole,
  holdsRole,
  isMemberRole,
  revokeRole,
  MEMBER_ROLES,
  ROLE_LABEL as MEMBER_ROLE_LABEL,
  RoleError,
  type MemberRole,
} from './roles';
