import { CANDIDATE_STREAMS } from '../../src/candidates';
import { createLedgerReader } from '../../src/evidence';
import { createLogger } from '../../src/observability/logger';
import {
  REMINDER_CONSUMERS,
  REMINDER_KINDS,
  REMINDER_SUBJECTS,
  REMINDER_TYPES,
  feedbackDue,
  onboardingMaterialsDue,
  type ReminderRow,
} from '../../src/reminders';
import { FEEDBACK_BASE, RECRUITER, acceptedOffer, inbox, records, startIdleWorld, until, type IdleWorld } from './idle-support';

/**
 * Issue 10 items 6 and 9: onboarding materials missing 3 working days before the start date → the
 * candidate (by the open route: for now a task for the recruiter) and the recruiter, listing what is
 * missing when it falls due; moot when everything is received or the offer is reneged or rescinded;
 * a start date in a year the holiday calendar does not list is recorded, never guessed. And one
 * calendar week after the start date of an onboarded offer, the feedback link. Real PostgreSQL,
 * Redis, worker runtime, the sandbox's message/send; only the reminders' (and offers') clocks move.
 */

const RECRUITER_TEXT = '【入职材料未齐】';
const TASK_TEXT = '【请提醒候选人提交入职材料】';
const FEEDBACK_TEXT = '【请转发入职一周反馈问卷】';
/** A Monday whose three working days before are plain weekdays (Wed 2 Dec 2026 09:00 Shanghai). */
const START = '2026-12-07';

describe('onboarding reminders', () => {
  let w: IdleWorld | undefined;
  afterEach(async () => {
    await w?.stop();
    w = undefined;
  });

  const rowsOf = async (world: IdleWorld, subject: string): Promise<ReminderRow[]> =>
    world.reminders.reminders.ofSubject(world.corpId, subject);

  test('3 working days before the start date: the recruiter and (as the recruiter’s task) the candidate, listing only what is still missing', async () => {
    w = await startIdleWorld({ approvals: false });
    const world = w;
    const due = onboardingMaterialsDue(START);
    expect(due.toISOString()).toBe('2026-12-02T01:00:00.000Z');
    const t0 = Date.now();
    world.remindersClock.offsetMs = due.getTime() - t0 - 12_000;
    const o = await acceptedOffer(world, START);
    await world.onboarding.markReceived({ corpId: world.corpId, offerId: o.offerId, material: '身份证复印件', actor: RECRUITER });
    const subject = REMINDER_SUBJECTS.materials(o.offerId);
    await until('the materials reminders made', async () => (await rowsOf(world, subject)).length === 2);
    const made = await rowsOf(world, subject);
    expect(made.map((r) => [r.kind, r.audience, r.recipient, r.due_at.toISOString()]).sort()).toEqual(
      [
        [REMINDER_TYPES.onboardingMaterialsCandidate, 'candidate', o.candidateId, due.toISOString()],
        [REMINDER_TYPES.onboardingMaterialsRecruiter, 'member', RECRUITER, due.toISOString()],
      ].sort(),
    );
    expect(inbox(world, RECRUITER, RECRUITER_TEXT)).toHaveLength(0);

    await until('both sent', async () => (await rowsOf(world, subject)).every((r) => r.state === 'sent'), 30_000);
    const toRecruiter = inbox(world, RECRUITER, RECRUITER_TEXT);
    const task = inbox(world, RECRUITER, TASK_TEXT);
    expect(toRecruiter).toHaveLength(1);
    expect(task).toHaveLength(1);
    for (const m of [toRecruiter[0]!, task[0]!]) {
      expect(m.content).toContain('学历学位证书、离职证明、体检报告、银行卡信息');
      expect(m.content).not.toContain('身份证复印件');
      expect(m.content).toContain(START);
      // Not early on the reminders' clock.
      expect(m.at + world.remindersClock.offsetMs).toBeGreaterThanOrEqual(due.getTime());
    }
    const sent = (await records(world, CANDIDATE_STREAMS.candidate(o.candidateId), REMINDER_KINDS.sent)).map((r) => r.payload);
    expect(sent).toHaveLength(2);
    const candidateSent = sent.find((p) => p['type'] === REMINDER_TYPES.onboardingMaterialsCandidate)!;
    expect(candidateSent).toMatchObject({ route_used: 'recruiter_task', task_for: RECRUITER });
    expect(candidateSent['missing']).toEqual(['学历学位证书', '离职证明', '体检报告', '银行卡信息']);
    await new Promise((r) => setTimeout(r, 2000));
    expect(inbox(world, RECRUITER, '【')).toHaveLength(2);
  }, 60_000);

  test('moot: every material received, or the offer reneged, cancels them with a record each; nothing is sent', async () => {
    w = await startIdleWorld({ approvals: false });
    const world = w;
    const all = await acceptedOffer(world, START);
    const reneged = await acceptedOffer(world, START);
    await until(
      'both offers’ reminders made',
      async () =>
        (await rowsOf(world, REMINDER_SUBJECTS.materials(all.offerId))).length === 2 &&
        (await rowsOf(world, REMINDER_SUBJECTS.materials(reneged.offerId))).length === 2,
    );
    for (const m of ['身份证复印件', '学历学位证书', '离职证明', '体检报告']) {
      await world.onboarding.markReceived({ corpId: world.corpId, offerId: all.offerId, material: m, actor: RECRUITER });
    }
    // Four of five: still pending.
    await new Promise((r) => setTimeout(r, 1000));
    expect((await rowsOf(world, REMINDER_SUBJECTS.materials(all.offerId))).map((r) => r.state)).toEqual(['pending', 'pending']);
    await world.onboarding.markReceived({ corpId: world.corpId, offerId: all.offerId, material: '银行卡信息', actor: RECRUITER });
    await world.offers.offers.recordRenege({
      corpId: world.corpId,
      offerId: reneged.offerId,
      reasonCode: 'other',
      reason: '个人原因',
    });
    for (const [o, cause] of [
      [all, 'onboarding.material_received'],
      [reneged, 'offer.reneged'],
    ] as const) {
      await until('cancelled', async () =>
        (await rowsOf(world, REMINDER_SUBJECTS.materials(o.offerId))).every((r) => r.state === 'cancelled'),
      );
      const cancelled = (await records(world, CANDIDATE_STREAMS.candidate(o.candidateId), REMINDER_KINDS.cancelled)).map(
        (r) => r.payload,
      );
      expect(cancelled).toHaveLength(2);
      expect(cancelled.every((p) => p['cause_kind'] === cause)).toBe(true);
    }
    expect(inbox(world, RECRUITER, '【')).toHaveLength(0);
  }, 60_000);

  test('a start date in a year the holiday calendar does not list: recorded, no reminder guessed; a replay records nothing more', async () => {
    w = await startIdleWorld({ approvals: false });
    const world = w;
    const o = await acceptedOffer(world, '2099-03-02');
    const stream = CANDIDATE_STREAMS.candidate(o.candidateId);
    await until('the refusal recorded', async () => (await records(world, stream, REMINDER_KINDS.notScheduled)).length === 1);
    const [rec] = await records(world, stream, REMINDER_KINDS.notScheduled);
    expect(rec!.payload).toMatchObject({
      type: REMINDER_TYPES.onboardingMaterialsRecruiter,
      subject: REMINDER_SUBJECTS.materials(o.offerId),
      reason: 'calendar_year_missing',
      year: 2099,
      cause_kind: 'offer.accepted',
    });
    expect(rec!.payload['error']).toContain('chinese-days');
    expect(await rowsOf(world, REMINDER_SUBJECTS.materials(o.offerId))).toEqual([]);

    const reader = createLedgerReader(world.app.db.appPool);
    const accepted = (await reader.readStream(stream)).find((r) => r.kind === 'offer.accepted')!;
    await world.reminders.consumers![REMINDER_CONSUMERS.onboarding]!.handle(accepted, {
      corpId: world.corpId,
      log: createLogger('silent', 't'),
      reader,
      transact: (work) => world.ledger.transact(work),
    });
    expect(await records(world, stream, REMINDER_KINDS.notScheduled)).toHaveLength(1);
  }, 60_000);

  test('one calendar week after the start date of an onboarded offer: the feedback link, once, by the candidate route', async () => {
    w = await startIdleWorld({ approvals: false });
    const world = w;
    const o = await acceptedOffer(world, START);
    await until(
      'the materials reminders made',
      async () => (await rowsOf(world, REMINDER_SUBJECTS.materials(o.offerId))).length === 2,
    );
    // Their triggers armed on today's clock (days ahead) before the clock moves past their due time.
    const made = await rowsOf(world, REMINDER_SUBJECTS.materials(o.offerId));
    await until('the materials reminders armed', async () => world.armed(made.map((r) => r.id)));
    const due = feedbackDue(START, new Date(0))!;
    expect(due.toISOString()).toBe('2026-12-14T02:00:00.000Z');
    world.remindersClock.offsetMs = due.getTime() - Date.now() - 6000;
    // The first day came (on the offers' clock): onboarded.
    world.offersClock.now = Date.parse('2026-12-07T01:30:00.000Z');
    await world.offers.offers.markOnboarded({ corpId: world.corpId, offerId: o.offerId, actor: RECRUITER });
    world.offersClock.now = null;
    const subject = REMINDER_SUBJECTS.feedback(o.offerId);
    await until('the feedback reminder made', async () => (await rowsOf(world, subject)).length === 1);
    const [row] = await rowsOf(world, subject);
    expect(row).toMatchObject({ kind: REMINDER_TYPES.onboardingFeedback, audience: 'candidate', recipient: o.candidateId });
    expect(row!.due_at.toISOString()).toBe(due.toISOString());
    // Onboarded: the materials reminders are moot.
    expect((await rowsOf(world, REMINDER_SUBJECTS.materials(o.offerId))).map((r) => r.state)).toEqual(['cancelled', 'cancelled']);

    await until('the link handed to the recruiter', async () => inbox(world, RECRUITER, FEEDBACK_TEXT).length === 1, 30_000);
    const [msg] = inbox(world, RECRUITER, FEEDBACK_TEXT);
    expect(msg!.content).toContain(`${FEEDBACK_BASE}?offer=${o.offerId}`);
    expect(msg!.at + world.remindersClock.offsetMs).toBeGreaterThanOrEqual(due.getTime());
    await until('settled', async () => (await rowsOf(world, subject))[0]!.state === 'sent');
    const sent = (await records(world, CANDIDATE_STREAMS.candidate(o.candidateId), REMINDER_KINDS.sent)).map((r) => r.payload);
    expect(sent.filter((p) => p['type'] === REMINDER_TYPES.onboardingFeedback)).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 2000));
    expect(inbox(world, RECRUITER, FEEDBACK_TEXT)).toHaveLength(1);
  }, 60_000);
});
