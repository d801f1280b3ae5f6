import { CANDIDATE_STREAMS } from '../../src/candidates';
import { REMINDER_KINDS, REMINDER_TYPES, approvalIdleDue, type ReminderRow } from '../../src/reminders';
import { RECRUITER, draftedOffer, inbox, records, sandboxAdmin, startIdleWorld, until, type IdleWorld } from './idle-support';

/**
 * Issue 10 items 6 and 9: "approval idle 24 h at one approver → remind that approver; 48 h → tell
 * the recruiter and the HRBP", counted in working days (DECISIONS 13), with the real PostgreSQL,
 * Redis, worker runtime and the sandbox's approvals app (its callbacks over HTTP) and message/send.
 * Only the reminders module's clock moves (a working day or two ahead).
 */

const IDLE = '【offer 审批待处理】';
const STALLED = '【offer 审批停滞】';
/** The sandbox's default role holders (migration 1764547200011): 用人经理 liqiang → HRBP wangfang. */
const MANAGER = 'liqiang';
const HRBP = 'wangfang';

describe('approval idle reminders', () => {
  let w: IdleWorld | undefined;
  afterEach(async () => {
    await w?.stop();
    w = undefined;
  });

  const idleRows = async (world: IdleWorld, spNo: string): Promise<ReminderRow[]> =>
    (await world.reminders.reminders.ofSubject(world.corpId, spNo)).filter((r) => r.kind.startsWith('approval.'));

  async function submitted(world: IdleWorld) {
    const v = await draftedOffer(world, { baseMonthlyYuan: 30000 });
    await world.offers.offers.submitForApproval({ ...v, actor: RECRUITER });
    let spNo = '';
    await until('the approval submitted and its SpNo bound', async () => {
      spNo = (await world.offers.offers.getOffer(v))?.versions[0]?.approvalSpNo ?? '';
      return spNo !== '';
    });
    return { ...v, spNo };
  }

  test('one working day at the first approver: reminded once, not early; the node moves on and the approval ends: the rest cancelled, each with a record', async () => {
    w = await startIdleWorld();
    const world = w;
    // A working day ahead, minus a few seconds: the approver's reminder falls due just after it is made.
    const t0 = Date.now();
    world.remindersClock.offsetMs = approvalIdleDue(new Date(t0)).getTime() - t0 - 5000;
    const a = await submitted(world);
    await until('the first node reminders made', async () => (await idleRows(world, a.spNo)).length === 3);
    const first = await idleRows(world, a.spNo);
    const approverRow = first.find((r) => r.kind === REMINDER_TYPES.approvalIdleApprover)!;
    expect(approverRow.recipient).toBe(MANAGER);
    expect(
      first
        .filter((r) => r.kind === REMINDER_TYPES.approvalIdleEscalation)
        .map((r) => r.recipient)
        .sort(),
    ).toEqual([HRBP, RECRUITER]);
    // The node was reached when WeCom filed the approval; due one working day after that (Shanghai wall clock).
    const stream = CANDIDATE_STREAMS.candidate(a.candidateId);
    const reached = (await records(world, stream, 'approval.node_reached')).map((r) => r.payload);
    expect(reached).toHaveLength(1);
    expect(reached[0]).toMatchObject({ sp_no: a.spNo, node_index: 0, node_step: 0, approvers: [MANAGER], applicant: RECRUITER });
    expect(approverRow.due_at.getTime()).toBe(approvalIdleDue(new Date(reached[0]!['reached_at'] as string)).getTime());

    await until('the approver reminded', async () => inbox(world, MANAGER, IDLE).length > 0, 20_000);
    const [got] = inbox(world, MANAGER, IDLE);
    // Not early, on the reminders' clock.
    expect(got!.at + world.remindersClock.offsetMs).toBeGreaterThanOrEqual(approverRow.due_at.getTime());
    expect(got!.content).toContain(a.candidateId);
    expect(got!.content).toContain(a.spNo);
    await until(
      'the reminder settled',
      async () => (await world.reminders.reminders.get(world.corpId, approverRow.id))?.state === 'sent',
    );

    // Back to the real time; the manager approves: the approval reaches the HRBP.
    world.remindersClock.offsetMs = 0;
    await sandboxAdmin(world, `approvals/${a.spNo}/approve`, { userid: MANAGER, wait: true });
    await until('the second node reminders made', async () => (await idleRows(world, a.spNo)).length === 6);
    const second = await idleRows(world, a.spNo);
    const nodeOf = (r: ReminderRow) => r.body['node_index'];
    // The first node's escalation is moot: cancelled, naming the node_reached record that made it so.
    expect(
      second
        .filter((r) => nodeOf(r) === 0)
        .map((r) => [r.kind, r.recipient, r.state])
        .sort(),
    ).toEqual(
      [
        [REMINDER_TYPES.approvalIdleApprover, MANAGER, 'sent'],
        [REMINDER_TYPES.approvalIdleEscalation, HRBP, 'cancelled'],
        [REMINDER_TYPES.approvalIdleEscalation, RECRUITER, 'cancelled'],
      ].sort(),
    );
    expect(
      second
        .filter((r) => nodeOf(r) === 1)
        .map((r) => [r.kind, r.recipient, r.state])
        .sort(),
    ).toEqual(
      [
        [REMINDER_TYPES.approvalIdleApprover, HRBP, 'pending'],
        [REMINDER_TYPES.approvalIdleEscalation, HRBP, 'pending'],
        [REMINDER_TYPES.approvalIdleEscalation, RECRUITER, 'pending'],
      ].sort(),
    );
    const cancelled = (await records(world, stream, REMINDER_KINDS.cancelled)).map((r) => r.payload);
    expect(cancelled).toHaveLength(2);
    expect(cancelled.every((p) => p['cause_kind'] === 'approval.node_reached')).toBe(true);

    // The HRBP approves: the approval ends, every pending reminder of it is cancelled.
    await sandboxAdmin(world, `approvals/${a.spNo}/approve`, { userid: HRBP, wait: true });
    await until('the rest cancelled', async () => (await idleRows(world, a.spNo)).every((r) => r.state !== 'pending'));
    const end = (await records(world, stream, REMINDER_KINDS.cancelled)).map((r) => r.payload);
    expect(end).toHaveLength(5);
    expect(end.slice(2).every((p) => p['cause_kind'] === 'offer.approved')).toBe(true);
    expect((await world.offers.offers.getOffer(a))?.state).toBe('approved');
    // Once, and nothing to the others.
    expect(inbox(world, MANAGER, IDLE)).toHaveLength(1);
    expect(inbox(world, HRBP, '【offer 审批')).toHaveLength(0);
    expect(inbox(world, RECRUITER, '【offer 审批')).toHaveLength(0);
    // Handling the node record again (a replay) makes nothing.
    expect((await idleRows(world, a.spNo)).filter((r) => r.state === 'pending')).toHaveLength(0);
  }, 60_000);

  test('two working days at one approver: the approver reminded, the recruiter and the HRBP told, each once; a rejection leaves nothing pending', async () => {
    w = await startIdleWorld();
    const world = w;
    const t0 = Date.now();
    world.remindersClock.offsetMs = approvalIdleDue(new Date(t0), 2).getTime() - t0 - 5000;
    const a = await submitted(world);
    await until('the approver reminded', async () => inbox(world, MANAGER, IDLE).length === 1, 20_000);
    await until('the recruiter told', async () => inbox(world, RECRUITER, STALLED).length === 1, 20_000);
    await until('the HRBP told', async () => inbox(world, HRBP, STALLED).length === 1, 20_000);
    expect(inbox(world, RECRUITER, STALLED)[0]!.content).toContain(`停在审批人 ${MANAGER} 处`);
    await until('all settled', async () => (await idleRows(world, a.spNo)).every((r) => r.state === 'sent'));
    const sent = (await records(world, CANDIDATE_STREAMS.candidate(a.candidateId), REMINDER_KINDS.sent)).map((r) => r.payload);
    expect(sent.map((p) => p['recipient']).sort()).toEqual([HRBP, MANAGER, RECRUITER].sort());

    world.remindersClock.offsetMs = 0;
    await sandboxAdmin(world, `approvals/${a.spNo}/reject`, { userid: MANAGER, speech: '再议', wait: true });
    await until('the offer back to draft', async () => (await world.offers.offers.getOffer(a))?.state === 'draft');
    await new Promise((r) => setTimeout(r, 1500));
    expect(inbox(world, MANAGER, IDLE)).toHaveLength(1);
    expect(inbox(world, RECRUITER, STALLED)).toHaveLength(1);
    expect((await idleRows(world, a.spNo)).filter((r) => r.state === 'pending')).toHaveLength(0);
  }, 60_000);
});
