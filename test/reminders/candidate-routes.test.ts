import { createCandidateByRecruiter, createCandidateDirectory } from '../../src/candidates';
import { createConversationsModule } from '../../src/conversations';
import { createLedgerReader } from '../../src/evidence';
import { createLogger } from '../../src/observability/logger';
import { CHANNEL_KEYS, REMINDER_TYPES, type ReminderRow } from '../../src/reminders';
import { atShanghai, plusDays, shanghaiDate } from '../../src/reminders/time';
import { RECRUITER, inbox, sentOffer, startWorld, until, type World } from './support';

/**
 * Candidate reminders by the open route (DECISIONS 12, issue 10 item 6): the 24 h "please answer
 * your offer" reminder goes by KF while the candidate's window is open, else as a 企业群发 the
 * recruiter confirms, else as the recruiter's task; a route WeCom refuses gives way to the next in
 * the same fire, recorded. The real worker runtime fires it (PostgreSQL, Redis, the WeCom client
 * against the sandbox over HTTP). The reminders module's clock is set to a daytime (or quiet-hours)
 * moment within a day of now, so the route does not depend on when the suite runs.
 */

const DAY = 24 * 3600_000;
const CANDIDATE_TEXT = '您好，您的录用通知（offer）已发出 24 小时';
const TASK = '【请提醒候选人】';
const CONFIRM = '【请确认群发提醒】';

/** The next instant, after now, at `hour`:30 Asia/Shanghai (within a day). */
function nextShanghai(hour: number): number {
  const now = new Date();
  const today = atShanghai(shanghaiDate(now), hour, 30).getTime();
  return today > now.getTime() ? today : atShanghai(plusDays(shanghaiDate(now), 1), hour, 30).getTime();
}

describe('candidate reminders by the open route', () => {
  let w: World | undefined;
  afterEach(async () => {
    await w?.stop();
    w = undefined;
  });

  async function startAt(hour: number): Promise<World> {
    // A long stale limit: a fire that tries several routes on a busy machine is not taken for a dead worker.
    w = await startWorld({ candidateChannel: true, sendingStaleMs: 120_000 });
    w.remindersClock.now = nextShanghai(hour);
    return w;
  }

  /** A candidate who wrote to the KF account just now (the conversations module pulled it): the window is open. */
  async function kfCandidate(world: World, ext: string): Promise<string> {
    await world.sandbox.actions.kfInbound({ external_userid: ext, content: '请问 offer 的细节可以再确认一下吗？' }).delivered;
    const reader = createLedgerReader(world.app.db.appPool);
    const conversations = createConversationsModule({
      pool: world.app.db.appPool,
      ledger: world.ledger,
      wecom: world.wecom,
      directory: createCandidateDirectory(world.app.db.appPool),
      media: { kind: 'pg', maxBytes: 1024 * 1024 },
      textMaxBytes: 4096,
    });
    await conversations.jobs?.['conversations.kf-sweep']?.process(
      {},
      {
        corpId: world.corpId,
        log: createLogger('silent', 'sweep'),
        reader,
        transact: world.ledger.transact.bind(world.ledger),
        attempt: 1,
      },
    );
    const c = await createCandidateDirectory(world.app.db.appPool).find(world.corpId, ext);
    if (!c) throw new Error('the KF message made no candidate');
    return c.candidateId;
  }

  /** What the candidates.profiles consumer keeps after externalcontact/get: 张敏 follows the candidate. */
  async function followedBy(world: World, candidateId: string, ext: string): Promise<void> {
    await world.app.db.appPool.query(
      `INSERT INTO candidate_profiles (corp_id, external_userid, candidate_id, name, follow_user, fetched_at)
       VALUES ($1, $2, $3, '候选人', $4, now())`,
      [world.corpId, ext, candidateId, JSON.stringify([{ userid: RECRUITER, createtime: 1_700_000_000 }])],
    );
  }

  /**
   * An offer sent 26 h before the reminders' clock (so its 24 h candidate reminder fell due at a
   * daytime moment two hours before it); waits until that reminder is settled and returns it.
   */
  async function candidateReminder(world: World, candidateId: string): Promise<ReminderRow> {
    const o = await sentOffer(world, (world.remindersClock.now as number) - DAY - 2 * 3600_000, null, candidateId);
    let row: ReminderRow | undefined;
    await until(
      'the candidate reminder settled',
      async () => {
        const rows = await world.reminders.reminders.ofSubject(world.corpId, o.offerId);
        row = rows.find((r) => r.kind === REMINDER_TYPES.offerUnanswered24hCandidate);
        return row !== undefined && row.state !== 'pending' && row.state !== 'sending';
      },
      30_000,
    );
    return row as ReminderRow;
  }

  async function outbound(world: World, key: string): Promise<string[]> {
    const { rows } = await world.app.db.pool.query<{ kind: string }>(
      `SELECT kind FROM evidence_records WHERE source = 'wecom.outbound' AND source_ref LIKE $1 ORDER BY seq`,
      [`${key}#%`],
    );
    return rows.map((r) => r.kind);
  }

  test('KF window open: the reminder goes to the candidate by kf/send_msg, once, route recorded', async () => {
    const world = await startAt(10);
    const ext = 'wmRemindKf000001';
    const candidateId = await kfCandidate(world, ext);
    const row = await candidateReminder(world, candidateId);

    expect(row.state).toBe('sent');
    const sent = world.sandbox.state.kfSent.filter((s) => s.touser === ext);
    expect(sent).toHaveLength(1);
    expect((sent[0]!.body as { content: string }).content).toContain(CANDIDATE_TEXT);
    expect(row.outcome).toMatchObject({
      route_chosen: 'kf',
      route_used: 'kf',
      fallbacks: [],
      quiet_hours: false,
      kf_msgid: sent[0]!.msgid,
    });
    expect(await outbound(world, CHANNEL_KEYS.kf(row.idempotency_key))).toEqual([
      'wecom.outbound.intent',
      'wecom.outbound.outcome',
    ]);
    expect(inbox(world, RECRUITER, TASK)).toHaveLength(0);
    // A trigger that comes again does nothing: the row is no longer pending.
    expect(await world.reminders.reminders.fire(world.corpId, row.id)).toEqual({ reminderId: row.id, did: 'not_pending' });
    expect(world.sandbox.state.kfSent.filter((s) => s.touser === ext)).toHaveLength(1);
  }, 60_000);

  test('no KF window, a recruiter contact: a 企业群发 from the recruiter, who is told to confirm it', async () => {
    const world = await startAt(11);
    const ext = 'wmCandLinXiao0002'; // 张敏's customer in the sandbox's seed
    const { candidate } = await createCandidateByRecruiter(
      { transact: world.ledger.transact.bind(world.ledger), hmacKey: undefined },
      { corpId: world.corpId, recruiter: RECRUITER, externalUserId: ext },
    );
    await followedBy(world, candidate.candidateId, ext);
    const row = await candidateReminder(world, candidate.candidateId);

    expect(row.state).toBe('sent');
    const tasks = world.sandbox.state.groupMsgs.filter((t) => t.recipients.some((r) => r.external_userid === ext));
    expect(tasks).toHaveLength(1);
    expect(tasks[0]).toMatchObject({ sender: RECRUITER, task_status: 0 });
    expect(tasks[0]!.text!.content).toContain(CANDIDATE_TEXT);
    expect(row.outcome).toMatchObject({
      route_chosen: 'group_send',
      route_used: 'group_send',
      fallbacks: [],
      group_msgid: tasks[0]!.msgid,
      sender: RECRUITER,
      notice_msgid: expect.any(String),
    });
    const notices = inbox(world, RECRUITER, CONFIRM);
    expect(notices).toHaveLength(1);
    expect(notices[0]!.content).toContain(candidate.candidateId);
    expect(inbox(world, RECRUITER, TASK)).toHaveLength(0);
    expect(world.sandbox.state.kfSent).toHaveLength(0);
  }, 60_000);

  test('KF refused by WeCom (session closed, 95013): the recruiter task in the same fire, the refusal recorded', async () => {
    const world = await startAt(14);
    const ext = 'wmRemindKf000003';
    const candidateId = await kfCandidate(world, ext);
    // The session ended at WeCom, and HireLedger has not heard yet: the facts say open, WeCom says no.
    world.sandbox.state.addFault('kf/send_msg', 95013, 1);
    const row = await candidateReminder(world, candidateId);

    expect(row.state).toBe('sent');
    expect(world.sandbox.state.kfSent.filter((s) => s.touser === ext)).toHaveLength(0);
    expect(row.outcome).toMatchObject({
      route_chosen: 'kf',
      route_used: 'recruiter_task',
      task_for: RECRUITER,
      fallbacks: [{ route: 'kf', api: 'kf/send_msg', errcode: 95013 }],
    });
    const tasks = inbox(world, RECRUITER, TASK);
    expect(tasks).toHaveLength(1);
    expect(tasks[0]!.content).toContain(candidateId);
    // The KF attempt is on record with WeCom's refusal; the task went under the reminder's own key.
    expect(await outbound(world, CHANNEL_KEYS.kf(row.idempotency_key))).toEqual([
      'wecom.outbound.intent',
      'wecom.outbound.outcome',
    ]);
    expect(await outbound(world, row.idempotency_key)).toEqual(['wecom.outbound.intent', 'wecom.outbound.outcome']);
  }, 60_000);

  test('KF refused, the candidate a recruiter contact: the 企业群发 takes it in the same fire', async () => {
    const world = await startAt(15);
    const ext = 'wmCandLinXiao0002'; // 张敏's customer in the sandbox's seed, who also wrote to the KF account
    const candidateId = await kfCandidate(world, ext);
    await followedBy(world, candidateId, ext);
    world.sandbox.state.addFault('kf/send_msg', 95002, 1);
    const row = await candidateReminder(world, candidateId);

    expect(row.state).toBe('sent');
    const tasks = world.sandbox.state.groupMsgs.filter((t) => t.recipients.some((r) => r.external_userid === ext));
    expect(tasks).toHaveLength(1);
    expect(row.outcome).toMatchObject({
      route_chosen: 'kf',
      route_used: 'group_send',
      group_msgid: tasks[0]!.msgid,
      fallbacks: [{ route: 'kf', api: 'kf/send_msg', errcode: 95002 }],
    });
    expect(world.sandbox.state.kfSent).toHaveLength(0);
    expect(inbox(world, RECRUITER, CONFIRM)).toHaveLength(1);
    expect(inbox(world, RECRUITER, TASK)).toHaveLength(0);
  }, 60_000);

  test('a 群发 WeCom cannot queue (the contact deleted since the profile): the recruiter task, recorded', async () => {
    const world = await startAt(16);
    const ext = 'wmCandZhengXue0004'; // 张敏 deleted her in the sandbox: fail_list / 41048
    const { candidate } = await createCandidateByRecruiter(
      { transact: world.ledger.transact.bind(world.ledger), hmacKey: undefined },
      { corpId: world.corpId, recruiter: RECRUITER, externalUserId: ext },
    );
    await followedBy(world, candidate.candidateId, ext);
    const row = await candidateReminder(world, candidate.candidateId);

    expect(row.state).toBe('sent');
    expect(world.sandbox.state.groupMsgs.filter((t) => t.recipients.some((r) => r.external_userid === ext))).toHaveLength(0);
    expect(row.outcome).toMatchObject({
      route_chosen: 'group_send',
      route_used: 'recruiter_task',
      fallbacks: [{ route: 'group_send', api: 'externalcontact/add_msg_template' }],
    });
    expect(inbox(world, RECRUITER, TASK)).toHaveLength(1);
    expect(inbox(world, RECRUITER, CONFIRM)).toHaveLength(0);
  }, 60_000);

  test('quiet hours: an open KF window is not used; the recruiter is given the task, and the record says why', async () => {
    const world = await startAt(22);
    const ext = 'wmRemindQuiet004';
    const candidateId = await kfCandidate(world, ext);
    const row = await candidateReminder(world, candidateId);

    expect(row.state).toBe('sent');
    expect(world.sandbox.state.kfSent.filter((s) => s.touser === ext)).toHaveLength(0);
    expect(row.outcome).toMatchObject({ route_chosen: 'kf', route_used: 'recruiter_task', quiet_hours: true });
    const fallbacks = (row.outcome as { fallbacks: { route: string; why: string }[] }).fallbacks;
    expect(fallbacks).toHaveLength(1);
    expect(fallbacks[0]!.route).toBe('kf');
    expect(fallbacks[0]!.why).toContain('免打扰');
    expect(inbox(world, RECRUITER, TASK)).toHaveLength(1);
  }, 60_000);
});
