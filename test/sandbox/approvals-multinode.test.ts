/**
 * Multi-node approval flows in the sandbox, over HTTP: nodes act in order (node 1 before node 2), 或签 /
 * 会签 / 依次 within a node, 转审 and 添加审批人, every action a sys_approval_change whose SpRecord,
 * ProcessList and StatuChangeEvent say what happened, and oa/getapprovalinfo's paging and limits.
 */
import { decrypt } from '@wecom/crypto';
import type { Sandbox } from '../../sandbox/server';
import { OFFER_TEMPLATE_ID, offerContents } from '../../sandbox/seed';
import {
  Client,
  envelopeEncrypt,
  KEYS,
  startReceiver,
  startSandbox,
  xmlStructure,
  fixture,
  type Json,
  type Receiver,
} from './helpers';

const contents = offerContents('cd_multinode', '后端工程师', '33000', 1767196800);

type NodeSpec = { type: 1 | 2 | 3; apv_rel?: 1 | 2 | 3; userid: string[] };

describe('sandbox multi-node approvals', () => {
  let sb: Sandbox;
  let api: Client;
  let receiver: Receiver;
  beforeEach(async () => {
    receiver = await startReceiver();
    sb = await startSandbox({ callbackUrl: receiver.url });
    api = new Client(sb);
  });
  afterEach(async () => {
    await sb.close();
    await receiver.close();
  });

  const submit = async (nodes: NodeSpec[]): Promise<string> => {
    const r = await api.post('oa/applyevent', {
      creator_userid: 'zhangmin',
      template_id: OFFER_TEMPLATE_ID,
      use_template_approver: 0,
      process: { node_list: nodes },
      apply_data: { contents },
    });
    expect(r['errcode']).toBe(0);
    return String(r['sp_no']);
  };
  /** An admin action; waits for its callback to be delivered. */
  const act = async (sp: string, action: string, body: Json): Promise<{ status: number; body: Json }> =>
    api.admin('POST', `approvals/${sp}/${action}`, { wait: true, ...body });
  const info = async (sp: string): Promise<Json> => (await api.post('oa/getapprovaldetail', { sp_no: sp }))['info'] as Json;
  /** Each approver node of the detail as [node status, [[userid, status], ...]]. */
  const records = async (sp: string) =>
    ((await info(sp))['sp_record'] as Json[]).map((n) => [
      n['sp_status'],
      (n['details'] as Json[]).map((d) => [(d['approver'] as Json)['userid'], d['sp_status']]),
    ]);
  const callbacks = (): string[] => receiver.received.map((r) => decrypt(KEYS.encodingAESKey, envelopeEncrypt(r.body)).message);
  const tag = (xml: string, name: string): string[] =>
    [...xml.matchAll(new RegExp(`<${name}>(?:<!\\[CDATA\\[)?([^<\\]]*)`, 'g'))].map((m) => m[1] ?? '');
  /** The form's SpStatus and the event of a callback (the form's SpStatus follows SpName; nodes' come later). */
  const formOf = (xml: string) => ({
    event: Number(tag(xml, 'StatuChangeEvent')[0]),
    status: Number(/<\/SpName><SpStatus>(\d+)<\/SpStatus>/.exec(xml)?.[1]),
  });

  test('three nodes in order (或签, 会签, 或签): later nodes refused until the earlier pass; a callback for each', async () => {
    const sp = await submit([
      { type: 1, apv_rel: 2, userid: ['liqiang'] },
      { type: 1, apv_rel: 1, userid: ['wangfang', 'sunwei'] },
      { type: 1, apv_rel: 2, userid: ['chenjing'] },
      { type: 2, userid: ['zhaolei'] },
    ]);
    // Node 3 and node 2 before node 1: refused with the reason, nothing changed, no callback.
    const early = await act(sp, 'approve', { userid: 'chenjing' });
    expect(early.status).toBe(409);
    expect(early.body['error']).toContain('chenjing 在第 3 个审批节点，须等第 1 个节点（liqiang）审批完成');
    expect((await act(sp, 'reject', { userid: 'wangfang' })).status).toBe(409);
    expect((await act(sp, 'approve', { userid: 'zhaolei' })).status).toBe(409); // CC, never an approver
    expect(await records(sp)).toEqual([
      [1, [['liqiang', 1]]],
      [
        1,
        [
          ['wangfang', 1],
          ['sunwei', 1],
        ],
      ],
      [1, [['chenjing', 1]]],
    ]);

    expect((await act(sp, 'approve', { userid: 'liqiang', speech: '同意' })).status).toBe(200);
    expect((await act(sp, 'approve', { userid: 'chenjing' })).status).toBe(409);
    // 会签: one of two is not enough.
    expect((await act(sp, 'approve', { userid: 'wangfang' })).status).toBe(200);
    expect((await act(sp, 'approve', { userid: 'wangfang' })).body['error']).toContain('已处理过');
    expect((await act(sp, 'approve', { userid: 'chenjing' })).status).toBe(409);
    expect((await info(sp))['sp_status']).toBe(1);
    expect((await act(sp, 'approve', { userid: 'sunwei' })).status).toBe(200);
    expect((await info(sp))['sp_status']).toBe(1);
    expect((await act(sp, 'approve', { userid: 'chenjing', speech: '超出薪资带宽，同意' })).status).toBe(200);
    expect(await records(sp)).toEqual([
      [2, [['liqiang', 2]]],
      [
        2,
        [
          ['wangfang', 2],
          ['sunwei', 2],
        ],
      ],
      [2, [['chenjing', 2]]],
    ]);
    expect((await info(sp))['sp_status']).toBe(2);

    await sb.idle();
    const xs = callbacks();
    // 提单, then one 同意 per approver: the form stays 审批中 until the last node passes.
    expect(xs.map(formOf)).toEqual([
      { event: 1, status: 1 },
      { event: 2, status: 1 },
      { event: 2, status: 1 },
      { event: 2, status: 1 },
      { event: 2, status: 2 },
    ]);
    const afterNode1 = xs[1]!;
    // SpRecord per approver node (或签 → ApproverAttr 1, 会签 → 2), Details per approver, CC as Notifyer.
    expect(tag(afterNode1, 'ApproverAttr')).toEqual(['1', '2', '1']);
    expect(afterNode1).toContain(
      '<SpRecord><SpStatus>2</SpStatus><ApproverAttr>1</ApproverAttr><Details><Approver><UserId><![CDATA[liqiang]]></UserId></Approver><Speech><![CDATA[同意]]></Speech><SpStatus>2</SpStatus>',
    );
    expect(afterNode1).toContain('<SpRecord><SpStatus>1</SpStatus><ApproverAttr>2</ApproverAttr>');
    expect(afterNode1).toContain('<Notifyer><UserId><![CDATA[zhaolei]]></UserId></Notifyer>');
    expect(tag(afterNode1, 'ApvRel')).toEqual(['2', '1', '2']);
    // Still exactly the elements of the documented sample (no comments on this form: those paths aside).
    const sample = xmlStructure(fixture('callback-sys-approval-change.xml')).paths;
    const ours = xmlStructure(xs[4]!).paths;
    expect([...ours].filter((p) => !sample.has(p))).toEqual([]);
    expect([...sample].filter((p) => !ours.has(p) && !p.includes('/Comments'))).toEqual([]);
  });

  test('或签 closes on the first 同意; 依次 lets only the next in line act; a reject on node 2 ends the form', async () => {
    const sp = await submit([
      { type: 1, apv_rel: 2, userid: ['liqiang', 'sunwei'] },
      { type: 1, apv_rel: 3, userid: ['wangfang', 'chenjing'] },
    ]);
    expect((await act(sp, 'approve', { userid: 'sunwei' })).status).toBe(200);
    expect((await act(sp, 'approve', { userid: 'liqiang' })).status).toBe(409);
    const outOfLine = await act(sp, 'approve', { userid: 'chenjing' });
    expect(outOfLine.status).toBe(409);
    expect(outOfLine.body['error']).toContain('依次审批');
    expect((await act(sp, 'approve', { userid: 'wangfang' })).status).toBe(200);
    expect((await act(sp, 'reject', { userid: 'chenjing', speech: '预算不足' })).status).toBe(200);
    expect((await info(sp))['sp_status']).toBe(3);
    expect((await act(sp, 'approve', { userid: 'chenjing' })).body['error']).toContain('已结束（已驳回）');
    await sb.idle();
    expect(formOf(callbacks().at(-1)!)).toEqual({ event: 3, status: 3 });
  });

  test('转审: the place on the node passes to another member (StatuChangeEvent 4), who then approves', async () => {
    const sp = await submit([
      { type: 1, apv_rel: 2, userid: ['liqiang'] },
      { type: 1, apv_rel: 2, userid: ['wangfang'] },
    ]);
    expect((await act(sp, 'transfer', { userid: 'liqiang', to_userid: 'zhouxin' })).status).toBe(400); // out of scope
    expect((await act(sp, 'transfer', { userid: 'liqiang', to_userid: 'nobody' })).status).toBe(400);
    expect((await act(sp, 'transfer', { userid: 'wangfang', to_userid: 'sunwei' })).status).toBe(409); // not her turn
    expect((await act(sp, 'transfer', { userid: 'liqiang', to_userid: 'liqiang' })).status).toBe(409);
    expect((await act(sp, 'transfer', { userid: 'liqiang', to_userid: 'SunWei', speech: '请孙伟审批' })).status).toBe(200);
    expect(await records(sp)).toEqual([
      [
        1,
        [
          ['liqiang', 4],
          ['sunwei', 1],
        ],
      ],
      [1, [['wangfang', 1]]],
    ]);
    expect((await act(sp, 'approve', { userid: 'liqiang' })).status).toBe(409);
    expect((await act(sp, 'approve', { userid: 'sunwei' })).status).toBe(200);
    expect((await act(sp, 'approve', { userid: 'wangfang' })).status).toBe(200);
    expect((await info(sp))['sp_status']).toBe(2);
    await sb.idle();
    const xs = callbacks();
    expect(xs.map(formOf)).toEqual([
      { event: 1, status: 1 },
      { event: 4, status: 1 },
      { event: 2, status: 1 },
      { event: 2, status: 2 },
    ]);
    expect(xs[1]).toContain(
      '<Details><Approver><UserId><![CDATA[liqiang]]></UserId></Approver><Speech><![CDATA[请孙伟审批]]></Speech><SpStatus>4</SpStatus>',
    );
    expect(xs[1]).toContain(
      '<SubNodeList><UserInfo><UserId><![CDATA[sunwei]]></UserId></UserInfo><Speech><![CDATA[]]></Speech><SpYj>1</SpYj>',
    );
  });

  test('转审 on a 会签 node: the transferee’s approval completes the node in place of the transferrer', async () => {
    const sp = await submit([{ type: 1, apv_rel: 1, userid: ['liqiang', 'wangfang'] }]);
    await act(sp, 'approve', { userid: 'wangfang' });
    await act(sp, 'transfer', { userid: 'liqiang', to_userid: 'chenjing' });
    expect((await info(sp))['sp_status']).toBe(1);
    await act(sp, 'approve', { userid: 'chenjing' });
    expect((await info(sp))['sp_status']).toBe(2);
    expect(await records(sp)).toEqual([
      [
        2,
        [
          ['liqiang', 4],
          ['chenjing', 2],
          ['wangfang', 2],
        ],
      ],
    ]);
  });

  test('添加审批人: a new node after the current one (StatuChangeEvent 12) that must pass before the next', async () => {
    const sp = await submit([
      { type: 1, apv_rel: 2, userid: ['liqiang'] },
      { type: 1, apv_rel: 2, userid: ['wangfang'] },
      { type: 1, apv_rel: 2, userid: ['chenjing'] },
    ]);
    expect((await act(sp, 'add-approver', { userid: 'wangfang', add_userid: 'liuyang' })).status).toBe(409); // not her turn
    await act(sp, 'approve', { userid: 'liqiang' });
    expect((await act(sp, 'add-approver', { userid: 'wangfang', add_userid: 'zhouxin' })).status).toBe(400);
    expect((await act(sp, 'add-approver', { userid: 'wangfang', add_userid: ['liuyang'] })).status).toBe(200);
    expect(await records(sp)).toEqual([
      [2, [['liqiang', 2]]],
      [1, [['wangfang', 1]]],
      [1, [['liuyang', 1]]],
      [1, [['chenjing', 1]]],
    ]);
    await act(sp, 'approve', { userid: 'wangfang' });
    const skipped = await act(sp, 'approve', { userid: 'chenjing' });
    expect(skipped.status).toBe(409);
    expect(skipped.body['error']).toContain('须等第 3 个节点（liuyang）');
    await act(sp, 'approve', { userid: 'liuyang' });
    expect((await info(sp))['sp_status']).toBe(1);
    await act(sp, 'approve', { userid: 'chenjing' });
    expect((await info(sp))['sp_status']).toBe(2);
    await sb.idle();
    expect(callbacks().map((x) => formOf(x).event)).toEqual([1, 2, 12, 2, 2, 2]);
  });

  test('drop_callback on any action: the state changes, the callback is recorded as skipped and not sent', async () => {
    const sp = await submit([
      { type: 1, apv_rel: 2, userid: ['liqiang'] },
      { type: 1, apv_rel: 2, userid: ['wangfang'] },
    ]);
    await sb.idle();
    const sent = receiver.received.length;
    const t = await act(sp, 'transfer', { userid: 'liqiang', to_userid: 'sunwei', drop_callback: true });
    expect((t.body['callback'] as Json)['status']).toBe('skipped');
    const a = await act(sp, 'approve', { userid: 'sunwei', drop_callback: true });
    expect((a.body['callback'] as Json)['status']).toBe('skipped');
    await sb.idle();
    expect(receiver.received.length).toBe(sent);
    expect(await records(sp)).toEqual([
      [
        2,
        [
          ['liqiang', 4],
          ['sunwei', 2],
        ],
      ],
      [1, [['wangfang', 1]]],
    ]);
    // The callback URL is back for the next action.
    await act(sp, 'approve', { userid: 'wangfang' });
    await sb.idle();
    expect(receiver.received.length).toBe(sent + 1);
  });

  test('getapprovalinfo: new_cursor and the deprecated cursor/next_cursor, size ≤ 100, span ≤ 31 days', async () => {
    const now = Math.floor(Date.now() / 1000);
    const created: string[] = [];
    for (let i = 0; i < 5; i += 1) created.push(await submit([{ type: 1, apv_rel: 2, userid: ['liqiang'] }]));
    const range = { starttime: now - 31 * 86400 + 120, endtime: now + 120 };
    const all = [...sb.state.approvals.values()].map((a) => a.sp_no);
    expect(all).toHaveLength(7); // 2 seeded + 5

    // Exactly 31 days is allowed; one second more is 301112.
    expect((await api.post('oa/getapprovalinfo', { starttime: now - 31 * 86400, endtime: now, size: 1 }))['errcode']).toBe(0);
    const tooLong = await api.post('oa/getapprovalinfo', { starttime: now - 31 * 86400 - 1, endtime: now, size: 1 });
    expect(tooLong['errcode']).toBe(301112);
    expect(tooLong['errmsg']).toMatch(/^time range is too long/);
    expect((await api.post('oa/getapprovalinfo', { ...range, size: 0 }))['errcode']).toBe(301025);
    expect((await api.post('oa/getapprovalinfo', { ...range, size: 101 }))['errcode']).toBe(301025);
    expect((await api.post('oa/getapprovalinfo', { endtime: now, size: 10 }))['errcode']).toBe(301025);
    expect((await api.post('oa/getapprovalinfo', { ...range, size: 10, new_cursor: 'garbage!' }))['errcode']).toBe(301025);
    expect((await api.post('oa/getapprovalinfo', { ...range, size: 10, cursor: -1 }))['errcode']).toBe(301025);

    // size 100: everything on one page, no next cursor.
    const one = await api.post('oa/getapprovalinfo', { ...range, size: 100 });
    expect(one['sp_no_list']).toEqual(all);
    expect(one).not.toHaveProperty('new_next_cursor');

    const pageThrough = async (legacy: boolean): Promise<string[][]> => {
      const pages: string[][] = [];
      let cursor: string | number | undefined = legacy ? 0 : '';
      while (cursor !== undefined) {
        const page: Json = await api.post('oa/getapprovalinfo', {
          ...range,
          size: 3,
          ...(legacy ? { cursor } : { new_cursor: cursor }),
        });
        expect(page['errcode']).toBe(0);
        pages.push(page['sp_no_list'] as string[]);
        cursor = (legacy ? page['next_cursor'] : page['new_next_cursor']) as string | number | undefined;
        if (!legacy) expect(page).not.toHaveProperty('next_cursor');
        if (legacy && cursor !== undefined) expect(typeof cursor).toBe('number');
      }
      return pages;
    };
    for (const legacy of [false, true]) {
      const pages = await pageThrough(legacy);
      expect(pages.map((p) => p.length)).toEqual([3, 3, 1]);
      expect(pages.flat()).toEqual(all);
      expect(pages.flat().slice(2)).toEqual(created);
    }
    // Filters page too: the 5 new ones are 审批中, as is the seeded pending one.
    const pending = await api.post('oa/getapprovalinfo', { ...range, size: 4, filters: [{ key: 'sp_status', value: '1' }] });
    expect(pending['sp_no_list']).toHaveLength(4);
    expect(typeof pending['new_next_cursor']).toBe('string');
    const rest = await api.post('oa/getapprovalinfo', {
      ...range,
      size: 4,
      new_cursor: pending['new_next_cursor'],
      filters: [{ key: 'sp_status', value: '1' }],
    });
    expect(rest['sp_no_list']).toHaveLength(2);
    expect(rest).not.toHaveProperty('new_next_cursor');
  });
});
