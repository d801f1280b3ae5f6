import type { Pool } from 'pg';
import { createMembersModule } from './members';
import type { HireLedgerModule } from './platform/module';
import type { WecomClient } from './wecom/api';

/**
 * Every domain module, in one list: the API registers their routes, the worker their callback
 * handlers, ledger consumers and jobs (ARCHITECTURE.md, "Modules"). Adding a domain is one line
 * here. Both processes refuse to start when two modules claim the same callback type, consumer or
 * job (src/jobs/registry.ts).
 */

/** What the factories may take from. Each takes only the part it needs. */
export interface ModuleDeps {
  pool: Pool;
  wecom: Pick<WecomClient, 'contact'>;
}

export function createModules(deps: ModuleDeps): HireLedgerModule[] {
  return [
    createMembersModule({ db: deps.pool, directory: deps.wecom.contact }),
    // createCandidatesModule({ … }), createOffersModule({ … }), … as the domains arrive.
  ];
}
