/** 企业群发 externalcontact/add_msg_template: validation codes, fail_list, the monthly limit, confirm, the read-backs. */
import type { Sandbox } from '../../sandbox/server';
import { Client, startSandbox } from './helpers';

describe('externalcontact/add_msg_template', () => {
  let sb: Sandbox;
  let api: Client;
  beforeEach(async () => {
    sb = await startSandbox();
    api = new Client(sb);
  });
  afterEach(() => sb.close());

  const offer = (external_userid: string[], extra: Record<string, unknown> = {}) => ({
    chat_type: 'single',
    external_userid,
    sender: 'zhangmin',
    text: { content: '您好，您的录用通知已发出，请点击链接查看：https://hireledger.example.com/h5/offer/abc' },
    ...extra,
  });

  test('queues a task for the sender; customers not theirs are in fail_list; nothing delivered before confirm', async () => {
    // 陈晨 and 林晓 are 张敏's customers; 吴昊 is 陈静's; 郑雪 deleted by 张敏; ghost unknown.
    const r = await api.post(
      'externalcontact/add_msg_template',
      offer(['wmCandChenChen0001', 'wmCandLinXiao0002', 'wmCandWuHao0003', 'wmCandZhengXue0004', 'wmGhost']),
    );
    expect(r).toMatchObject({ errcode: 0, errmsg: 'ok' });
    expect(typeof r['msgid']).toBe('string');
    expect(r['fail_list']).toEqual(['wmCandWuHao0003', 'wmCandZhengXue0004', 'wmGhost']);
    const task = sb.state.groupMsgs.find((t) => t.msgid === r['msgid']);
    expect(task).toMatchObject({ sender: 'zhangmin', task_status: 0 });
    expect(task?.recipients).toEqual([
      { external_userid: 'wmCandChenChen0001', status: 0 },
      { external_userid: 'wmCandLinXiao0002', status: 0 },
    ]);

    const before = await api.post('externalcontact/get_groupmsg_send_result', { msgid: r['msgid'], userid: 'zhangmin' });
    expect(before['send_list']).toEqual([
      { external_userid: 'wmCandChenChen0001', userid: 'zhangmin', status: 0 },
      { external_userid: 'wmCandLinXiao0002', userid: 'zhangmin', status: 0 },
    ]);
    expect((await api.post('externalcontact/get_groupmsg_task', { msgid: r['msgid'] }))['task_list']).toEqual([
      { userid: 'zhangmin', status: 0 },
    ]);

    // Only the sender can confirm it, and only once.
    expect((await api.admin('POST', `group-msgs/${String(r['msgid'])}/confirm`, { userid: 'chenjing' })).status).toBe(409);
    const confirmed = await api.admin('POST', `group-msgs/${String(r['msgid'])}/confirm`, { userid: 'ZhangMin' });
    expect(confirmed.status).toBe(200);
    expect((await api.admin('POST', `group-msgs/${String(r['msgid'])}/confirm`, {})).status).toBe(409);
    expect((await api.admin('POST', 'group-msgs/nope/confirm', {})).status).toBe(404);
    const after = await api.post('externalcontact/get_groupmsg_send_result', { msgid: r['msgid'], userid: 'zhangmin' });
    expect((after['send_list'] as { status: number }[]).map((s) => s.status)).toEqual([1, 1]);
    expect(typeof (after['send_list'] as { send_time?: number }[])[0]?.send_time).toBe('number');
    expect((await api.post('externalcontact/get_groupmsg_task', { msgid: r['msgid'] }))['task_list']).toMatchObject([
      { userid: 'zhangmin', status: 2 },
    ]);
  });

  test('no customer left → 41048 with the fail_list; an empty list means every customer of the sender', async () => {
    const none = await api.post('externalcontact/add_msg_template', offer(['wmCandWuHao0003', 'wmGhost']));
    expect(none['errcode']).toBe(41048);
    expect(none['fail_list']).toEqual(['wmCandWuHao0003', 'wmGhost']);
    expect(sb.state.groupMsgs).toHaveLength(0);

    const all = await api.post('externalcontact/add_msg_template', offer([]));
    expect(all['errcode']).toBe(0);
    expect(sb.state.groupMsgs[0]?.recipients.map((r) => r.external_userid).sort()).toEqual([
      'wmCandChenChen0001',
      'wmCandLinXiao0002',
    ]);
  });

  test('the monthly limit per customer: over it, the customer is in fail_list', async () => {
    expect((await api.admin('POST', 'group-msgs/monthly-cap', { cap: 2 })).status).toBe(200);
    for (let i = 0; i < 2; i += 1)
      expect((await api.post('externalcontact/add_msg_template', offer(['wmCandChenChen0001'])))['errcode']).toBe(0);
    const third = await api.post('externalcontact/add_msg_template', offer(['wmCandChenChen0001', 'wmCandLinXiao0002']));
    expect(third).toMatchObject({ errcode: 0, fail_list: ['wmCandChenChen0001'] });
    const fourth = await api.post('externalcontact/add_msg_template', offer(['wmCandChenChen0001']));
    expect(fourth).toMatchObject({ errcode: 41048, fail_list: ['wmCandChenChen0001'] });
    expect((await api.admin('POST', 'group-msgs/monthly-cap', { cap: -1 })).status).toBe(400);
  });

  test('the default limit is the number of days of the Beijing month', async () => {
    // 2026-02 has 28 days: the 29th message that month to one customer fails.
    const clock = { now: Date.UTC(2026, 1, 10, 4) };
    await sb.close();
    sb = await startSandbox({ clock: () => clock.now });
    api = new Client(sb);
    const codes: unknown[] = [];
    for (let i = 0; i < 29; i += 1)
      codes.push((await api.post('externalcontact/add_msg_template', offer(['wmCandChenChen0001'])))['errcode']);
    expect(codes.slice(0, 28).every((c) => c === 0)).toBe(true);
    expect(codes[28]).toBe(41048);
    // The next Beijing month starts afresh (2026-02-28 16:00Z is 03-01 00:00 in Beijing).
    clock.now = Date.UTC(2026, 1, 28, 16);
    api.forgetToken(); // the access_token of 18 days ago has expired
    expect((await api.post('externalcontact/add_msg_template', offer(['wmCandChenChen0001'])))['errcode']).toBe(0);
  });

  test('validation codes', async () => {
    const post = async (body: unknown) => (await api.post('externalcontact/add_msg_template', body))['errcode'];
    const ids = ['wmCandChenChen0001'];
    expect(await post(offer(ids, { chat_type: 'group' }))).toBe(40058);
    expect(await post(offer(ids, { chat_type: 'many' }))).toBe(40058);
    expect(await post(offer(ids, { sender: undefined }))).toBe(40058);
    expect(await post(offer(ids, { sender: 'ghost' }))).toBe(40003);
    expect(await post(offer(ids, { sender: 'zhouxin' }))).toBe(60011); // outside the visible scope
    expect(await post(offer(ids, { external_userid: 'wmCandChenChen0001' }))).toBe(40058);
    expect(await post(offer(['']))).toBe(40096);
    expect(await post(offer(ids, { text: { content: '' } }))).toBe(44004);
    expect(await post(offer(ids, { text: undefined }))).toBe(44004);
    expect(await post(offer(ids, { text: { content: '长'.repeat(1334) } }))).toBe(45002); // 4002 bytes
    expect(await post(offer(ids, { text: { content: '长'.repeat(1333) } }))).toBe(0); // 3999 bytes
    const link = { msgtype: 'link', link: { title: '录用通知', url: 'https://hireledger.example.com/h5/offer/abc' } };
    expect(await post(offer(ids, { attachments: Array.from({ length: 10 }, () => link) }))).toBe(40058);
    expect(await post(offer(ids, { attachments: [{ msgtype: 'voice', voice: { media_id: 'x' } }] }))).toBe(41065);
    expect(await post(offer(ids, { attachments: [{ msgtype: 'link', link: { title: 't', url: 'x.com' } }] }))).toBe(45034);
    expect(await post(offer(ids, { attachments: [{ msgtype: 'link', link: { url: 'https://x' } }] }))).toBe(40058);
    expect(await post(offer(ids, { attachments: [{ msgtype: 'file', file: { media_id: 'nope' } }] }))).toBe(40007);
    expect(await post(offer(ids, { attachments: [{ msgtype: 'image', image: {} }] }))).toBe(40058);
    expect(await post(offer(ids, { text: undefined, attachments: [link] }))).toBe(0);
    expect(await post('not json')).toBe(47001);
    expect((await api.post('externalcontact/get_groupmsg_task', {}))['errcode']).toBe(41046);
    expect((await api.post('externalcontact/get_groupmsg_send_result', { msgid: 'nope', userid: 'zhangmin' }))['errcode']).toBe(
      41047,
    );
  });
});
