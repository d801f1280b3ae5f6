import {
  CalendarYearMissingError,
  REMINDER_TYPES,
  approvalIdleReminders,
  feedbackDue,
  onboardingMaterialsReminders,
} from '../../src/reminders';

/** The pure rules of the approval-idle, onboarding-materials and feedback reminders (DECISIONS 13). */

const CANDIDATE = `cd_${'a'.repeat(32)}`;

describe('approvalIdleReminders', () => {
  test('a working day → each approver once; two → the recruiter and the HRBP once each; a 调休 Saturday counts', () => {
    // Friday 9 Oct 2026, 15:30 Shanghai; Saturday 10 Oct is a 调休 working day (National Day).
    const planned = approvalIdleReminders({
      reachedAt: new Date('2026-10-09T07:30:00.000Z'),
      approvers: ['LiQiang', 'liqiang'],
      applicant: 'ZhangMin',
      hrbps: ['wangfang', 'zhangmin'],
    });
    expect(planned.map((p) => [p.type, p.recipient, p.dueAt.toISOString()])).toEqual([
      [REMINDER_TYPES.approvalIdleApprover, 'liqiang', '2026-10-10T07:30:00.000Z'],
      [REMINDER_TYPES.approvalIdleEscalation, 'zhangmin', '2026-10-12T07:30:00.000Z'],
      [REMINDER_TYPES.approvalIdleEscalation, 'wangfang', '2026-10-12T07:30:00.000Z'],
    ]);
  });

  test('a year the calendar does not list is refused, not guessed', () => {
    expect(() =>
      approvalIdleReminders({ reachedAt: new Date('2099-03-02T02:00:00.000Z'), approvers: ['a'], applicant: 'b', hrbps: [] }),
    ).toThrow(CalendarYearMissingError);
  });
});

describe('onboardingMaterialsReminders', () => {
  const base = { startDate: '2026-12-07', candidateId: CANDIDATE, recruiter: 'ZhangMin' };

  test('09:00 Shanghai on the third working day before the start date, to the recruiter and the candidate', () => {
    const planned = onboardingMaterialsReminders({ ...base, now: new Date('2026-11-26T03:00:00.000Z') });
    expect(planned.map((p) => [p.type, p.audience, p.recipient, p.dueAt.toISOString()])).toEqual([
      [REMINDER_TYPES.onboardingMaterialsRecruiter, 'member', 'zhangmin', '2026-12-02T01:00:00.000Z'],
      [REMINDER_TYPES.onboardingMaterialsCandidate, 'candidate', CANDIDATE, '2026-12-02T01:00:00.000Z'],
    ]);
  });

  test('accepted after that moment: now, the candidate’s out of the quiet hours; on the start date: none', () => {
    // Friday 4 Dec, 22:00 Shanghai.
    const late = onboardingMaterialsReminders({ ...base, now: new Date('2026-12-04T14:00:00.000Z') });
    expect(late.map((p) => p.dueAt.toISOString())).toEqual(['2026-12-04T14:00:00.000Z', '2026-12-05T01:00:00.000Z']);
    expect(onboardingMaterialsReminders({ ...base, now: new Date('2026-12-06T16:00:00.000Z') })).toEqual([]);
  });

  test('a start date in a year the calendar does not list is refused', () => {
    expect(() => onboardingMaterialsReminders({ ...base, startDate: '2099-01-12', now: new Date() })).toThrow(
      CalendarYearMissingError,
    );
  });
});

describe('feedbackDue', () => {
  test('10:00 Shanghai a calendar week after the start date; onboarded later: now, out of the quiet hours; a week later still: none', () => {
    expect(feedbackDue('2026-12-07', new Date('2026-12-07T02:00:00.000Z'))!.toISOString()).toBe('2026-12-14T02:00:00.000Z');
    // A start date in a year without holidays listed is fine: calendar days.
    expect(feedbackDue('2099-01-05', new Date(0))!.toISOString()).toBe('2099-01-12T02:00:00.000Z');
    expect(feedbackDue('2026-12-07', new Date('2026-12-20T14:00:00.000Z'))!.toISOString()).toBe('2026-12-21T01:00:00.000Z');
    // More than a week after it was due (marked onboarded late, or old records replayed): none.
    expect(feedbackDue('2026-12-07', new Date('2026-12-21T02:00:00.001Z'))).toBeNull();
  });
});
