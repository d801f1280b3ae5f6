import { startRuntime, until, type RunningRuntime } from '../jobs/harness';
import { candidateOf, KF, startKfWorld, type KfWorld } from './support';

/**
 * The sandbox's side of 微信客服 as a person uses it: the console page where one types as the
 * candidate or as the recruiter, which delivers kf_msg_or_event to the app; and the sync_msg rules
 * the pull relies on (the 10-minute token, the 3-day window, the cursor's 64 bytes).
 */

describe('KF in the sandbox console', () => {
  let w: KfWorld;
  let worker: RunningRuntime | undefined;
  let clock = Date.now();

  beforeEach(async () => {
    clock = Date.now();
    w = await startKfWorld({ clock: () => clock });
  });
  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
    await w.close();
  });

  const form = (fields: Record<string, string>) =>
    fetch(`${w.sandbox.url}/sandbox/admin/kf/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
      redirect: 'manual',
    });

  test('typing as the candidate and as the recruiter on the console page reaches the candidate stream', async () => {
    const page = await (await fetch(`${w.sandbox.url}/sandbox/`)).text();
    expect(page).toContain('微信客服会话（以候选人或招聘者身份输入）');
    expect(page).toContain('name="origin"');
    worker = await startRuntime(w.app, [w.module()], { concurrency: 1 });
    expect(
      (
        await form({
          external_userid: 'wmCandWuHao0003',
          origin: '3',
          servicer_userid: 'zhangmin',
          content: '请问offer什么时候发？',
        })
      ).status,
    ).toBe(303);
    expect(
      (
        await form({
          external_userid: 'wmCandWuHao0003',
          origin: '5',
          servicer_userid: 'zhangmin',
          content: 'offer没问题，你可以先辞职',
        })
      ).status,
    ).toBe(303);
    await w.sandbox.idle();
    expect(w.sandbox.state.callbacks.filter((c) => c.kind === 'kf_msg_or_event').map((c) => c.status)).toEqual([
      'delivered',
      'delivered',
    ]);
    await until('both messages', async () => {
      const id = await candidateOf(w, 'wmCandWuHao0003').catch(() => null);
      return id !== null && (await w.records("stream = $1 AND kind = 'conversation.message'", [`candidate:${id}`])).length === 2;
    });
    const id = await candidateOf(w, 'wmCandWuHao0003');
    const msgs = await w.records("stream = $1 AND kind = 'conversation.message'", [`candidate:${id}`]);
    expect(msgs.map((m) => [m.payload.role, m.payload.text, m.payload.recruiter ?? null])).toEqual([
      ['candidate', '请问offer什么时候发？', null],
      ['recruiter', 'offer没问题，你可以先辞职', 'zhangmin'],
    ]);
    const after = await (await fetch(`${w.sandbox.url}/sandbox/`)).text();
    expect(after).toContain('offer没问题，你可以先辞职');
  }, 60000);

  test('sync_msg: the token lasts 10 minutes, only 3 days are kept, a cursor is at most 64 bytes', async () => {
    const token = w.sandbox.state.issueKfToken();
    const sync = (body: object) =>
      w.wecom.kf.syncMsg({ open_kfid: KF, ...body }).then(
        (r) => r,
        (e: { errcode?: number }) => e.errcode,
      );
    expect(await sync({ token })).toEqual(expect.objectContaining({ has_more: 0 }));
    clock += 10 * 60_000 + 1;
    expect(await sync({ token })).toBe(95007);
    expect(await sync({ cursor: 'x'.repeat(65) })).toBe(40058);
    // The seed's messages are 3 hours old; 3 days on, sync_msg no longer returns them.
    expect((await sync({})) as { msg_list: unknown[] }).toEqual(expect.objectContaining({ msg_list: expect.any(Array) }));
    expect(((await sync({})) as { msg_list: unknown[] }).msg_list).toHaveLength(2);
    clock += 3 * 86_400_000;
    expect(((await sync({})) as { msg_list: unknown[] }).msg_list).toHaveLength(0);
  }, 30000);

  test('a pull resuming more than 3 days after the last one records the window it may have lost', async () => {
    const mod = w.module({ now: () => clock });
    const sweep = mod.jobs?.['conversations.kf-sweep'];
    expect(await sweep?.process({}, w.jobContext())).toEqual(expect.objectContaining({ messages: 2 }));
    const last = clock;
    clock += 3 * 86_400_000 + 3_600_000;
    await w.sandbox.actions.kfInbound({ external_userid: 'wmCandWuHao0003', content: '好久不见' }).delivered;
    expect(await sweep?.process({}, w.jobContext())).toEqual(expect.objectContaining({ messages: 1, failed: [] }));
    const [gap] = await w.records("kind = 'conversation.gap'");
    expect(gap?.stream).toBe(`conversation:kf:${KF}`);
    expect(gap?.payload).toEqual(
      expect.objectContaining({
        reason: 'outside_3_day_window',
        status: 'possible_loss',
        from: new Date(last).toISOString(),
        to: new Date(clock - 3 * 86_400_000).toISOString(),
      }),
    );
    // Pulled again soon after: no new gap.
    expect(await sweep?.process({}, w.jobContext())).toEqual(expect.objectContaining({ messages: 0 }));
    expect(await w.records("kind = 'conversation.gap'")).toHaveLength(1);
  }, 30000);
});
