import { createHash } from 'node:crypto';
import { createCandidateByRecruiter, savePosition } from '../../src/candidates';
import {
  canonicalize,
  createLedger,
  DuplicateDecisionError,
  StaleStreamError,
  type JsonValue,
  type Ledger,
} from '../../src/evidence';
import {
  createOffers,
  hrbpsFromList,
  INTENT_NOTICE_CLAUSE,
  OFFER_ACTIONS,
  OFFER_STATES,
  offerErrorResponse,
  OfferGateError,
  OfferInputError,
  OfferRescindWarningError,
  OfferStateError,
  OFFER_RENDERERS,
  TRANSITIONS,
  createOffersModule,
  type OfferAction,
  type Offers,
  type OfferState,
  type OfferTerms,
  type OfferView,
} from '../../src/offers';
import { readTimeline, type EntryRenderers } from '../../src/timeline';
import { createTestDatabase, type TestDatabase } from '../support/db';

/**
 * The offers domain against the real PostgreSQL and ledger: every transition of the state machine,
 * every refusal (state and records unchanged), concurrency, versions and their diff, the send
 * gate, rescinds, notices, and the property that a state change and its record commit together.
 */

const CORP = 'wwcorp0001';
const KEY = 'offers-test-hmac-key-0123456789abcdef';
/** 2026-12-01 10:00 Beijing time. */
const T0 = Date.parse('2026-12-01T02:00:00.000Z');
const DEADLINE = new Date('2026-12-08T10:00:00.000Z');
const START = '2027-01-04';

const TERMS: OfferTerms = {
  baseMonthlyYuan: 30000,
  salaryMonths: 13,
  annualBonusTargetYuan: 60000,
  bonusNote: '按季度绩效发放',
  level: 'P6',
  department: '基础架构部',
  location: '上海',
  startDate: START,
  probationMonths: 3,
  acceptanceDeadline: DEADLINE,
  terms: '入职需提供离职证明',
};

interface Rec {
  seq: number;
  stream: string;
  kind: string;
  actor: string;
  source: string;
  source_ref: string;
  payload: { [k: string]: JsonValue };
}

describe('offers', () => {
  let db: TestDatabase;
  let ledger: Ledger;
  let offers: Offers;
  let clock = T0;
  let candidateId: string;
  let sp = 0;

  beforeAll(async () => {
    db = await createTestDatabase();
    ledger = createLedger({ pool: db.appPool });
    offers = createOffers({
      db: db.appPool,
      transact: ledger.transact.bind(ledger),
      isHrbp: hrbpsFromList(['HRBP1', 'hrbp2']),
      now: () => clock,
    });
    await savePosition(db.appPool, CORP, { id: 'be-2026-01', title: '后端工程师', salaryMin: 25000, salaryMax: 32000 });
    const { candidate } = await createCandidateByRecruiter(
      { transact: ledger.transact.bind(ledger), hmacKey: KEY },
      { corpId: CORP, recruiter: 'Recruiter1', positionId: 'be-2026-01' },
    );
    candidateId = candidate.candidateId;
  });
  afterAll(async () => {
    await ledger.close();
    await db.drop();
  });
  beforeEach(() => {
    clock = T0;
  });

  const records = async (offerId: string): Promise<Rec[]> =>
    (
      await db.pool.query<Rec>(
        `SELECT seq::int, stream, kind, actor, source, source_ref, payload FROM evidence_records
          WHERE payload->>'offer_id' = $1 ORDER BY seq`,
        [offerId],
      )
    ).rows;
  const last = async (offerId: string) => (await records(offerId)).at(-1) as Rec;
  const row = async (offerId: string) =>
    (
      await db.pool.query<{ state: string; steps: number; current_version: number }>(
        'SELECT state, steps, current_version FROM offers WHERE id = $1',
        [offerId],
      )
    ).rows[0];
  const current = (o: OfferView) => o.versions.find((v) => v.version === o.currentVersion)!;
  const ref = (o: OfferView) => ({ corpId: CORP, offerId: o.offerId });
  const vref = (o: OfferView) => ({ ...ref(o), version: o.currentVersion, contentSha256: current(o).contentSha256 });
  const reload = async (o: OfferView) => (await offers.getOffer(ref(o)))!;

  /** A new candidate: a candidate has at most one open offer per position. */
  const newCandidate = async () =>
    (
      await createCandidateByRecruiter(
        { transact: ledger.transact.bind(ledger), hmacKey: KEY },
        { corpId: CORP, recruiter: 'Recruiter1', positionId: 'be-2026-01' },
      )
    ).candidate.candidateId;
  const draft = async (terms: OfferTerms = TERMS, candidate?: string) =>
    offers.draftOffer({
      corpId: CORP,
      candidateId: candidate ?? (await newCandidate()),
      positionId: 'be-2026-01',
      actor: 'Recruiter1',
      terms,
    });

  /** Applies one action with arguments that satisfy its own rules (clock, reasons, HRBP). */
  async function act(action: OfferAction, o: OfferView): Promise<unknown> {
    switch (action) {
      case 'revise':
        return offers.reviseOffer({ ...ref(o), actor: 'Recruiter1', terms: { ...TERMS, baseMonthlyYuan: 31000 + o.steps } });
      case 'submit':
        return offers.submitForApproval({ ...ref(o), version: o.currentVersion, actor: 'Recruiter1' });
      case 'approve':
        return offers.recordApprovalOutcome(vref(o), `sp${++sp}`, 'approved');
      case 'reject':
        return offers.recordApprovalOutcome(vref(o), `sp${++sp}`, 'rejected');
      case 'revoke':
        return offers.recordApprovalOutcome(vref(o), `sp${++sp}`, 'revoked');
      case 'revoke_after_approval': {
        const v = current(o);
        return offers.recordApprovalOutcome(vref(o), v.approvalSpNo ?? `sp${++sp}`, 'revoked_after_approval');
      }
      case 'send':
        return offers.sendFormalOffer({ ...vref(o), actor: 'Recruiter1' });
      case 'accept':
        return offers.recordAcceptance({
          ...vref(o),
          ip: '203.0.113.7',
          userAgent: 'Mozilla/5.0',
          shownTextSha256: 'a'.repeat(64),
        });
      case 'decline':
        return offers.recordDecline({ ...ref(o), reasonCode: 'other_offer', reason: '接受了另一家公司的 offer' });
      case 'expire':
        clock = DEADLINE.getTime() + 1;
        return offers.expireOffer(ref(o));
      case 'rescind':
        return offers.rescindOffer({
          ...ref(o),
          actor: 'Recruiter1',
          hrbp: 'HRBP1',
          reason: '岗位编制取消',
          acknowledgeWarnings: true,
        });
      case 'renege':
        return offers.recordRenege({ ...ref(o), reasonCode: 'counter_offer', reason: '原公司加薪挽留' });
      case 'onboard':
        clock = Date.parse(`${START}T01:00:00.000Z`);
        return offers.markOnboarded({ ...ref(o), actor: 'Recruiter1' });
      case 'cancel':
        return offers.cancelOffer({ ...ref(o), actor: 'Recruiter1', reason: '候选人暂缓' });
    }
  }

  /** The shortest legal path from nothing to each state. */
  const PATH: Record<OfferState, OfferAction[]> = {
    draft: [],
    pending_approval: ['submit'],
    approved: ['submit', 'approve'],
    sent: ['submit', 'approve', 'send'],
    accepted: ['submit', 'approve', 'send', 'accept'],
    declined: ['submit', 'approve', 'send', 'decline'],
    expired: ['submit', 'approve', 'send', 'expire'],
    rescinded: ['submit', 'approve', 'send', 'rescind'],
    reneged: ['submit', 'approve', 'send', 'accept', 'renege'],
    onboarded: ['submit', 'approve', 'send', 'accept', 'onboard'],
    cancelled: ['cancel'],
  };

  async function offerIn(state: OfferState): Promise<OfferView> {
    clock = T0;
    let o = await draft();
    for (const a of PATH[state]) {
      await act(a, o);
      o = await reload(o);
    }
    expect(o.state).toBe(state);
    clock = T0;
    return o;
  }

  const KIND_OF: Record<OfferAction, string> = {
    revise: 'offer.revised',
    submit: 'offer.approval_requested',
    approve: 'offer.approved',
    reject: 'offer.approval_rejected',
    revoke: 'offer.approval_revoked',
    revoke_after_approval: 'offer.approval_revoked_after_approval',
    send: 'offer.sent',
    accept: 'offer.accepted',
    decline: 'offer.declined',
    expire: 'offer.expired',
    rescind: 'offer.rescinded',
    renege: 'offer.reneged',
    onboard: 'offer.onboarded',
    cancel: 'offer.cancelled',
  };

  describe('every legal transition: the state moves and one record says so', () => {
    const legal = OFFER_ACTIONS.flatMap((action) => TRANSITIONS[action].from.map((from) => [action, from] as const));
    test.each(legal)('%s from %s', async (action, from) => {
      const o = await offerIn(from);
      const before = await records(o.offerId);
      await act(action, o);
      const after = await reload(o);
      expect(after.state).toBe(TRANSITIONS[action].to);
      expect(after.steps).toBe(o.steps + 1);
      const recs = await records(o.offerId);
      expect(recs).toHaveLength(before.length + 1);
      const rec = recs.at(-1) as Rec;
      const v = current(after);
      expect(rec).toMatchObject({
        stream: `candidate:${o.candidateId}`,
        kind: KIND_OF[action],
        source: 'hireledger.offers',
        source_ref: `offer:${o.offerId}:${o.steps + 1}`,
      });
      expect(rec.payload).toMatchObject({
        offer_id: o.offerId,
        candidate_id: o.candidateId,
        action,
        from,
        to: TRANSITIONS[action].to,
        version: v.version,
        content_sha256: v.contentSha256,
        step: o.steps + 1,
      });
      const by = TRANSITIONS[action].by;
      const actor = by === 'member' ? 'recruiter1' : by === 'candidate' ? o.candidateId : by === 'system' ? 'hireledger' : 'sys';
      expect(rec.actor).toBe(actor);
      expect(rec.payload['actor']).toBe(actor);
    });
  });

  describe('every illegal transition is refused with the current state; nothing changes, nothing is recorded', () => {
    // Approval outcomes are facts reported by WeCom, never refused: see their own test below.
    const requested = OFFER_ACTIONS.filter((a) => TRANSITIONS[a].by !== 'approval');
    const illegal = requested.flatMap((action) =>
      OFFER_STATES.filter((s) => !TRANSITIONS[action].from.includes(s)).map((state) => [action, state] as const),
    );
    const inState = new Map<OfferState, OfferView>();
    beforeAll(async () => {
      for (const s of OFFER_STATES) inState.set(s, await offerIn(s));
    });

    test.each(illegal)('%s in %s', async (action, state) => {
      const o = inState.get(state)!;
      const before = { row: await row(o.offerId), records: await records(o.offerId) };
      const err = await act(action, o).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(OfferStateError);
      expect((err as OfferStateError).currentState).toBe(state);
      expect((err as OfferStateError).action).toBe(action);
      expect((err as Error).message).toContain('当前状态');
      expect(offerErrorResponse(err)).toEqual({
        status: 409,
        body: { error: 'illegal_transition', message: (err as Error).message, current_state: state },
      });
      expect(await row(o.offerId)).toEqual(before.row);
      expect(await records(o.offerId)).toEqual(before.records);
    });

    test('the table covers every action and state', () => {
      expect(
        illegal.length +
          OFFER_ACTIONS.filter((a) => TRANSITIONS[a].by !== 'approval').reduce((n, a) => n + TRANSITIONS[a].from.length, 0),
      ).toBe(requested.length * OFFER_STATES.length);
    });
  });

  test('an approval outcome that cannot apply is kept as a fact and moves nothing; a repeated one does nothing', async () => {
    const o = await offerIn('draft');
    const r1 = await offers.recordApprovalOutcome(vref(o), 'spX', 'approved');
    expect(r1).toEqual({ applied: false, duplicate: false, state: 'draft', why: 'state_does_not_allow' });
    expect((await reload(o)).state).toBe('draft');
    expect(current(await reload(o)).approvalStatus).toBe('none');
    // Reported again (a redelivered callback, a reconciliation): nothing more.
    const steps = (await reload(o)).steps;
    expect(await offers.recordApprovalOutcome(vref(o), 'spX', 'approved')).toEqual({
      applied: false,
      duplicate: true,
      state: 'draft',
    });
    expect((await reload(o)).steps).toBe(steps);
    expect(await last(o.offerId)).toMatchObject({
      kind: 'offer.approval_outcome',
      actor: 'sys',
      payload: { applied: false, why: 'state_does_not_allow', sp_no: 'spX', approval_status: 'approved' },
    });

    await offers.submitForApproval({ ...ref(o), version: 1, actor: 'recruiter1' });
    await offers.bindApproval(vref(o), 'spReal');
    const applied = await offers.recordApprovalOutcome(vref(o), 'spReal', 'approved', { approver: 'Manager1' });
    expect(applied).toEqual({ applied: true, duplicate: false, state: 'approved' });
    expect((await last(o.offerId)).actor).toBe('manager1');
    const n = (await records(o.offerId)).length;
    // A redelivered callback: the same outcome again changes and records nothing.
    expect(await offers.recordApprovalOutcome(vref(o), 'spReal', 'approved')).toEqual({
      applied: false,
      duplicate: true,
      state: 'approved',
    });
    expect(await records(o.offerId)).toHaveLength(n);
  });

  describe('concurrent transitions: exactly one applies', () => {
    test.each([
      ['accept', 'decline'],
      // (accept then rescind is legal in that order: a rescind after acceptance, with its warning)
      ['rescind', 'rescind'],
      ['send', 'send'],
      ['decline', 'rescind'],
      ['send', 'revise'],
      ['cancel', 'send'],
    ] as const)('%s racing %s', async (a, b) => {
      const o = await offerIn(a === 'send' || b === 'send' ? 'approved' : 'sent');
      expect(TRANSITIONS[b].from).not.toContain(TRANSITIONS[a].to);
      expect(TRANSITIONS[a].from).not.toContain(TRANSITIONS[b].to);
      const results = await Promise.allSettled([act(a, o), act(b, o)]);
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(1);
      const after = await reload(o);
      expect(lost[0]!.reason).toBeInstanceOf(OfferStateError);
      expect((lost[0]!.reason as OfferStateError).currentState).toBe(after.state);
      expect(after.steps).toBe(o.steps + 1);
      expect(await records(o.offerId)).toHaveLength(o.steps + 1);
    });

    test('the same approval reported twice at once: applied once, one record', async () => {
      const o = await offerIn('pending_approval');
      const [x, y] = await Promise.all([
        offers.recordApprovalOutcome(vref(o), 'spTwice', 'approved'),
        offers.recordApprovalOutcome(vref(o), 'spTwice', 'approved'),
      ]);
      expect([x.applied, y.applied].sort()).toEqual([false, true]);
      expect([x.duplicate, y.duplicate].sort()).toEqual([false, true]);
      expect((await records(o.offerId)).filter((r) => r.kind === 'offer.approved')).toHaveLength(1);
    });
  });

  describe('versions', () => {
    test('a change is a new version with a Chinese diff, back to draft, needing a new approval', async () => {
      const o = await offerIn('approved');
      const v1 = current(o);
      await offers.reviseOffer({
        ...ref(o),
        actor: 'Recruiter1',
        reason: '候选人有竞争 offer',
        terms: { ...TERMS, baseMonthlyYuan: 35000, location: '北京' },
      });
      const after = await reload(o);
      expect(after.state).toBe('draft');
      expect(after.currentVersion).toBe(2);
      const v2 = current(after);
      expect(v2.approvalStatus).toBe('none');
      expect(after.versions[0]).toMatchObject({ version: 1, approvalStatus: 'approved', contentSha256: v1.contentSha256 });
      const rec = await last(o.offerId);
      expect(rec.kind).toBe('offer.revised');
      expect(rec.payload).toMatchObject({
        version: 2,
        previous_version: 1,
        previous_content_sha256: v1.contentSha256,
        content_sha256: v2.contentSha256,
        diff_text: '月基本工资：¥30,000/月 → ¥35,000/月\n工作地点：上海 → 北京',
        reason: '候选人有竞争 offer',
        needs_new_approval: true,
      });
      expect(rec.payload['content']).toEqual(v2.content);
    });

    test('unchanged terms are not a version; terms cannot change while an approval is pending', async () => {
      const o = await offerIn('draft');
      const past = { ...TERMS, acceptanceDeadline: new Date(T0) };
      await expect(offers.reviseOffer({ ...ref(o), actor: 'r', terms: past })).rejects.toThrow('接受截止时间必须晚于现在');
      await expect(draft(past)).rejects.toThrow('接受截止时间必须晚于现在');
      await expect(offers.reviseOffer({ ...ref(o), actor: 'r', terms: TERMS })).rejects.toThrow(OfferInputError);
      const p = await offerIn('pending_approval');
      await expect(offers.reviseOffer({ ...ref(p), actor: 'r', terms: { ...TERMS, level: 'P7' } })).rejects.toThrow(
        '请先撤回审批',
      );
      expect(await row(p.offerId)).toMatchObject({ state: 'pending_approval', current_version: 1 });
    });

    test('the terms of a version cannot be changed by the app role (no UPDATE on content)', async () => {
      const o = await offerIn('draft');
      await expect(
        db.appPool.query(
          `UPDATE offer_versions SET content = jsonb_set(content, '{base_monthly_yuan}', '99999') WHERE offer_id = $1`,
          [o.offerId],
        ),
      ).rejects.toThrow(/permission denied/);
      await expect(db.appPool.query('DELETE FROM offers WHERE id = $1', [o.offerId])).rejects.toThrow(/permission denied/);
    });
  });

  describe('the send gate', () => {
    const refusal = async (p: Promise<unknown>) =>
      p.then(
        () => null,
        (e: unknown) => e,
      );

    test('passes only for the approved content; the sent record carries it and its hash', async () => {
      const o = await offerIn('approved');
      await offers.sendFormalOffer({ ...vref(o), actor: 'Recruiter1' });
      const rec = await last(o.offerId);
      expect(rec.kind).toBe('offer.sent');
      const content = rec.payload['content'] as { [k: string]: JsonValue };
      // Recomputed here, independently: SHA-256 of the canonical JSON of what was sent.
      const hash = createHash('sha256').update(canonicalize(content)).digest('hex');
      expect(rec.payload).toMatchObject({
        content_sha256: hash,
        approved_content_sha256: hash,
        acceptance_deadline: DEADLINE.toISOString(),
      });
      expect(content['base_monthly_yuan']).toBe(30000);
    });

    test('content tampered with between approval and send: refused, nothing written', async () => {
      const o = await offerIn('approved');
      // Behind the app's back (the app role may not): the terms in the database change.
      await db.pool.query(
        `UPDATE offer_versions SET content = jsonb_set(content, '{base_monthly_yuan}', '45000') WHERE offer_id = $1`,
        [o.offerId],
      );
      const before = await records(o.offerId);
      const err = await refusal(offers.sendFormalOffer({ ...vref(o), actor: 'Recruiter1' }));
      expect(err).toBeInstanceOf(OfferGateError);
      expect(err).toMatchObject({ reason: 'content_altered', currentState: 'approved' });
      expect(offerErrorResponse(err)).toMatchObject({
        status: 409,
        body: { reason: 'content_altered', current_state: 'approved' },
      });
      expect(await row(o.offerId)).toMatchObject({ state: 'approved' });
      expect(await records(o.offerId)).toEqual(before);
    });

    test('the approval of version 1 does not allow version 2', async () => {
      const o = await offerIn('approved');
      const v1 = vref(o);
      await offers.reviseOffer({ ...ref(o), actor: 'Recruiter1', terms: { ...TERMS, level: 'P7' } });
      let v2 = await reload(o);
      // In draft, sending anything is an illegal transition.
      await expect(offers.sendFormalOffer({ ...vref(v2), actor: 'r' })).rejects.toThrow(OfferStateError);
      await offers.submitForApproval({ ...ref(o), version: 2, actor: 'r' });
      // Version 1's approval reported again, late: it moves nothing.
      const late = await offers.recordApprovalOutcome(v1, 'spLate', 'approved');
      expect(late).toMatchObject({ applied: false });
      v2 = await reload(o);
      expect(v2.state).toBe('pending_approval');
      expect(current(v2).approvalStatus).toBe('pending');
      // Even if the state said approved (a bug elsewhere, a hand edit), the domain refuses.
      await db.pool.query(`UPDATE offers SET state = 'approved' WHERE id = $1`, [o.offerId]);
      const before = await records(o.offerId);
      expect(await refusal(offers.sendFormalOffer({ ...vref(v2), actor: 'r' }))).toMatchObject({ reason: 'not_approved' });
      expect(await refusal(offers.sendFormalOffer({ ...v1, actor: 'r' }))).toMatchObject({ reason: 'not_current_version' });
      expect(await records(o.offerId)).toEqual(before);
      // Undo the hand edit (the invariant test at the end would rightly flag it).
      await db.pool.query(`UPDATE offers SET state = 'pending_approval' WHERE id = $1`, [o.offerId]);
    });

    test('an approval of other content than the version holds does not approve it', async () => {
      const o = await offerIn('pending_approval');
      const r = await offers.recordApprovalOutcome({ ...vref(o), contentSha256: 'b'.repeat(64) }, 'spOther', 'approved');
      expect(r).toMatchObject({ applied: false, why: 'content_hash_mismatch', state: 'pending_approval' });
      expect(current(await reload(o)).approvalStatus).toBe('pending');
    });

    test('an outcome of another approval than the one bound does not count', async () => {
      const o = await offerIn('pending_approval');
      await offers.bindApproval(vref(o), 'spBound');
      await offers.bindApproval(vref(o), 'spBound'); // again: a no-op
      await expect(offers.bindApproval(vref(o), 'spSecond')).rejects.toThrow(OfferStateError);
      await expect(offers.bindApproval({ ...vref(o), contentSha256: 'f'.repeat(64) }, 'spBound')).rejects.toThrow(
        OfferInputError,
      );
      expect(await offers.recordApprovalOutcome(vref(o), 'spStray', 'approved')).toMatchObject({
        applied: false,
        why: 'other_approval',
      });
      expect((await reload(o)).state).toBe('pending_approval');
    });

    test('the sender must send the approved hash, and before the stated deadline', async () => {
      const o = await offerIn('approved');
      expect(await refusal(offers.sendFormalOffer({ ...vref(o), contentSha256: 'c'.repeat(64), actor: 'r' }))).toMatchObject({
        reason: 'sent_content_differs',
      });
      clock = DEADLINE.getTime();
      expect(await refusal(offers.sendFormalOffer({ ...vref(o), actor: 'r' }))).toMatchObject({ reason: 'deadline_passed' });
      expect(await row(o.offerId)).toMatchObject({ state: 'approved', steps: o.steps });
    });
  });

  describe('rescinding (DECISIONS 14)', () => {
    test('needs a reason and an HRBP other than the member rescinding', async () => {
      const o = await offerIn('sent');
      const base = { ...ref(o), actor: 'Recruiter1', acknowledgeWarnings: true };
      await expect(offers.rescindOffer({ ...base, hrbp: 'HRBP1', reason: ' ' })).rejects.toThrow('请填写原因');
      await expect(offers.rescindOffer({ ...base, hrbp: 'someone', reason: '编制取消' })).rejects.toThrow('不是 HRBP');
      await expect(offers.rescindOffer({ ...base, actor: 'hrbp1', hrbp: 'HRBP1', reason: '编制取消' })).rejects.toThrow(
        '另一位 HRBP',
      );
      expect(await row(o.offerId)).toMatchObject({ state: 'sent', steps: o.steps });
    });

    test('before a stated deadline: refused until the warning is acknowledged, which the record keeps', async () => {
      const o = await offerIn('sent');
      const args = { ...ref(o), actor: 'Recruiter1', hrbp: 'hrbp2', reason: '编制取消', hrbpApprovalRef: 'sp-rescind-1' };
      const err = await offers.rescindOffer(args).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(OfferRescindWarningError);
      expect((err as OfferRescindWarningError).warnings.map((w) => w.code)).toEqual(['deadline_not_passed']);
      expect((err as Error).message).toContain('第476条');
      expect(await row(o.offerId)).toMatchObject({ state: 'sent', steps: o.steps });

      await offers.rescindOffer({ ...args, acknowledgeWarnings: true });
      expect(await last(o.offerId)).toMatchObject({
        kind: 'offer.rescinded',
        actor: 'recruiter1',
        payload: {
          reason: '编制取消',
          hrbp: 'hrbp2',
          hrbp_approval_ref: 'sp-rescind-1',
          warnings_acknowledged: true,
          warnings: [{ code: 'deadline_not_passed' }],
        },
      });
    });

    test('after the deadline no deadline warning; after acceptance the acceptance warning', async () => {
      const o = await offerIn('sent');
      clock = DEADLINE.getTime() + 1000;
      await offers.rescindOffer({ ...ref(o), actor: 'Recruiter1', hrbp: 'hrbp1', reason: '编制取消' });
      expect((await last(o.offerId)).payload['warnings']).toEqual([]);

      const a = await offerIn('accepted');
      await expect(offers.rescindOffer({ ...ref(a), actor: 'Recruiter1', hrbp: 'hrbp1', reason: '编制取消' })).rejects.toThrow(
        OfferRescindWarningError,
      );
    });
  });

  describe('candidate answers and the start date', () => {
    test('acceptance after the deadline is refused; expiry before it is refused', async () => {
      const o = await offerIn('sent');
      await expect(offers.expireOffer(ref(o))).rejects.toThrow('尚未到接受截止时间');
      clock = DEADLINE.getTime();
      await expect(offers.recordAcceptance(vref(o))).rejects.toThrow('接受截止时间已过');
      expect(await row(o.offerId)).toMatchObject({ state: 'sent', steps: o.steps });
    });

    test('acceptance of other content than the sent one is refused', async () => {
      const o = await offerIn('sent');
      await expect(offers.recordAcceptance({ ...vref(o), contentSha256: 'd'.repeat(64) })).rejects.toThrow('不一致');
    });

    test('the acceptance record keeps ip, user agent and the shown text’s hash; the actor is the opaque candidate id', async () => {
      const o = await offerIn('accepted');
      expect(await last(o.offerId)).toMatchObject({
        kind: 'offer.accepted',
        actor: o.candidateId,
        payload: { ip: '203.0.113.7', user_agent: 'Mozilla/5.0', shown_text_sha256: 'a'.repeat(64) },
      });
    });

    test('renege only before the start date (Asia/Shanghai), onboarding only from it', async () => {
      const o = await offerIn('accepted');
      // 2027-01-03 16:00 UTC is already 2027-01-04 00:00 in Shanghai.
      clock = Date.parse('2027-01-03T16:00:00.000Z');
      await expect(offers.recordRenege({ ...ref(o), reasonCode: 'personal' })).rejects.toThrow('已到入职日期');
      clock = Date.parse('2027-01-03T15:59:59.999Z');
      await expect(offers.markOnboarded({ ...ref(o), actor: 'r' })).rejects.toThrow('尚未到');
      await expect(offers.recordDecline({ ...ref(o), reasonCode: 'bogus' as 'other' })).rejects.toThrow('原因类别');
      await offers.recordRenege({ ...ref(o), reasonCode: 'personal' });
      expect(await last(o.offerId)).toMatchObject({ kind: 'offer.reneged', payload: { reason_code: 'personal', reason: null } });
    });
  });

  describe('a state change and its record commit together', () => {
    test('the ledger refusing the record (its source_ref already stored) rolls the state change back', async () => {
      const o = await offerIn('approved');
      await ledger.append({
        stream: `candidate:${candidateId}`,
        kind: 'test.squatter',
        occurredAt: new Date(T0),
        actor: 'test',
        source: 'hireledger.offers',
        sourceRef: `offer:${o.offerId}:${o.steps + 1}`,
        payload: {},
        raw: null,
      });
      await expect(offers.sendFormalOffer({ ...vref(o), actor: 'Recruiter1' })).rejects.toThrow(DuplicateDecisionError);
      expect(await row(o.offerId)).toMatchObject({ state: 'approved', steps: o.steps });
    });

    test('a failing append (a stale stream head) leaves neither the row change nor the record', async () => {
      const failing = createOffers({
        db: db.appPool,
        transact: (work) =>
          ledger.transact(async (tx) => ({
            ...(await work(tx)),
            expectedHeads: { [`candidate:${candidateId}`]: 'e'.repeat(64) },
          })),
        isHrbp: hrbpsFromList([]),
        now: () => clock,
      });
      const o = await offerIn('draft');
      const before = await records(o.offerId);
      await expect(failing.submitForApproval({ ...ref(o), version: 1, actor: 'r' })).rejects.toThrow(StaleStreamError);
      expect(await row(o.offerId)).toMatchObject({ state: 'draft', steps: o.steps });
      expect(current(await reload(o)).approvalStatus).toBe('none');
      expect(await records(o.offerId)).toEqual(before);
      await expect(
        failing.draftOffer({ corpId: CORP, candidateId, positionId: 'be-2026-01', actor: 'r', terms: TERMS }),
      ).rejects.toThrow(StaleStreamError);
      const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM offers');
      const { rows: recs } = await db.pool.query(`SELECT count(*)::int AS n FROM evidence_records WHERE kind = 'offer.created'`);
      expect(rows[0].n).toBe(recs[0].n);
    });

    test('the created record holds the whole content, its hash and the lower-cased member', async () => {
      const o = await draft();
      const [rec] = await records(o.offerId);
      expect(rec).toMatchObject({ kind: 'offer.created', actor: 'recruiter1', source_ref: `offer:${o.offerId}:1` });
      expect(rec!.payload['content']).toEqual(current(o).content);
      expect(rec!.payload['content_sha256']).toBe(
        createHash('sha256')
          .update(canonicalize(current(o).content))
          .digest('hex'),
      );
      expect(o.offerId).toMatch(/^of_[0-9a-f]{32}$/);
    });
  });

  describe('steps before an offer', () => {
    test('an intent notice states that it is not binding; an interview invitation is recorded as such', async () => {
      const mod = createOffersModule({ db: db.appPool, transact: ledger.transact.bind(ledger), isHrbp: hrbpsFromList([]) });
      expect(mod.name).toBe('offers');
      expect(mod.consumers).toBeUndefined();
      const { noticeId } = await mod.notices.recordIntentNotice({
        corpId: CORP,
        candidateId,
        positionId: 'be-2026-01',
        actor: 'Recruiter1',
        text: '您好，经过面试，我们有意向录用您担任后端工程师。',
        intendedStartDate: START,
      });
      const { rows } = await db.pool.query<Rec>(
        `SELECT kind, actor, stream, payload FROM evidence_records WHERE source_ref = $1`,
        [`notice:${noticeId}`],
      );
      expect(rows[0]).toMatchObject({ kind: 'offer.intent_notice', actor: 'recruiter1', stream: `candidate:${candidateId}` });
      const text = rows[0]!.payload['text'] as string;
      expect(text).toContain(INTENT_NOTICE_CLAUSE);
      expect(text).toContain('不构成正式录用通知');
      expect(rows[0]!.payload).toMatchObject({ binding: false, title: '后端工程师', intended_start_date: START });
      expect(rows[0]!.payload['text_sha256']).toBe(createHash('sha256').update(text).digest('hex'));

      const inv = await mod.notices.recordInterviewInvitation({
        corpId: CORP,
        candidateId,
        positionId: 'be-2026-01',
        actor: 'Recruiter1',
        interviewAt: new Date('2026-11-28T06:00:00.000Z'),
        where: '腾讯会议 123-456-789',
        text: '邀请您参加二面',
      });
      const { rows: r2 } = await db.pool.query<Rec>(`SELECT kind, payload FROM evidence_records WHERE source_ref = $1`, [
        `notice:${inv.noticeId}`,
      ]);
      expect(r2[0]).toMatchObject({
        kind: 'offer.interview_invitation',
        payload: { binding: false, interview_at: '2026-11-28T06:00:00.000Z' },
      });
      await expect(
        mod.notices.recordIntentNotice({
          corpId: CORP,
          candidateId: 'cd_' + '0'.repeat(32),
          positionId: 'be-2026-01',
          actor: 'r',
          text: 'x',
        }),
      ).rejects.toThrow('候选人不存在');
    });
  });

  test('offerStatusOf answers the signals module: approved terms once approved', async () => {
    const other = await createCandidateByRecruiter(
      { transact: ledger.transact.bind(ledger), hmacKey: KEY },
      { corpId: CORP, recruiter: 'Recruiter1' },
    );
    expect(await offers.offerStatusOf(CORP, other.candidate.candidateId)).toEqual({ approved: false });
    const approved = await offerIn('approved');
    expect(await offers.offerStatusOf(CORP, approved.candidateId)).toMatchObject({
      approved: true,
      terms: { base_monthly_yuan: expect.any(Number) },
    });
  });

  test('every offer record reads in the timeline, in Chinese, with its role', async () => {
    // The renderers fit the timeline's option as they are.
    const renderers: EntryRenderers = OFFER_RENDERERS;
    const o = await offerIn('approved');
    await offers.reviseOffer({ ...ref(o), actor: 'Recruiter1', terms: { ...TERMS, baseMonthlyYuan: 35000 } });
    const v2 = await reload(o);
    await offers.submitForApproval({ ...ref(o), version: 2, actor: 'Recruiter1' });
    await offers.recordApprovalOutcome(vref(v2), 'spV2', 'approved');
    await offers.sendFormalOffer({ ...vref(v2), actor: 'Recruiter1' });
    await offers.recordDecline({ ...ref(o), reasonCode: 'salary', reason: '期望更高' });
    // Through the timeline itself, re-verifying the candidate's whole stream.
    const page = await readTimeline(
      db.appPool,
      { candidateId: o.candidateId, stream: `candidate:${o.candidateId}` },
      { renderers, verify: true },
    );
    expect(page.verification).toMatchObject({ ok: true, reached_head: true, problems: [] });
    const seqs = new Set((await records(o.offerId)).map((r) => r.seq));
    const views = page.entries.filter((e) => seqs.has(e.seq)).map((e) => ({ role: e.who.role, summary: e.summary }));
    expect(views.map((v) => `${v.role}|${v.summary}`)).toEqual([
      'recruiter|起草 offer 第 1 版：P6，¥30,000/月 × 13 薪，入职 2027-01-04',
      'recruiter|提交 offer 第 1 版审批',
      expect.stringMatching(/^system\|offer 第 1 版审批通过（审批单 sp\d+）$/),
      'recruiter|offer 修改为第 2 版（需重新审批）：月基本工资：¥30,000/月 → ¥35,000/月',
      'recruiter|提交 offer 第 2 版审批',
      'system|offer 第 2 版审批通过（审批单 spV2）',
      'recruiter|正式 offer 第 2 版已发出：P6，¥35,000/月 × 13 薪，入职 2027-01-04，接受截止 2026-12-08 18:00（北京时间）',
      'candidate|候选人拒绝了 offer（薪资：期望更高）',
    ]);
  });

  test('a candidate has at most one open offer per position; a new one once the last has ended', async () => {
    const o = await offerIn('sent');
    const err = await draft(TERMS, o.candidateId).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(OfferInputError);
    expect((err as Error).message).toContain('已有未结束的 offer');
    await offers.recordDecline({ ...ref(o), reasonCode: 'salary' });
    const again = await draft(TERMS, o.candidateId);
    expect(again.state).toBe('draft');
    // Two drafts at once for the same candidate and position: one is refused.
    const c = await newCandidate();
    const both = await Promise.allSettled([draft(TERMS, c), draft(TERMS, c)]);
    expect(both.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const lost = both.find((r): r is PromiseRejectedResult => r.status === 'rejected')!;
    expect(lost.reason).toBeInstanceOf(OfferInputError);
  });

  // Runs last: every offer written by the tests above (races, refusals and rollbacks included).
  test('invariant: each offer has exactly its steps as records, numbered 1..n, and its versions as the records say', async () => {
    await draft();
    const { rows: all } = await db.pool.query<{
      id: string;
      candidate_id: string;
      steps: number;
      current_version: number;
      state: string;
    }>('SELECT id, candidate_id, steps, current_version, state FROM offers');
    for (const o of all) {
      const recs = await records(o.id);
      expect(recs.map((r) => r.payload['step'])).toEqual(Array.from({ length: o.steps }, (_, i) => i + 1));
      expect(recs.map((r) => r.source_ref)).toEqual(recs.map((_, i) => `offer:${o.id}:${i + 1}`));
      const lastRec = recs.at(-1)!;
      expect(lastRec.payload['to']).toBe(o.state);
      const versions = recs
        .filter((r) => r.kind === 'offer.created' || r.kind === 'offer.revised')
        .map((r) => r.payload['version']);
      expect(versions).toEqual(Array.from({ length: o.current_version }, (_, i) => i + 1));
    }
    const mine = await offers.listOffers(CORP, all[0]!.candidate_id);
    expect(mine.map((v) => v.offerId)).toContain(all[0]!.id);
  });
});
