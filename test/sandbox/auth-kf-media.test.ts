/** OAuth stand-in and getuserinfo, user/get, externalcontact/get, media/get, KF paging and send limits. */
import type { Sandbox } from '../../sandbox/server';
import { Client, KEYS, startSandbox, type Json } from './helpers';

describe('OAuth + identity', () => {
  let sb: Sandbox;
  let api: Client;
  beforeAll(async () => {
    sb = await startSandbox();
    api = new Client(sb);
  });
  afterAll(() => sb.close());

  const authorize = (q: Record<string, string>): string =>
    `${sb.url}/connect/oauth2/authorize?${new URLSearchParams({
      appid: KEYS.corpId,
      redirect_uri: 'http://127.0.0.1:5173/h5/offer?id=7',
      response_type: 'code',
      scope: 'snsapi_base',
      state: 'abc123',
      agentid: String(KEYS.agentId),
      ...q,
    }).toString()}`;

  test('picker page → redirect with code & state → getuserinfo once → 40029 the second time', async () => {
    const page = await fetch(authorize({}));
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('张敏');
    expect(html).toContain('陈晨');
    const link = /href="([^"]*who=member%3Azhangmin[^"]*)"/.exec(html)?.[1]?.replace(/&amp;/g, '&');
    expect(link).toBeDefined();
    const pick = await fetch(`${sb.url}${link ?? ''}`, { redirect: 'manual' });
    expect(pick.status).toBe(302);
    const location = new URL(pick.headers.get('location') ?? '');
    expect(`${location.origin}${location.pathname}`).toBe('http://127.0.0.1:5173/h5/offer');
    expect(location.searchParams.get('id')).toBe('7');
    expect(location.searchParams.get('state')).toBe('abc123');
    const code = location.searchParams.get('code') ?? '';
    expect(code.length).toBeGreaterThan(20);

    const first = await api.get('auth/getuserinfo', { code });
    expect(first).toMatchObject({ errcode: 0, userid: 'zhangmin' });
    expect(first['user_ticket']).toBeUndefined(); // snsapi_base
    expect((await api.get('auth/getuserinfo', { code }))['errcode']).toBe(40029);
    expect((await api.get('auth/getuserinfo', {}))['errcode']).toBe(41008);
  });

  test('candidate → openid + external_userid', async () => {
    const pick = await fetch(authorize({}).replace('/authorize?', '/authorize/pick?') + '&who=external%3AwmCandChenChen0001', {
      redirect: 'manual',
    });
    const code = new URL(pick.headers.get('location') ?? '').searchParams.get('code') ?? '';
    expect(await api.get('auth/getuserinfo', { code })).toMatchObject({
      errcode: 0,
      openid: 'oCandChenChen0001',
      external_userid: 'wmCandChenChen0001',
    });
  });

  test('wrong appid / bad state are refused with a Chinese error page', async () => {
    const bad = await fetch(authorize({ appid: 'wwsomeoneelse' }));
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('appid 参数错误');
    expect((await fetch(authorize({ state: 'a-b' }))).status).toBe(400);
  });

  test('codes expire after 5 minutes (injected clock)', async () => {
    let now = Date.now();
    const sb2 = await startSandbox({ clock: () => now });
    try {
      const api2 = new Client(sb2);
      const { body } = await api2.admin('POST', 'oauth/code', { userid: 'liqiang' });
      now += 5 * 60 * 1000 + 1000;
      expect((await api2.get('auth/getuserinfo', { code: String(body['code']) }))['errcode']).toBe(40029);
    } finally {
      await sb2.close();
    }
  });

  test('user/get and externalcontact/get errors', async () => {
    expect((await api.get('user/get', { userid: 'ghost' }))['errcode']).toBe(60111);
    expect((await api.get('user/get', { userid: 'zhouxin' }))['errcode']).toBe(60111); // out of scope
    expect((await api.get('user/get', {}))['errcode']).toBe(41009);
    expect((await api.get('externalcontact/get', { external_userid: 'wmNobody' }))['errcode']).toBe(40096);
    expect((await api.get('externalcontact/get', { external_userid: 'wmCandZhengXue0004' }))['errcode']).toBe(84061);
    expect((await api.get('externalcontact/get', {}))['errcode']).toBe(41035);
    const ok = await api.get('externalcontact/get', { external_userid: 'wmCandLinXiao0002' });
    expect((ok['follow_user'] as Json[]).map((f) => f['userid'])).toEqual(['zhangmin', 'liqiang']);
  });

  test('media/get returns bytes with headers; unknown id → JSON 40007', async () => {
    const res = await fetch(
      `${sb.url}/cgi-bin/media/get?access_token=${await api.token()}&media_id=1HLOfferLetterChenChen_pdf_0001`,
    );
    expect(res.headers.get('content-type')).toBe('application/pdf');
    expect(res.headers.get('content-disposition')).toMatch(
      /^attachment; filename="1HLOfferLetterChenChen_pdf_0001\.pdf"; filename\*=UTF-8''offer-%E9%99%88%E6%99%A8\.pdf$/,
    );
    expect(
      Buffer.from(await res.arrayBuffer())
        .subarray(0, 5)
        .toString(),
    ).toBe('%PDF-');
    const missing = await fetch(`${sb.url}/cgi-bin/media/get?access_token=${await api.token()}&media_id=nope`);
    expect(missing.headers.get('content-type')).toMatch(/^application\/json/);
    expect(((await missing.json()) as Json)['errcode']).toBe(40007);
  });
});

describe('微信客服', () => {
  let sb: Sandbox;
  let api: Client;
  beforeEach(async () => {
    sb = await startSandbox();
    api = new Client(sb);
  });
  afterEach(() => sb.close());

  test('account/list', async () => {
    const r = await api.post('kf/account/list', { offset: 0, limit: 100 });
    expect(r['account_list']).toEqual([
      { open_kfid: 'wkHireLedger01', name: '招聘客服', avatar: expect.any(String) as unknown, manage_privilege: true },
    ]);
  });

  test('sync_msg cursor paging: has_more, next_cursor, string msgids, resumes where it stopped', async () => {
    for (let i = 0; i < 3; i += 1) sb.actions.kfInbound({ external_userid: 'wmCandWuHao0003', content: `消息${i}` });
    const p1 = await api.post('kf/sync_msg', { open_kfid: 'wkHireLedger01', limit: 2 });
    const p2 = await api.post('kf/sync_msg', { open_kfid: 'wkHireLedger01', limit: 2, cursor: p1['next_cursor'] });
    const p3 = await api.post('kf/sync_msg', { open_kfid: 'wkHireLedger01', limit: 2, cursor: p2['next_cursor'] });
    expect([p1['has_more'], p2['has_more'], p3['has_more']]).toEqual([1, 1, 0]);
    const all = [p1, p2, p3].flatMap((p) => p['msg_list'] as Json[]);
    expect(all).toHaveLength(5); // 2 seeded + 3
    expect(all.every((m) => typeof m['msgid'] === 'string')).toBe(true);
    expect(all.slice(2).map((m) => (m['text'] as Json)['content'])).toEqual(['消息0', '消息1', '消息2']);
    const again = await api.post('kf/sync_msg', { open_kfid: 'wkHireLedger01', cursor: p3['next_cursor'] });
    expect(again['msg_list']).toEqual([]);
    expect((await api.post('kf/sync_msg', { open_kfid: 'wkNope' }))['errcode']).toBe(95004);
  });

  test('send_msg: 5 replies per customer message (95001), caller msgid idempotent, session states', async () => {
    const send = (msgid?: string): Promise<Json> =>
      api.post('kf/send_msg', {
        touser: 'wmCandChenChen0001',
        open_kfid: 'wkHireLedger01',
        msgtype: 'text',
        text: { content: '您好' },
        ...(msgid ? { msgid } : {}),
      });
    const first = await send('reply-1');
    expect(first).toMatchObject({ errcode: 0, msgid: 'reply-1' });
    expect(await send('reply-1')).toMatchObject({ errcode: 0, msgid: 'reply-1' }); // not sent twice
    for (let i = 2; i <= 5; i += 1) expect((await send(`reply-${i}`))['errcode']).toBe(0);
    expect((await send('reply-6'))['errcode']).toBe(95001);
    expect(sb.state.kfSent).toHaveLength(5);
    sb.actions.kfInbound({ external_userid: 'wmCandChenChen0001', content: '好的，谢谢' });
    expect((await send('reply-7'))['errcode']).toBe(0);
    await api.admin('POST', 'kf/sessions', { external_userid: 'wmCandChenChen0001', service_state: 3 });
    expect((await send('reply-8'))['errcode']).toBe(95018);
    await api.admin('POST', 'kf/sessions', {
      external_userid: 'wmCandChenChen0001',
      service_state: 0,
      last_customer_msg_ago_seconds: 49 * 3600,
    });
    expect((await send('reply-9'))['errcode']).toBe(95002);
    expect(
      (
        await api.post('kf/send_msg', {
          touser: 'wmCandWuHao0003',
          open_kfid: 'wkHireLedger01',
          msgtype: 'text',
          text: { content: 'x' },
        })
      )['errcode'],
    ).toBe(95013);
    expect((await send('bad msgid!'))['errcode']).toBe(40058);
  });
});
