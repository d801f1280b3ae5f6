/** message/send: validation errors, partial invalid targets, 81013, per-member rate limit, duplicate check. */
import type { Sandbox } from '../../sandbox/server';
import { Client, startSandbox } from './helpers';

describe('message/send', () => {
  let sb: Sandbox;
  let api: Client;
  beforeEach(async () => {
    sb = await startSandbox();
    api = new Client(sb);
  });
  afterEach(() => sb.close());

  const text = (touser: string, content = '请尽快确认候选人陈晨的 offer', extra: Record<string, unknown> = {}) => ({
    touser,
    msgtype: 'text',
    agentid: 1000002,
    text: { content },
    ...extra,
  });

  test('partial invalid users: errcode 0, lower-cased invaliduser, inbox only for valid members', async () => {
    const r = await api.post('message/send', text('ZhangMin|Ghost|zhouxin'));
    expect(r['errcode']).toBe(0);
    expect(r['invaliduser']).toBe('ghost|zhouxin'); // zhouxin exists but is outside the visible scope
    expect(typeof r['msgid']).toBe('string');
    expect(sb.state.inbox('zhangmin')).toHaveLength(1);
    expect(sb.state.inbox('zhangmin')[0]?.body).toEqual({ content: '请尽快确认候选人陈晨的 offer' });
    expect(sb.state.inbox('zhouxin')).toHaveLength(0);
  });

  test('toparty and totag expand to members; bad ones are listed', async () => {
    const r = await api.post('message/send', { ...text(''), toparty: '4|99', totag: '2|77' });
    expect(r['errcode']).toBe(0);
    expect(r['invalidparty']).toBe('99');
    expect(r['invalidtag']).toBe('77');
    expect(['zhaolei', 'liqiang', 'sunwei'].map((u) => sb.state.inbox(u).length)).toEqual([1, 1, 1]);
  });

  test('all targets invalid → 81013 (still listing them); all empty → 82001', async () => {
    const r = await api.post('message/send', text('ghost|zhouxin'));
    expect(r['errcode']).toBe(81013);
    expect(r['invaliduser']).toBe('ghost|zhouxin');
    expect((await api.post('message/send', text('')))['errcode']).toBe(82001);
  });

  test('validation codes', async () => {
    expect((await api.post('message/send', { ...text('zhangmin'), agentid: 1 }))['errcode']).toBe(40056);
    expect((await api.post('message/send', { ...text('zhangmin'), msgtype: 'voice' }))['errcode']).toBe(40008);
    expect((await api.post('message/send', text('zhangmin', '')))['errcode']).toBe(44004);
    expect((await api.post('message/send', text('zhangmin', '长'.repeat(683))))['errcode']).toBe(45002); // 2049 bytes
    expect((await api.post('message/send', text('zhangmin', '长'.repeat(682))))['errcode']).toBe(0); // 2046 bytes
    const card = (tc: Record<string, unknown>) => ({ touser: 'zhangmin', msgtype: 'textcard', agentid: 1000002, textcard: tc });
    expect((await api.post('message/send', card({ description: 'd', url: 'https://x' })))['errcode']).toBe(41016);
    expect((await api.post('message/send', card({ title: 't', url: 'https://x' })))['errcode']).toBe(41033);
    expect((await api.post('message/send', card({ title: 't', description: 'd' })))['errcode']).toBe(41010);
    expect(
      (await api.post('message/send', card({ title: 't', description: 'd', url: 'https://x', btntxt: '查看详情啊' })))['errcode'],
    ).toBe(40058);
    expect(
      (
        await api.post(
          'message/send',
          card({
            title: 'Offer 审批通过',
            description: '<div class="gray">2026年11月22日</div>',
            url: 'https://x',
            btntxt: '详情',
          }),
        )
      )['errcode'],
    ).toBe(0);
  });

  test('per-member 30/min: the 31st is silently dropped (errcode 0) and recorded', async () => {
    const codes: unknown[] = [];
    for (let i = 0; i < 31; i += 1)
      codes.push((await api.post('message/send', text('zhangmin|liqiang', `提醒 ${i}`)))['errcode']);
    expect(codes.every((c) => c === 0)).toBe(true);
    expect(sb.state.inbox('zhangmin')).toHaveLength(30);
    expect(sb.state.inbox('liqiang')).toHaveLength(30);
    expect(sb.state.droppedMessages.map((d) => [d.userid, d.reason])).toEqual([
      ['zhangmin', 'per_member_minute_limit'],
      ['liqiang', 'per_member_minute_limit'],
    ]);
    expect(sb.state.stats.messagesDroppedByRateLimit).toBe(2);
    // Another member is unaffected.
    expect((await api.post('message/send', text('wangfang')))['errcode']).toBe(0);
    expect(sb.state.inbox('wangfang')).toHaveLength(1);
  });

  test('enable_duplicate_check: identical JSON within the interval is dropped and answers the first msgid', async () => {
    const body = text('zhangmin', '候选人陈晨已接受 offer', { enable_duplicate_check: 1, duplicate_check_interval: 600 });
    const a = await api.post('message/send', body);
    const b = await api.post('message/send', body);
    const c = await api.post('message/send', { ...body, text: { content: '候选人陈晨已接受 offer！' } });
    expect(a['errcode']).toBe(0);
    expect(b['msgid']).toBe(a['msgid']);
    expect(c['msgid']).not.toBe(a['msgid']);
    expect(sb.state.inbox('zhangmin')).toHaveLength(2);
    expect(sb.state.stats.duplicatesSuppressed).toBe(1);
    // Without the flag, the same JSON is delivered again.
    await api.post('message/send', text('zhangmin', '候选人陈晨已接受 offer'));
    await api.post('message/send', text('zhangmin', '候选人陈晨已接受 offer'));
    expect(sb.state.inbox('zhangmin')).toHaveLength(4);
  });

  test('malformed JSON → 47001', async () => {
    const res = await fetch(`${sb.url}/cgi-bin/message/send?access_token=${await api.token()}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{"touser":',
    });
    expect(((await res.json()) as Record<string, unknown>)['errcode']).toBe(47001);
  });
});
