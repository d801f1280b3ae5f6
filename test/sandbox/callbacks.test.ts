/**
 * Callbacks sandbox → app: envelope, encryption and signature (checked with the official @wecom/crypto),
 * exact reproduction of the official vector, and redelivery on timeout / non-200 / connection failure.
 */
import { decrypt, getSignature } from '@wecom/crypto';
import { buildCallbackRequest, textMessageXml } from '../../sandbox/callbacks';
import { Client, envelopeEncrypt, fixture, KEYS, startReceiver, startSandbox } from './helpers';

describe('callback crypto helpers', () => {
  test('buildCallbackRequest reproduces the official WeCom vector byte for byte', () => {
    const v = JSON.parse(fixture('qdg-post-xml-text.json')) as Record<string, string>;
    const req = buildCallbackRequest({
      token: v['token'] ?? '',
      encodingAESKey: v['encodingAESKey'] ?? '',
      corpId: v['receiveId'] ?? '',
      callbackUrl: 'http://127.0.0.1:1/wecom/callback',
      plaintext: v['expected_plaintext'] ?? '',
      agentId: '218',
      timestamp: v['timestamp'] ?? '',
      nonce: v['nonce'] ?? '',
      random: Buffer.from(v['decrypted_random_hex'] ?? '', 'hex'),
    });
    expect(req.encrypt).toBe(v['encrypt']);
    expect(req.query.msg_signature).toBe(v['msg_signature']);
    expect(req.body).toBe(v['post_body']);
    expect(req.url).toBe(
      `http://127.0.0.1:1/wecom/callback?msg_signature=${v['msg_signature']}&timestamp=${v['timestamp']}&nonce=${v['nonce']}`,
    );
  });
});

describe('callback delivery', () => {
  test('member text → POST text/xml to the callback URL; decrypts to the XML, signature verifies, MsgId is 19 digits', async () => {
    const receiver = await startReceiver();
    const sb = await startSandbox({ callbackUrl: receiver.url });
    try {
      const api = new Client(sb);
      const r = await api.admin('POST', 'app-messages', { userid: 'zhangmin', content: '候选人陈晨 <已到> & 面试', wait: true });
      expect(r.status).toBe(200);
      const msgId = (r.body['result'] as { msgId: string }).msgId;
      expect(msgId).toMatch(/^[1-9]\d{18}$/);
      expect((r.body['callback'] as { status: string }).status).toBe('delivered');

      expect(receiver.received).toHaveLength(1);
      const got = receiver.received[0];
      if (!got) throw new Error('no request');
      expect(got.contentType).toBe('text/xml');
      expect(got.body).toMatch(
        /^<xml><ToUserName><!\[CDATA\[wwhireledgerdemo01\]\]><\/ToUserName><Encrypt><!\[CDATA\[[A-Za-z0-9+/=]+\]\]><\/Encrypt><AgentID><!\[CDATA\[1000002\]\]><\/AgentID><\/xml>$/,
      );
      const enc = envelopeEncrypt(got.body);
      const timestamp = got.query.get('timestamp') ?? '';
      const nonce = got.query.get('nonce') ?? '';
      expect(got.query.get('msg_signature')).toBe(getSignature(KEYS.token, timestamp, nonce, enc));
      const plain = decrypt(KEYS.encodingAESKey, enc);
      expect(plain.id).toBe(KEYS.corpId);
      expect(plain.message).toBe(
        textMessageXml({
          corpId: KEYS.corpId,
          fromUserId: 'zhangmin',
          createTime: Number(timestamp),
          content: '候选人陈晨 <已到> & 面试',
          msgId,
          agentId: 1000002,
        }),
      );
      expect(plain.message).toContain(`<MsgId>${msgId}</MsgId>`);
      expect(plain.message).toContain('<Content><![CDATA[候选人陈晨 <已到> & 面试]]></Content>');
    } finally {
      await sb.close();
      await receiver.close();
    }
  });

  test('slow receiver: first attempt aborted after callbackTimeoutMs, redelivered with fresh nonce, same plaintext', async () => {
    const receiver = await startReceiver((n) => (n === 1 ? { delayMs: 3000 } : {}));
    const sb = await startSandbox({ callbackUrl: receiver.url, callbackTimeoutMs: 300 });
    try {
      const fired = sb.actions.memberSendsText('liqiang', '同意录用');
      const rec = await fired.delivered;
      expect(rec.status).toBe('delivered');
      expect(rec.attempts.map((a) => [a.attempt, a.status ?? null, a.error ?? null])).toEqual([
        [1, null, 'timeout after 300ms'],
        [2, 200, null],
      ]);
      expect(rec.attempts[0]?.durationMs).toBeGreaterThanOrEqual(290);
      // Aborted, not answered: well before the receiver's 3 s (wide: timers run late on a loaded machine).
      expect(rec.attempts[0]?.durationMs).toBeLessThan(3000);
      expect(receiver.received).toHaveLength(2);
      const [first, second] = receiver.received;
      if (!first || !second) throw new Error('two requests expected');
      expect(second.query.get('nonce')).not.toBe(first.query.get('nonce'));
      expect(envelopeEncrypt(second.body)).not.toBe(envelopeEncrypt(first.body));
      expect(decrypt(KEYS.encodingAESKey, envelopeEncrypt(second.body)).message).toBe(
        decrypt(KEYS.encodingAESKey, envelopeEncrypt(first.body)).message,
      );
      expect(sb.state.stats.callbackAttempts).toBe(2);
    } finally {
      await sb.close();
      await receiver.close();
    }
  });

  test('non-200 answers are retried up to callbackRetries attempts in total, then the record is failed', async () => {
    const receiver = await startReceiver(() => ({ status: 500 }));
    const sb = await startSandbox({ callbackUrl: receiver.url, callbackRetries: 3 });
    try {
      const rec = await sb.deliverCallback('<xml><ToUserName><![CDATA[wwhireledgerdemo01]]></ToUserName></xml>');
      expect(rec.status).toBe('failed');
      expect(rec.attempts.map((a) => a.status)).toEqual([500, 500, 500]);
      expect(receiver.received).toHaveLength(3);
      const list = await new Client(sb).admin('GET', 'callbacks');
      expect(
        (list.body['callbacks'] as { status: string; attempts: unknown[] }[]).map((c) => [c.status, c.attempts.length]),
      ).toEqual([['failed', 3]]);
    } finally {
      await sb.close();
      await receiver.close();
    }
  });

  test('connection refused is retried and recorded; no callback URL → skipped', async () => {
    const receiver = await startReceiver();
    const deadUrl = receiver.url;
    await receiver.close();
    const sb = await startSandbox({ callbackUrl: deadUrl, callbackRetries: 2 });
    try {
      const rec = await sb.actions.memberSendsText('zhangmin', 'hi').delivered;
      expect(rec.status).toBe('failed');
      expect(rec.attempts.map((a) => a.error)).toEqual(['ECONNREFUSED', 'ECONNREFUSED']);
      sb.setCallbackUrl(undefined);
      const skipped = await sb.actions.memberSendsText('zhangmin', 'hi').delivered;
      expect(skipped.status).toBe('skipped');
      expect(skipped.attempts).toEqual([]);
    } finally {
      await sb.close();
    }
  });

  test('kf_msg_or_event carries a Token that kf/sync_msg accepts; change_external_contact creates the contact', async () => {
    const receiver = await startReceiver();
    const sb = await startSandbox({ callbackUrl: receiver.url });
    try {
      const api = new Client(sb);
      const r = await api.admin('POST', 'kf/messages', {
        external_userid: 'wmCandLinXiao0002',
        content: '我想投递后端岗位',
        wait: true,
      });
      expect(r.status).toBe(200);
      const plain = decrypt(KEYS.encodingAESKey, envelopeEncrypt(receiver.received[0]?.body ?? '')).message;
      expect(plain).toContain('<Event><![CDATA[kf_msg_or_event]]></Event>');
      expect(plain).toContain('<OpenKfId><![CDATA[wkHireLedger01]]></OpenKfId>');
      expect(plain).not.toContain('FromUserName');
      const token = /<Token><!\[CDATA\[(ENC[^\]]+)\]\]><\/Token>/.exec(plain)?.[1] ?? '';
      const sync = await api.post('kf/sync_msg', { token, open_kfid: 'wkHireLedger01' });
      expect(sync['errcode']).toBe(0);
      const last = (sync['msg_list'] as Record<string, unknown>[]).at(-1);
      expect(last).toMatchObject({
        origin: 3,
        external_userid: 'wmCandLinXiao0002',
        msgtype: 'text',
        text: { content: '我想投递后端岗位' },
      });
      expect((await api.post('kf/sync_msg', { token: 'ENCforged', open_kfid: 'wkHireLedger01' }))['errcode']).toBe(95007);

      const ev = await api.admin('POST', 'external-contact/events', {
        change_type: 'add_external_contact',
        userid: 'zhangmin',
        external_userid: 'wmCandNew0005',
        name: '何佳',
        state: 'job_qa_2026',
        wait: true,
      });
      expect(ev.status).toBe(200);
      const xml = decrypt(KEYS.encodingAESKey, envelopeEncrypt(receiver.received[1]?.body ?? '')).message;
      expect(xml).toContain('<ChangeType><![CDATA[add_external_contact]]></ChangeType>');
      expect(xml).toContain('<ExternalUserID><![CDATA[wmCandNew0005]]></ExternalUserID>');
      expect(xml).toContain('<State><![CDATA[job_qa_2026]]></State>');
      expect(xml).toMatch(/<WelcomeCode><!\[CDATA\[[\w-]+\]\]><\/WelcomeCode>/);
      const contact = await api.get('externalcontact/get', { external_userid: 'wmCandNew0005' });
      expect(contact['external_contact']).toMatchObject({ name: '何佳' });
      expect((contact['follow_user'] as Record<string, unknown>[])[0]).toMatchObject({
        userid: 'zhangmin',
        state: 'job_qa_2026',
      });

      await api.admin('POST', 'external-contact/events', {
        change_type: 'del_external_contact',
        userid: 'zhangmin',
        external_userid: 'wmCandNew0005',
        wait: true,
      });
      expect((await api.get('externalcontact/get', { external_userid: 'wmCandNew0005' }))['errcode']).toBe(84061);
    } finally {
      await sb.close();
      await receiver.close();
    }
  });
});
