/**
 * Where an approval waits: the node it reached and the approvers there (issue 10 item 6, "approval
 * idle 24 h at one approver"). Read from WeCom's own view of the approval, either a
 * sys_approval_change callback (its ProcessList, else SpRecord) or oa/getapprovaldetail
 * (sp_record), so a lost callback is healed by reconciliation like an outcome is. The result is an
 * `approval.node_reached` record on the candidate's stream, keyed by (SpNo, node, position in the
 * node): a redelivered callback, a reconciliation that read the same state, or a replay add nothing.
 */
import type { EvidenceEntry } from '../evidence';
import type { ApprovalDetail } from '../wecom/api';
import type { ApprovalNode } from '../wecom/callbacks';
import { APPROVAL_KINDS, APPROVAL_SOURCE_REFS, APPROVAL_STREAMS, APPROVALS_SOURCE } from './names';

/** WeCom's status of a form, a node or an approver: 1 审批中. */
const IN_PROGRESS = 1;
/** An approver's 2 已同意. */
const APPROVED = 2;

export interface NodeReached {
  /** 0-based, among the nodes that wait for someone (CC nodes do not). */
  nodeIndex: number;
  /** How many approvers of the node had approved already: a 会签/依次 node reaches its next approver without a new node. */
  nodeStep: number;
  /** Who is asked to act now (lower-cased): each waiting approver, or only the next one in line for 依次. */
  approvers: string[];
  /** When the approval reached them: the latest act before (the one that moved it here), else the submission. */
  reachedAt: Date;
}

interface NodeView {
  status: number | null;
  relation: ApprovalNode['relation'];
  steps: { userId: string; status: number | null; actedAt: number | null }[];
}

function current(spStatus: number, nodes: readonly NodeView[], applyTime: number | null, fallback: Date): NodeReached | null {
  if (spStatus !== IN_PROGRESS) return null;
  const index = nodes.findIndex((n) => n.status === IN_PROGRESS);
  const node = nodes[index];
  if (!node) return null;
  const waiting = node.steps.filter((s) => s.status === IN_PROGRESS || (s.status === null && s.actedAt === null));
  const asked = node.relation === 'sequential' ? waiting.slice(0, 1) : waiting;
  if (asked.length === 0) return null;
  let last = 0;
  for (const n of nodes) for (const s of n.steps) if (s.actedAt !== null && s.actedAt > last) last = s.actedAt;
  const reachedSec = last > 0 ? last : applyTime !== null && applyTime > 0 ? applyTime : null;
  return {
    nodeIndex: index,
    nodeStep: node.steps.filter((s) => s.status === APPROVED).length,
    approvers: [...new Set(asked.map((s) => s.userId.toLowerCase()))].sort(),
    reachedAt: reachedSec !== null ? new Date(reachedSec * 1000) : fallback,
  };
}

/** The node a sys_approval_change callback says the approval waits at, or null (ended, or nobody to wait for). */
export function nodeOfCallback(
  e: { spStatus: number; applyTime: number | null; nodes: readonly ApprovalNode[] },
  fallback: Date,
): NodeReached | null {
  return current(
    e.spStatus,
    e.nodes.filter((n) => n.kind !== 'cc'),
    e.applyTime,
    fallback,
  );
}

/** The same from oa/getapprovaldetail (sp_record lists the approver nodes only). */
export function nodeOfDetail(info: ApprovalDetail, fallback: Date): NodeReached | null {
  const nodes: NodeView[] = (info.sp_record ?? []).map((n) => ({
    status: n.sp_status,
    // approverattr 1 或签, 2 会签; WeCom's legacy view has no 依次.
    relation: n.approverattr === 1 ? 'any' : 'all',
    steps: (n.details ?? []).map((d) => ({
      userId: d.approver.userid,
      status: d.sp_status,
      actedAt: d.sptime > 0 ? d.sptime : null,
    })),
  }));
  return current(info.sp_status, nodes, info.apply_time, fallback);
}

/** What an approval.node_reached record says besides the node: the offer version, who filed it, the HRBPs to tell. */
export interface NodeReachedFacts {
  offerId: string;
  candidateId: string;
  version: number;
  spNo: string;
  /** The member who handed the offer to approval (the approval's applicant): the recruiter. */
  applicant: string;
  /** The HRBPs of the offer's department (role assignments), told when the approval idles 2 working days. */
  hrbps: string[];
  via: 'callback' | 'reconciliation';
  /** The callback's seq, when a callback told it. */
  callbackSeq: number | null;
}

export function nodeReachedEntry(f: NodeReachedFacts, n: NodeReached, at: Date): EvidenceEntry {
  return {
    stream: APPROVAL_STREAMS.candidate(f.candidateId),
    kind: APPROVAL_KINDS.nodeReached,
    occurredAt: n.reachedAt,
    actor: 'hireledger',
    source: APPROVALS_SOURCE,
    sourceRef: APPROVAL_SOURCE_REFS.nodeReached(f.spNo, n.nodeIndex, n.nodeStep),
    payload: {
      offer_id: f.offerId,
      candidate_id: f.candidateId,
      version: f.version,
      sp_no: f.spNo,
      node_index: n.nodeIndex,
      node_step: n.nodeStep,
      approvers: n.approvers,
      reached_at: n.reachedAt.toISOString(),
      applicant: f.applicant,
      hrbps: f.hrbps,
      via: f.via,
      callback_seq: f.callbackSeq,
      noticed_at: at.toISOString(),
    },
    raw: null,
  };
}
