/**
 * The appchat and group robot webhook clients, and the checkpoint witness built on them, against a real
 * sandbox over HTTP (and a stub where the sandbox cannot misbehave enough): WeCom's whole answer comes back,
 * errcodes surface as WecomApiError, over-long content is refused before anything is sent, appchat/send and
 * webhook/send are never repeated once they may have reached WeCom, and the webhook key never shows up in an
 * error or a log line.
 */
import type { Redis } from 'ioredis';
import type { Sandbox } from '../../sandbox/server';
import { DEMO_ROBOT_KEY, FOREIGN_APPCHAT_ID } from '../../sandbox/seed';
import {
  secretFingerprint,
  WecomApiError,
  WecomContentTooLongError,
  WecomNetworkError,
  WecomRateLimitedError,
  WecomRequestError,
  type WecomClient,
} from '../../src/wecom/api';
import { CHECKPOINT_HEADING, createWecomCheckpointWitness } from '../../src/wecom/checkpoint-witness';
import {
  admin,
  connectRedis,
  deleteKeys,
  FakeTime,
  fault,
  makeClient,
  memoryLogger,
  startSandbox,
  startStub,
  uniquePrefix,
  type LogLine,
} from './support/harness';

const CHATID = 'HLCHECKPOINTS01';

/** A C2SP-style signed checkpoint note, as the checkpointer produces (well under 1 KB). */
const NOTE = [
  'wwhireledgerdemo01/hireledger-evidence',
  '1024',
  'mU6eGZJ7oJ8bX4k3Wq0sB9cDlPzYvT2aE5fH1gN6rKs=',
  '',
  '— hireledger-evidence-2026 AbCdEf0123456789abcdefABCDEF0123456789abcdefABCDEF0123456789abcdefABCDEFGH==',
  '',
].join('\n');

describe('appchat, group robot webhook and the checkpoint witness', () => {
  const prefix = uniquePrefix('appchat');
  let redis: Redis;
  let sb: Sandbox;
  let lines: LogLine[];
  let time: FakeTime;
  let client: WecomClient;

  beforeAll(() => {
    redis = connectRedis();
  });
  afterAll(async () => {
    await deleteKeys(redis, prefix);
    redis.disconnect();
  });
  let n = 0;
  beforeEach(async () => {
    sb = await startSandbox();
    lines = [];
    time = new FakeTime();
    // A key prefix per test: a token cached for an earlier test's sandbox would cost a 40014 and a refresh.
    n += 1;
    client = makeClient(sb, redis, `${prefix}${n}:`, {
      logger: memoryLogger(lines),
      sleep: time.sleep,
      options: { timeoutMs: 300 },
    });
  });
  afterEach(async () => {
    await sb.close();
  });

  const createGroup = () =>
    client.appchat.create({ name: '存证检查点', owner: 'zhaolei', userlist: ['zhaolei', 'wangfang', 'liuyang'], chatid: CHATID });
  const posted = (chatid = CHATID) => sb.state.appchat.chats.get(chatid)?.messages.map((m) => m.content) ?? [];
  const robotPosts = (key = DEMO_ROBOT_KEY) => sb.state.appchat.robots.get(key)?.messages.map((m) => m.content) ?? [];
  const calls = (api: string) => sb.state.stats.calls[api] ?? 0;
  const logged = () => JSON.stringify(lines);

  describe('client.appchat', () => {
    test('create → get → send; send resolves with the whole answer (no msgid)', async () => {
      await expect(createGroup()).resolves.toEqual({ errcode: 0, errmsg: 'ok', chatid: CHATID });
      const info = await client.appchat.get(CHATID);
      expect(info.chat_info).toMatchObject({ chatid: CHATID, owner: 'zhaolei', userlist: ['zhaolei', 'wangfang', 'liuyang'] });
      const res = await client.appchat.send({ chatid: CHATID, msgtype: 'text', text: { content: '你好' } });
      expect(res).toEqual({ errcode: 0, errmsg: 'ok' });
      expect(posted()).toEqual(['你好']);
    });

    test('create without chatid gets WeCom’s generated one', async () => {
      const res = await client.appchat.create({ userlist: ['zhaolei', 'wangfang'] });
      expect(res.chatid).toMatch(/^[0-9A-Za-z]{1,32}$/);
      await expect(client.appchat.get(res.chatid)).resolves.toMatchObject({ chat_info: { chatid: res.chatid } });
    });

    test('a request breaking a documented rule is refused before sending', async () => {
      const refused = async (p: Promise<unknown>, field: string) => {
        const err = await p.catch((e: unknown) => e);
        expect(err).toBeInstanceOf(WecomRequestError);
        expect(err).toMatchObject({ path: 'appchat/create', field });
      };
      await refused(client.appchat.create({ userlist: ['zhaolei'] }), 'userlist');
      await refused(client.appchat.create({ userlist: ['zhaolei', 'ZhaoLei'] }), 'userlist');
      await refused(client.appchat.create({ userlist: Array.from({ length: 2001 }, (_, i) => `u${i}`) }), 'userlist');
      await refused(client.appchat.create({ userlist: ['zhaolei', 'wangfang'], chatid: 'HL-CHECKPOINTS' }), 'chatid');
      await refused(client.appchat.create({ userlist: ['zhaolei', 'wangfang'], chatid: 'A'.repeat(33) }), 'chatid');
      await refused(client.appchat.create({ userlist: ['zhaolei', 'wangfang'], owner: 'liqiang' }), 'owner');
      expect(calls('appchat/create')).toBe(0);
    });

    test('text over 2048 bytes of UTF-8 is refused before sending; exactly 2048 goes through', async () => {
      await createGroup();
      const err = await client.appchat
        .send({ chatid: CHATID, msgtype: 'text', text: { content: '长'.repeat(683) } })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WecomContentTooLongError);
      expect(err).toMatchObject({ path: 'appchat/send', bytes: 2049, limit: 2048 });
      expect(calls('appchat/send')).toBe(0);
      await expect(
        client.appchat.send({ chatid: CHATID, msgtype: 'text', text: { content: `${'长'.repeat(682)}ab` } }),
      ).resolves.toMatchObject({ errcode: 0 });
    });

    test('86008 (a group another app created) and 86003 surface as WecomApiError; nothing is posted', async () => {
      const err = await client.appchat
        .send({ chatid: FOREIGN_APPCHAT_ID, msgtype: 'text', text: { content: 'x' } })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WecomApiError);
      expect(err).toMatchObject({ errcode: 86008, path: 'appchat/send' });
      expect((err as WecomApiError).hint).toContain('不是本应用创建');
      expect(posted(FOREIGN_APPCHAT_ID)).toEqual([]);
      await expect(client.appchat.get('NoSuchChat')).rejects.toMatchObject({ name: 'WecomApiError', errcode: 86003 });
      await expect(createGroup()).resolves.toMatchObject({ chatid: CHATID });
      await expect(createGroup()).rejects.toMatchObject({ errcode: 86215 });
    });

    test('visible scope not the root department → 60011 with a hint that says so', async () => {
      await admin(sb, 'POST', 'appchats/root-scope', { required: true });
      const err = await createGroup().catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'WecomApiError', errcode: 60011 });
      expect((err as WecomApiError).hint).toContain('根部门');
    });

    test('send is not repeated once it may have reached WeCom: posted once, WecomNetworkError(maybeSent)', async () => {
      await createGroup();
      await admin(sb, 'POST', 'network-faults', { path: 'appchat/send', mode: 'reset', deliver: true });
      const err = await client.appchat
        .send({ chatid: CHATID, msgtype: 'text', text: { content: '检查点 7' } })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WecomNetworkError);
      expect(err).toMatchObject({ path: 'appchat/send', maybeSent: true });
      expect(calls('appchat/send')).toBe(1);
      expect(posted()).toEqual(['检查点 7']); // it did arrive: a retry would have posted it twice
    });

    test('create with a chatid is retried after a reset (a repeat cannot make a second group); without one it is not', async () => {
      await admin(sb, 'POST', 'network-faults', { path: 'appchat/create', mode: 'reset' });
      await expect(createGroup()).resolves.toMatchObject({ errcode: 0, chatid: CHATID });
      expect(calls('appchat/create')).toBe(2);

      await admin(sb, 'POST', 'network-faults', { path: 'appchat/create', mode: 'reset', deliver: true });
      await expect(client.appchat.create({ userlist: ['zhaolei', 'wangfang'] })).rejects.toMatchObject({
        name: 'WecomNetworkError',
        maybeSent: true,
      });
      expect(calls('appchat/create')).toBe(3);
      expect(sb.state.appchat.chats.size).toBe(3); // the seeded foreign group, ours, and the one whose answer was lost
    });

    test('-1 (WeCom did not process it) is still retried for send, and the message is posted once', async () => {
      await createGroup();
      await fault(sb, 'appchat/send', -1, 1);
      await expect(client.appchat.send({ chatid: CHATID, msgtype: 'text', text: { content: 'x' } })).resolves.toMatchObject({
        errcode: 0,
      });
      expect(calls('appchat/send')).toBe(2);
      expect(posted()).toEqual(['x']);
    });
  });

  describe('client.webhook', () => {
    test('posts without an access_token and resolves with the whole answer', async () => {
      await expect(client.webhook.send(DEMO_ROBOT_KEY, { msgtype: 'text', text: { content: '你好' } })).resolves.toEqual({
        errcode: 0,
        errmsg: 'ok',
      });
      expect(robotPosts()).toEqual(['你好']);
      expect(calls('gettoken')).toBe(0);
    });

    test('the whole webhook URL is accepted in place of the key', async () => {
      const url = `https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=${DEMO_ROBOT_KEY}`;
      await expect(client.webhook.send(url, { msgtype: 'text', text: { content: 'x' } })).resolves.toMatchObject({ errcode: 0 });
      expect(robotPosts()).toEqual(['x']);
    });

    test('93000 (wrong key, robot removed) and 45009 surface as WecomApiError without the key in message or logs', async () => {
      const wrong = '0badc0de-1111-2222-3333-444444444444';
      const e1 = await client.webhook.send(wrong, { msgtype: 'text', text: { content: 'x' } }).catch((e: unknown) => e);
      expect(e1).toBeInstanceOf(WecomApiError);
      expect(e1).toMatchObject({ errcode: 93000, path: 'webhook/send' });

      await fault(sb, 'webhook/send', 45009, 1);
      const e2 = await client.webhook.send(DEMO_ROBOT_KEY, { msgtype: 'text', text: { content: 'x' } }).catch((e: unknown) => e);
      expect(e2).toBeInstanceOf(WecomRateLimitedError);
      expect(calls('webhook/send')).toBe(2); // the robot's minute window is not waited out

      await admin(sb, 'DELETE', `webhooks/${DEMO_ROBOT_KEY}`);
      const e3 = await client.webhook.send(DEMO_ROBOT_KEY, { msgtype: 'text', text: { content: 'x' } }).catch((e: unknown) => e);
      expect(e3).toMatchObject({ name: 'WecomApiError', errcode: 93000 });

      for (const e of [e1, e2, e3]) {
        const text = `${String((e as Error).message)} ${String((e as Error).stack)} ${JSON.stringify(e)}`;
        expect(text).not.toContain(wrong);
        expect(text).not.toContain(DEMO_ROBOT_KEY);
      }
      expect(lines.length).toBeGreaterThan(0);
      expect(logged()).not.toContain(wrong);
      expect(logged()).not.toContain(DEMO_ROBOT_KEY);
    });

    test('text over 2048 bytes and a malformed key are refused before sending, without echoing the key', async () => {
      const long = await client.webhook
        .send(DEMO_ROBOT_KEY, { msgtype: 'text', text: { content: 'a'.repeat(2049) } })
        .catch((e: unknown) => e);
      expect(long).toBeInstanceOf(WecomContentTooLongError);
      const bad = 'not a key ?&';
      const err = await client.webhook.send(bad, { msgtype: 'text', text: { content: 'x' } }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WecomRequestError);
      expect((err as Error).message).not.toContain(bad);
      expect(calls('webhook/send')).toBe(0);
    });
  });

  describe('createWecomCheckpointWitness', () => {
    test('appchat: posts heading + note verbatim; returns the whole answer, the time sent and the request', async () => {
      await createGroup();
      const w = createWecomCheckpointWitness({ client, chatid: CHATID, now: () => Date.UTC(2026, 10, 22, 2, 0, 0, 123) });
      expect(w.name).toBe('wecom_appchat');
      const receipt = await w.witness(NOTE);
      const content = `${CHECKPOINT_HEADING}\n${NOTE}`;
      expect(posted()).toEqual([content]);
      expect(receipt).toEqual({
        response: { errcode: 0, errmsg: 'ok' },
        sentAt: new Date(Date.UTC(2026, 10, 22, 2, 0, 0, 123)),
        request: { api: 'appchat/send', body: { chatid: CHATID, msgtype: 'text', text: { content }, safe: 0 } },
      });
    });

    test('webhook: the request names the robot by a fingerprint, never by its key', async () => {
      const w = createWecomCheckpointWitness({ client, webhookKey: DEMO_ROBOT_KEY });
      expect(w.name).toBe('wecom_webhook');
      const before = Date.now();
      const receipt = await w.witness(NOTE);
      expect(robotPosts()).toEqual([`${CHECKPOINT_HEADING}\n${NOTE}`]);
      expect(receipt.response).toEqual({ errcode: 0, errmsg: 'ok' });
      expect(receipt.sentAt.getTime()).toBeGreaterThanOrEqual(before);
      expect(receipt.sentAt.getTime()).toBeLessThanOrEqual(Date.now());
      expect(receipt.request).toEqual({
        api: 'webhook/send',
        robot: `sha256:${secretFingerprint(DEMO_ROBOT_KEY).slice(0, 16)}`,
        body: { msgtype: 'text', text: { content: `${CHECKPOINT_HEADING}\n${NOTE}` } },
      });
      expect(JSON.stringify(receipt)).not.toContain(DEMO_ROBOT_KEY);
    });

    test('86008 and 93000 are thrown as WecomApiError; the key is in neither error nor logs', async () => {
      const foreign = createWecomCheckpointWitness({ client, chatid: FOREIGN_APPCHAT_ID });
      await expect(foreign.witness(NOTE)).rejects.toMatchObject({ name: 'WecomApiError', errcode: 86008 });

      await admin(sb, 'DELETE', `webhooks/${DEMO_ROBOT_KEY}`);
      const removed = createWecomCheckpointWitness({ client, webhookKey: DEMO_ROBOT_KEY });
      const err = await removed.witness(NOTE).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WecomApiError);
      expect(err).toMatchObject({ errcode: 93000 });
      expect((err as Error).message).not.toContain(DEMO_ROBOT_KEY);
      expect(logged()).not.toContain(DEMO_ROBOT_KEY);
    });

    test('a note that would exceed 2048 bytes is refused before sending', async () => {
      await createGroup();
      const big = '检'.repeat(680); // 2040 bytes, plus the heading line
      for (const w of [
        createWecomCheckpointWitness({ client, chatid: CHATID }),
        createWecomCheckpointWitness({ client, webhookKey: DEMO_ROBOT_KEY }),
      ]) {
        await expect(w.witness(big)).rejects.toBeInstanceOf(WecomContentTooLongError);
      }
      expect(calls('appchat/send')).toBe(0);
      expect(calls('webhook/send')).toBe(0);
    });

    test('witness unreachable: a timeout is a WecomNetworkError(maybeSent), tried once, nothing posted', async () => {
      await admin(sb, 'POST', 'network-faults', { path: 'webhook/send', mode: 'timeout' });
      const w = createWecomCheckpointWitness({ client, webhookKey: DEMO_ROBOT_KEY });
      const err = await w.witness(NOTE).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WecomNetworkError);
      expect(err).toMatchObject({ path: 'webhook/send', code: 'ECONNABORTED', maybeSent: true });
      expect((err as Error).message).not.toContain(DEMO_ROBOT_KEY);
      expect(calls('webhook/send')).toBe(1);
      expect(robotPosts()).toEqual([]);
      expect(logged()).not.toContain(DEMO_ROBOT_KEY);
      // The sandbox is reachable again: the next attempt (the caller's retry) goes through.
      await expect(w.witness(NOTE)).resolves.toMatchObject({ response: { errcode: 0 } });
    });

    test('witness unreachable: connection refused is retried (nothing was sent), then typed', async () => {
      const port = sb.port;
      await sb.close();
      const offline = makeClient({ url: `http://127.0.0.1:${port}` }, redis, `${prefix}offline:`, {
        logger: memoryLogger(lines),
        sleep: time.sleep,
      });
      const w = createWecomCheckpointWitness({ client: offline, webhookKey: DEMO_ROBOT_KEY });
      const err = await w.witness(NOTE).catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'WecomNetworkError', code: 'ECONNREFUSED', maybeSent: false });
      expect(time.sleeps).toHaveLength(3);
      expect((err as Error).message).not.toContain(DEMO_ROBOT_KEY);
      expect(logged()).not.toContain(DEMO_ROBOT_KEY);
      sb = await startSandbox(); // for afterEach
    });

    test('configuration: exactly one of chatid and webhookKey; a malformed key fails at once without echoing it', () => {
      expect(() => createWecomCheckpointWitness({ client })).toThrow(TypeError);
      expect(() => createWecomCheckpointWitness({ client, chatid: CHATID, webhookKey: DEMO_ROBOT_KEY })).toThrow(TypeError);
      expect(() => createWecomCheckpointWitness({ client, chatid: '', webhookKey: undefined })).toThrow(TypeError);
      const bad = 'https://qyapi.weixin.qq.com/cgi-bin/webhook/send?nokey=secret-value-1234';
      expect(() => createWecomCheckpointWitness({ client, webhookKey: bad })).toThrow(WecomRequestError);
      try {
        createWecomCheckpointWitness({ client, webhookKey: bad });
      } catch (e) {
        expect((e as Error).message).not.toContain('secret-value-1234');
      }
    });
  });

  describe('against a stub (what the sandbox never does)', () => {
    test('19-digit ids in the answer stay strings; an errmsg echoing the key is redacted', async () => {
      const key = '5e6f7a8b-0000-4c4c-9d9d-0123456789ab';
      const stub = await startStub((req) => {
        if (req.path === '/cgi-bin/gettoken')
          return { body: JSON.stringify({ errcode: 0, errmsg: 'ok', access_token: 'stub-token-0001', expires_in: 7200 }) };
        if (req.path === '/cgi-bin/appchat/send') return { body: '{"errcode":0,"errmsg":"ok","msgid":4561255354251345929}' };
        return {
          body: JSON.stringify({
            errcode: 93000,
            errmsg: `invalid webhook url /cgi-bin/webhook/send?key=${req.query.get('key') ?? ''}, hint: [x]`,
            url: `key=${req.query.get('key') ?? ''}`,
          }),
        };
      });
      try {
        const c = makeClient(stub, redis, uniquePrefix('appchat-stub'), { logger: memoryLogger(lines), sleep: time.sleep });
        const receipt = await createWecomCheckpointWitness({ client: c, chatid: CHATID }).witness(NOTE);
        expect(receipt.response).toEqual({ errcode: 0, errmsg: 'ok', msgid: '4561255354251345929' });

        const err = await createWecomCheckpointWitness({ client: c, webhookKey: key })
          .witness(NOTE)
          .catch((e: unknown) => e);
        expect(err).toBeInstanceOf(WecomApiError);
        expect(err).toMatchObject({ errcode: 93000 });
        const e = err as WecomApiError;
        expect(e.errmsg).toContain('key=***');
        expect(`${e.message} ${e.errmsg} ${JSON.stringify(e.body)} ${String(e.stack)}`).not.toContain(key);
        expect(stub.requests.some((r) => r.url.includes(`key=${key}`))).toBe(true); // it was sent, in the URL only
        expect(stub.requests.every((r) => !r.body.includes(key))).toBe(true);
        expect(logged()).not.toContain(key);
      } finally {
        await stub.close();
      }
    });
  });
});
