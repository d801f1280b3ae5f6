/**
 * The onboarding module (issue 10 item 6, docs/onboarding.md): a minimal checklist of the
 * materials each position requires and, per accepted offer, each marked received by the recruiter
 * (uploads come with onboarding later). The reminders module reads the checklist to remind the
 * candidate and the recruiter of what is missing before the start date. Other domains reach it
 * only through this file.
 */
import type { Pool } from 'pg';
import type { Ledger } from '../evidence';
import type { HireLedgerModule } from '../platform/module';
import { markReceived, materialsOf, saveRequirements, type MarkResult, type MaterialsView } from './materials';
import { ONBOARDING_MODULE } from './names';

export interface OnboardingModuleDeps {
  db: Pick<Pool, 'query'>;
  /** The ledger's decision path (`ledger.transact`). */
  transact: Ledger['transact'];
  now?: () => number;
}

export interface OnboardingModule extends HireLedgerModule {
  markReceived(args: { corpId: string; offerId: string; material: string; actor: string; note?: string }): Promise<MarkResult>;
  materialsOf(corpId: string, offerId: string): Promise<MaterialsView | null>;
  saveRequirements(corpId: string, positionId: string, materials: readonly string[], actor: string): Promise<string[]>;
}

/** No consumers, jobs or routes yet (the recruiter's page comes with the H5): the domain functions. */
export function createOnboardingModule(deps: OnboardingModuleDeps): OnboardingModule {
  const now = deps.now ?? Date.now;
  return {
    name: ONBOARDING_MODULE,
    markReceived: (args) => markReceived({ transact: (work) => deps.transact(work), now }, args),
    materialsOf: (corpId, offerId) => materialsOf(deps.db, corpId, offerId),
    saveRequirements: (corpId, positionId, materials, actor) =>
      saveRequirements(deps.db, corpId, positionId, materials, actor, now),
  };
}

export { OnboardingError } from './errors';
export { markReceived, materialsOf, requiredMaterials, saveRequirements, type MarkResult, type MaterialsView } from './materials';
export {
  DEFAULT_MATERIALS,
  ONBOARDING_KINDS,
  ONBOARDING_MODULE,
  ONBOARDING_SOURCE,
  ONBOARDING_SOURCE_REFS,
  ONBOARDING_STREAMS,
} from './names';
