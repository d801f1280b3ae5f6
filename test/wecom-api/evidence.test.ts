import type { Redis } from 'ioredis';
import type { Sandbox } from '../../sandbox/server';
import { createLedger, verifyLedger, type Ledger } from '../../src/evidence';
import { EvidenceWriteError, kfMsgIdFor, WecomApiError, type WecomClient } from '../../src/wecom/api';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { connectRedis, deleteKeys, KF_OPEN_KFID, makeClient, startSandbox, uniquePrefix } from './support/harness';

interface Row {
  seq: string;
  stream: string;
  kind: string;
  actor: string;
  source: string;
  source_ref: string;
  occurred_at: Date;
  payload: Record<string, Record<string, unknown>>;
  raw: Record<string, unknown> | null;
}

describe('outbound messages become evidence records', () => {
  const prefix = uniquePrefix('evidence');
  let redis: Redis;
  let sb: Sandbox;
  let db: TestDatabase;
  let ledger: Ledger;
  let client: WecomClient;

  beforeAll(async () => {
    redis = connectRedis();
    sb = await startSandbox();
    db = await createTestDatabase();
    ledger = createLedger({ pool: db.pool });
    client = makeClient(sb, redis, prefix, { ledger });
  });
  afterAll(async () => {
    await ledger.close();
    await db.drop();
    await sb.close();
    await deleteKeys(redis, prefix);
    redis.disconnect();
  });

  const rows = async (where: string, params: unknown[]): Promise<Row[]> =>
    (
      await db.pool.query<Row>(
        `SELECT seq, stream, kind, actor, source, source_ref, occurred_at, payload, raw FROM evidence_records WHERE ${where} ORDER BY seq`,
        params,
      )
    ).rows;

  test('message/send: one record in the member stream, keyed by the idempotency key, without the access_token', async () => {
    const res = await client.message.send(
      {
        touser: 'zhangmin',
        msgtype: 'text',
        text: { content: '请于明天 10:00 参加面试' },
        enable_duplicate_check: 1,
        duplicate_check_interval: 1800,
      },
      { idempotencyKey: 'reminder:42' },
    );
    expect(typeof res.msgid).toBe('string');
    const [row, ...more] = await rows('source_ref = $1', ['reminder:42']);
    expect(more).toHaveLength(0);
    expect(row).toMatchObject({
      stream: 'wecom:member:zhangmin',
      kind: 'wecom.outbound.message.text',
      actor: 'hireledger',
      source: 'wecom.outbound',
      source_ref: 'reminder:42',
    });
    expect(row?.payload['request']).toEqual({
      touser: 'zhangmin',
      msgtype: 'text',
      agentid: 1000002,
      text: { content: '请于明天 10:00 参加面试' },
      enable_duplicate_check: 1,
      duplicate_check_interval: 1800,
    });
    expect(row?.payload['result']).toMatchObject({ errcode: 0, errmsg: 'ok', msgid: res.msgid, invaliduser: '' });
    expect(row?.raw).toMatchObject({ errcode: 0, msgid: res.msgid });

    const token = await client.getAccessToken();
    expect(JSON.stringify(row)).not.toContain(token);
    expect(JSON.stringify(row)).not.toContain('access_token');
  });

  test('textcard and template_card get their own kinds; several members get one record each', async () => {
    await client.message.send(
      {
        touser: 'liqiang|wangfang',
        msgtype: 'textcard',
        textcard: {
          title: 'Offer 待审批',
          description: '<div class="gray">陈晨 · 前端工程师</div>',
          url: 'https://hireledger.example/offers/1',
        },
      },
      { idempotencyKey: 'offer:1:notify' },
    );
    await client.message.send(
      {
        touser: 'liqiang',
        msgtype: 'template_card',
        template_card: {
          card_type: 'button_interaction',
          main_title: { title: '是否同意录用陈晨？' },
          task_id: 'task-offer-1',
          button_list: [
            { text: '同意', style: 1, key: 'approve' },
            { text: '驳回', style: 2, key: 'reject' },
          ],
        },
      },
      { idempotencyKey: 'offer:1:card' },
    );
    const cards = await rows(`source_ref LIKE 'offer:1:%'`, []);
    expect(cards.map((r) => [r.stream, r.kind, r.source_ref])).toEqual([
      ['wecom:member:liqiang', 'wecom.outbound.message.textcard', 'offer:1:notify:liqiang'],
      ['wecom:member:wangfang', 'wecom.outbound.message.textcard', 'offer:1:notify:wangfang'],
      ['wecom:member:liqiang', 'wecom.outbound.message.template_card', 'offer:1:card'],
    ]);
    expect(cards[2]?.payload['result']?.['response_code']).toEqual(expect.any(String));
  });

  test('a failed send is recorded too, and the successful retry under the same key is not lost', async () => {
    const err = await client.message
      .send({ touser: 'ghost', msgtype: 'text', text: { content: 'x' } }, { idempotencyKey: 'reminder:43' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WecomApiError);
    const [failed] = await rows(`source_ref LIKE 'reminder:43%'`, []);
    expect(failed?.source_ref).toMatch(/^reminder:43#failed@\d+$/);
    expect(failed?.stream).toBe('wecom:member:ghost');
    expect(failed?.payload['error']).toMatchObject({ type: 'WecomApiError', errcode: 81013, invaliduser: 'ghost' });
    expect(failed?.raw).toMatchObject({ errcode: 81013 });

    await client.message.send({ touser: 'zhangmin', msgtype: 'text', text: { content: 'x' } }, { idempotencyKey: 'reminder:43' });
    const all = await rows(`source_ref LIKE 'reminder:43%'`, []);
    expect(all.map((r) => r.source_ref)).toEqual([failed?.source_ref, 'reminder:43']);
  });

  test('kf/send_msg: a record in the external contact stream; the WeCom msgid comes from the idempotency key', async () => {
    const res = await client.kf.sendMsg(
      { touser: 'wmCandChenChen0001', open_kfid: KF_OPEN_KFID, msgtype: 'text', text: { content: '您好，面试安排在周五下午' } },
      { idempotencyKey: 'kf-reply-7' },
    );
    expect(res.msgid).toBe(kfMsgIdFor('kf-reply-7'));
    expect(sb.state.kfSent.map((s) => s.msgid)).toContain('kf-reply-7');
    const [row] = await rows('source_ref = $1', ['kf-reply-7']);
    expect(row).toMatchObject({
      stream: 'wecom:external:wmCandChenChen0001',
      kind: 'wecom.outbound.message.text',
      actor: 'hireledger',
    });
    expect(row?.payload['request']).toMatchObject({
      touser: 'wmCandChenChen0001',
      msgid: 'kf-reply-7',
      text: { content: '您好，面试安排在周五下午' },
    });
    expect(row?.payload['result']).toEqual({ errcode: 0, errmsg: 'ok', msgid: 'kf-reply-7' });

    // Sending again with the same key is a no-op at WeCom (same msgid) and in the ledger.
    await client.kf.sendMsg(
      { touser: 'wmCandChenChen0001', open_kfid: KF_OPEN_KFID, msgtype: 'text', text: { content: '您好，面试安排在周五下午' } },
      { idempotencyKey: 'kf-reply-7' },
    );
    expect(sb.state.kfSent.filter((s) => s.msgid === 'kf-reply-7')).toHaveLength(1);
    expect(await rows('source_ref = $1', ['kf-reply-7'])).toHaveLength(1);
    expect(kfMsgIdFor('a key with spaces and 中文 that is long')).toMatch(/^[0-9a-zA-Z_-]{1,32}$/);
  });

  test('a kf send refused by WeCom (95002, 48 h passed) is recorded as a failure', async () => {
    await expect(
      client.kf.sendMsg(
        { touser: 'wmCandLinXiao0002', open_kfid: KF_OPEN_KFID, msgtype: 'text', text: { content: '在吗' } },
        { idempotencyKey: 'kf-reply-8' },
      ),
    ).rejects.toBeInstanceOf(WecomApiError);
    const [row] = await rows(`source_ref LIKE 'kf-reply-8#failed@%'`, []);
    expect(row?.stream).toBe('wecom:external:wmCandLinXiao0002');
    expect(row?.payload['error']?.['errcode']).toEqual(expect.any(Number));
  });

  test('the ledger still verifies', async () => {
    expect((await verifyLedger(db.pool)).ok).toBe(true);
  });

  test('an idempotency key is required', async () => {
    await expect(
      client.message.send({ touser: 'zhangmin', msgtype: 'text', text: { content: 'x' } }, { idempotencyKey: '' }),
    ).rejects.toThrow(/idempotencyKey/);
  });

  test('when the ledger fails after a successful send, EvidenceWriteError carries the result and the entries to re-append', async () => {
    const broken = makeClient(sb, redis, prefix, { ledger: { append: () => Promise.reject(new Error('database is down')) } });
    const before = sb.state.inbox('chenjing').length;
    const err = (await broken.message
      .send({ touser: 'chenjing', msgtype: 'text', text: { content: 'x' } }, { idempotencyKey: 'k-broken' })
      .catch((e: unknown) => e)) as EvidenceWriteError;
    expect(err).toBeInstanceOf(EvidenceWriteError);
    expect(sb.state.inbox('chenjing')).toHaveLength(before + 1);
    expect(err.result).toMatchObject({ errcode: 0, msgid: expect.any(String) });
    expect(err.entries).toHaveLength(1);
    const result = await ledger.append(err.entries[0] as Parameters<Ledger['append']>[0]);
    expect(result.status).toBe('appended');
  });
});
