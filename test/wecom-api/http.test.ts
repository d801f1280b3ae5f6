import type { Redis } from 'ioredis';
import type { Sandbox } from '../../sandbox/server';
import { RateLimitedError, WecomApiError, WecomNetworkError, WecomRateLimitedError } from '../../src/wecom/api';
import {
  admin,
  connectRedis,
  deleteKeys,
  FakeTime,
  fault,
  KF_OPEN_KFID,
  makeClient,
  OFFER_TEMPLATE_ID,
  startSandbox,
  startStub,
  uniquePrefix,
  type Stub,
} from './support/harness';

const TOKEN_BODY = JSON.stringify({ errcode: 0, errmsg: 'ok', access_token: 'stub-token-0001', expires_in: 7200 });

describe('WeCom API calls: retries and error mapping', () => {
  const prefix = uniquePrefix('http');
  let redis: Redis;
  let sb: Sandbox;
  let time: FakeTime;

  beforeAll(async () => {
    redis = connectRedis();
    sb = await startSandbox();
  });
  afterAll(async () => {
    await sb.close();
    await deleteKeys(redis, prefix);
    redis.disconnect();
  });
  beforeEach(async () => {
    time = new FakeTime();
    await admin(sb, 'DELETE', 'faults');
  });

  const client = (over: Parameters<typeof makeClient>[3] = {}) => makeClient(sb, redis, prefix, { sleep: time.sleep, ...over });

  test('-1 (system busy) is retried with growing back-off, then succeeds', async () => {
    const c = client();
    await c.getAccessToken();
    const before = sb.state.stats.calls['user/get'] ?? 0;
    await fault(sb, 'user/get', -1, 2);
    await expect(c.contact.getUser('zhangmin')).resolves.toMatchObject({ userid: 'zhangmin', name: '张敏' });
    expect((sb.state.stats.calls['user/get'] ?? 0) - before).toBe(3);
    expect(time.sleeps).toHaveLength(2);
    // base 500 ms doubling, each scaled into [50%, 100%) by jitter
    expect(time.sleeps[0]).toBeGreaterThanOrEqual(250);
    expect(time.sleeps[0]).toBeLessThan(500);
    expect(time.sleeps[1]).toBeGreaterThanOrEqual(500);
    expect(time.sleeps[1]).toBeLessThan(1000);
  });

  test('-1 that persists stops after 3 retries with a WecomApiError', async () => {
    const c = client();
    await fault(sb, 'oa/gettemplatedetail', -1, 10);
    const err = await c.oa.getTemplateDetail(OFFER_TEMPLATE_ID).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WecomApiError);
    expect(err).toMatchObject({ errcode: -1, path: 'oa/gettemplatedetail' });
    expect(time.sleeps).toHaveLength(3);
  });

  test.each([
    ['user/get out of scope', (c: ReturnType<typeof client>) => c.contact.getUser('nobody'), 60111, /可见范围/],
    [
      'message/send to nobody valid',
      (c: ReturnType<typeof client>) =>
        c.message.send(
          { touser: 'ghost1|ghost2', msgtype: 'text', text: { content: '你好' } },
          { idempotencyKey: `e-${Date.now()}` },
        ),
      81013,
      /接收人/,
    ],
    ['auth/getuserinfo with a used code', (c: ReturnType<typeof client>) => c.auth.getUserInfo('not-a-real-code'), 40029, /code/],
    [
      'oa/applyevent with a bad template',
      (c: ReturnType<typeof client>) =>
        c.oa.applyEvent({
          creator_userid: 'zhangmin',
          template_id: 'nope',
          use_template_approver: 1,
          apply_data: { contents: [] },
        }),
      301025,
      /审批参数/,
    ],
    [
      'kf/sync_msg with a bad open_kfid',
      (c: ReturnType<typeof client>) => c.kf.syncMsg({ open_kfid: 'bad id' }),
      95000,
      /open_kfid/,
    ],
    [
      'externalcontact/get after the relationship ended',
      (c: ReturnType<typeof client>) => c.contact.getExternalContact('wmCandZhengXue0004'),
      84061,
      /外部联系人/,
    ],
  ])('%s → WecomApiError with errcode, path and hint', async (_name, call, errcode, hint) => {
    const err = await call(client()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WecomApiError);
    const e = err as WecomApiError;
    expect(e.errcode).toBe(errcode);
    expect(e.hint).toMatch(hint);
    expect(e.errmsg).toContain(String(errcode));
    expect(e.message).not.toMatch(/access_token=/);
    expect(time.sleeps).toHaveLength(0);
  });

  test('81013 keeps the invalid targets WeCom listed', async () => {
    const err = (await client()
      .message.send({ touser: 'ghost1', msgtype: 'text', text: { content: 'x' } }, { idempotencyKey: 'k-81013' })
      .catch((e: unknown) => e)) as WecomApiError;
    expect(err.body['invaliduser']).toBe('ghost1');
  });

  test('45009 backs off (longer) and succeeds when the block lifts', async () => {
    const c = client();
    await fault(sb, 'oa/getapprovalinfo', 45009, 1);
    const now = Math.floor(Date.now() / 1000);
    await expect(c.oa.getApprovalInfo({ starttime: now - 86400 * 30, endtime: now })).resolves.toMatchObject({
      sp_no_list: expect.any(Array) as unknown,
    });
    expect(time.sleeps).toHaveLength(1);
    expect(time.sleeps[0]).toBeGreaterThanOrEqual(2500);
  });

  test('45009 that persists ends in WecomRateLimitedError after a bounded number of back-offs', async () => {
    const c = client();
    await fault(sb, 'user/get', 45009, 10);
    const err = await c.contact.getUser('zhangmin').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WecomRateLimitedError);
    expect(err).toMatchObject({ errcode: 45009, path: 'user/get' });
    expect(time.sleeps).toHaveLength(2);
  });

  test('45009 on gettoken is never retried', async () => {
    const c = makeClient(sb, redis, uniquePrefix('http-45009'), { sleep: time.sleep });
    const before = sb.state.stats.gettoken;
    await fault(sb, 'gettoken', 45009, 5);
    await expect(c.getAccessToken()).rejects.toBeInstanceOf(WecomRateLimitedError);
    expect(sb.state.stats.gettoken - before).toBe(1);
    expect(time.sleeps).toHaveLength(0);
  });

  test('the app-wide token bucket delays a burst, and refuses when the wait would be too long', async () => {
    const bucket = (perSecond: number) =>
      makeClient(sb, redis, uniquePrefix('http-bucket'), {
        now: time.now,
        sleep: time.sleep,
        options: { appRateLimit: { perSecond, burst: 2 }, appRateLimitMaxWaitMs: 600 },
      });
    const fast = bucket(2);
    await fast.contact.getUser('zhangmin'); // gettoken + user/get spend the burst of 2
    await fast.contact.getUser('zhangmin'); // waits 500 ms for the next token
    expect(time.sleeps).toEqual([500]);

    const slow = bucket(1);
    await slow.contact.getUser('zhangmin');
    const err = await slow.contact.getUser('zhangmin').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitedError);
    expect(err).toMatchObject({ scope: 'app', retryAfterMs: 1000 });
    time.advance(1000);
    await expect(slow.contact.getUser('zhangmin')).resolves.toMatchObject({ userid: 'zhangmin' });
    expect(time.sleeps).toEqual([500]);
  });

  describe('network failures (stub server)', () => {
    let stub: Stub;
    let plan: Record<string, ('destroy' | 'slow' | '502' | 'ok')[]>;
    beforeEach(async () => {
      plan = {};
      stub = await startStub((req) => {
        if (req.path === '/cgi-bin/gettoken') return { body: TOKEN_BODY };
        const step = plan[req.path]?.shift() ?? 'ok';
        if (step === 'destroy') return 'destroy';
        if (step === '502') return { status: 502, headers: { 'content-type': 'text/html' }, body: '<html>bad gateway</html>' };
        const body = JSON.stringify({
          errcode: 0,
          errmsg: 'ok',
          userid: 'zhangmin',
          name: '张敏',
          sp_no: '202611220001',
          msgid: 'm1',
          next_cursor: '',
          has_more: 0,
          msg_list: [],
        });
        return { body, ...(step === 'slow' ? { delayMs: 300 } : {}) };
      });
    });
    afterEach(async () => {
      await stub.close();
    });
    const stubClient = () =>
      makeClient(stub, redis, uniquePrefix('http-net'), { sleep: time.sleep, options: { timeoutMs: 100 } });
    const hits = (path: string) => stub.requests.filter((r) => r.url.startsWith(path)).length;

    test('a reset connection on an idempotent call is retried', async () => {
      plan['/cgi-bin/user/get'] = ['destroy', 'destroy'];
      await expect(stubClient().contact.getUser('zhangmin')).resolves.toMatchObject({ userid: 'zhangmin' });
      expect(hits('/cgi-bin/user/get')).toBe(3);
    });

    test('a timeout on an idempotent call is retried, and gives up after 3 retries', async () => {
      plan['/cgi-bin/kf/sync_msg'] = ['slow', 'slow', 'slow', 'slow', 'slow'];
      const err = await stubClient()
        .kf.syncMsg({ open_kfid: KF_OPEN_KFID })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WecomNetworkError);
      expect(err).toMatchObject({ path: 'kf/sync_msg', maybeSent: true, code: 'ECONNABORTED' });
      expect(hits('/cgi-bin/kf/sync_msg')).toBe(4);
      expect(time.sleeps).toHaveLength(3);
    });

    test('a non-idempotent call (applyevent) is not retried once the request may have arrived', async () => {
      plan['/cgi-bin/oa/applyevent'] = ['destroy'];
      const err = await stubClient()
        .oa.applyEvent({
          creator_userid: 'zhangmin',
          template_id: OFFER_TEMPLATE_ID,
          use_template_approver: 1,
          apply_data: { contents: [] },
        })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WecomNetworkError);
      expect((err as WecomNetworkError).maybeSent).toBe(true);
      expect(hits('/cgi-bin/oa/applyevent')).toBe(1);
    });

    test('message/send is retried after a reset: the client always turns on the duplicate check', async () => {
      const c = stubClient();
      plan['/cgi-bin/message/send'] = ['destroy'];
      await expect(
        c.message.send({ touser: 'zhangmin', msgtype: 'text', text: { content: 'a' } }, { idempotencyKey: 'n1' }),
      ).resolves.toMatchObject({ msgid: 'm1' });
      expect(hits('/cgi-bin/message/send')).toBe(2);
      const bodies = stub.requests
        .filter((r) => r.url.startsWith('/cgi-bin/message/send'))
        .map((r) => JSON.parse(r.body) as unknown);
      // Both attempts are the same request, so WeCom drops the second if the first had arrived.
      expect(bodies[1]).toEqual(bodies[0]);
      expect(bodies[0]).toMatchObject({ enable_duplicate_check: 1, duplicate_check_interval: 14400 });
      plan['/cgi-bin/message/send'] = ['destroy'];
      await c.message.send(
        { touser: 'zhangmin', msgtype: 'text', text: { content: 'b' }, duplicate_check_interval: 600 },
        { idempotencyKey: 'n2' },
      );
      expect(JSON.parse(stub.requests.at(-1)?.body ?? '{}')).toMatchObject({
        enable_duplicate_check: 1,
        duplicate_check_interval: 600,
      });
    });

    test('add_msg_template is not retried once the request may have arrived (no duplicate check exists)', async () => {
      plan['/cgi-bin/externalcontact/add_msg_template'] = ['destroy'];
      const err = await stubClient()
        .msgTemplate.add(
          { external_userid: ['wmCandChenChen0001'], sender: 'zhangmin', text: { content: '您好' } },
          { idempotencyKey: 'tpl-1' },
        )
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'WecomNetworkError', maybeSent: true });
      expect(hits('/cgi-bin/externalcontact/add_msg_template')).toBe(1);
    });

    test('a gateway error page (HTTP 502, not JSON) is treated as a network failure', async () => {
      plan['/cgi-bin/user/get'] = ['502'];
      await expect(stubClient().contact.getUser('zhangmin')).resolves.toMatchObject({ userid: 'zhangmin' });
      plan['/cgi-bin/oa/applyevent'] = ['502'];
      await expect(
        stubClient().oa.applyEvent({
          creator_userid: 'zhangmin',
          template_id: OFFER_TEMPLATE_ID,
          use_template_approver: 1,
          apply_data: { contents: [] },
        }),
      ).rejects.toMatchObject({ name: 'WecomNetworkError', code: 'HTTP_502', status: 502, maybeSent: true });
    });

    test('connection refused is retried even for non-idempotent calls (nothing was sent), then typed', async () => {
      const port = Number(new URL(stub.url).port);
      await stub.close();
      const c = makeClient({ url: `http://127.0.0.1:${port}` }, redis, uniquePrefix('http-refused'), { sleep: time.sleep });
      const err = await c.getAccessToken().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WecomNetworkError);
      expect(err).toMatchObject({ code: 'ECONNREFUSED', maybeSent: false, path: 'gettoken' });
      expect(time.sleeps).toHaveLength(3);
      expect((err as Error).message).not.toContain('corpsecret');
      stub = await startStub(() => ({ body: '{}' }));
    });
  });
});
