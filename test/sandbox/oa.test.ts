/** Approvals: applyevent validation, detail, admin approve/reject with sys_approval_change, getapprovalinfo. */
import { decrypt } from '@wecom/crypto';
import type { Sandbox } from '../../sandbox/server';
import { OFFER_CONTROLS, OFFER_TEMPLATE_ID, offerContents } from '../../sandbox/seed';
import { Client, envelopeEncrypt, KEYS, startReceiver, startSandbox, type Json, type Receiver } from './helpers';

const contents = offerContents('陈晨', '前端开发工程师', '25000', 1767196800);

const apply = (extra: Json = {}): Json => ({
  creator_userid: 'zhangmin',
  template_id: OFFER_TEMPLATE_ID,
  use_template_approver: 1,
  apply_data: { contents },
  summary_list: [{ summary_info: [{ text: '候选人：陈晨', lang: 'zh_CN' }] }],
  ...extra,
});

describe('oa', () => {
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

  const callbackXml = (i: number): string =>
    decrypt(KEYS.encodingAESKey, envelopeEncrypt(receiver.received[i]?.body ?? '')).message;
  const info = async (spNo: string): Promise<Json> => (await api.post('oa/getapprovaldetail', { sp_no: spNo }))['info'] as Json;

  test('applyevent validation errors', async () => {
    expect((await api.post('oa/applyevent', apply({ creator_userid: 'zhouxin' })))['errcode']).toBe(301055); // out of scope
    expect((await api.post('oa/applyevent', apply({ creator_userid: 'ghost' })))['errcode']).toBe(301055);
    expect((await api.post('oa/applyevent', apply({ template_id: 'nope' })))['errcode']).toBe(301025);
    const missingSalary = contents.filter((c) => c.id !== OFFER_CONTROLS.salary);
    const r = await api.post('oa/applyevent', apply({ apply_data: { contents: missingSalary } }));
    expect(r['errcode']).toBe(301025);
    expect(r['errmsg']).toContain(OFFER_CONTROLS.salary);
    expect((await api.post('oa/applyevent', apply({ use_template_approver: 0 })))['errcode']).toBe(301025); // no process
    expect(
      (await api.post('oa/applyevent', apply({ summary_list: [{ summary_info: [{ text: 'x', lang: 'zh-CN' }] }] })))['errcode'],
    ).toBe(301025);
    const newline = contents.map((c) => (c.id === OFFER_CONTROLS.candidate ? { ...c, value: { text: '陈\n晨' } } : c));
    expect((await api.post('oa/applyevent', apply({ apply_data: { contents: newline } })))['errcode']).toBe(301025);
    expect(sb.state.approvals.size).toBe(2); // only the seeded ones
  });

  test('apply → detail (审批中) → approve node 1 → still 审批中 → approve node 2 → 已通过, with callbacks', async () => {
    const r = await api.post('oa/applyevent', apply());
    expect(r['errcode']).toBe(0);
    const spNo = r['sp_no'];
    expect(typeof spNo).toBe('string');
    expect(spNo).toMatch(/^\d{8}\d{4}$/);
    const sp = String(spNo);

    const d0 = await info(sp);
    expect(d0).toMatchObject({
      sp_no: sp,
      sp_name: '录用审批',
      sp_status: 1,
      applyer: { userid: 'zhangmin', partyid: '2' },
      notifyer: [{ userid: 'zhaolei' }],
    });
    expect((d0['sp_record'] as Json[]).map((n) => n['sp_status'])).toEqual([1, 1]);

    await sb.idle();
    expect(callbackXml(0)).toContain('<StatuChangeEvent>1</StatuChangeEvent>');

    // Wrong approver (node 2's approver cannot act on node 1) → 409.
    const wrong = await api.admin('POST', `approvals/${sp}/approve`, { userid: 'wangfang' });
    expect(wrong.status).toBe(409);

    const a1 = await api.admin('POST', `approvals/${sp}/approve`, { userid: 'liqiang', speech: '技术面评价很好', wait: true });
    expect(a1.status).toBe(200);
    const d1 = await info(sp);
    expect(d1['sp_status']).toBe(1);
    expect((d1['sp_record'] as Json[]).map((n) => n['sp_status'])).toEqual([2, 1]);
    const x1 = callbackXml(1);
    expect(x1).toContain(`<SpNoStr><![CDATA[${sp}]]></SpNoStr><SpNo>${sp}</SpNo>`);
    expect(x1).toContain('<SpStatus>1</SpStatus><TemplateId>');
    expect(x1).toContain('<StatuChangeEvent>2</StatuChangeEvent>');
    expect(x1).toMatch(
      /<Details><Approver><UserId><!\[CDATA\[liqiang\]\]><\/UserId><\/Approver><Speech><!\[CDATA\[技术面评价很好\]\]><\/Speech><SpStatus>2<\/SpStatus><SpTime>\d{10}<\/SpTime><\/Details>/,
    );
    expect(x1).toContain('<AgentID>3010040</AgentID>');
    expect(receiver.received[1]?.body).toContain('<AgentID><![CDATA[3010040]]></AgentID>');

    await api.admin('POST', `approvals/${sp}/approve`, { userid: 'wangfang', speech: '同意', wait: true });
    const d2 = await info(sp);
    expect(d2['sp_status']).toBe(2);
    expect((d2['sp_record'] as Json[]).map((n) => n['sp_status'])).toEqual([2, 2]);
    const x2 = callbackXml(2);
    expect(x2).toMatch(
      /<ApprovalInfo><SpNoStr><!\[CDATA\[\d{12}\]\]><\/SpNoStr><SpNo>\d{12}<\/SpNo><SpName><!\[CDATA\[录用审批\]\]><\/SpName><SpStatus>2<\/SpStatus>/,
    );
    expect(x2).toContain('<StatuChangeEvent>2</StatuChangeEvent>');

    // A closed form cannot be acted on again.
    expect((await api.admin('POST', `approvals/${sp}/reject`, { userid: 'wangfang' })).status).toBe(409);
    // Revoke after approval → 6 / event 8.
    await api.admin('POST', `approvals/${sp}/revoke`, { wait: true });
    expect((await info(sp))['sp_status']).toBe(6);
    expect(callbackXml(3)).toContain('<StatuChangeEvent>8</StatuChangeEvent>');
  });

  test('explicit process with 会签: both must approve; a reject ends the form (3 / event 3)', async () => {
    const r = await api.post(
      'oa/applyevent',
      apply({ use_template_approver: 0, process: { node_list: [{ type: 1, apv_rel: 1, userid: ['liqiang', 'sunwei'] }] } }),
    );
    const sp = String(r['sp_no']);
    sb.actions.approve(sp, 'liqiang', '可以');
    expect((await info(sp))['sp_status']).toBe(1);
    await sb.actions.reject(sp, 'sunwei', '薪资超预算').delivered;
    const d = await info(sp);
    expect(d['sp_status']).toBe(3);
    const details = ((d['sp_record'] as Json[])[0]?.['details'] ?? []) as Json[];
    expect(details.map((x) => [(x['approver'] as Json)['userid'], x['sp_status'], x['speech']])).toEqual([
      ['liqiang', 2, '可以'],
      ['sunwei', 3, '薪资超预算'],
    ]);
    await sb.idle();
    const last = callbackXml(receiver.received.length - 1);
    expect(last).toContain('<SpStatus>3</SpStatus><TemplateId>');
    expect(last).toContain('<StatuChangeEvent>3</StatuChangeEvent>');
    expect(last).toContain('<ApproverAttr>2</ApproverAttr>');
  });

  test('getapprovalinfo: 31-day limit, size limit, paging, filters', async () => {
    const now = Math.floor(Date.now() / 1000);
    expect((await api.post('oa/getapprovalinfo', { starttime: now - 32 * 86400, endtime: now, size: 10 }))['errcode']).toBe(
      301112,
    );
    expect((await api.post('oa/getapprovalinfo', { starttime: now - 86400, endtime: now, size: 101 }))['errcode']).toBe(301025);
    const created = [];
    for (let i = 0; i < 3; i += 1) created.push(String((await api.post('oa/applyevent', apply()))['sp_no']));
    const range = { starttime: String(now - 10 * 86400), endtime: String(now + 60) };
    const seen: string[] = [];
    let cursor = '';
    let pages = 0;
    for (;;) {
      const page = await api.post('oa/getapprovalinfo', { ...range, size: 2, new_cursor: cursor });
      expect(page['errcode']).toBe(0);
      seen.push(...(page['sp_no_list'] as string[]));
      pages += 1;
      if (typeof page['new_next_cursor'] !== 'string') break;
      cursor = page['new_next_cursor'];
    }
    expect(pages).toBe(3);
    expect(seen).toHaveLength(5); // 2 seeded + 3 new
    expect(seen.slice(2)).toEqual(created);
    const pending = await api.post('oa/getapprovalinfo', { ...range, filters: [{ key: 'sp_status', value: '2' }] });
    expect((pending['sp_no_list'] as string[]).length).toBe(1); // the seeded approved offer
    const bad = await api.post('oa/getapprovalinfo', { ...range, filters: [{ key: 'nope', value: '1' }] });
    expect(bad['errcode']).toBe(301025);
  });

  test('gettemplatedetail lists the offer controls with realistic ids and selector options', async () => {
    const r = await api.post('oa/gettemplatedetail', { template_id: OFFER_TEMPLATE_ID });
    expect(r['template_names']).toEqual([{ text: '录用审批', lang: 'zh_CN' }]);
    const controls = (r['template_content'] as { controls: { property: Json; config?: Json }[] }).controls;
    expect(controls.map((c) => [c.property['control'], c.property['id'], c.property['require']])).toEqual([
      ['Text', 'Text-1700000000001', 1],
      ['Text', 'Text-1700000000002', 1],
      ['Money', 'Money-1700000000003', 1],
      ['Date', 'Date-1700000000004', 1],
      ['Selector', 'Selector-1700000000005', 1],
      ['Textarea', 'Textarea-1700000000006', 0],
      ['Money', 'Money-1700000000007', 0],
      ['Number', 'Number-1700000000008', 0],
      ['Text', 'Text-1700000000009', 0],
    ]);
    expect((await api.post('oa/gettemplatedetail', { template_id: 'x' }))['errcode']).toBe(301025);
  });
});
