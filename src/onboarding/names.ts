import { CANDIDATE_STREAMS } from '../candidates';

/** Every name the onboarding module writes (ARCHITECTURE.md, "Names"); docs/onboarding.md explains them. */

export const ONBOARDING_MODULE = 'onboarding';

/** `source` of the records this module writes. */
export const ONBOARDING_SOURCE = 'hireledger.onboarding';

export const ONBOARDING_STREAMS = {
  /** An offer's onboarding is the candidate's: the candidate's own stream, beside the offer's records. */
  candidate: (candidateId: string) => CANDIDATE_STREAMS.candidate(candidateId),
} as const;

export const ONBOARDING_KINDS = {
  /** The recruiter marked one material received: what, by whom, and what is still missing after it. */
  materialReceived: 'onboarding.material_received',
} as const;

export const ONBOARDING_SOURCE_REFS = {
  /** One per (offer, material): marking it again records nothing. */
  materialReceived: (offerId: string, materialKey: string) => `onboarding:${offerId}:received:${materialKey}`,
} as const;

/** The shipped checklist (migration 1764547200014), for documentation and tests; the table is what counts. */
export const DEFAULT_MATERIALS: readonly string[] = ['身份证复印件', '学历学位证书', '离职证明', '体检报告', '银行卡信息'];
