import { CANDIDATE_STREAMS } from '../candidates';

/** Every name the approvals module writes (ARCHITECTURE.md, "Names"). */

export const APPROVALS_MODULE = 'approvals';

/** `source` of the records this module writes. */
export const APPROVALS_SOURCE = 'hireledger.approvals';

export const APPROVAL_STREAMS = {
  /** An offer's approval records belong to the candidate, beside the offer's own (DECISIONS 9). */
  candidate: (candidateId: string) => CANDIDATE_STREAMS.candidate(candidateId),
} as const;

export const APPROVAL_KINDS = {
  /** The route chosen for a version: approvers in order, and each rule (id, version, definition) that chose it. */
  routed: 'approval.routed',
  /** The WeCom approval (SpNo) a version was submitted as; `found_by_lookup` when a doubtful attempt was found, not resubmitted. */
  submitted: 'approval.submitted',
  /** WeCom refused the submission for good (e.g. an unknown approver): the version stays pending for a person to act. */
  submitFailed: 'approval.submit_failed',
  /** An outcome read by reconciliation whose callback never came: the healing is recorded. */
  reconciled: 'approval.reconciled',
  /**
   * The approval reached a node (or the next approver of a 会签/依次 node): who is asked to act, since
   * when. From the callbacks and reconciliation; the reminders module follows it (approval idle).
   */
  nodeReached: 'approval.node_reached',
} as const;

export const APPROVAL_SOURCE_REFS = {
  routed: (offerId: string, version: number) => `approval:${offerId}:${version}:routed`,
  submitted: (offerId: string, version: number) => `approval:${offerId}:${version}:submitted`,
  submitFailed: (offerId: string, version: number) => `approval:${offerId}:${version}:failed`,
  reconciled: (spNo: string, status: string) => `approval:${spNo}:reconciled:${status}`,
  nodeReached: (spNo: string, nodeIndex: number, nodeStep: number) => `approval:${spNo}:node:${nodeIndex}.${nodeStep}`,
} as const;

export const APPROVAL_CONSUMERS = {
  /** Submits every offer version entering pending_approval to WeCom (oa/applyevent), once. */
  submit: `${APPROVALS_MODULE}.submit`,
} as const;

export const APPROVAL_JOBS = {
  /** Reads approvals still pending in WeCom and applies outcomes whose callback was lost. */
  reconcile: `${APPROVALS_MODULE}.reconcile`,
} as const;
