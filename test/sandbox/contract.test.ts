/**
 * Contract tests: sandbox responses carry the field names and JSON types of WeCom's own samples
 * (fixtures copied from the reference), and callback plaintexts have the same elements and CDATA usage
 * as the documented XML samples.
 */
import type { Sandbox } from '../../sandbox/server';
import { approvalChangeXml, externalContactXml, kfMsgOrEventXml, textMessageXml } from '../../sandbox/callbacks';
import { OFFER_TEMPLATE_ID, offerContents } from '../../sandbox/seed';
import { Client, fixture, jsonFixture, KEYS, shapeMismatches, startSandbox, xmlStructure } from './helpers';

const offerApplyContents = offerContents('陈晨', '前端开发工程师', '25000', 1767196800);

describe('sandbox contract (shapes match WeCom samples)', () => {
  let sb: Sandbox;
  let api: Client;

  beforeAll(async () => {
    sb = await startSandbox();
    api = new Client(sb);
  });
  afterAll(async () => {
    await sb.close();
  });

  test('gettoken', async () => {
    const r = await api.raw('GET', `/cgi-bin/gettoken?corpid=${KEYS.corpId}&corpsecret=${KEYS.secret}`);
    expect(shapeMismatches(r, jsonFixture('gettoken.json'))).toEqual([]);
    expect(r['expires_in']).toBe(7200);
  });

  test('message/send (interactive card, so response_code is present too)', async () => {
    const r = await api.post('message/send', {
      touser: 'zhangmin|nobody',
      msgtype: 'template_card',
      agentid: 1000002,
      template_card: {
        card_type: 'button_interaction',
        main_title: { title: 'Offer 待确认', desc: '陈晨 · 前端开发工程师' },
        task_id: 'offer-202611220001',
        button_list: [{ text: '去确认', style: 1, key: 'confirm' }],
      },
    });
    expect(r['errcode']).toBe(0);
    expect(r['invaliduser']).toBe('nobody');
    expect(shapeMismatches(r, jsonFixture('message-send.json'))).toEqual([]);
  });

  test('the documented request samples are accepted as-is (after pointing them at sandbox ids)', async () => {
    for (const name of ['message-send-request-text.json', 'message-send-request-textcard.json']) {
      const req: Json = { ...jsonFixture(name), touser: 'zhangmin', agentid: 1000002 };
      // The doc's textcard sample has the placeholder url "URL"; WeCom requires a scheme (45034).
      if (isJson(req['textcard'])) req['textcard'] = { ...req['textcard'], url: 'https://hireledger.example.com/offers/1' };
      const r = await api.post('message/send', req);
      expect([name, r['errcode']]).toEqual([name, 0]);
    }
  });

  test('oa/gettemplatedetail', async () => {
    const r = await api.post('oa/gettemplatedetail', { template_id: OFFER_TEMPLATE_ID });
    expect(shapeMismatches(r, jsonFixture('gettemplatedetail.json'))).toEqual([]);
    const controls = (r['template_content'] as { controls: { property: { id: string; title: { text: string }[] } }[] }).controls;
    expect(controls.map((c) => c.property.title[0]?.text)).toEqual([
      '候选人',
      '岗位',
      '月薪',
      '入职日期',
      '职级',
      '备注',
      '年度目标奖金',
      '试用期（月）',
      '内容哈希',
    ]);
  });

  test('oa/applyevent + oa/getapprovaldetail + oa/getapprovalinfo', async () => {
    const apply = await api.post('oa/applyevent', {
      ...jsonFixture('applyevent-request.json'),
      creator_userid: 'zhangmin',
      template_id: OFFER_TEMPLATE_ID,
      process: {
        node_list: [
          { type: 1, apv_rel: 2, userid: ['liqiang', 'sunwei'] },
          { type: 2, userid: ['zhaolei'] },
        ],
      },
      apply_data: { contents: offerApplyContents },
    });
    expect(shapeMismatches(apply, jsonFixture('applyevent.json'))).toEqual([]);
    expect(apply['sp_no']).toMatch(/^\d{12}$/);
    const spNo = String(apply['sp_no']);
    sb.actions.comment(spNo, 'wangfang', '薪资已核对');

    const detail = await api.post('oa/getapprovaldetail', { sp_no: spNo });
    // Sandbox comments carry no attachments, so compare against the sample without its media ids.
    const sample = jsonFixture('getapprovaldetail.json') as { info: { comments: Json[] } };
    sample.info.comments = sample.info.comments.map((c) => ({ ...c, media_id: [] }));
    expect(shapeMismatches(detail, sample)).toEqual([]);
    const info0 = detail['info'] as Json;
    expect(info0['sp_status']).toBe(1);
    expect(info0['notifyer']).toEqual([{ userid: 'zhaolei' }]);
    expect((info0['comments'] as Json[])[0]).toMatchObject({
      commentUserInfo: { userid: 'wangfang' },
      commentcontent: '薪资已核对',
    });

    const now = Math.floor(Date.now() / 1000);
    const info = await api.post('oa/getapprovalinfo', {
      ...jsonFixture('getapprovalinfo-request.json'),
      starttime: String(now - 5 * 86400),
      endtime: String(now + 60),
      size: 1,
      filters: [],
    });
    expect(shapeMismatches(info, jsonFixture('getapprovalinfo.json'))).toEqual([]);
  });

  test('kf/sync_msg and kf/send_msg', async () => {
    sb.actions.kfInbound({ external_userid: 'wmCandChenChen0001', content: '请问什么时候面试？' });
    sb.actions.kfInbound({
      external_userid: 'wmCandChenChen0001',
      content: '您好，我是招聘专员张敏',
      origin: 5,
      servicer_userid: 'zhangmin',
    });
    const sync = await api.post('kf/sync_msg', {
      ...jsonFixture('kf-sync-msg-request.json'),
      cursor: '',
      token: '',
      open_kfid: 'wkHireLedger01',
      limit: 2,
    });
    expect(sync['has_more']).toBe(1);
    // The sample's item is a servicer message (it has servicer_userid); compare with ours of origin 5.
    const all = await api.post('kf/sync_msg', { open_kfid: 'wkHireLedger01' });
    const servicerMsg = (all['msg_list'] as Json[]).find((m) => m['origin'] === 5);
    expect(shapeMismatches({ ...sync, msg_list: [servicerMsg] }, jsonFixture('kf-sync-msg.json'))).toEqual([]);

    const send = await api.post('kf/send_msg', {
      ...jsonFixture('kf-send-msg-request.json'),
      touser: 'wmCandChenChen0001',
      open_kfid: 'wkHireLedger01',
      msgid: 'contract-1',
    });
    expect(shapeMismatches(send, jsonFixture('kf-send-msg.json'))).toEqual([]);
  });

  test('auth/getuserinfo (member with privateinfo, and external), user/get, externalcontact/get, tickets', async () => {
    const memberCode = sb.state.issueOAuthCode({ kind: 'member', userid: 'zhangmin' }, 'snsapi_privateinfo').code;
    expect(
      shapeMismatches(await api.get('auth/getuserinfo', { code: memberCode }), jsonFixture('getuserinfo-member.json')),
    ).toEqual([]);
    const extCode = sb.state.issueOAuthCode({
      kind: 'external',
      external_userid: 'wmCandChenChen0001',
      openid: 'oCandChenChen0001',
    }).code;
    expect(
      shapeMismatches(await api.get('auth/getuserinfo', { code: extCode }), jsonFixture('getuserinfo-external.json')),
    ).toEqual([]);
    expect(shapeMismatches(await api.get('user/get', { userid: 'zhangmin' }), jsonFixture('user-get.json'))).toEqual([]);
    expect(
      shapeMismatches(
        await api.get('externalcontact/get', { external_userid: 'wmCandChenChen0001' }),
        jsonFixture('externalcontact-get.json'),
      ),
    ).toEqual([]);
    expect(shapeMismatches(await api.get('get_jsapi_ticket'), jsonFixture('jsapi-ticket.json'))).toEqual([]);
    expect(shapeMismatches(await api.get('ticket/get', { type: 'agent_config' }), jsonFixture('jsapi-ticket.json'))).toEqual([]);
  });

  test('errors carry errcode + WeCom-style errmsg', async () => {
    const r = await api.raw('GET', '/cgi-bin/user/get?access_token=nope&userid=zhangmin');
    expect(r['errcode']).toBe(40014);
    expect(r['errmsg']).toMatch(
      /^invalid access_token, hint: \[\d{10}_\d+_[0-9a-f]{32}\], from ip: 127\.0\.0\.1, more info at https:\/\/open\.work\.weixin\.qq\.com\/devtool\/query\?e=40014$/,
    );
  });
});

describe('callback XML has the elements and CDATA usage of the documented samples', () => {
  const same = (ours: string, sampleFile: string): void => {
    const a = xmlStructure(ours);
    const b = xmlStructure(fixture(sampleFile));
    expect([...a.paths].sort()).toEqual([...b.paths].sort());
    expect([...a.cdata].sort()).toEqual([...b.cdata].sort());
  };

  test('text message (§3.1)', () => {
    same(
      textMessageXml({
        corpId: 'ww1',
        fromUserId: 'zhangmin',
        createTime: 1,
        content: '你好',
        msgId: '1234567890123456789',
        agentId: 1000002,
      }),
      'callback-text.xml',
    );
  });

  test('sys_approval_change (§3.2) with approvers, CC, a comment and process list', async () => {
    const sb = await startSandbox();
    try {
      const [a] = [...sb.state.approvals.values()].filter((x) => x.sp_status === 1);
      if (!a) throw new Error('seed has a pending approval');
      sb.actions.comment(a.sp_no, 'wangfang', '这是一个备注');
      same(approvalChangeXml('ww1', a, 10, 1), 'callback-sys-approval-change.xml');
    } finally {
      await sb.close();
    }
  });

  test('kf_msg_or_event (§3.4)', () => {
    same(kfMsgOrEventXml('ww1', 'ENCtoken', 'wkHireLedger01', 1), 'callback-kf-msg-or-event.xml');
  });

  test('change_external_contact (§3.5)', () => {
    same(
      externalContactXml({
        corpId: 'ww1',
        changeType: 'add_external_contact',
        userId: 'zhangmin',
        externalUserId: 'wmX',
        createTime: 1,
        state: 'job',
        welcomeCode: 'W',
      }),
      'callback-change-external-contact.xml',
    );
  });
});

type Json = Record<string, unknown>;

function isJson(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
