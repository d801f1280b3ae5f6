import { QUEUES } from '../../src/jobs/names';
import { CONVERSATION_JOBS } from '../../src/conversations';
import { postCallback, signedCallback } from '../factories/signed';
import { startRuntime, until, type RunningRuntime } from '../jobs/harness';
import { candidateOf, KF, startKfWorld, type KfWorld } from './support';

/**
 * Channel 1, 微信客服 (issue 9 item 2), end to end: the sandbox fires kf_msg_or_event at the app,
 * the stored callback reaches the conversations module's handler in the worker, which pulls
 * kf/sync_msg from the sandbox over HTTP and appends every message to the candidate's own stream.
 */

const CAND = 'wmCandLinXiao0002';

describe('KF conversations', () => {
  let w: KfWorld;
  let worker: RunningRuntime | undefined;

  beforeEach(async () => {
    w = await startKfWorld();
  });
  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
    await w.close();
  });

  const doneOf = async (): Promise<{ outcome: string }[]> =>
    (
      await w.app.db.pool.query<{ outcome: string }>(
        "SELECT outcome FROM ledger_consumer_done WHERE consumer = 'conversations.on.event.kf_msg_or_event' ORDER BY seq",
      )
    ).rows;
  /** The sweep runs once when the worker starts (BullMQ runs a new scheduler's first job at once). */
  const sweepsDone = async () =>
    (await worker?.runtime.queues.get(QUEUES.jobs).getJobs(['completed']))?.filter((j) => j.name === CONVERSATION_JOBS.kfSweep)
      .length ?? 0;
  const messagesOf = (candidateId: string) =>
    w.records("stream = $1 AND kind = 'conversation.message'", [`candidate:${candidateId}`]);

  test('a conversation captured both ways, in order, on the candidate stream; msg_send_fail linked to the send', async () => {
    const mod = w.module();
    worker = await startRuntime(w.app, [mod], { concurrency: 1 });
    const say = async (input: Parameters<typeof w.sandbox.actions.kfInbound>[0]) =>
      (await w.sandbox.actions.kfInbound(input).delivered).status;

    expect(await say({ external_userid: CAND, event: 'enter_session', scene_param: 'job_be_2026' })).toBe('delivered');
    expect(await say({ external_userid: CAND, content: '您好，我想问一下后端岗位还招人吗' })).toBe('delivered');
    // A recruiter answers from the WeCom client (origin 5); WeCom gives their userid as typed.
    expect(
      await say({ external_userid: CAND, content: '还在招的，方便发一份简历吗', origin: 5, servicer_userid: 'ZhangMin' }),
    ).toBe('delivered');
    await until('three messages of the candidate', async () => {
      const c = await candidateOf(w, CAND).catch(() => null);
      return c !== null && (await messagesOf(c)).length === 3;
    });
    const candidateId = await candidateOf(w, CAND);

    // The app replies through kf/send_msg: recorded at send time by sendRecorded, on the contact's stream.
    const sent = await w.wecom.kf.sendMsg(
      { touser: CAND, open_kfid: KF, msgtype: 'text', text: { content: '收到，我们会尽快安排面试' } },
      { idempotencyKey: 'kf-reply-1' },
    );
    expect(await say({ external_userid: CAND, content: '好的谢谢！我再考虑一下薪资的事' })).toBe('delivered');
    // WeCom could not deliver the app's reply after all.
    await w.admin('kf/send-fail', { msgid: sent.msgid, fail_type: 4, wait: true });
    await until('five messages', async () => (await messagesOf(candidateId)).length === 5);

    const msgs = await messagesOf(candidateId);
    expect(msgs.map((m) => [m.payload.role, m.payload.msgtype, m.payload.text ?? m.payload.message.event?.event_type])).toEqual([
      ['system', 'event', 'enter_session'],
      ['candidate', 'text', '您好，我想问一下后端岗位还招人吗'],
      ['recruiter', 'text', '还在招的，方便发一份简历吗'],
      ['candidate', 'text', '好的谢谢！我再考虑一下薪资的事'],
      ['system', 'event', 'msg_send_fail'],
    ]);
    // Header: the candidate's opaque id, never the external_userid (DECISIONS 4); the servicer lower-cased (DECISIONS 8).
    expect(msgs.map((m) => m.actor)).toEqual(['sys', candidateId, 'zhangmin', candidateId, 'sys']);
    for (const m of msgs) {
      expect(m.source).toBe('wecom.kf');
      expect(m.source_ref).toBe(`kf:${KF}:${m.payload.msgid}`);
      expect(JSON.stringify([m.stream, m.actor, m.source_ref])).not.toContain(CAND);
      // occurred_at is WeCom's send_time.
      expect(m.occurred_at.getTime()).toBe(m.payload.message.send_time * 1000);
      expect(typeof m.payload.msgid).toBe('string');
    }
    expect(msgs[2]?.payload.recruiter).toBe('zhangmin');
    expect(msgs[2]?.payload.message.servicer_userid).toBe('ZhangMin'); // as received

    // The app's own reply is where sendRecorded put it, and the failure names it by seq.
    const [intent] = await w.records("kind = 'wecom.outbound.intent'");
    expect(intent?.payload.request.msgid).toBe(sent.msgid);
    expect(msgs[4]?.payload.send_failed).toEqual({ seq: intent?.seq, hash: intent?.hash, stream: intent?.stream, fail_type: 4 });
    const links = await w.records("stream = $1 AND kind = 'candidate.link'", [`candidate:${candidateId}`]);
    expect(links.find((l) => l.payload.reason === 'kf_msg_send_fail')?.payload.linked).toEqual({
      seq: intent?.seq,
      hash: intent?.hash,
      stream: intent?.stream,
      kind: 'wecom.outbound.intent',
    });
    // A kf_msg_or_event callback whose pull brought the candidate's messages is linked to them (a
    // callback whose messages the sweep or an earlier pull had already stored brought none).
    const callbacks = await w.records("kind = 'wecom.callback.event.kf_msg_or_event'");
    expect(callbacks).toHaveLength(5);
    const linked = links.filter((l) => l.payload.reason === 'kf_msg_or_event').map((l) => l.payload.linked);
    expect(linked.length).toBeGreaterThan(0);
    for (const l of linked) expect(callbacks.map((c) => [c.seq, c.hash, c.stream])).toContainEqual([l.seq, l.hash, l.stream]);
    expect(new Set(linked.map((l) => l.seq)).size).toBe(linked.length);
    // The enter_session's scene_param was passed as the first contact.
    const [created] = await w.records("stream = $1 AND kind = 'candidate.created'", [`candidate:${candidateId}`]);
    expect(created?.payload.first_contact).toEqual(expect.objectContaining({ via: 'kf' }));
    // The recruiter who answered became the candidate's recruiter (nobody was set).
    const recruiter = await w.records("stream = $1 AND kind = 'candidate.recruiter'", [`candidate:${candidateId}`]);
    expect(recruiter.map((r) => r.actor)).toEqual(['zhangmin']);
    // The seed's earlier conversation (陈晨) was pulled too, on its own candidate's stream.
    const chen = await candidateOf(w, 'wmCandChenChen0001');
    expect((await messagesOf(chen)).map((m) => m.payload.text ?? m.payload.msgtype)).toEqual([
      'event',
      '您好，我想了解一下前端岗位的面试安排',
    ]);
    const counted = (await mod.metrics.messages.get()).values.filter((v) => v.labels.channel === 'kf');
    expect(Object.fromEntries(counted.map((v) => [v.labels.role, v.value]))).toEqual({ system: 3, candidate: 3, recruiter: 1 });
  }, 60000);

  test('a redelivered kf_msg_or_event and a repeated job pull nothing twice', async () => {
    worker = await startRuntime(w.app, [w.module()], { concurrency: 1 });
    const fired = w.sandbox.actions.kfInbound({ external_userid: CAND, content: '第一条消息' });
    await fired.delivered;
    await until('the message', async () => (await w.records("kind = 'conversation.message'")).length === 3);
    await until(
      'the callback done and the first sweep over',
      async () => (await doneOf()).length === 1 && (await sweepsDone()) >= 1,
    );
    const calls = () => w.sandbox.state.stats.calls['kf/sync_msg'] ?? 0;
    const before = calls();

    // WeCom delivers the same callback again (same Token): the ledger keeps one record, no handler runs.
    const res = await postCallback(w.app.url, signedCallback(w.app.keys, fired.callback.plaintext));
    expect(res.status).toBe(200);
    expect(await w.records("kind = 'wecom.callback.event.kf_msg_or_event'")).toHaveLength(1);
    // The job of the stored callback runs again (BullMQ at least once): it is done, nothing pulled.
    const queue = worker.runtime.queues.get(QUEUES.ledger);
    const again = Date.now();
    for (const job of await queue.getJobs(['completed'])) await job.retry('completed');
    await until('the jobs ran again', async () => {
      const jobs = await queue.getJobs(['completed']);
      return jobs.length > 0 && jobs.every((j) => (j.finishedOn ?? 0) >= again);
    });
    expect(calls()).toBe(before);
    // A new callback with nothing new behind it pulls from the stored cursor: nothing appended.
    await w.sandbox.deliverCallback(
      fired.callback.plaintext.replace(
        /<Token><!\[CDATA\[[^\]]+\]\]><\/Token>/,
        `<Token><![CDATA[${w.sandbox.state.issueKfToken()}]]></Token>`,
      ),
      { kind: 'kf_msg_or_event' },
    );
    await until('the second callback handled', async () => (await doneOf()).length === 2);
    expect(calls()).toBe(before + 1);
    const msgs = await w.records("kind = 'conversation.message'");
    expect(msgs).toHaveLength(3);
    expect(new Set(msgs.map((m) => m.source_ref)).size).toBe(3);
  }, 60000);

  test('the sweep pulls accounts whose callbacks were lost, without a token', async () => {
    // Callbacks go nowhere: the messages reach sync_msg only.
    w.sandbox.setCallbackUrl(undefined);
    await w.sandbox.actions.kfInbound({ external_userid: CAND, content: '回调丢了也要收到' }).delivered;
    const mod = w.module();
    const sweep = mod.jobs?.[CONVERSATION_JOBS.kfSweep];
    expect(sweep?.schedule).toEqual({ every: 300000 });
    const out = await sweep?.process({}, w.jobContext());
    expect(out).toEqual({ accounts: 1, pulled: 1, messages: 3, failed: [] });
    const id = await candidateOf(w, CAND);
    expect((await messagesOf(id)).map((m) => m.payload.text)).toEqual(['回调丢了也要收到']);
    expect(await sweep?.process({}, w.jobContext())).toEqual({ accounts: 1, pulled: 1, messages: 0, failed: [] });
  }, 60000);

  test('an expired callback token (95007): the pull goes on without it', async () => {
    worker = await startRuntime(w.app, [w.module()], { concurrency: 1 });
    // The token handed out with the callback has already expired when the app uses it.
    const realIssue = w.sandbox.state.issueKfToken.bind(w.sandbox.state);
    w.sandbox.state.issueKfToken = () => {
      const t = realIssue();
      w.sandbox.state.kfTokens.set(t, 0);
      return t;
    };
    await w.sandbox.actions.kfInbound({ external_userid: CAND, content: '令牌过期了' }).delivered;
    await until(
      'the message',
      async () => (await w.records("kind = 'conversation.message' AND payload->>'text' = '令牌过期了'")).length === 1,
    );
    await until('the callback done', async () => (await doneOf()).length === 1);
    expect(await doneOf()).toEqual([{ outcome: 'done' }]);
    expect(await w.records("kind = 'conversation.message'")).toHaveLength(3);
  }, 60000);
});
