/** gettoken errors, token reuse/expiry/invalidation, and fault injection through the admin API. */
import type { Sandbox } from '../../sandbox/server';
import { Client, KEYS, sleep, startSandbox } from './helpers';

describe('gettoken', () => {
  let sb: Sandbox;
  let api: Client;
  beforeAll(async () => {
    sb = await startSandbox();
    api = new Client(sb);
  });
  afterAll(() => sb.close());

  test.each([
    ['missing corpid', `corpsecret=${KEYS.secret}`, 41002],
    ['wrong corpid', `corpid=wwother&corpsecret=${KEYS.secret}`, 40013],
    ['missing secret', `corpid=${KEYS.corpId}`, 41004],
    ['wrong secret', `corpid=${KEYS.corpId}&corpsecret=nope`, 40001],
  ])('%s → %i', async (_name, query, code) => {
    const r = await api.raw('GET', `/cgi-bin/gettoken?${query}`);
    expect(r['errcode']).toBe(code);
    expect(r['access_token']).toBeUndefined();
  });

  test('same token while valid; every call is counted', async () => {
    const before = sb.state.stats.gettoken;
    const a = await api.raw('GET', `/cgi-bin/gettoken?corpid=${KEYS.corpId}&corpsecret=${KEYS.secret}`);
    const b = await api.raw('GET', `/cgi-bin/gettoken?corpid=${KEYS.corpId}&corpsecret=${KEYS.secret}`);
    expect(a['errcode']).toBe(0);
    expect(typeof a['access_token']).toBe('string');
    expect(b['access_token']).toBe(a['access_token']);
    expect(sb.state.stats.gettoken - before).toBe(2);
  });

  test('missing access_token → 41001, unknown → 40014', async () => {
    expect((await api.raw('GET', '/cgi-bin/user/get?userid=zhangmin'))['errcode']).toBe(41001);
    expect((await api.raw('GET', '/cgi-bin/user/get?access_token=abc&userid=zhangmin'))['errcode']).toBe(40014);
  });

  test('admin invalidate → next call 40014, a new gettoken gives a new working token', async () => {
    const old = await api.token();
    expect((await api.get('user/get', { userid: 'zhangmin' }))['errcode']).toBe(0);
    const inv = await api.admin('POST', 'tokens/invalidate', {});
    expect(inv.body['invalidated']).toBe(1);
    expect((await api.get('user/get', { userid: 'zhangmin' }))['errcode']).toBe(40014);
    api.forgetToken();
    const fresh = await api.token();
    expect(fresh).not.toBe(old);
    expect((await api.get('user/get', { userid: 'zhangmin' }))['errcode']).toBe(0);
  });

  test('injected -1 then 45009 on one path, for exactly N calls; other paths unaffected', async () => {
    await api.token();
    expect((await api.admin('POST', 'faults', { path: 'user/get', errcode: -1, count: 2 })).status).toBe(200);
    await api.admin('POST', 'faults', { path: 'user/get', errcode: 45009, count: 1 });
    const codes: unknown[] = [];
    for (let i = 0; i < 4; i += 1) codes.push((await api.get('user/get', { userid: 'zhangmin' }))['errcode']);
    expect(codes).toEqual([-1, -1, 45009, 0]);
    expect((await api.get('get_jsapi_ticket'))['errcode']).toBe(0);
    const busy = await (async () => {
      await api.admin('POST', 'faults', { path: 'gettoken', errcode: -1, count: 1 });
      return api.raw('GET', `/cgi-bin/gettoken?corpid=${KEYS.corpId}&corpsecret=${KEYS.secret}`);
    })();
    expect(busy['errcode']).toBe(-1);
    expect(busy['errmsg']).toMatch(/^system busy, hint: /);
  });
});

describe('token expiry', () => {
  test('tokenTtlSeconds: 1 → 42001 after a second, then a new token', async () => {
    const sb = await startSandbox({ tokenTtlSeconds: 1 });
    try {
      const api = new Client(sb);
      const t = await api.raw('GET', `/cgi-bin/gettoken?corpid=${KEYS.corpId}&corpsecret=${KEYS.secret}`);
      expect(t['expires_in']).toBe(1);
      await api.token();
      expect((await api.get('user/get', { userid: 'zhangmin' }))['errcode']).toBe(0);
      await sleep(1100);
      const r = await api.get('user/get', { userid: 'zhangmin' });
      expect(r['errcode']).toBe(42001);
      expect(r['errmsg']).toMatch(/^access_token expired/);
      const old = await api.token();
      api.forgetToken();
      expect(await api.token()).not.toBe(old);
      expect(sb.state.stats.tokensIssued).toBe(2);
    } finally {
      await sb.close();
    }
  });
});
