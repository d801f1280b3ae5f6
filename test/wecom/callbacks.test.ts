import type { JsonValue } from '../../src/evidence';
import { classifyCallback } from '../../src/wecom/callback-event';
import {
  CALLBACK_PARSERS,
  CALLBACK_TYPES,
  CallbackParseError,
  parseCallback,
  type CallbackType,
} from '../../src/wecom/callbacks';
import { parseWecomXml } from '../../src/wecom/xml';
import { approvalEvent, contactChange, enterAgent, textMessage } from '../factories/callbacks';
import { TEST_KEYS } from '../support/keys';

/**
 * The typed callbacks: one parser per known type turns the stored fields into the event a domain
 * handler receives, so no domain reads XML. Ids as DECISIONS 8 says: member userids lower-cased,
 * every other WeCom id exactly as sent.
 */

const T = 1795000000;
const fieldsOf = (xml: string) => parseWecomXml(xml).root;
/** The fields as a handler's record holds them: written to jsonb and read back. */
const stored = (xml: string): JsonValue => JSON.parse(JSON.stringify(fieldsOf(xml))) as JsonValue;

const event = (type: string, body: string, from = 'ZhangMin') =>
  `<xml><ToUserName><![CDATA[${TEST_KEYS.corpId}]]></ToUserName><FromUserName><![CDATA[${from}]]></FromUserName>` +
  `<CreateTime>${T}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[${type}]]></Event>` +
  `<AgentID>1000002</AgentID>${body}</xml>`;
const message = (type: string, body: string) =>
  `<xml><ToUserName><![CDATA[${TEST_KEYS.corpId}]]></ToUserName><FromUserName><![CDATA[ZhangMin]]></FromUserName>` +
  `<CreateTime>${T}</CreateTime><MsgType><![CDATA[${type}]]></MsgType>${body}<MsgId>8000000000000000001</MsgId>` +
  `<AgentID>1000002</AgentID></xml>`;

describe('typed callbacks', () => {
  test('the known types are exactly the parsers, and classification calls every other type unknown', () => {
    expect([...CALLBACK_TYPES].sort()).toEqual(Object.keys(CALLBACK_PARSERS).sort());
    const c = classifyCallback({
      corpId: TEST_KEYS.corpId,
      agentId: TEST_KEYS.agentId,
      plaintext: Buffer.from(event('share_agent_change', '')),
      raw: { method: 'POST', query: '', contentType: 'text/xml', body: Buffer.from('<xml/>') },
      receivedAtMs: T * 1000,
    });
    expect(c.known).toBe(false);
    expect(c.entry.kind).toBe('wecom.callback.unknown');
  });

  test('message.text: the sender lower-cased, the 64-bit MsgId a string', () => {
    expect(
      parseCallback(
        'message.text',
        stored(textMessage({ msgId: '8000000000000000009', from: 'ZhangMin', content: '我再考虑一下' })),
      ),
    ).toEqual({
      type: 'message.text',
      msgId: '8000000000000000009',
      fromUserId: 'zhangmin',
      agentId: TEST_KEYS.agentId,
      content: '我再考虑一下',
    });
  });

  test.each<[CallbackType, string, Record<string, string>]>([
    [
      'message.image',
      message('image', '<PicUrl><![CDATA[https://p/x]]></PicUrl><MediaId><![CDATA[MeDiA1]]></MediaId>'),
      { picUrl: 'https://p/x', mediaId: 'MeDiA1' },
    ],
    [
      'message.voice',
      message('voice', '<MediaId><![CDATA[V1]]></MediaId><Format><![CDATA[amr]]></Format>'),
      { mediaId: 'V1', format: 'amr' },
    ],
    [
      'message.video',
      message('video', '<MediaId><![CDATA[V2]]></MediaId><ThumbMediaId><![CDATA[Th]]></ThumbMediaId>'),
      { mediaId: 'V2', thumbMediaId: 'Th' },
    ],
    [
      'message.location',
      message(
        'location',
        '<Location_X>31.2304</Location_X><Location_Y>121.4737</Location_Y><Scale>15</Scale><Label><![CDATA[上海]]></Label>',
      ),
      { latitude: '31.2304', longitude: '121.4737', scale: '15', label: '上海' },
    ],
    [
      'message.link',
      message(
        'link',
        '<Title><![CDATA[t]]></Title><Description><![CDATA[d]]></Description><Url><![CDATA[https://u]]></Url><PicUrl><![CDATA[https://p]]></PicUrl>',
      ),
      { title: 't', description: 'd', url: 'https://u', picUrl: 'https://p' },
    ],
  ])('%s: its own fields, media ids exactly as sent', (type, xml, fields) => {
    expect(parseCallback(type, stored(xml))).toEqual({
      type,
      msgId: '8000000000000000001',
      fromUserId: 'zhangmin',
      agentId: '1000002',
      ...fields,
    });
  });

  test('event.enter_agent: who opened the app, lower-cased', () => {
    expect(parseCallback('event.enter_agent', stored(enterAgent({ from: 'LiQiang', createTime: T })))).toEqual({
      type: 'event.enter_agent',
      userId: 'liqiang',
      agentId: TEST_KEYS.agentId,
      eventKey: '',
    });
  });

  test('event.change_external_contact: UserID lower-cased, ExternalUserID, State and WelcomeCode exactly', () => {
    const xml = contactChange({
      changeType: 'add_external_contact',
      userId: 'ZhangMin',
      externalUserId: 'wmCandChenChen0001',
      createTime: T,
      state: 'Job-FE',
      welcomeCode: 'WeLcOmE',
    });
    expect(parseCallback('event.change_external_contact', stored(xml))).toEqual({
      type: 'event.change_external_contact',
      changeType: 'add_external_contact',
      userId: 'zhangmin',
      externalUserId: 'wmCandChenChen0001',
      state: 'Job-FE',
      welcomeCode: 'WeLcOmE',
    });
  });

  test('event.sys_approval_change: SpNo, what happened, the flow nodes with their approvers, comments, CC', () => {
    const xml = approvalEvent({
      spNo: '202611260001',
      createTime: T,
      statuChangeEvent: 10,
      spStatus: 1,
      nodes: [
        [
          { userid: 'LiQiang', spTime: T - 30, spStatus: 2 },
          { userid: 'WangFang', spTime: 0 },
        ],
      ],
      comments: [{ userid: 'SunWei', time: T, id: '6750538708562308220', content: '薪资在预算内' }],
    });
    const e = parseCallback('event.sys_approval_change', stored(xml));
    expect(e).toEqual(
      expect.objectContaining({
        spNo: '202611260001',
        spName: '录用审批',
        spStatus: 1,
        statuChangeEvent: 10,
        applyTime: T - 60,
        applicant: { userId: 'zhangmin', party: '2' },
        nodesFrom: 'process_list',
        notified: [],
        comments: [{ commentId: '6750538708562308220', userId: 'sunwei', time: T, content: '薪资在预算内' }],
      }),
    );
    expect(e.nodes).toEqual([
      {
        kind: 'approver',
        status: 1,
        relation: 'all',
        steps: [
          { userId: 'liqiang', status: 2, speech: '', actedAt: T - 30 },
          { userId: 'wangfang', status: 1, speech: '', actedAt: null },
        ],
      },
    ]);
  });

  test('an approval event carrying only SpRecord (the older form) gives the same approvers', () => {
    const base = { spNo: '202611260002', createTime: T, statuChangeEvent: 2, spStatus: 1 };
    const nodes = [[{ userid: 'LiQiang', spTime: T, spStatus: 2 }]];
    const xml = approvalEvent({ ...base, nodes }).replace(/<ProcessList>.*?<\/ProcessList>/s, '');
    const e = parseCallback('event.sys_approval_change', stored(xml));
    expect(e.nodesFrom).toBe('sp_record');
    expect(e.nodes[0]?.steps).toEqual([{ userId: 'liqiang', status: 2, speech: '', actedAt: T }]);
  });

  test('event.kf_msg_or_event and kf_account_auth_change: the KF ids exactly', () => {
    const kf = `<xml><ToUserName><![CDATA[c]]></ToUserName><CreateTime>${T}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[kf_msg_or_event]]></Event><Token><![CDATA[ENCApHx]]></Token><OpenKfId><![CDATA[wkAbC]]></OpenKfId></xml>`;
    expect(parseCallback('event.kf_msg_or_event', stored(kf))).toEqual({
      type: 'event.kf_msg_or_event',
      token: 'ENCApHx',
      openKfId: 'wkAbC',
    });
    const auth = `<xml><ToUserName><![CDATA[c]]></ToUserName><CreateTime>${T}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[kf_account_auth_change]]></Event><AuthAddOpenKfId><![CDATA[wkA]]></AuthAddOpenKfId><AuthAddOpenKfId><![CDATA[wkB]]></AuthAddOpenKfId><AuthDelOpenKfId><![CDATA[wkC]]></AuthDelOpenKfId></xml>`;
    expect(parseCallback('event.kf_account_auth_change', stored(auth))).toEqual({
      type: 'event.kf_account_auth_change',
      added: ['wkA', 'wkB'],
      removed: ['wkC'],
    });
  });

  test('event.template_card_event: the clicked card and the options chosen', () => {
    const xml = event(
      'template_card_event',
      '<EventKey><![CDATA[accept]]></EventKey><TaskId><![CDATA[offer-9]]></TaskId><CardType><![CDATA[button_interaction]]></CardType>' +
        '<ResponseCode><![CDATA[RC]]></ResponseCode><SelectedItems><SelectedItem><QuestionKey><![CDATA[q1]]></QuestionKey>' +
        '<OptionIds><OptionId><![CDATA[a]]></OptionId><OptionId><![CDATA[b]]></OptionId></OptionIds></SelectedItem></SelectedItems>',
    );
    expect(parseCallback('event.template_card_event', stored(xml))).toEqual({
      type: 'event.template_card_event',
      userId: 'zhangmin',
      agentId: '1000002',
      eventKey: 'accept',
      taskId: 'offer-9',
      cardType: 'button_interaction',
      responseCode: 'RC',
      selected: [{ questionKey: 'q1', optionIds: ['a', 'b'] }],
    });
  });

  test('event.msgaudit_notify, subscribe and unsubscribe', () => {
    expect(parseCallback('event.msgaudit_notify', stored(event('msgaudit_notify', '', 'sys')))).toEqual({
      type: 'event.msgaudit_notify',
      agentId: '1000002',
    });
    expect(parseCallback('event.subscribe', stored(event('subscribe', '')))).toEqual({
      type: 'event.subscribe',
      userId: 'zhangmin',
      agentId: '1000002',
    });
    expect(parseCallback('event.unsubscribe', stored(event('unsubscribe', '')))).toEqual({
      type: 'event.unsubscribe',
      userId: 'zhangmin',
      agentId: '1000002',
    });
  });

  test('a JSON-format message reads the same: a single repeating element is an object, not an array', () => {
    const fields: JsonValue = {
      MsgType: 'event',
      Event: 'kf_account_auth_change',
      AuthAddOpenKfId: 'wkOnly',
    };
    expect(parseCallback('event.kf_account_auth_change', fields)).toEqual({
      type: 'event.kf_account_auth_change',
      added: ['wkOnly'],
      removed: [],
    });
  });

  test.each<[string, CallbackType, string, string]>([
    [
      'a text message without MsgId',
      'message.text',
      message('text', '<Content>x</Content>').replace(/<MsgId>.*?<\/MsgId>/, ''),
      'MsgId is missing',
    ],
    [
      'a contact change without ExternalUserID',
      'event.change_external_contact',
      event('change_external_contact', '<ChangeType>add_external_contact</ChangeType><UserID>a</UserID>'),
      'ExternalUserID is missing',
    ],
    [
      'a contact change of a kind not known',
      'event.change_external_contact',
      event('change_external_contact', '<ChangeType>teleport</ChangeType><UserID>a</UserID><ExternalUserID>wm</ExternalUserID>'),
      'ChangeType is not one HireLedger knows',
    ],
    [
      'an approval without SpNo',
      'event.sys_approval_change',
      event('sys_approval_change', '<ApprovalInfo><SpStatus>1</SpStatus><StatuChangeEvent>1</StatuChangeEvent></ApprovalInfo>'),
      'SpNo is missing',
    ],
    [
      'an approval whose status is not a number',
      'event.sys_approval_change',
      event(
        'sys_approval_change',
        '<ApprovalInfo><SpNo>1</SpNo><SpStatus>x</SpStatus><StatuChangeEvent>1</StatuChangeEvent></ApprovalInfo>',
      ),
      'SpStatus is not a whole number',
    ],
  ])('%s: CallbackParseError naming the field', (_n, type, xml, message) => {
    expect(() => parseCallback(type, stored(xml))).toThrow(CallbackParseError);
    expect(() => parseCallback(type, stored(xml))).toThrow(message);
  });

  test('fields that are not an object are refused', () => {
    expect(() => parseCallback('message.text', 'x')).toThrow('fields are not an object');
    expect(() => parseCallback('message.text', [])).toThrow(CallbackParseError);
  });
});
