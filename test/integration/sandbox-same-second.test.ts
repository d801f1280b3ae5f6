import { type Sandbox } from '../../sandbox/server';
import { DEMO_AGENT_ID, OFFER_TEMPLATE_ID, offerContents } from '../../sandbox/seed';
import { textMessage } from '../factories/callbacks';
import { startApp, startSandboxFor, type RunningApp } from '../support/app';
import { startRuntime, until } from '../jobs/harness';

/**
 * Issue 6 finding 1 end to end: "WeCom" (the sandbox, its clock stopped so that everything
 * happens in one second) delivers distinct events that share the second, and redeliveries; the
 * app stores each distinct event once and each redelivery not at all (DECISIONS 2). And a message
 * for another agent is stored but never reaches a handler as ours (DECISIONS 3).
 */
describe('sandbox → app: events in the same second', () => {
  let app: RunningApp;
  let sandbox: Sandbox;
  // Stopped near the real time, so the callbacks' timestamps stay inside the app's window.
  const frozenMs = Math.floor(Date.now() / 1000) * 1000 + 200;
  const T = Math.floor(frozenMs / 1000);

  beforeEach(async () => {
    app = await startApp({ WECOM_AGENT_ID: String(DEMO_AGENT_ID) });
    sandbox = await startSandboxFor(app, { clock: () => frozenMs });
  });
  afterEach(async () => {
    await sandbox.close();
    await app.stop();
  });

  async function records(): Promise<{ kind: string; stream: string; source_ref: string; payload: Record<string, unknown> }[]> {
    const { rows } = await app.db.pool.query('SELECT kind, stream, source_ref, payload FROM evidence_records ORDER BY seq');
    return rows;
  }

  /** Files an offer approval through the sandbox's OA API: a 会签 node of two, then a third approver. */
  async function submitApproval(): Promise<string> {
    const token = (await (
      await fetch(`${sandbox.url}/cgi-bin/gettoken?corpid=${app.keys.corpId}&corpsecret=${app.config.WECOM_SECRET}`)
    ).json()) as { access_token: string };
    const res = (await (
      await fetch(`${sandbox.url}/cgi-bin/oa/applyevent?access_token=${token.access_token}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          creator_userid: 'zhangmin',
          template_id: OFFER_TEMPLATE_ID,
          use_template_approver: 0,
          process: {
            node_list: [
              { type: 1, apv_rel: 1, userid: ['liqiang', 'wangfang'] },
              { type: 1, apv_rel: 2, userid: ['chenjing'] },
            ],
          },
          apply_data: { contents: offerContents('陈晨', '前端开发工程师', '25000', 1798732800) },
        }),
      })
    ).json()) as { errcode: number; sp_no: string };
    expect(res.errcode).toBe(0);
    await sandbox.idle();
    return res.sp_no;
  }

  test('two approvers acting in the same second: two records; a redelivery of either: none', async () => {
    const spNo = await submitApproval();
    const first = sandbox.actions.approve(spNo, 'liqiang', '同意');
    await first.delivered;
    const second = sandbox.actions.approve(spNo, 'wangfang', '同意');
    await second.delivered;
    // Same SpNo, StatuChangeEvent, SpStatus and CreateTime: what the old key was made of.
    for (const fired of [first, second]) {
      expect(fired.callback.plaintext).toContain(`<CreateTime>${T}</CreateTime>`);
      expect(fired.callback.plaintext).toContain('<StatuChangeEvent>2</StatuChangeEvent>');
    }
    // WeCom delivering each again (fresh timestamp, nonce and ciphertext).
    for (const fired of [first, second]) {
      expect((await sandbox.deliverCallback(fired.callback.plaintext, { agentId: '3010040' })).status).toBe('delivered');
    }
    const rows = (await records()).filter((r) => r.stream === `wecom:approval:${spNo}`);
    expect(rows.map((r) => r.source_ref.slice(`${app.keys.corpId}:`.length))).toEqual([
      `approval:${spNo}:1:1:${T}:-`,
      `approval:${spNo}:2:1:${T}:n0:liqiang`,
      `approval:${spNo}:2:1:${T}:n0:wangfang`,
    ]);
    const { rows: red } = await app.db.pool.query<{ deliveries: number }>('SELECT deliveries FROM evidence_redeliveries');
    expect(red.map((r) => r.deliveries)).toEqual([2, 2]);
  });

  test('two comments in the same second: two records', async () => {
    const spNo = await submitApproval();
    await sandbox.actions.comment(spNo, 'liqiang', '薪资在预算内').delivered;
    await sandbox.actions.comment(spNo, 'wangfang', '请尽快发 offer').delivered;
    const ids = sandbox.state.approvals.get(spNo)?.comments.map((c) => c.commentid) ?? [];
    expect(ids).toHaveLength(2);
    const rows = (await records()).filter((r) => r.kind === 'wecom.callback.event.sys_approval_change');
    expect(rows.map((r) => r.source_ref.slice(`${app.keys.corpId}:`.length))).toEqual([
      `approval:${spNo}:1:1:${T}:-`,
      `approval:${spNo}:10:1:${T}:c:${ids[0]}`,
      `approval:${spNo}:10:1:${T}:c:${ids[1]}`,
    ]);
  });

  test('two contact events in the same second with the same key but different fields: two records, the second linked and counted', async () => {
    const add = (state: string) =>
      sandbox.actions.externalContactChange({
        change_type: 'add_external_contact',
        userid: 'ZhangMin',
        external_userid: 'wmCandChenChen0001',
        state,
      });
    await add('job-fe').delivered;
    await add('job-be').delivered;
    const rows = await records();
    // The contact by its opaque id, never its external_userid (DECISIONS 4).
    const { rows: ids } = await app.db.pool.query<{ id: string }>(
      "SELECT id FROM wecom_external_contacts WHERE external_userid = 'wmCandChenChen0001'",
    );
    const key = `${app.keys.corpId}:contact-v2:add_external_contact:zhangmin:${ids[0]?.id}:${T}`;
    expect(rows.map((r) => r.source_ref)).toEqual([key, expect.stringMatching(new RegExp(`^${key}#[0-9a-f]{16}$`))]);
    expect(rows[1]?.payload['variant_of']).toEqual(expect.objectContaining({ seq: 1, source_ref: key }));
    const variants = await app.app.metrics.callbackVariants.get();
    expect(variants.values.map((v) => v.value)).toEqual([1]);
  });

  test('two contact edits in the same second are the same message byte for byte: one record, the second counted', async () => {
    // edit_external_contact carries nothing but ChangeType, UserID, ExternalUserID and CreateTime
    // (doc 92130), so two such edits cannot be told from a redelivery; what was edited is read
    // with externalcontact/get in any case.
    const edit = () =>
      sandbox.actions.externalContactChange({
        change_type: 'edit_external_contact',
        userid: 'zhangmin',
        external_userid: 'wmCandChenChen0001',
      });
    await edit().delivered;
    await edit().delivered;
    expect(await records()).toHaveLength(1);
    const { rows } = await app.db.pool.query<{ deliveries: number }>('SELECT deliveries FROM evidence_redeliveries');
    expect(rows.map((r) => r.deliveries)).toEqual([2]);
  });

  test('the same delivery replayed is one record', async () => {
    const fired = sandbox.actions.memberSendsText('zhangmin', '我再考虑一下');
    await fired.delivered;
    await sandbox.deliverCallback(fired.callback.plaintext);
    await sandbox.deliverCallback(fired.callback.plaintext);
    expect((await records()).map((r) => r.source_ref)).toEqual([`${app.keys.corpId}:msg:${fired.result.msgId}`]);
  });

  test('a message for another agent is stored, flagged, and never reaches the handler for its type', async () => {
    await sandbox.actions.memberSendsText('zhangmin', '给 HireLedger 的消息').delivered;
    const other = textMessage({ createTime: T, content: '给另一个应用的消息', msgId: '7600000000000000001', agentId: 1000099 });
    expect((await sandbox.deliverCallback(other, { agentId: 1000099 })).status).toBe('delivered');
    const rows = await records();
    expect(rows.map((r) => r.kind)).toEqual(['wecom.callback.message.text', 'wecom.callback.other_agent.message.text']);

    const seen: number[] = [];
    const worker = await startRuntime(app, [
      { name: 'texts', callbackHandlers: { 'message.text': async (cb) => void seen.push(cb.seq) } },
    ]);
    try {
      // Only our message is for the handler: the other agent's record has another kind, no job.
      await until('the handler', async () => seen.length === 1);
      await worker.runtime.dispatcher.sweep();
      const { rows: done } = await app.db.pool.query<{ seq: string }>('SELECT seq FROM ledger_consumer_done');
      expect(done.map((r) => Number(r.seq))).toEqual([1]);
      expect(seen).toEqual([1]);
    } finally {
      await worker.stop();
    }
  });
});
