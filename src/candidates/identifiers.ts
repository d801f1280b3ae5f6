import { createHmac, randomBytes } from 'node:crypto';
import type { PoolClient } from 'pg';
import type { Decision, EvidenceEntry } from '../evidence';
import { PermanentJobError } from '../platform/errors';
import type { CandidateRef } from './directory';
import { CANDIDATE_KINDS, CANDIDATE_SOURCE_REFS, CANDIDATE_STREAMS, CANDIDATES_SOURCE, recruiterUserId } from './names';
import { tiePosition } from './positions';
import { candidateByExternalUserId, candidateById, insertCandidate, lockExternalUserId } from './store';

/**
 * Re-applicants. A person who comes back is the same candidate with history, never a second row:
 * - under the same external_userid, the directory finds them (candidateFor);
 * - under another WeChat account, a recruiter who recognises them enters their phone number or ID
 *   number (or the other external_userid). A phone or ID number is kept only as an HMAC-SHA256
 *   under CANDIDATE_IDENTIFIER_HMAC_KEY (DECISIONS 10: a plain hash of an 18-digit ID number is
 *   brute-forced in minutes). When it is already known for another candidate, the two rows are one
 *   person: the later row is merged into the earlier (`merged_into`), with a `candidate.merged`
 *   record on both streams. Nothing is deleted; both histories stay, the later one now reached
 *   through the earlier.
 *
 * PIPL. A phone number is personal information, an ID number sensitive personal information (art.
 * 28), which needs the person's separate consent (art. 29) unless the processing is necessary to
 * conclude the employment contract (art. 13(2)). Each entry therefore names its basis
 * (`separate_consent` or `contract_necessity`) and the member who entered it; both are stored with
 * the HMAC and in the `candidate.identifier` record. The HMAC is in the record's payload (erasable
 * content), never in its hashed header: its source_ref carries a random entry id (DECISIONS 4).
 */

export type IdentifierKind = 'phone' | 'id_number';
export type ConsentBasis = 'separate_consent' | 'contract_necessity';
const CONSENT_BASES: ReadonlySet<string> = new Set<ConsentBasis>(['separate_consent', 'contract_necessity']);

/** Refused input of a recruiter's request: the message is for the recruiter (Chinese), the request is not retried. */
export class CandidateInputError extends PermanentJobError {
  constructor(message: string) {
    super(message);
    this.name = 'CandidateInputError';
  }
}

const ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK = '10X98765432';

/** A mainland resident ID number (GB 11643-1999): 18 characters, the last its checksum. */
export function normaliseIdNumber(value: string): string {
  const v = value.replace(/\s+/g, '').toUpperCase();
  if (!/^\d{17}[\dX]$/.test(v)) throw new CandidateInputError('身份证号应为18位（最后一位可为X）');
  const sum = ID_WEIGHTS.reduce((s, w, i) => s + w * Number(v[i]), 0);
  if (ID_CHECK[sum % 11] !== v[17]) throw new CandidateInputError('身份证号校验位不正确，请核对');
  return v;
}

/**
 * A phone number in one form: a mainland mobile as its 11 digits (with or without +86 / 0086,
 * spaces, dashes); any other number as `+` and its 8 to 15 digits (E.164).
 */
export function normalisePhone(value: string): string {
  const v = value.replace(/[\s\-()]/g, '');
  const mainland = /^(?:\+86|0086|86)?(1[3-9]\d{9})$/.exec(v);
  if (mainland?.[1]) return mainland[1];
  const intl = /^(?:\+|00)([1-9]\d{7,14})$/.exec(v);
  if (intl?.[1]) return `+${intl[1]}`;
  throw new CandidateInputError('手机号格式不正确（大陆手机号11位，境外号码请加国家区号，如 +852…）');
}

export function normaliseIdentifier(kind: IdentifierKind, value: string): string {
  return kind === 'phone' ? normalisePhone(value) : normaliseIdNumber(value);
}

/** The stored form: hex HMAC-SHA256 of `<kind>:<normalised value>` under the configured key. */
export function identifierDigest(key: string, kind: IdentifierKind, value: string): string {
  if (key.length < 32) throw new Error('CANDIDATE_IDENTIFIER_HMAC_KEY must be at least 32 characters');
  return createHmac('sha256', key)
    .update(`${kind}:${normaliseIdentifier(kind, value)}`, 'utf8')
    .digest('hex');
}

type Transact = <T>(work: (tx: PoolClient) => Promise<Decision<T>>) => Promise<{ result: T }>;

export interface IdentifierDeps {
  /** The ledger's decision path (`ledger.transact`). */
  transact: Transact;
  /** CANDIDATE_IDENTIFIER_HMAC_KEY; undefined refuses phone and ID numbers. */
  hmacKey: string | undefined;
  now?: () => number;
}

export type IdentifierInput =
  { kind: IdentifierKind; value: string; consentBasis: ConsentBasis } | { kind: 'external_userid'; value: string };

export interface IdentifierOutcome {
  /** The candidate the person is now: the earlier row when a merge happened. */
  candidate: CandidateRef;
  status: 'added' | 'known' | 'merged';
  /** When merged: the row that now points at `candidate`. */
  mergedFrom?: string;
}

/**
 * Merges two live candidates into the earlier one (created first; the smaller id on a tie), inside
 * the caller's transaction. Rows already merged into the later one follow it (merges stay flat).
 * Returns the surviving ref and the two `candidate.merged` entries.
 */
async function merge(
  tx: PoolClient,
  args: { corpId: string; a: string; b: string; actor: string; at: Date; because: { [key: string]: string } },
): Promise<{ survivor: CandidateRef; merged: string; entries: EvidenceEntry[] }> {
  // Both rows locked in id order: two merges of the same pair never deadlock.
  const { rows } = await tx.query<{ id: string; recruiter: string | null; created_at: Date; merged_into: string | null }>(
    'SELECT id, recruiter, created_at, merged_into FROM candidates WHERE corp_id = $1 AND id = ANY($2::text[]) ORDER BY id FOR UPDATE',
    [args.corpId, [args.a, args.b]],
  );
  if (rows.length !== 2 || rows.some((r) => r.merged_into !== null)) throw new Error('only two live candidates can be merged');
  const [x, y] = rows as [(typeof rows)[0], (typeof rows)[0]];
  const [earlier, later] = x.created_at.getTime() <= y.created_at.getTime() ? [x, y] : [y, x];
  await tx.query('UPDATE candidates SET merged_into = $1 WHERE corp_id = $2 AND (id = $3 OR merged_into = $3)', [
    earlier.id,
    args.corpId,
    later.id,
  ]);
  // The person keeps a recruiter: the earlier row's, else the later one's.
  const recruiter = earlier.recruiter ?? later.recruiter;
  if (earlier.recruiter === null && later.recruiter !== null) {
    await tx.query('UPDATE candidates SET recruiter = $1 WHERE id = $2', [later.recruiter, earlier.id]);
  }
  const payload = { merged: later.id, into: earlier.id, because: args.because };
  const entry = (self: string, other: string): EvidenceEntry => ({
    stream: CANDIDATE_STREAMS.candidate(self),
    kind: CANDIDATE_KINDS.merged,
    occurredAt: args.at,
    actor: args.actor,
    source: CANDIDATES_SOURCE,
    sourceRef: CANDIDATE_SOURCE_REFS.merged(self, other),
    payload,
    raw: null,
  });
  return {
    survivor: { candidateId: earlier.id, stream: CANDIDATE_STREAMS.candidate(earlier.id), recruiter },
    merged: later.id,
    entries: [entry(earlier.id, later.id), entry(later.id, earlier.id)],
  };
}

/** Entries of one identifier decision, made inside the caller's transaction. */
async function identifierDecision(
  tx: PoolClient,
  args: { corpId: string; candidateId: string; enteredBy: string; input: IdentifierInput; digest: string | undefined; at: Date },
): Promise<{ result: IdentifierOutcome; entries: EvidenceEntry[] }> {
  const { input, digest, at, enteredBy } = args;
  // The identifier's lock first, then candidate rows in id order: two entries racing for the same
  // number or account, or for the same pair of candidates, wait for each other instead of deadlocking.
  if (input.kind === 'external_userid') await lockExternalUserId(tx, args.corpId, input.value);
  else await lockIdentifier(tx, args.corpId, input.kind, digest as string);
  for (let attempt = 0; attempt < 5; attempt++) {
    const self = await candidateById(tx, args.corpId, args.candidateId);
    if (!self) throw new CandidateInputError('候选人不存在');
    const other =
      input.kind === 'external_userid'
        ? await candidateByExternalUserId(tx, args.corpId, input.value)
        : await identifierOwner(tx, args.corpId, input.kind, digest as string);
    const ids = [...new Set([self.candidateId, ...(other ? [other.candidateId] : [])])].sort();
    const { rows: locked } = await tx.query<{ id: string; merged_into: string | null }>(
      'SELECT id, merged_into FROM candidates WHERE corp_id = $1 AND id = ANY($2::text[]) ORDER BY id FOR UPDATE',
      [args.corpId, ids],
    );
    // A merge committed between the read and the lock: read again.
    if (locked.length !== ids.length || locked.some((r) => r.merged_into !== null)) continue;

    if (other?.candidateId === self.candidateId) return { result: { candidate: self, status: 'known' }, entries: [] };
    const entryId = randomBytes(8).toString('hex');
    const identifierEntry = (candidateId: string, matched: string | null): EvidenceEntry => ({
      stream: CANDIDATE_STREAMS.candidate(candidateId),
      kind: CANDIDATE_KINDS.identifier,
      occurredAt: at,
      actor: enteredBy,
      source: CANDIDATES_SOURCE,
      sourceRef: CANDIDATE_SOURCE_REFS.identifier(candidateId, entryId),
      payload: {
        candidate_id: candidateId,
        kind: input.kind,
        ...(input.kind === 'external_userid'
          ? { external_userid: input.value }
          : { hmac_sha256: digest as string, consent_basis: input.consentBasis }),
        entered_by: enteredBy,
        matched_candidate: matched,
      },
      raw: null,
    });
    if (!other) {
      if (input.kind === 'external_userid') {
        await tx.query(
          'INSERT INTO candidate_external_ids (corp_id, external_userid, candidate_id, created_at) VALUES ($1, $2, $3, $4)',
          [args.corpId, input.value, self.candidateId, at],
        );
      } else {
        await tx.query(
          `INSERT INTO candidate_identifiers (corp_id, kind, digest, candidate_id, entered_by, consent_basis, entered_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)`,
          [args.corpId, input.kind, digest, self.candidateId, enteredBy, input.consentBasis, at],
        );
      }
      return { result: { candidate: self, status: 'added' }, entries: [identifierEntry(self.candidateId, null)] };
    }
    // The identifier is another candidate's: the same person. The entry is recorded on the row it
    // was entered for, then the two rows become one.
    const merged = await merge(tx, {
      corpId: args.corpId,
      a: self.candidateId,
      b: other.candidateId,
      actor: enteredBy,
      at,
      because: { identifier: input.kind, entry: entryId },
    });
    return {
      result: { candidate: merged.survivor, status: 'merged', mergedFrom: merged.merged },
      entries: [identifierEntry(self.candidateId, other.candidateId), ...merged.entries],
    };
  }
  throw new Error('the candidates kept being merged while an identifier was entered');
}

function checkedDigest(deps: IdentifierDeps, input: IdentifierInput): string | undefined {
  if (input.kind === 'external_userid') {
    if (input.value === '' || input.value.length > 128) throw new CandidateInputError('external_userid 格式不正确');
    return undefined;
  }
  if (deps.hmacKey === undefined) throw new CandidateInputError('未配置 CANDIDATE_IDENTIFIER_HMAC_KEY，不能保存手机号或身份证号');
  if (!CONSENT_BASES.has(input.consentBasis)) {
    throw new CandidateInputError('请选择个人信息处理的合法性基础（单独同意或订立合同所必需）');
  }
  return identifierDigest(deps.hmacKey, input.kind, input.value);
}

/**
 * A recruiter enters an identifier of a candidate: a phone number or ID number (HMAC only, with
 * the consent basis), or another external_userid of the same person. Known for this candidate: no
 * change. Known for another: the two are merged. New: stored. Every change commits with its records.
 */
export async function addIdentifier(
  deps: IdentifierDeps,
  args: { corpId: string; candidateId: string; enteredBy: string; input: IdentifierInput },
): Promise<IdentifierOutcome> {
  const enteredBy = recruiterUserId(args.enteredBy);
  if (enteredBy === '') throw new CandidateInputError('录入人不能为空');
  const digest = checkedDigest(deps, args.input);
  const now = deps.now ?? Date.now;
  const { result } = await deps.transact((tx) => identifierDecision(tx, { ...args, enteredBy, digest, at: new Date(now()) }));
  return result;
}

/** Serialises entries of one identifier until the caller commits (see lockExternalUserId). */
async function lockIdentifier(tx: PoolClient, corpId: string, kind: IdentifierKind, digest: string): Promise<void> {
  await tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
    `candidate-identifier\u001f${corpId}\u001f${kind}\u001f${digest}`,
  ]);
}

async function identifierOwner(
  tx: PoolClient,
  corpId: string,
  kind: IdentifierKind,
  digest: string,
): Promise<CandidateRef | null> {
  const { rows } = await tx.query<{ candidate_id: string }>(
    'SELECT candidate_id FROM candidate_identifiers WHERE corp_id = $1 AND kind = $2 AND digest = $3',
    [corpId, kind, digest],
  );
  const row = rows[0];
  return row ? candidateById(tx, corpId, row.candidate_id) : null;
}

/**
 * A recruiter creates a candidate by hand (before any WeChat contact, e.g. from a referral), with
 * any identifiers they have, in one transaction: an external_userid or identifier already known
 * makes it that existing candidate (no new row; the other identifiers are added to it, merging
 * when they name yet another candidate); otherwise a new candidate with `candidate.created` (and
 * `candidate.position` when given) and a `candidate.identifier` record per identifier.
 */
export async function createCandidateByRecruiter(
  deps: IdentifierDeps,
  args: {
    corpId: string;
    recruiter: string;
    externalUserId?: string;
    identifiers?: { kind: IdentifierKind; value: string; consentBasis: ConsentBasis }[];
    positionId?: string;
  },
): Promise<{ candidate: CandidateRef; created: boolean }> {
  const recruiter = recruiterUserId(args.recruiter);
  if (recruiter === '') throw new CandidateInputError('招聘负责人不能为空');
  // Refuse bad input (and a missing key) before anything is written.
  const identifiers = (args.identifiers ?? []).map((input) => ({ input, digest: checkedDigest(deps, input) }));
  if (args.externalUserId !== undefined) checkedDigest(deps, { kind: 'external_userid', value: args.externalUserId });
  const now = deps.now ?? Date.now;
  const { result } = await deps.transact(async (tx) => {
    const at = new Date(now());
    const entries: EvidenceEntry[] = [];
    let existing: CandidateRef | null = null;
    if (args.externalUserId !== undefined) {
      await lockExternalUserId(tx, args.corpId, args.externalUserId);
      existing = await candidateByExternalUserId(tx, args.corpId, args.externalUserId, 'share');
    }
    for (const { input, digest } of identifiers) {
      if (existing) break;
      await lockIdentifier(tx, args.corpId, input.kind, digest as string);
      existing = await identifierOwner(tx, args.corpId, input.kind, digest as string);
    }
    let candidate = existing;
    if (!candidate) {
      const made = await insertCandidate(tx, {
        corpId: args.corpId,
        ...(args.externalUserId !== undefined ? { externalUserId: args.externalUserId } : {}),
        contact: { via: 'recruiter', userid: recruiter },
        at,
      });
      candidate = made.ref;
      entries.push(...made.entries);
    }
    if (args.positionId !== undefined) {
      const tied = await tiePosition(tx, {
        corpId: args.corpId,
        candidateId: candidate.candidateId,
        positionId: args.positionId,
        via: 'recruiter',
        cause: existing ? `recruiter-${randomBytes(8).toString('hex')}` : 'first-contact',
        actor: recruiter,
        at,
      });
      if (!tied) throw new CandidateInputError('职位不存在或已关闭');
      entries.push(...tied.entries);
    }
    for (const { input, digest } of identifiers) {
      const d = await identifierDecision(tx, {
        corpId: args.corpId,
        candidateId: candidate.candidateId,
        enteredBy: recruiter,
        input,
        digest,
        at,
      });
      candidate = d.result.candidate;
      entries.push(...d.entries);
    }
    return { result: { candidate, created: existing === null }, entries };
  });
  return result;
}
