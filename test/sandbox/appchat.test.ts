/**
 * appchat/create, appchat/get, appchat/send and the group robot webhook, over real HTTP: response shapes
 * (samples from the project's WeCom reference §4.14, docs 90245/90247/90248, inlined here), error codes,
 * what the admin API shows of posted messages, and the errcode and network faults a witness test needs.
 */
import http from 'node:http';
import type { Sandbox } from '../../sandbox/server';
import { DEMO_ROBOT_KEY, defaultSeed, FOREIGN_APPCHAT_ID } from '../../sandbox/seed';
import { Client, shapeMismatches, startSandbox, type Json } from './helpers';

// §4.14 samples.
const CREATE_SAMPLE = { errcode: 0, errmsg: 'ok', chatid: 'HLCHECKPOINTS01' };
const GET_SAMPLE = {
  errcode: 0,
  errmsg: 'ok',
  chat_info: { chatid: 'HLCHECKPOINTS01', name: '存证检查点', owner: 'userid1', userlist: ['userid1', 'userid2'] },
};
const SEND_SAMPLE = { errcode: 0, errmsg: 'ok' };

const create = (extra: Json = {}): Json => ({
  name: '存证检查点',
  owner: 'zhaolei',
  userlist: ['zhaolei', 'wangfang', 'liuyang'],
  chatid: 'HLCHECKPOINTS01',
  ...extra,
});
const text = (chatid: string, content: string, extra: Json = {}): Json => ({
  chatid,
  msgtype: 'text',
  text: { content },
  safe: 0,
  ...extra,
});
const robotText = (content: string): Json => ({ msgtype: 'text', text: { content } });

/**
 * One POST on its own connection (no keep-alive agent), as a server-side client makes it, with a timeout.
 * fetch is not used for faults: after an abort undici opens a spare connection that delays the sandbox's close.
 */
function postOnce(url: string, body: unknown, timeoutMs = 2000): Promise<Json> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Json));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

describe('sandbox appchat and group robot webhook', () => {
  let sb: Sandbox;
  let api: Client;
  let clockMs: number;
  beforeEach(async () => {
    clockMs = Date.UTC(2026, 10, 22, 2, 0, 0);
    sb = await startSandbox({ clock: () => clockMs });
    api = new Client(sb);
  });
  afterEach(() => sb.close());

  const hook = (key: string, body: unknown) => api.raw('POST', `/cgi-bin/webhook/send?key=${encodeURIComponent(key)}`, body);

  describe('appchat', () => {
    test('create → get → send: shapes of the published samples; send answers exactly {errcode, errmsg}', async () => {
      const c = await api.post('appchat/create', create());
      expect(shapeMismatches(c, CREATE_SAMPLE)).toEqual([]);
      expect(c['chatid']).toBe('HLCHECKPOINTS01');

      const g = await api.get('appchat/get', { chatid: 'HLCHECKPOINTS01' });
      expect(shapeMismatches(g, GET_SAMPLE)).toEqual([]);
      expect(g['chat_info']).toMatchObject({
        chatid: 'HLCHECKPOINTS01',
        name: '存证检查点',
        owner: 'zhaolei',
        userlist: ['zhaolei', 'wangfang', 'liuyang'],
      });

      const s = await api.post(
        'appchat/send',
        text('HLCHECKPOINTS01', '【HireLedger 存证检查点】\nwwhireledgerdemo01/ledger\n42\n…'),
      );
      expect(shapeMismatches(s, SEND_SAMPLE)).toEqual([]);
      expect(Object.keys(s).sort()).toEqual(['errcode', 'errmsg']); // no msgid (DECISIONS 7)
    });

    test('every posted message is kept and readable through the admin API', async () => {
      await api.post('appchat/create', create());
      await api.post('appchat/send', text('HLCHECKPOINTS01', '第一条'));
      clockMs += 1000;
      await api.post('appchat/send', text('HLCHECKPOINTS01', '第二条'));
      const r = await api.admin('GET', 'appchats/HLCHECKPOINTS01/messages');
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ chatid: 'HLCHECKPOINTS01', created_by_this_app: true, message_count: 2 });
      expect(r.body['messages']).toEqual([
        { seq: 1, msgtype: 'text', content: '第一条', at: clockMs - 1000, request: text('HLCHECKPOINTS01', '第一条') },
        { seq: 2, msgtype: 'text', content: '第二条', at: clockMs, request: text('HLCHECKPOINTS01', '第二条') },
      ]);
      expect(sb.state.appchat.chats.get('HLCHECKPOINTS01')?.messages).toHaveLength(2);
      expect((await api.admin('GET', 'appchats/NoSuchChat/messages')).status).toBe(404);
      const list = await api.admin('GET', 'appchats');
      expect((list.body['appchats'] as Json[]).map((c) => c['chatid']).sort()).toEqual(
        ['HLCHECKPOINTS01', FOREIGN_APPCHAT_ID].sort(),
      );
    });

    test('without chatid WeCom picks one (≤ 32 of 0-9a-zA-Z); without owner a member; long names are cut', async () => {
      const c = await api.post('appchat/create', { name: '检'.repeat(60), userlist: ['ZhaoLei', 'wangfang', 'zhaolei'] });
      expect(c['errcode']).toBe(0);
      expect(c['chatid']).toMatch(/^[0-9A-Za-z]{1,32}$/);
      const g = await api.get('appchat/get', { chatid: String(c['chatid']) });
      const info = g['chat_info'] as Json;
      expect(info['userlist']).toEqual(['zhaolei', 'wangfang']); // deduplicated case-insensitively, lower-cased
      expect(['zhaolei', 'wangfang']).toContain(info['owner']);
      expect([...String(info['name'])]).toHaveLength(50);
    });

    test('create errors: member count, chatid format/length/uniqueness, members, owner', async () => {
      const code = async (body: Json) => (await api.post('appchat/create', body))['errcode'];
      expect(await code(create({ userlist: ['zhaolei'] }))).toBe(86006);
      expect(await code(create({ userlist: ['zhaolei', 'ZHAOLEI'] }))).toBe(86006); // one person twice
      expect(await code({ name: 'x', chatid: 'HLX' })).toBe(86006); // no userlist
      expect(await code(create({ userlist: Array.from({ length: 2001 }, (_, i) => `u${i}`) }))).toBe(86006);
      expect(await code(create({ chatid: 'A'.repeat(33) }))).toBe(86205);
      expect(await code(create({ chatid: 'HL-CHECKPOINTS' }))).toBe(86001);
      expect(await code(create({ chatid: 'HL_CHECKPOINTS' }))).toBe(86001);
      expect(await code(create({ userlist: ['zhaolei', 'ghost'] }))).toBe(86216);
      expect(await code(create({ owner: 'liqiang' }))).toBe(86207);
      expect(await code(create({ chatid: 'A'.repeat(32) }))).toBe(0);
      expect(await code(create())).toBe(0);
      expect(await code(create())).toBe(86215); // the chatid exists now
      expect(await code(create({ chatid: FOREIGN_APPCHAT_ID }))).toBe(86215);
    });

    test('get and send: 86201 without chatid, 86003 unknown, 86008 for a group another app created', async () => {
      expect((await api.get('appchat/get'))['errcode']).toBe(86201);
      expect((await api.get('appchat/get', { chatid: 'NoSuchChat' }))['errcode']).toBe(86003);
      expect((await api.get('appchat/get', { chatid: FOREIGN_APPCHAT_ID }))['errcode']).toBe(86008);
      expect((await api.post('appchat/send', { msgtype: 'text', text: { content: 'x' } }))['errcode']).toBe(86201);
      expect((await api.post('appchat/send', text('NoSuchChat', 'x')))['errcode']).toBe(86003);
      const foreign = await api.post('appchat/send', text(FOREIGN_APPCHAT_ID, 'x'));
      expect(foreign['errcode']).toBe(86008);
      expect(String(foreign['errmsg'])).toMatch(/more info at https:\/\/open\.work\.weixin\.qq\.com\/devtool\/query\?e=86008$/);
      expect(sb.state.appchat.chats.get(FOREIGN_APPCHAT_ID)?.messages).toHaveLength(0);
    });

    test('send errors: content over 2048 bytes (45002), empty (44004), unsupported msgtype (40008), safe', async () => {
      await api.post('appchat/create', create());
      const code = async (body: Json) => (await api.post('appchat/send', body))['errcode'];
      expect(await code(text('HLCHECKPOINTS01', '长'.repeat(683)))).toBe(45002); // 2049 bytes
      expect(await code(text('HLCHECKPOINTS01', `${'长'.repeat(682)}ab`))).toBe(0); // exactly 2048 bytes
      expect(await code(text('HLCHECKPOINTS01', ''))).toBe(44004);
      expect(await code({ chatid: 'HLCHECKPOINTS01', msgtype: 'text' })).toBe(44004);
      expect(await code({ chatid: 'HLCHECKPOINTS01', msgtype: 'image', image: { media_id: 'm' } })).toBe(40008);
      expect(await code(text('HLCHECKPOINTS01', 'x', { safe: 2 }))).toBe(40058);
      expect(await code({ chatid: 'HLCHECKPOINTS01', msgtype: 'markdown', markdown: { content: '**检查点**' } })).toBe(0);
      expect(sb.state.appchat.chats.get('HLCHECKPOINTS01')?.messages.map((m) => m.msgtype)).toEqual(['text', 'markdown']);
    });

    test('access_token is checked like every other API (41001, 40014)', async () => {
      for (const p of ['appchat/create', 'appchat/send']) {
        expect((await api.raw('POST', `/cgi-bin/${p}`, create()))['errcode']).toBe(41001);
        expect((await api.raw('POST', `/cgi-bin/${p}?access_token=nope`, create()))['errcode']).toBe(40014);
      }
      expect((await api.raw('GET', '/cgi-bin/appchat/get?chatid=HLCHECKPOINTS01'))['errcode']).toBe(41001);
    });

    test('visible scope not the root department → 60011, when enforced (admin switch or seed)', async () => {
      await api.post('appchat/create', create());
      const on = await api.admin('POST', 'appchats/root-scope', { required: true });
      expect(on.body).toMatchObject({ ok: true, root_scope_required: true, visible_scope_is_root: false });
      expect((await api.post('appchat/create', create({ chatid: 'HLOTHER01' })))['errcode']).toBe(60011);
      expect((await api.get('appchat/get', { chatid: 'HLCHECKPOINTS01' }))['errcode']).toBe(60011);
      expect((await api.post('appchat/send', text('HLCHECKPOINTS01', 'x')))['errcode']).toBe(60011);
      await api.admin('POST', 'appchats/root-scope', { required: false });
      expect((await api.post('appchat/send', text('HLCHECKPOINTS01', 'x')))['errcode']).toBe(0);

      const seed = { ...defaultSeed(), appchatRequiresRootScope: true, visibleScope: { departments: [1], users: [] } };
      const rooted = await startSandbox({ seed });
      try {
        const c = new Client(rooted);
        expect((await c.post('appchat/create', create()))['errcode']).toBe(0);
        expect((await c.post('appchat/send', text('HLCHECKPOINTS01', 'x')))['errcode']).toBe(0);
      } finally {
        await rooted.close();
      }
    });
  });

  describe('group robot webhook', () => {
    test('no access_token; answers {errcode:0, errmsg:"ok"}; messages kept per robot', async () => {
      const r = await hook(DEMO_ROBOT_KEY, robotText('【HireLedger 存证检查点】\n检查点 1'));
      expect(r).toEqual({ errcode: 0, errmsg: 'ok' });
      const m = await api.admin('GET', `webhooks/${DEMO_ROBOT_KEY}/messages`);
      expect(m.body).toMatchObject({ key: DEMO_ROBOT_KEY, chat_name: '存证检查点', removed: false, message_count: 1 });
      expect(m.body['messages']).toEqual([
        {
          seq: 1,
          msgtype: 'text',
          content: '【HireLedger 存证检查点】\n检查点 1',
          at: clockMs,
          request: robotText('【HireLedger 存证检查点】\n检查点 1'),
        },
      ]);
      expect(sb.state.stats.calls['webhook/send']).toBe(1);
    });

    test('unknown, missing or removed key → 93000, and the errmsg never echoes the key', async () => {
      const wrong = '00000000-1111-2222-3333-444444444444';
      const r = await hook(wrong, robotText('x'));
      expect(r['errcode']).toBe(93000);
      expect(String(r['errmsg'])).toMatch(/^invalid webhook url, hint: \[/);
      expect(String(r['errmsg'])).not.toContain(wrong);
      expect((await api.raw('POST', '/cgi-bin/webhook/send', robotText('x')))['errcode']).toBe(93000);

      expect((await api.admin('DELETE', `webhooks/${DEMO_ROBOT_KEY}`)).body).toMatchObject({ ok: true, removed: true });
      expect((await hook(DEMO_ROBOT_KEY, robotText('x')))['errcode']).toBe(93000);
      expect((await api.admin('DELETE', 'webhooks/nope')).status).toBe(404);
    });

    test('20 messages a minute per robot, then 45009 until the minute has passed; robots count apart', async () => {
      const codes: unknown[] = [];
      for (let i = 0; i < 21; i += 1) codes.push((await hook(DEMO_ROBOT_KEY, robotText(`#${i}`)))['errcode']);
      expect(codes.slice(0, 20).every((c) => c === 0)).toBe(true);
      expect(codes[20]).toBe(45009);

      const added = await api.admin('POST', 'webhooks', { name: '第二个机器人' });
      const other = String(added.body['key']);
      expect(other).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect((await hook(other, robotText('y')))['errcode']).toBe(0);

      clockMs += 60_000;
      expect((await hook(DEMO_ROBOT_KEY, robotText('#21')))['errcode']).toBe(0);
      expect(sb.state.appchat.robots.get(DEMO_ROBOT_KEY)?.messages).toHaveLength(21);
    });

    test('content limits: text 2048 bytes, markdown 4096 → 40058; empty 44004; other types 40008', async () => {
      const r = await hook(DEMO_ROBOT_KEY, robotText('长'.repeat(683)));
      expect(r['errcode']).toBe(40058);
      expect(String(r['errmsg'])).toContain('text.content exceed max length 2048');
      expect((await hook(DEMO_ROBOT_KEY, robotText(`${'长'.repeat(682)}ab`)))['errcode']).toBe(0);
      expect((await hook(DEMO_ROBOT_KEY, { msgtype: 'markdown', markdown: { content: '长'.repeat(1366) } }))['errcode']).toBe(
        40058,
      );
      expect((await hook(DEMO_ROBOT_KEY, robotText('')))['errcode']).toBe(44004);
      expect((await hook(DEMO_ROBOT_KEY, { msgtype: 'news', news: { articles: [] } }))['errcode']).toBe(40008);
      expect(
        (await hook(DEMO_ROBOT_KEY, { msgtype: 'text', text: { content: 'x', mentioned_list: 'zhaolei' } }))['errcode'],
      ).toBe(40058);
    });
  });

  describe('fault injection', () => {
    test('errcode faults (/sandbox/admin/faults) apply to appchat/send and webhook/send', async () => {
      await api.post('appchat/create', create());
      await api.admin('POST', 'faults', { path: 'appchat/send', errcode: -1, count: 1 });
      await api.admin('POST', 'faults', { path: 'webhook/send', errcode: 45009, count: 2 });
      expect((await api.post('appchat/send', text('HLCHECKPOINTS01', 'x')))['errcode']).toBe(-1);
      expect((await api.post('appchat/send', text('HLCHECKPOINTS01', 'x')))['errcode']).toBe(0);
      expect((await hook(DEMO_ROBOT_KEY, robotText('x')))['errcode']).toBe(45009);
      expect((await hook(DEMO_ROBOT_KEY, robotText('x')))['errcode']).toBe(45009);
      expect((await hook(DEMO_ROBOT_KEY, robotText('x')))['errcode']).toBe(0);
      expect(sb.state.appchat.robots.get(DEMO_ROBOT_KEY)?.messages).toHaveLength(1);
    });

    test('network faults: reset cuts the connection, timeout never answers; nothing is posted', async () => {
      await api.admin('POST', 'network-faults', { path: 'webhook/send', mode: 'reset', count: 1 });
      await api.admin('POST', 'network-faults', { path: 'webhook/send', mode: 'timeout', count: 1 });
      const post = () => postOnce(`${sb.url}/cgi-bin/webhook/send?key=${DEMO_ROBOT_KEY}`, robotText('x'), 300);
      await expect(post()).rejects.toMatchObject({ code: 'ECONNRESET' });
      await expect(post()).rejects.toMatchObject({ code: 'ETIMEDOUT' });
      await expect(post()).resolves.toEqual({ errcode: 0, errmsg: 'ok' });
      expect(sb.state.appchat.robots.get(DEMO_ROBOT_KEY)?.messages).toHaveLength(1);
      const listed = await api.admin('GET', 'network-faults');
      expect((listed.body['network_faults'] as Json[]).map((f) => f['hits'])).toEqual([1, 1]);
    });

    test('with deliver, the message is posted and only the answer is lost', async () => {
      await api.post('appchat/create', create());
      await api.admin('POST', 'network-faults', { path: 'appchat/send', mode: 'reset', deliver: true });
      const url = `${sb.url}/cgi-bin/appchat/send?access_token=${encodeURIComponent(await api.token())}`;
      await expect(postOnce(url, text('HLCHECKPOINTS01', '送达但应答丢失'))).rejects.toMatchObject({ code: 'ECONNRESET' });
      expect(sb.state.appchat.chats.get('HLCHECKPOINTS01')?.messages.map((m) => m.content)).toEqual(['送达但应答丢失']);
    });

    test('a held (timeout) connection does not keep the sandbox from closing', async () => {
      await api.admin('POST', 'network-faults', { path: '*', mode: 'timeout' });
      const pending = postOnce(`${sb.url}/cgi-bin/webhook/send?key=${DEMO_ROBOT_KEY}`, robotText('x'), 20_000);
      pending.catch(() => undefined);
      await new Promise((r) => setTimeout(r, 100));
      const started = Date.now();
      await sb.close();
      // Far below the held request's 20 s (wide: a loaded machine is slow to close).
      expect(Date.now() - started).toBeLessThan(10_000);
      await expect(pending).rejects.toMatchObject({ code: 'ECONNRESET' });
    });

    test('admin validation', async () => {
      expect((await api.admin('POST', 'network-faults', { path: 'message/send', mode: 'reset' })).status).toBe(400);
      expect((await api.admin('POST', 'network-faults', { path: 'webhook/send', mode: 'slow' })).status).toBe(400);
      expect((await api.admin('POST', 'network-faults', { path: 'webhook/send', mode: 'reset', count: 0 })).status).toBe(400);
      expect((await api.admin('POST', 'webhooks', { key: DEMO_ROBOT_KEY })).status).toBe(409);
      expect((await api.admin('GET', 'webhooks/nope/messages')).status).toBe(404);
      expect((await api.admin('DELETE', 'network-faults')).body).toEqual({ ok: true });
    });
  });
});
