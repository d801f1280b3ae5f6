import { assignRecruiter } from '../../src/candidates';
import { createRouteFacts, type CandidateRouteFacts } from '../../src/conversations';
import { createLedgerReader } from '../../src/evidence';
import { chooseRoute } from '../../src/reminders';
import { candidateOf, KF, startKfWorld, type KfWorld } from './support';

/**
 * The route facts of a candidate, from what the KF pull stored (the sandbox's kf/sync_msg over
 * HTTP, the real pull), what the send path recorded (kf/send_msg through the real client) and the
 * profile candidates.profiles keeps.
 */
describe('route facts', () => {
  let w: KfWorld;
  let facts: (corpId: string, candidateId: string) => Promise<CandidateRouteFacts>;
  let corpId: string;
  const EXT = 'wmRouteFacts0001';

  beforeEach(async () => {
    w = await startKfWorld();
    corpId = w.app.keys.corpId;
    facts = createRouteFacts({ db: w.app.db.appPool, reader: createLedgerReader(w.app.db.appPool) });
  });
  afterEach(() => w.close());

  const pull = async () => {
    const sweep = w.module().jobs?.['conversations.kf-sweep'];
    await sweep?.process({}, w.jobContext());
  };
  const say = async (content: string, extra: Record<string, unknown> = {}) => {
    await w.admin('kf/messages', { external_userid: EXT, content, ...extra });
    await pull();
    // WeCom's send_time is in seconds: a reply in the message's own second is not placed after it.
    await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 5));
  };
  let n = 0;
  const reply = () =>
    w.wecom.kf.sendMsg(
      { touser: EXT, open_kfid: KF, msgtype: 'text', text: { content: `回复 ${++n}` } },
      { idempotencyKey: `route-facts-test.${n}` },
    );

  test('a candidate nobody can reach: nothing open', async () => {
    await say('你好');
    const id = await candidateOf(w, EXT);
    expect(await facts(corpId, 'cd_00000000000000000000000000000000')).toEqual({
      lastKfMessageAt: null,
      kfSentSinceLast: 0,
      kfSessionOpen: false,
      hasRecruiterContact: false,
      recruiter: null,
      kf: null,
      groupSend: null,
    });
    // The KF candidate has a window but is nobody's contact yet.
    expect(await facts(corpId, id)).toMatchObject({ hasRecruiterContact: false, groupSend: null });
  });

  test('the KF window: last candidate message, replies since (refused ones not counted), reset by a new message', async () => {
    const before = Date.now();
    await say('您好，我想了解一下 offer 进展');
    const id = await candidateOf(w, EXT);
    let f = await facts(corpId, id);
    expect(f.kf).toEqual({ openKfId: KF, externalUserId: EXT });
    expect(f.lastKfMessageAt!.getTime()).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(f).toMatchObject({ kfSentSinceLast: 0, kfSessionOpen: true });
    expect(chooseRoute(f, new Date()).route).toBe('kf');

    await reply();
    await reply();
    // WeCom refuses the next one (a fault the sandbox injects): a failed outcome, not a reply.
    await w.admin('faults', { path: 'kf/send_msg', errcode: 95018, count: 1 });
    await expect(reply()).rejects.toThrow(/95018/);
    f = await facts(corpId, id);
    expect(f.kfSentSinceLast).toBe(2);

    await reply();
    await reply();
    await reply();
    f = await facts(corpId, id);
    expect(f.kfSentSinceLast).toBe(5);
    expect(chooseRoute(f, new Date())).toMatchObject({ route: 'recruiter_task' });

    await say('好的，收到');
    f = await facts(corpId, id);
    expect(f.kfSentSinceLast).toBe(0);
    expect(chooseRoute(f, new Date()).route).toBe('kf');
    // 48 hours after the candidate's last message the window is closed.
    expect(chooseRoute(f, new Date(f.lastKfMessageAt!.getTime() + 48 * 3600_000)).route).toBe('recruiter_task');
  });

  test('a servicer answering from their client, or the session ending, closes the API route', async () => {
    await say('你好');
    const id = await candidateOf(w, EXT);
    expect((await facts(corpId, id)).kfSessionOpen).toBe(true);
    await say('我是招聘专员张敏', { origin: 5, servicer_userid: 'zhangmin' });
    expect((await facts(corpId, id)).kfSessionOpen).toBe(false);
    await say('好的');
    expect((await facts(corpId, id)).kfSessionOpen).toBe(true);
    await w.admin('kf/raw-messages', {
      open_kfid: KF,
      message: {
        msgid: 'route-facts-session-end',
        origin: 4,
        msgtype: 'event',
        event: { event_type: 'session_status_change', open_kfid: KF, external_userid: EXT, change_type: 3 },
      },
    });
    await pull();
    expect((await facts(corpId, id)).kfSessionOpen).toBe(false);
  });

  test('a recruiter contact: the candidate recruiter when they follow, else the first follower', async () => {
    await say('你好');
    const id = await candidateOf(w, EXT);
    const profile = (follow: { userid: string; createtime: number }[]) =>
      w.app.db.appPool.query(
        `INSERT INTO candidate_profiles (corp_id, external_userid, candidate_id, name, follow_user, fetched_at)
         VALUES ($1, $2, $3, '测试候选人', $4, now())
         ON CONFLICT (corp_id, external_userid) DO UPDATE SET follow_user = EXCLUDED.follow_user, fetched_at = now()`,
        [corpId, EXT, id, JSON.stringify(follow)],
      );
    await profile([
      { userid: 'ChenJing', createtime: 1_700_000_100 },
      { userid: 'zhangmin', createtime: 1_700_000_000 },
    ]);
    let f = await facts(corpId, id);
    expect(f).toMatchObject({
      hasRecruiterContact: true,
      recruiter: null,
      groupSend: { sender: 'zhangmin', externalUserId: EXT },
    });

    await w.ledger.transact(async (tx) => {
      const made = await assignRecruiter(tx, {
        corpId,
        candidateId: id,
        userid: 'chenjing',
        cause: 'test',
        actor: 'chenjing',
        at: new Date(),
      });
      return { result: null, entries: made.entries };
    });
    f = await facts(corpId, id);
    expect(f).toMatchObject({ recruiter: 'chenjing', groupSend: { sender: 'chenjing' } });
    expect(chooseRoute({ ...f, kfSessionOpen: false }, new Date()).route).toBe('group_send');
  });
});
