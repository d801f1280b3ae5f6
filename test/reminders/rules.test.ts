import {
  approvalIdleDue,
  CalendarYearMissingError,
  candidateSendTime,
  chinaCalendar,
  chooseRoute,
  COVERED_YEARS,
  inQuietHours,
  offerSentReminders,
  onboardingMaterialsDue,
  REMINDER_TYPES,
} from '../../src/reminders';

/** Shanghai wall-clock time → the instant (UTC+8, no DST). */
const sh = (local: string) => new Date(`${local}+08:00`);

describe('quiet hours (21:00–09:00 Asia/Shanghai, DECISIONS 13)', () => {
  test('20:59 is outside, 21:00 inside, 08:59 inside, 09:00 outside', () => {
    expect(inQuietHours(sh('2026-11-26T20:59:59.999'))).toBe(false);
    expect(inQuietHours(sh('2026-11-26T21:00:00.000'))).toBe(true);
    expect(inQuietHours(sh('2026-11-27T08:59:59.999'))).toBe(true);
    expect(inQuietHours(sh('2026-11-27T09:00:00.000'))).toBe(false);
    expect(inQuietHours(sh('2026-11-27T00:00:00.000'))).toBe(true);
  });

  test('a candidate message is deferred to the next 09:00, and left alone outside the quiet hours', () => {
    expect(candidateSendTime(sh('2026-11-26T20:59:00'))).toEqual(sh('2026-11-26T20:59:00'));
    expect(candidateSendTime(sh('2026-11-26T21:00:00'))).toEqual(sh('2026-11-27T09:00:00'));
    expect(candidateSendTime(sh('2026-11-26T23:59:59'))).toEqual(sh('2026-11-27T09:00:00'));
    expect(candidateSendTime(sh('2026-11-27T08:59:00'))).toEqual(sh('2026-11-27T09:00:00'));
    expect(candidateSendTime(sh('2026-11-27T09:00:00'))).toEqual(sh('2026-11-27T09:00:00'));
    // Across a year end, in UTC terms the previous day.
    expect(candidateSendTime(sh('2026-12-31T22:30:00')).toISOString()).toBe('2027-01-01T01:00:00.000Z');
  });
});

describe('working days (China with 调休, DECISIONS 13)', () => {
  test('a 调休 Saturday is a working day, a National Day holiday is not, an ordinary Saturday is not', () => {
    expect(chinaCalendar.isWorkingDay('2026-10-10')).toBe(true); // Saturday, 调休 for National Day 2026
    expect(chinaCalendar.isWorkingDay('2026-10-01')).toBe(false); // Thursday, 国庆节
    expect(chinaCalendar.isWorkingDay('2026-10-17')).toBe(false); // an ordinary Saturday
    expect(chinaCalendar.isWorkingDay('2026-10-12')).toBe(true); // Monday
  });

  test('3 working days before a start date count the 调休 Saturday and skip the Sunday', () => {
    // Start Tuesday 2026-10-13: Mon 12th (1), Sun 11th no, Sat 10th 调休 (2), Fri 9th (3).
    expect(onboardingMaterialsDue('2026-10-13')).toEqual(sh('2026-10-09T09:00:00'));
    // Start Monday 2026-10-19: Fri 16th (1), Thu 15th (2), Wed 14th (3): ordinary weekend skipped.
    expect(onboardingMaterialsDue('2026-10-19')).toEqual(sh('2026-10-14T09:00:00'));
  });

  test('approval idle one working day: over the National Day holidays to the next working day, same time', () => {
    // Reached the approver Wednesday 2026-09-30 15:20: 1–7 October are holidays (8th, Thursday, works).
    const due = approvalIdleDue(sh('2026-09-30T15:20:00'));
    expect(chinaCalendar.isWorkingDay('2026-10-08')).toBe(true);
    expect(due).toEqual(sh('2026-10-08T15:20:00'));
    // Friday 2026-10-09 10:00 → the 调休 Saturday the 10th, 10:00.
    expect(approvalIdleDue(sh('2026-10-09T10:00:00'))).toEqual(sh('2026-10-10T10:00:00'));
    // Reached on a holiday: its day starts at 09:00 of the next working day.
    expect(approvalIdleDue(sh('2026-10-03T22:00:00'))).toEqual(sh('2026-10-09T09:00:00'));
  });

  test('approval idle counts from office hours: an approver is never reminded at night', () => {
    // Thursday 2026-11-26 03:44 (before 09:00): waiting from 09:00 that day → Friday 09:00.
    expect(approvalIdleDue(sh('2026-11-26T03:44:00'))).toEqual(sh('2026-11-27T09:00:00'));
    // Thursday 20:30 (after 18:00): waiting from Friday 09:00 → Monday 09:00 (the weekend skipped).
    expect(approvalIdleDue(sh('2026-11-26T20:30:00'))).toEqual(sh('2026-11-30T09:00:00'));
    // Inside office hours: the same time one working day later.
    expect(approvalIdleDue(sh('2026-11-26T17:59:00'))).toEqual(sh('2026-11-27T17:59:00'));
    expect(approvalIdleDue(sh('2026-11-26T17:59:00'), 2)).toEqual(sh('2026-11-30T17:59:00'));
  });

  test('a year the installed calendar does not cover is refused, not guessed', () => {
    const missing = Math.max(...COVERED_YEARS) + 1;
    expect(() => chinaCalendar.isWorkingDay(`${missing}-03-02`)).toThrow(CalendarYearMissingError);
    expect(() => chinaCalendar.isWorkingDay(`${missing}-03-02`)).toThrow(/update the chinese-days package/);
    // The last covered working days of the year reach into the missing year: refused too.
    expect(() => chinaCalendar.addWorkingDays(`${Math.max(...COVERED_YEARS)}-12-31`, 1)).toThrow(CalendarYearMissingError);
    expect(() => chinaCalendar.isWorkingDay('2026-13-01x')).toThrow(TypeError);
  });
});

describe('offer-answer reminders (calendar hours)', () => {
  const sentAt = sh('2026-11-26T15:00:00');
  test('24 h: recruiter and candidate (deferred out of quiet hours), 48 h: hiring manager, deadline: expire', () => {
    const planned = offerSentReminders({
      candidateId: 'cd_1',
      sentAt,
      recruiter: 'zhangmin',
      hiringManager: 'LiQiang',
      deadline: sh('2026-11-30T18:00:00'),
    });
    expect(planned.map((p) => [p.type, p.recipient, p.dueAt.toISOString()])).toEqual([
      [REMINDER_TYPES.offerUnanswered24hRecruiter, 'zhangmin', sh('2026-11-27T15:00:00').toISOString()],
      [REMINDER_TYPES.offerUnanswered24hCandidate, 'cd_1', sh('2026-11-27T15:00:00').toISOString()],
      [REMINDER_TYPES.offerUnanswered48h, 'liqiang', sh('2026-11-28T15:00:00').toISOString()],
      [REMINDER_TYPES.offerDeadline, 'hireledger', sh('2026-11-30T18:00:00').toISOString()],
    ]);
  });

  test('sent at 22:00: the recruiter at 22:00 next day, the candidate at 09:00 the day after; no hiring manager: the recruiter', () => {
    const planned = offerSentReminders({
      candidateId: 'cd_1',
      sentAt: sh('2026-11-26T22:00:00'),
      recruiter: 'zhangmin',
      hiringManager: null,
      deadline: null,
    });
    expect(planned.map((p) => [p.type, p.recipient, p.dueAt.toISOString()])).toEqual([
      [REMINDER_TYPES.offerUnanswered24hRecruiter, 'zhangmin', sh('2026-11-27T22:00:00').toISOString()],
      [REMINDER_TYPES.offerUnanswered24hCandidate, 'cd_1', sh('2026-11-28T09:00:00').toISOString()],
      [REMINDER_TYPES.offerUnanswered48h, 'zhangmin', sh('2026-11-28T22:00:00').toISOString()],
    ]);
  });

  test('reminders at or after the deadline are moot and not planned', () => {
    const planned = offerSentReminders({
      candidateId: 'cd_1',
      sentAt,
      recruiter: 'zhangmin',
      hiringManager: null,
      deadline: sh('2026-11-28T15:00:00'), // exactly 48 h
    });
    expect(planned.map((p) => p.type)).toEqual([
      REMINDER_TYPES.offerUnanswered24hRecruiter,
      REMINDER_TYPES.offerUnanswered24hCandidate,
      REMINDER_TYPES.offerDeadline,
    ]);
  });
});

describe('the route to a candidate (DECISIONS 12)', () => {
  const at = sh('2026-11-26T15:00:00');
  const base = { lastKfMessageAt: sh('2026-11-25T15:00:01'), kfSentSinceLast: 0, kfSessionOpen: true, hasRecruiterContact: true };
  test('KF inside its 48 h window and quota, else 企业群发, else a task for the recruiter', () => {
    expect(chooseRoute(base, at).route).toBe('kf');
    expect(chooseRoute({ ...base, lastKfMessageAt: sh('2026-11-24T15:00:00') }, at).route).toBe('group_send');
    expect(chooseRoute({ ...base, kfSentSinceLast: 5 }, at).route).toBe('group_send');
    expect(chooseRoute({ ...base, kfSessionOpen: false }, at).route).toBe('group_send');
    expect(chooseRoute({ ...base, kfSessionOpen: false, hasRecruiterContact: false }, at).route).toBe('recruiter_task');
  });
});
