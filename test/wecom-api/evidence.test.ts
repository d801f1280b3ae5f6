/**
 * Item 8 of issue 7: every message to a person is evidence — an intent committed before the request leaves, an
 * outcome linked to it after (sent with the msgid, failed with the errcode, or unknown). Against the sandbox over
 * HTTP and the real PostgreSQL; the ledger writes as the least-privileged app role, as in production.
 *
 * The client talks to the sandbox through a proxy that, when a send arrives, reads from PostgreSQL (on another
 * connection, so only committed rows) which intents and outcomes exist at that moment. Its ledger takes 200 ms
 * longer for every intent, so a request sent before its intent had committed would reach the proxy first.
 */
import type { Redis } from 'ioredis';
import type { Sandbox } from '../../sandbox/server';
import { createLedger, createLedgerReader, verifyLedger, type EvidenceEntry, type Ledger } from '../../src/evidence';
import {
  createWecomClient,
  EvidenceWriteError,
  IdempotencyConflictError,
  IntentNotRecordedError,
  kfMsgIdFor,
  SendAlreadyAttemptedError,
  WecomApiError,
  WecomNetworkError,
  type OutboundLedger,
  type WecomClient,
  type WecomClientDeps,
} from '../../src/wecom/api';
import { createExternalContactIds } from '../../src/wecom/external-contacts';
import { createTestDatabase, type TestDatabase } from '../support/db';
import {
  connectRedis,
  deleteKeys,
  fault,
  FakeTime,
  forwardTo,
  KEYS,
  KF_OPEN_KFID,
  makeClient,
  memoryLogger,
  startSandbox,
  startStub,
  uniquePrefix,
  type Stub,
} from './support/harness';

interface Row {
  seq: string;
  hash: string;
  stream: string;
  kind: string;
  actor: string;
  source: string;
  source_ref: string;
  payload: Record<string, unknown> & {
    intent?: { seq: number; hash: string; source_ref: string };
    status?: string;
    result?: Record<string, unknown>;
    error?: Record<string, unknown>;
    request?: Record<string, unknown>;
  };
  raw: Record<string, unknown> | null;
}

interface Arrival {
  path: string;
  body: string;
  /** sourceRefs of the outbound records committed when the request reached the proxy. */
  committed: string[];
}

const SEND_PATHS = new Set(['/cgi-bin/message/send', '/cgi-bin/kf/send_msg', '/cgi-bin/externalcontact/add_msg_template']);

describe('outbound messages are evidence: intent before the request, outcome after it', () => {
  const prefix = uniquePrefix('evidence');
  let redis: Redis;
  let sb: Sandbox;
  let db: TestDatabase;
  let ledger: Ledger;
  /** `ledger`, with every intent held back 200 ms before it is appended. */
  let slowIntents: OutboundLedger;
  let proxy: Stub;
  let client: WecomClient;
  /** The ledger's read side and the contact ids, as the app role reads and writes them. */
  let readBack: Pick<WecomClientDeps, 'reader' | 'externalContacts'>;
  const arrivals: Arrival[] = [];
  /** Paths whose next answer the proxy holds back (after WeCom processed the request) until the client gives up. */
  const hold = new Set<string>();

  beforeAll(async () => {
    redis = connectRedis();
    sb = await startSandbox();
    db = await createTestDatabase();
    ledger = createLedger({ pool: db.appPool });
    slowIntents = {
      append: async (e) => {
        if (e.kind === 'wecom.outbound.intent') await new Promise((resolve) => setTimeout(resolve, 200));
        return ledger.append(e);
      },
    };
    proxy = await startStub(async (req) => {
      if (SEND_PATHS.has(req.path)) {
        const { rows } = await db.pool.query<{ source_ref: string }>(
          `SELECT source_ref FROM evidence_records WHERE source = 'wecom.outbound' ORDER BY seq`,
        );
        arrivals.push({ path: req.path, body: req.body, committed: rows.map((r) => r.source_ref) });
      }
      const answer = await forwardTo(sb.url, req);
      return hold.has(req.path) ? { ...answer, delayMs: 1500 } : answer;
    });
    readBack = {
      reader: createLedgerReader(db.appPool),
      externalContacts: createExternalContactIds(db.appPool),
    };
    client = makeClient(proxy, redis, prefix, { ledger: slowIntents, ...readBack });
  });
  afterAll(async () => {
    await ledger.close();
    await db.drop();
    await proxy.close();
    await sb.close();
    await deleteKeys(redis, prefix);
    redis.disconnect();
  });

  const rows = async (refPrefix: string): Promise<Row[]> =>
    (
      await db.pool.query<Row>(
        `SELECT seq, hash, stream, kind, actor, source, source_ref, payload, raw FROM evidence_records
          WHERE source = 'wecom.outbound' AND starts_with(source_ref, $1) ORDER BY seq`,
        [refPrefix],
      )
    ).rows;
  /** The opaque id the corp's contact table holds for an external_userid (DECISIONS 4). */
  const contactIdOf = async (externalUserId: string): Promise<string> => {
    const { rows: r } = await db.pool.query<{ id: string }>(
      'SELECT id FROM wecom_external_contacts WHERE corp_id = $1 AND external_userid = $2',
      [KEYS.corpId, externalUserId],
    );
    expect(r).toHaveLength(1);
    return (r[0] as { id: string }).id;
  };
  const intentsOf = (all: Row[]) => all.filter((r) => r.kind === 'wecom.outbound.intent');
  const outcomesOf = (all: Row[]) => all.filter((r) => r.kind === 'wecom.outbound.outcome');
  /** What was committed when each request carrying `marker` (a text of this test) reached WeCom. */
  const committedAtArrival = (marker: string) => arrivals.filter((a) => a.body.includes(marker)).map((a) => a.committed);

  test('message/send: the intent is committed before the request reaches WeCom; the outcome holds the msgid and links to it', async () => {
    const res = await client.message.send(
      { touser: 'ZhangMin', msgtype: 'text', text: { content: '请于明天 10:00 参加面试' } },
      { idempotencyKey: 'reminder:42' },
    );
    expect(typeof res.msgid).toBe('string');
    const seen = committedAtArrival('请于明天 10:00 参加面试');
    expect(seen).toHaveLength(1);
    expect(seen[0]?.filter((r) => r.startsWith('reminder:42#'))).toEqual(['reminder:42#intent']);

    const all = await rows('reminder:42#');
    expect(all).toHaveLength(2);
    const [intent, outcome] = all;
    expect(intent).toMatchObject({
      // Member userids are stored lower-cased (DECISIONS 8).
      stream: 'wecom:member:zhangmin',
      kind: 'wecom.outbound.intent',
      actor: 'hireledger',
      source: 'wecom.outbound',
      source_ref: 'reminder:42#intent',
      raw: null,
    });
    expect(intent?.payload).toEqual({
      api: 'message/send',
      msgtype: 'text',
      recipient: { userid: 'zhangmin' },
      recipients: 1,
      request: {
        touser: 'ZhangMin',
        msgtype: 'text',
        text: { content: '请于明天 10:00 参加面试' },
        agentid: KEYS.agentId,
        enable_duplicate_check: 1,
        duplicate_check_interval: 14400,
      },
    });
    expect(outcome).toMatchObject({
      stream: 'wecom:member:zhangmin',
      kind: 'wecom.outbound.outcome',
      source_ref: `reminder:42#sent:${res.msgid}`,
      raw: { errcode: 0, errmsg: 'ok', msgid: res.msgid },
    });
    expect(outcome?.payload).toMatchObject({
      intent: { seq: Number(intent?.seq), hash: intent?.hash, source_ref: 'reminder:42#intent' },
      api: 'message/send',
      status: 'sent',
      result: { errcode: 0, msgid: res.msgid, invaliduser: '' },
    });
    expect(sb.state.inbox('zhangmin').map((m) => m.msgid)).toContain(res.msgid);

    const token = await client.getAccessToken();
    expect(JSON.stringify(all)).not.toContain(token);
    expect(JSON.stringify(all)).not.toContain('access_token');
  });

  test('several recipients: an intent and an outcome each, in lower-cased streams, with sourceRefs that name no one', async () => {
    await client.message.send(
      {
        touser: 'liqiang|WangFang|ghost',
        toparty: '3',
        msgtype: 'textcard',
        textcard: { title: 'Offer 待审批', description: '陈晨 · 前端工程师', url: 'https://hireledger.example/offers/1' },
      },
      { idempotencyKey: 'offer:1:notify' },
    );
    const all = await rows('offer:1:notify#');
    expect(intentsOf(all).map((r) => [r.stream, r.source_ref])).toEqual([
      ['wecom:member:ghost', 'offer:1:notify#r1#intent'],
      ['wecom:member:liqiang', 'offer:1:notify#r2#intent'],
      ['wecom:member:wangfang', 'offer:1:notify#r3#intent'],
      [`wecom:agent:${KEYS.agentId}`, 'offer:1:notify#r4#intent'],
    ]);
    const outcomes = outcomesOf(all);
    expect(outcomes.map((r) => r.stream)).toEqual(intentsOf(all).map((r) => r.stream));
    for (const [i, o] of outcomes.entries()) {
      expect(o.payload.intent).toEqual({
        seq: Number(intentsOf(all)[i]?.seq),
        hash: intentsOf(all)[i]?.hash,
        source_ref: intentsOf(all)[i]?.source_ref,
      });
    }
    // ghost is outside the app's scope: WeCom accepted the request but names them in invaliduser.
    expect(outcomes[0]?.payload).toMatchObject({ status: 'sent', recipient_rejected: 'invaliduser' });
    expect(outcomes[1]?.payload['recipient_rejected']).toBeUndefined();
    expect(intentsOf(all)[3]?.payload['recipient']).toEqual({ broadcast: { toparty: '3' } });
    for (const r of all) expect(r.source_ref).not.toMatch(/liqiang|wangfang|ghost/i);
  });

  test('an errcode is a failed outcome with WeCom answer; the retry under the same key adds no second intent', async () => {
    const msg = { touser: 'chenjing', msgtype: 'text' as const, text: { content: '面试反馈请今天提交' } };
    await fault(sb, 'message/send', 45033);
    const err = await client.message.send(msg, { idempotencyKey: 'reminder:43' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WecomApiError);
    let all = await rows('reminder:43#');
    expect(all.map((r) => r.source_ref)).toEqual(['reminder:43#intent', expect.stringMatching(/^reminder:43#failed@\d+$/)]);
    expect(all[1]?.payload).toMatchObject({
      intent: { seq: Number(all[0]?.seq), hash: all[0]?.hash },
      status: 'failed',
      error: { type: 'WecomApiError', path: 'message/send', errcode: 45033 },
    });
    expect(all[1]?.raw).toMatchObject({ errcode: 45033 });

    const res = await client.message.send(msg, { idempotencyKey: 'reminder:43' });
    all = await rows('reminder:43#');
    expect(intentsOf(all)).toHaveLength(1);
    expect(all.map((r) => r.source_ref)).toEqual([
      'reminder:43#intent',
      expect.stringMatching(/^reminder:43#failed@\d+$/),
      `reminder:43#sent:${res.msgid}`,
    ]);
    expect(all[2]?.payload.intent?.seq).toBe(Number(all[0]?.seq));

    // All recipients invalid (81013): failed, with the invalid list from WeCom's answer.
    await expect(
      client.message.send({ touser: 'ghost', msgtype: 'text', text: { content: 'x' } }, { idempotencyKey: 'reminder:44' }),
    ).rejects.toMatchObject({ errcode: 81013 });
    const [, failed] = await rows('reminder:44#');
    expect(failed?.payload).toMatchObject({ status: 'failed', error: { errcode: 81013, invaliduser: 'ghost' } });
  });

  test('kf/send_msg: intent first, msgid from the key; a repeat is a no-op at WeCom and in the ledger', async () => {
    const req = {
      touser: 'wmCandChenChen0001',
      open_kfid: KF_OPEN_KFID,
      msgtype: 'text' as const,
      text: { content: '您好，面试安排在周五下午' },
    };
    const res = await client.kf.sendMsg(req, { idempotencyKey: 'kf-reply-7' });
    expect(res.msgid).toBe(kfMsgIdFor('kf-reply-7'));
    const seen = committedAtArrival('您好，面试安排在周五下午');
    expect(seen).toHaveLength(1);
    expect(seen[0]?.filter((r) => r.startsWith('kf-reply-7#'))).toEqual(['kf-reply-7#intent']);
    const all = await rows('kf-reply-7#');
    // The candidate's stream names them by their opaque id (DECISIONS 4), the same id callbacks use.
    const contact = await contactIdOf('wmCandChenChen0001');
    expect(contact).toMatch(/^xc_[0-9a-f]{32}$/);
    expect(all.map((r) => [r.stream, r.kind, r.source_ref])).toEqual([
      [`wecom:contact:${contact}`, 'wecom.outbound.intent', 'kf-reply-7#intent'],
      [`wecom:contact:${contact}`, 'wecom.outbound.outcome', 'kf-reply-7#sent:kf-reply-7'],
    ]);
    for (const r of all) expect(`${r.stream} ${r.actor} ${r.source_ref}`).not.toContain('wmCand');
    expect(all[0]?.payload).toMatchObject({
      api: 'kf/send_msg',
      recipient: { external_userid: 'wmCandChenChen0001', open_kfid: KF_OPEN_KFID },
      request: { msgid: 'kf-reply-7', text: { content: '您好，面试安排在周五下午' } },
    });
    expect(all[1]?.payload).toMatchObject({ status: 'sent', result: { errcode: 0, msgid: 'kf-reply-7' } });

    await client.kf.sendMsg(req, { idempotencyKey: 'kf-reply-7' });
    expect(sb.state.kfSent.filter((s) => s.msgid === 'kf-reply-7')).toHaveLength(1);
    expect(await rows('kf-reply-7#')).toHaveLength(2);
  });

  test('kf/send_msg refused by WeCom (95013, no open session) is a failed outcome', async () => {
    await expect(
      client.kf.sendMsg(
        { touser: 'wmCandLinXiao0002', open_kfid: KF_OPEN_KFID, msgtype: 'text', text: { content: '在吗' } },
        { idempotencyKey: 'kf-reply-8' },
      ),
    ).rejects.toBeInstanceOf(WecomApiError);
    const [intent, outcome] = await rows('kf-reply-8#');
    expect(intent?.source_ref).toBe('kf-reply-8#intent');
    expect(outcome?.stream).toBe(`wecom:contact:${await contactIdOf('wmCandLinXiao0002')}`);
    expect(outcome?.payload).toMatchObject({ status: 'failed', error: { errcode: 95013 } });
  });

  test('a timeout after the request reached WeCom is "outcome unknown"; a re-run under the key completes it, one message', async () => {
    const time = new FakeTime();
    const impatient = makeClient(proxy, redis, prefix, {
      ledger,
      sleep: time.sleep,
      options: { keyPrefix: prefix, timeoutMs: 300, busyRetries: 1 },
    });
    const suppressed = sb.state.stats.duplicatesSuppressed;
    const inbox = () => sb.state.inbox('sunwei').filter((m) => m.msgtype === 'text');
    hold.add('/cgi-bin/message/send');
    try {
      const err = await impatient.message
        .send({ touser: 'sunwei', msgtype: 'text', text: { content: '明天 10:00 面试陈晨' } }, { idempotencyKey: 'reminder:45' })
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'WecomNetworkError', maybeSent: true });
    } finally {
      hold.delete('/cgi-bin/message/send');
    }
    // Two attempts reached WeCom (the client retries: the duplicate check makes it safe); one message arrived.
    expect(inbox()).toHaveLength(1);
    expect(sb.state.stats.duplicatesSuppressed).toBe(suppressed + 1);
    let all = await rows('reminder:45#');
    expect(all.map((r) => r.source_ref)).toEqual(['reminder:45#intent', expect.stringMatching(/^reminder:45#unknown@\d+$/)]);
    expect(all[1]?.payload).toMatchObject({
      status: 'unknown',
      error: { type: 'WecomNetworkError', code: 'ECONNABORTED', maybeSent: true },
    });
    expect(all[1]?.raw).toBeNull();

    const res = await client.message.send(
      { touser: 'sunwei', msgtype: 'text', text: { content: '明天 10:00 面试陈晨' } },
      { idempotencyKey: 'reminder:45' },
    );
    expect(res.msgid).toBe(inbox()[0]?.msgid);
    expect(inbox()).toHaveLength(1);
    all = await rows('reminder:45#');
    expect(intentsOf(all)).toHaveLength(1);
    expect(all.at(-1)).toMatchObject({ source_ref: `reminder:45#sent:${res.msgid}` });
    expect(all.at(-1)?.payload.intent?.hash).toBe(all[0]?.hash);
  });

  test('kf/send_msg timing out after WeCom took it is "outcome unknown"; the re-run sends nothing new', async () => {
    const req = {
      touser: 'wmCandChenChen0001',
      open_kfid: KF_OPEN_KFID,
      msgtype: 'text' as const,
      text: { content: '面试地址：科技园 A 座 12 楼' },
    };
    const impatient = makeClient(proxy, redis, prefix, {
      ledger,
      sleep: new FakeTime().sleep,
      options: { keyPrefix: prefix, timeoutMs: 300, busyRetries: 0 },
    });
    hold.add('/cgi-bin/kf/send_msg');
    try {
      await expect(impatient.kf.sendMsg(req, { idempotencyKey: 'kf-reply-9' })).rejects.toBeInstanceOf(WecomNetworkError);
    } finally {
      hold.delete('/cgi-bin/kf/send_msg');
    }
    expect((await rows('kf-reply-9#')).map((r) => r.payload.status ?? 'intent')).toEqual(['intent', 'unknown']);
    await client.kf.sendMsg(req, { idempotencyKey: 'kf-reply-9' });
    expect(sb.state.kfSent.filter((s) => s.msgid === 'kf-reply-9')).toHaveLength(1);
    expect((await rows('kf-reply-9#')).map((r) => r.payload.status ?? 'intent')).toEqual(['intent', 'unknown', 'sent']);
  });

  test('a request that never left (WeCom unreachable) is a failed outcome, not an unknown one', async () => {
    const closed = await startStub(() => 'destroy');
    const url = closed.url;
    await closed.close();
    const offline = makeClient({ url }, redis, uniquePrefix('evidence-offline'), {
      ledger,
      sleep: new FakeTime().sleep,
    });
    await expect(
      offline.message.send({ touser: 'zhaolei', msgtype: 'text', text: { content: 'x' } }, { idempotencyKey: 'reminder:46' }),
    ).rejects.toMatchObject({ name: 'WecomNetworkError', maybeSent: false });
    const [, outcome] = await rows('reminder:46#');
    expect(outcome?.payload).toMatchObject({
      status: 'failed',
      error: { type: 'WecomNetworkError', path: 'gettoken', code: 'ECONNREFUSED', maybeSent: false },
    });
  });

  test('when the ledger refuses the intent, nothing is sent', async () => {
    const refusing: OutboundLedger = { append: () => Promise.reject(new Error('database is down')) };
    const c = makeClient(proxy, redis, prefix, { ledger: refusing });
    const calls = sb.state.stats.calls['message/send'] ?? 0;
    const err = await c.message
      .send({ touser: 'zhangmin', msgtype: 'text', text: { content: 'x' } }, { idempotencyKey: 'reminder:47' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntentNotRecordedError);
    expect((err as Error).message).toMatch(/database is down/);
    // Long enough for a request that had been started anyway to arrive.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(sb.state.stats.calls['message/send'] ?? 0).toBe(calls);
  });

  test('when the outcome cannot be written after a success, EvidenceWriteError carries the entries to re-append', async () => {
    // The intent goes to the real ledger; the outcome append fails.
    const halfBroken: OutboundLedger = {
      append: (e: EvidenceEntry) =>
        e.kind === 'wecom.outbound.intent' ? ledger.append(e) : Promise.reject(new Error('database went away')),
    };
    const c = makeClient(proxy, redis, prefix, { ledger: halfBroken });
    const before = sb.state.inbox('chenjing').length;
    const err = (await c.message
      .send({ touser: 'chenjing', msgtype: 'text', text: { content: '请确认面试官名单' } }, { idempotencyKey: 'k-broken' })
      .catch((e: unknown) => e)) as EvidenceWriteError;
    expect(err).toBeInstanceOf(EvidenceWriteError);
    expect(sb.state.inbox('chenjing')).toHaveLength(before + 1);
    expect(err.result).toMatchObject({ errcode: 0, msgid: sb.state.inbox('chenjing').at(-1)?.msgid });
    expect(err.entries).toHaveLength(1);
    // Until then the ledger shows an intent without an outcome.
    expect((await rows('k-broken#')).map((r) => r.kind)).toEqual(['wecom.outbound.intent']);
    const appended = await ledger.append(err.entries[0] as EvidenceEntry);
    expect(appended.status).toBe('appended');
    const [intent, outcome] = await rows('k-broken#');
    expect(outcome?.payload.intent).toMatchObject({ seq: Number(intent?.seq), hash: intent?.hash });
  });

  test('add_msg_template: intent first, outcome with msgid and fail_list; a second call under the key sends nothing', async () => {
    // The sandbox has no 企业群发 yet (issue 10): a stub answers as WeCom's doc 92135 shows, and checks the ledger.
    const committed: string[][] = [];
    const stub = await startStub(async (req) => {
      if (req.path === '/cgi-bin/gettoken')
        return { body: '{"errcode":0,"errmsg":"ok","access_token":"tpl-token","expires_in":7200}' };
      const { rows: r } = await db.pool.query<{ source_ref: string }>(
        `SELECT source_ref FROM evidence_records WHERE starts_with(source_ref, 'offer:9:link#') ORDER BY seq`,
      );
      committed.push(r.map((x) => x.source_ref));
      return { body: '{"errcode":0,"errmsg":"ok","fail_list":["wmCandWuHao0003"],"msgid":"msgGCAAAXtWyujaWJHDDGi0mAAAA"}' };
    });
    try {
      const c = makeClient(stub, redis, uniquePrefix('evidence-tpl'), { ledger: slowIntents, ...readBack });
      const req = {
        external_userid: ['wmCandWuHao0003', 'wmCandChenChen0001'],
        sender: 'ZhangMin',
        text: { content: '您的 offer 已发出，请点击链接查看' },
      };
      const res = await c.msgTemplate.add(req, { idempotencyKey: 'offer:9:link' });
      expect(res).toMatchObject({ msgid: 'msgGCAAAXtWyujaWJHDDGi0mAAAA', fail_list: ['wmCandWuHao0003'] });
      expect(committed[0]).toEqual(['offer:9:link#r1#intent', 'offer:9:link#r2#intent']);
      const all = await rows('offer:9:link#');
      const chen = `wecom:contact:${await contactIdOf('wmCandChenChen0001')}`;
      const wu = `wecom:contact:${await contactIdOf('wmCandWuHao0003')}`;
      expect(all.map((r) => [r.stream, r.source_ref])).toEqual([
        [chen, 'offer:9:link#r1#intent'],
        [wu, 'offer:9:link#r2#intent'],
        [chen, 'offer:9:link#r1#sent:msgGCAAAXtWyujaWJHDDGi0mAAAA'],
        [wu, 'offer:9:link#r2#sent:msgGCAAAXtWyujaWJHDDGi0mAAAA'],
      ]);
      expect(all[0]?.payload).toMatchObject({
        api: 'externalcontact/add_msg_template',
        recipient: { external_userid: 'wmCandChenChen0001', sender: 'zhangmin' },
        request: { chat_type: 'single', sender: 'ZhangMin' },
      });
      expect(all[2]?.payload['recipient_rejected']).toBeUndefined();
      expect(all[3]?.payload).toMatchObject({ status: 'sent', recipient_rejected: 'fail_list' });

      // WeCom has no duplicate check for this API: a repeat would put a second message before the recruiter. The
      // sent outcome is on record: the retried call gets WeCom's recorded answer and sends nothing.
      await expect(c.msgTemplate.add(req, { idempotencyKey: 'offer:9:link' })).resolves.toMatchObject({
        msgid: 'msgGCAAAXtWyujaWJHDDGi0mAAAA',
        fail_list: ['wmCandWuHao0003'],
      });
      // A client that cannot read the ledger back cannot tell, and refuses.
      const blind = makeClient(stub, redis, uniquePrefix('evidence-tpl'), {
        ledger: slowIntents,
        externalContacts: readBack.externalContacts,
      });
      const again = await blind.msgTemplate.add(req, { idempotencyKey: 'offer:9:link' }).catch((e: unknown) => e);
      expect(again).toBeInstanceOf(SendAlreadyAttemptedError);
      expect((again as SendAlreadyAttemptedError).intents.map((i) => i.seq)).toEqual(all.slice(0, 2).map((r) => Number(r.seq)));
      expect(stub.requests.filter((r) => r.url.startsWith('/cgi-bin/externalcontact/add_msg_template'))).toHaveLength(1);
      expect(await rows('offer:9:link#')).toHaveLength(4);
    } finally {
      await stub.close();
    }
  });

  test('a different message under a recorded key is refused: nothing sent, the attempt recorded as a variant', async () => {
    const first = await client.message.send(
      { touser: 'zhangmin', msgtype: 'text', text: { content: '冲突测试：第一条' } },
      { idempotencyKey: 'reminder:50' },
    );
    const conflicting = { touser: 'zhangmin', msgtype: 'text' as const, text: { content: '冲突测试：第二条' } };
    const err = await client.message.send(conflicting, { idempotencyKey: 'reminder:50' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IdempotencyConflictError);
    expect(committedAtArrival('冲突测试：第二条')).toHaveLength(0);
    const inbox = sb.state.inbox('zhangmin').map((m) => JSON.stringify(m));
    expect(inbox.filter((m) => m.includes('冲突测试'))).toHaveLength(1);

    const all = await rows('reminder:50#');
    expect(all).toHaveLength(4);
    const [intent, sent, variant, refused] = all;
    expect(sent?.source_ref).toBe(`reminder:50#sent:${first.msgid}`);
    expect((err as IdempotencyConflictError).intents).toEqual([{ seq: Number(intent?.seq), hash: intent?.hash }]);
    // The ledger stores the different request as a variant of the first, linked to it.
    expect(variant?.kind).toBe('wecom.outbound.intent');
    expect(variant?.source_ref).toMatch(/^reminder:50#intent#[0-9a-f]{16}$/);
    expect(variant?.payload).toMatchObject({
      request: { text: { content: '冲突测试：第二条' } },
      variant_of: { seq: Number(intent?.seq), hash: intent?.hash, source_ref: 'reminder:50#intent' },
    });
    expect(refused?.payload).toMatchObject({
      intent: { seq: Number(variant?.seq), source_ref: variant?.source_ref },
      status: 'failed',
      error: { type: 'IdempotencyConflictError' },
    });

    // The same conflicting request again: refused again, nothing new recorded or sent.
    await expect(client.message.send(conflicting, { idempotencyKey: 'reminder:50' })).rejects.toBeInstanceOf(
      IdempotencyConflictError,
    );
    expect(await rows('reminder:50#')).toHaveLength(4);
    expect(committedAtArrival('冲突测试：第二条')).toHaveLength(0);
  });

  test('a re-run after a recorded sent outcome returns it and sends nothing (WeCom would dedupe only for hours)', async () => {
    const message = { touser: 'zhangmin', msgtype: 'text' as const, text: { content: '重跑测试：只发一次' } };
    const first = await client.message.send(message, { idempotencyKey: 'reminder:51' });
    const again = await client.message.send(message, { idempotencyKey: 'reminder:51' });
    expect(again.msgid).toBe(first.msgid);
    expect(committedAtArrival('重跑测试：只发一次')).toHaveLength(1);
    expect((await rows('reminder:51#')).map((r) => r.kind)).toEqual(['wecom.outbound.intent', 'wecom.outbound.outcome']);

    const kfReq = {
      touser: 'wmCandChenChen0001',
      open_kfid: KF_OPEN_KFID,
      msgtype: 'text' as const,
      text: { content: '重跑测试：客服' },
    };
    await client.kf.sendMsg(kfReq, { idempotencyKey: 'kf-reply-51' });
    await expect(client.kf.sendMsg(kfReq, { idempotencyKey: 'kf-reply-51' })).resolves.toMatchObject({ msgid: 'kf-reply-51' });
    expect(committedAtArrival('重跑测试：客服')).toHaveLength(1);
  });

  test('kf/send_msg and add_msg_template refuse to send when the client cannot name the candidate by an opaque id', async () => {
    const c = createWecomClient({
      apiBase: proxy.url,
      corpId: KEYS.corpId,
      secret: KEYS.secret,
      agentId: KEYS.agentId,
      redis,
      logger: memoryLogger(),
      ledger,
      options: { keyPrefix: prefix },
    });
    await expect(
      c.kf.sendMsg(
        { touser: 'wmCandChenChen0001', open_kfid: KF_OPEN_KFID, msgtype: 'text', text: { content: '无映射' } },
        { idempotencyKey: 'kf-nomap' },
      ),
    ).rejects.toThrow(/externalContacts/);
    expect(await rows('kf-nomap#')).toHaveLength(0);
    expect(committedAtArrival('无映射')).toHaveLength(0);
  });

  test('idempotency keys are checked before anything is recorded or sent', async () => {
    for (const idempotencyKey of ['', 'has#hash', 'has space', 'x'.repeat(257)]) {
      await expect(
        client.message.send({ touser: 'zhangmin', msgtype: 'text', text: { content: 'x' } }, { idempotencyKey }),
      ).rejects.toThrow(/idempotencyKey/);
    }
  });

  test('a client cannot be built without a ledger: a type error, and an error at run time', () => {
    const deps = {
      apiBase: sb.url,
      corpId: KEYS.corpId,
      secret: KEYS.secret,
      agentId: KEYS.agentId,
      redis,
      logger: memoryLogger(),
    };
    // @ts-expect-error the ledger is required: a client without it could send without leaving evidence
    expect(() => createWecomClient(deps)).toThrow(/ledger is required/);
    expect(() => createWecomClient({ ...deps, ledger: {} as OutboundLedger })).toThrow(TypeError);
  });

  test('the ledger still verifies', async () => {
    expect((await verifyLedger(db.pool)).ok).toBe(true);
  });
});
