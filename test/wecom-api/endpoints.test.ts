import type { Redis } from 'ioredis';
import type { Sandbox } from '../../sandbox/server';
import { OFFER_CONTROLS, offerContents } from '../../sandbox/seed';
import { createLogger } from '../../src/observability/logger';
import {
  createWecomClient,
  filenameOf,
  jsapiSignature,
  WecomApiError,
  type ApplyContent,
  type WecomClient,
  type WecomLogger,
} from '../../src/wecom/api';
import {
  admin,
  connectRedis,
  KEYS,
  deleteKeys,
  KF_OPEN_KFID,
  makeClient,
  memoryLedger,
  OFFER_TEMPLATE_ID,
  startSandbox,
  startStub,
  uniquePrefix,
} from './support/harness';

const contents: ApplyContent[] = offerContents('陈晨', '前端开发工程师', '25000', 1767196800);

describe('WeCom API endpoints against the sandbox', () => {
  const prefix = uniquePrefix('endpoints');
  let redis: Redis;
  let sb: Sandbox;
  let client: WecomClient;

  beforeAll(async () => {
    redis = connectRedis();
    sb = await startSandbox();
    client = makeClient(sb, redis, prefix);
  });
  afterAll(async () => {
    await sb.close();
    await deleteKeys(redis, prefix);
    redis.disconnect();
  });

  test('oa: template detail → applyevent → approval detail → approval list', async () => {
    const tpl = await client.oa.getTemplateDetail(OFFER_TEMPLATE_ID);
    expect(tpl.template_content.controls.map((c) => c.property.id)).toEqual(
      expect.arrayContaining(Object.values(OFFER_CONTROLS)),
    );

    const { sp_no } = await client.oa.applyEvent({
      creator_userid: 'zhangmin',
      template_id: OFFER_TEMPLATE_ID,
      use_template_approver: 1,
      apply_data: { contents },
      summary_list: [{ summary_info: [{ text: '候选人：陈晨', lang: 'zh_CN' }] }],
    });
    expect(sp_no).toMatch(/^\d{12}$/);

    const detail = await client.oa.getApprovalDetail(sp_no);
    expect(detail.info).toMatchObject({ sp_no, sp_status: 1, template_id: OFFER_TEMPLATE_ID });

    const now = Math.floor(Date.now() / 1000);
    const list = await client.oa.getApprovalInfo({
      starttime: now - 86400,
      endtime: now + 60,
      size: 100,
      filters: [{ key: 'template_id', value: OFFER_TEMPLATE_ID }],
    });
    expect(list.sp_no_list).toContain(sp_no);
    expect(list.sp_no_list.every((s) => typeof s === 'string')).toBe(true);
  });

  test('kf: account list, then sync_msg pages with string msgids', async () => {
    const accounts = await client.kf.listAccounts();
    expect(accounts.account_list.map((a) => a.open_kfid)).toContain(KF_OPEN_KFID);
    const page = await client.kf.syncMsg({ open_kfid: KF_OPEN_KFID, limit: 1000 });
    expect(page.msg_list.length).toBeGreaterThan(0);
    expect(page.msg_list.every((m) => typeof m.msgid === 'string')).toBe(true);
    expect(typeof page.next_cursor).toBe('string');
    const next = await client.kf.syncMsg({ open_kfid: KF_OPEN_KFID, cursor: page.next_cursor });
    expect(next.msg_list).toHaveLength(0);
  });

  test('contact: user/get and externalcontact/get', async () => {
    await expect(client.contact.getUser('ZhangMin')).resolves.toMatchObject({
      userid: 'zhangmin',
      name: '张敏',
      main_department: 2,
    });
    const ext = await client.contact.getExternalContact('wmCandChenChen0001');
    expect(ext.external_contact).toMatchObject({ external_userid: 'wmCandChenChen0001', type: 1 });
    expect(ext.follow_user[0]).toMatchObject({ userid: 'zhangmin', state: 'job_fe_2026' });
  });

  test('auth/getuserinfo: member and candidate codes; a code works once', async () => {
    const member = (await admin(sb, 'POST', 'oauth/code', { userid: 'liqiang', scope: 'snsapi_privateinfo' }))['code'] as string;
    await expect(client.auth.getUserInfo(member)).resolves.toEqual({
      kind: 'member',
      userid: 'liqiang',
      user_ticket: expect.any(String) as unknown,
    });
    await expect(client.auth.getUserInfo(member)).rejects.toMatchObject({ errcode: 40029 });
    const ext = (await admin(sb, 'POST', 'oauth/code', { external_userid: 'wmCandChenChen0001' }))['code'] as string;
    await expect(client.auth.getUserInfo(ext)).resolves.toMatchObject({
      kind: 'external',
      external_userid: 'wmCandChenChen0001',
      openid: expect.any(String) as unknown,
    });
  });

  test('jsapi: both tickets are cached in Redis and fetched once; signatures verify', async () => {
    const before = { jsapi: sb.state.stats.jsapiTickets, agent: sb.state.stats.agentTickets };
    const t1 = await client.jsapi.getTicket('jsapi');
    const a1 = await client.jsapi.getTicket('agent_config');
    // A second client instance (another process) reads the same tickets.
    const other = makeClient(sb, redis, prefix);
    expect(await other.jsapi.getTicket('jsapi')).toBe(t1);
    expect(await other.jsapi.getTicket('agent_config')).toBe(a1);
    expect(t1).not.toBe(a1);
    expect(sb.state.stats.jsapiTickets - before.jsapi).toBe(1);
    expect(sb.state.stats.agentTickets - before.agent).toBe(1);
    expect((await redis.keys(`${prefix}*ticket*`)).length).toBe(2);

    const signed = await client.jsapi.sign('agent_config', 'https://hireledger.example/h5/offer?id=1#section');
    expect(signed.signature).toBe(
      jsapiSignature({
        url: 'https://hireledger.example/h5/offer?id=1',
        ticket: a1,
        nonceStr: signed.nonceStr,
        timestamp: signed.timestamp,
      }),
    );
  });

  test('jsapiSignature matches the official test vector', () => {
    expect(
      jsapiSignature({
        ticket: 'sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg',
        nonceStr: 'Wm3WZYTPz0wzccnW',
        timestamp: 1414587457,
        url: 'http://mp.weixin.qq.com?params=value',
      }),
    ).toBe('0f9de62fce790f9a083d5c99e95740ceb90c27ed');
  });

  test('media/get: bytes with content type and (UTF-8) filename; a JSON error body becomes WecomApiError', async () => {
    const pdf = await client.media.get('1HLOfferLetterChenChen_pdf_0001');
    expect(pdf.contentType).toBe('application/pdf');
    expect(pdf.filename).toBe('offer-陈晨.pdf');
    expect(pdf.data.subarray(0, 5).toString()).toBe('%PDF-');

    const png = await client.media.get('2HLCandidatePhotoLinXiao_png_0002');
    expect(png.contentType).toBe('image/png');
    expect(png.filename).toBe('linxiao.png');
    expect(png.data.subarray(1, 4).toString()).toBe('PNG');

    await expect(client.media.get('no-such-media')).rejects.toMatchObject({
      name: 'WecomApiError',
      errcode: 40007,
      path: 'media/get',
    });
    expect(filenameOf('attachment; filename="a \\"b\\".txt"')).toBe('a "b".txt');
    expect(filenameOf(undefined)).toBeUndefined();
  });

  test('message/send: the duplicate check (always on) makes an identical reminder a no-op at WeCom', async () => {
    const msg = { touser: 'sunwei', msgtype: 'text' as const, text: { content: '明天 10:00 面试陈晨' } };
    // Two keys, so that the client's own check (a recorded key is not sent again) leaves the repeat to WeCom.
    const a = await client.message.send(msg, { idempotencyKey: 'dup-1' });
    const b = await client.message.send(msg, { idempotencyKey: 'dup-2' });
    expect(b.msgid).toBe(a.msgid);
    expect(sb.state.inbox('sunwei')).toHaveLength(1);
  });

  test('19-digit ids that WeCom sends as bare JSON numbers stay exact strings', async () => {
    const stub = await startStub((req) => {
      if (req.path === '/cgi-bin/gettoken')
        return { body: '{"errcode":0,"errmsg":"ok","access_token":"stub-token-19","expires_in":7200}' };
      if (req.path === '/cgi-bin/message/send')
        return { body: '{"errcode":0,"errmsg":"ok","invaliduser":"","msgid":4561255354251345929}' };
      if (req.path === '/cgi-bin/kf/sync_msg') {
        return {
          body:
            '{"errcode":0,"errmsg":"ok","next_cursor":"c1","has_more":0,"msg_list":[' +
            '{"msgid":7395729284927459201,"send_time":1615478585,"origin":4,"msgtype":"event","event":{"event_type":"enter_session"}},' +
            '{"msgid":"from_msgid_4622416642169452483","open_kfid":"wk1","external_userid":"wm1","send_time":1615478585,"origin":3,"msgtype":"text","text":{"content":"hi"}}]}',
        };
      }
      return { body: '{"errcode":404,"errmsg":"stub"}' };
    });
    try {
      const c = makeClient(stub, redis, uniquePrefix('endpoints-19'));
      const sent = await c.message.send(
        { touser: 'zhangmin', msgtype: 'text', text: { content: 'x' } },
        { idempotencyKey: 'big-id' },
      );
      expect(sent.msgid).toBe('4561255354251345929');
      const page = await c.kf.syncMsg({ open_kfid: 'wk1' });
      expect(page.msg_list.map((m) => m.msgid)).toEqual(['7395729284927459201', 'from_msgid_4622416642169452483']);
      // The token went in the query string, never in a body.
      const send = stub.requests.find((r) => r.url.startsWith('/cgi-bin/message/send'));
      expect(send?.url).toContain('access_token=stub-token-19');
      expect(send?.body).not.toContain('stub-token-19');
      expect(JSON.parse(send?.body ?? '{}')).toMatchObject({ agentid: 1000002, touser: 'zhangmin' });
    } finally {
      await stub.close();
    }
  });

  test('an API the server does not know answers with a typed error, not a crash', async () => {
    const stub = await startStub((req) =>
      req.path === '/cgi-bin/gettoken'
        ? { body: '{"errcode":0,"errmsg":"ok","access_token":"t","expires_in":7200}' }
        : { status: 404, body: '{"errcode":404,"errmsg":"not implemented"}' },
    );
    try {
      const c = makeClient(stub, redis, uniquePrefix('endpoints-404'));
      await expect(c.contact.getUser('x')).rejects.toBeInstanceOf(WecomApiError);
    } finally {
      await stub.close();
    }
  });

  test('the app pino logger (as Fastify uses it) is accepted as the logger dependency', async () => {
    const logger: WecomLogger = createLogger('silent', 'wecom-api-test');
    const c = createWecomClient({
      apiBase: `${sb.url}/cgi-bin`,
      corpId: KEYS.corpId,
      secret: KEYS.secret,
      agentId: String(KEYS.agentId),
      redis,
      logger,
      ledger: memoryLedger(),
      options: { keyPrefix: prefix },
    });
    await expect(c.contact.getUser('zhangmin')).resolves.toMatchObject({ userid: 'zhangmin' });
  });
});
