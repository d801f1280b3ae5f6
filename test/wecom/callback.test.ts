import { connect } from 'node:net';
import { envelopeXml } from '../../sandbox/callbacks';
import { approvalChange, contactChange, textMessage } from '../factories/callbacks';
import { signedCallback } from '../factories/signed';
import { startApp, type RunningApp } from '../support/app';
import { OTHER_AES_KEY } from '../support/keys';
import { vector } from '../support/vectors';

const byName = vector;

async function post(app: RunningApp, query: string, body: string, contentType = 'text/xml') {
  const res = await fetch(`${app.url}/wecom/callback?${query}`, {
    method: 'POST',
    body,
    headers: { 'content-type': contentType },
  });
  return { status: res.status, text: await res.text() };
}

async function count(app: RunningApp): Promise<number> {
  const { rows } = await app.db.pool.query<{ n: string }>('SELECT count(*) AS n FROM evidence_records');
  return Number(rows[0]?.n);
}

async function rejections(app: RunningApp, reason: string): Promise<number> {
  const metric = await app.app.metrics.callbackRejections.get();
  return metric.values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

describe('WeCom official samples (timestamp check off, as for replaying published samples)', () => {
  const v = byName('qdg-verify-url');
  let app: RunningApp;
  beforeAll(async () => {
    app = await startApp({
      WECOM_CORP_ID: v.receiveId,
      WECOM_TOKEN: v.token,
      WECOM_ENCODING_AES_KEY: v.encodingAESKey,
      // The samples are messages to agent 218.
      WECOM_AGENT_ID: '218',
      WECOM_CALLBACK_MAX_SKEW_SECONDS: '0',
    });
  });
  afterAll(() => app.stop());

  test('URL verification answers the decrypted echostr as the bare body', async () => {
    const q = `msg_signature=${v.msg_signature}&timestamp=${v.timestamp}&nonce=${v.nonce}&echostr=${v.echostr_urlencoded}`;
    const res = await fetch(`${app.url}/wecom/callback?${q}`);
    expect(res.status).toBe(200);
    const body = Buffer.from(await res.arrayBuffer());
    expect(body.toString('utf8')).toBe('1616140317555161061');
    expect(body[0]).not.toBe(0xef); // no BOM
  });

  test('URL verification with a wrong signature is 403 and answers nothing useful', async () => {
    const q = `msg_signature=${'0'.repeat(40)}&timestamp=${v.timestamp}&nonce=${v.nonce}&echostr=${v.echostr_urlencoded}`;
    const res = await fetch(`${app.url}/wecom/callback?${q}`);
    expect(res.status).toBe(403);
    expect(await res.text()).not.toContain('1616140317555161061');
  });

  test.each(['qdg-post-xml-text', 'qdg-post-json-envelope-cpp'])(
    '%s is accepted and stored with MsgId kept as a string',
    async (name) => {
      const s = byName(name);
      const before = await count(app);
      const contentType = s.post_body?.trimStart().startsWith('{') ? 'application/json' : 'text/xml';
      const res = await post(
        app,
        `msg_signature=${s.msg_signature}&timestamp=${s.timestamp}&nonce=${s.nonce}`,
        s.post_body ?? '',
        contentType,
      );
      expect(res).toEqual({ status: 200, text: '' });
      const { rows } = await app.db.pool.query(
        `SELECT kind, stream, actor, source_ref, occurred_at, payload FROM evidence_records WHERE source_ref = $1`,
        [`${s.receiveId}:msg:4561255354251345929`],
      );
      expect(rows).toHaveLength(1);
      expect(rows[0].kind).toBe('wecom.callback.message.text');
      expect(rows[0].stream).toBe('wecom:member:mycreate');
      expect(rows[0].occurred_at.toISOString()).toBe('2014-09-02T12:10:13.000Z');
      expect(rows[0].payload.plaintext).toBe(s.expected_plaintext);
      expect(rows[0].payload.fields.MsgId).toBe('4561255354251345929');
      // Both samples carry the same message: the second is a redelivery, not a new record.
      expect(await count(app)).toBe(before === 0 ? 1 : before);
    },
  );

  test('the JSON-format sample keeps its 19-digit MsgId exact, so it dedupes with the XML sample of the same message', async () => {
    const s = byName('qdg-post-json-go');
    const res = await post(
      app,
      `msg_signature=${s.msg_signature}&timestamp=${s.timestamp}&nonce=${s.nonce}`,
      s.post_body ?? '',
      'application/json',
    );
    expect(res.status).toBe(200);
    const { rows } = await app.db.pool.query(`SELECT source_ref FROM evidence_records WHERE source_ref LIKE '%:msg:%'`);
    // A rounded id (4561255354251346000) would have made a second record.
    expect(rows).toEqual([{ source_ref: `${s.receiveId}:msg:4561255354251345929` }]);
    const red = await app.db.pool.query(`SELECT deliveries FROM evidence_redeliveries`);
    expect(red.rows).toEqual([{ deliveries: 3 }]);
  });

  test.each(['derived-qdg-sys-approval-change', 'derived-qdg-kf-msg-or-event'])(
    '%s is accepted and routed to its stream',
    async (name) => {
      const s = byName(name);
      const res = await post(
        app,
        `msg_signature=${s.msg_signature}&timestamp=${s.timestamp}&nonce=${s.nonce}`,
        s.post_body ?? '',
      );
      expect(res.status).toBe(200);
      const { rows } = await app.db.pool.query(`SELECT stream FROM evidence_records WHERE payload->>'plaintext' = $1`, [
        s.expected_plaintext,
      ]);
      expect(rows).toHaveLength(1);
      expect(rows[0].stream).toMatch(name.includes('approval') ? /^wecom:approval:\d+$/ : /^wecom:kf:/);
    },
  );
});

describe('POST /wecom/callback with live timestamps', () => {
  let app: RunningApp;
  beforeEach(async () => {
    app = await startApp();
  });
  afterEach(() => app.stop());

  test('a redelivered callback (new timestamp, nonce and ciphertext) is stored once and counted', async () => {
    const plain = textMessage({ msgId: '7000000000000000001', content: '我再考虑一下' });
    for (let i = 0; i < 3; i++) {
      const cb = signedCallback(app.keys, plain);
      expect((await post(app, cb.query, cb.body)).status).toBe(200);
    }
    expect(await count(app)).toBe(1);
    const { rows } = await app.db.pool.query('SELECT deliveries FROM evidence_redeliveries');
    expect(rows).toEqual([{ deliveries: 3 }]);
  });

  test('four concurrent deliveries of one callback: four 200s, one record (F17)', async () => {
    const plain = approvalChange({ spNo: '202611220001', createTime: 1795000000, statuChangeEvent: 2, spStatus: 2 });
    const results = await Promise.all(
      [0, 1, 2, 3].map(() => signedCallback(app.keys, plain)).map((cb) => post(app, cb.query, cb.body)),
    );
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(await count(app)).toBe(1);
  });

  test('two distinct approval events in the same second are both stored', async () => {
    const a = approvalChange({ spNo: '202611220002', createTime: 1795000000, statuChangeEvent: 2, spStatus: 1 });
    const b = approvalChange({ spNo: '202611220003', createTime: 1795000000, statuChangeEvent: 2, spStatus: 1 });
    const c = approvalChange({ spNo: '202611220002', createTime: 1795000000, statuChangeEvent: 2, spStatus: 2 });
    for (const plain of [a, b, c]) {
      const cb = signedCallback(app.keys, plain);
      expect((await post(app, cb.query, cb.body)).status).toBe(200);
    }
    const { rows } = await app.db.pool.query(`SELECT stream, source_ref FROM evidence_records ORDER BY seq`);
    expect(rows.map((r) => r.stream)).toEqual([
      'wecom:approval:202611220002',
      'wecom:approval:202611220003',
      'wecom:approval:202611220002',
    ]);
  });

  test('two contact events of the same second for different candidates are both stored', async () => {
    const contact = (ext: string) =>
      contactChange({ changeType: 'add_external_contact', userId: 'zhangmin', externalUserId: ext, createTime: 1795000000 });
    for (const ext of ['wmCandA', 'wmCandB']) {
      const cb = signedCallback(app.keys, contact(ext));
      expect((await post(app, cb.query, cb.body)).status).toBe(200);
    }
    // Each candidate in a stream of their own, named by the contact's opaque id (DECISIONS 4).
    const { rows } = await app.db.pool.query(
      `SELECT r.stream, c.external_userid FROM evidence_records r JOIN wecom_external_contacts c ON r.stream = 'wecom:contact:' || c.id ORDER BY r.seq`,
    );
    expect(rows.map((r) => r.external_userid)).toEqual(['wmCandA', 'wmCandB']);
  });

  test('an event type nothing handles yet is kept as unknown', async () => {
    // By hand: an event WeCom has no such type for, so the sandbox has no builder for it.
    const plain =
      `<xml><ToUserName><![CDATA[${app.keys.corpId}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>1795000001</CreateTime>` +
      `<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[brand_new_event]]></Event><Foo>bar</Foo></xml>`;
    const cb = signedCallback(app.keys, plain);
    expect((await post(app, cb.query, cb.body)).status).toBe(200);
    const { rows } = await app.db.pool.query(`SELECT kind, payload FROM evidence_records`);
    expect(rows[0].kind).toBe('wecom.callback.unknown');
    expect(rows[0].payload.type).toBe('event.brand_new_event');
    expect(rows[0].payload.fields.Foo).toBe('bar');
  });

  test('stored raw material lets a third party re-verify the signature and decrypt (B13 text kept exactly)', async () => {
    const content = '薪资能否再谈 🙂 𠀀 a]]>b' + '长'.repeat(1000);
    // The builder splits the "]]>" across two CDATA sections, as WeCom must.
    const plain = textMessage({ msgId: '7000000000000000002', content });
    expect(plain).toContain('a]]]]><![CDATA[>b');
    const cb = signedCallback(app.keys, plain);
    expect((await post(app, cb.query, cb.body)).status).toBe(200);
    const { rows } = await app.db.pool.query(`SELECT raw, payload FROM evidence_records`);
    expect(rows[0].raw.query).toBe(cb.query);
    expect(rows[0].raw.body).toBe(cb.body);
    expect(rows[0].payload.plaintext).toBe(plain);
    expect(rows[0].payload.fields.Content).toBe(content);
  });

  // Hostile and malformed bodies are written by hand on purpose: no builder makes them. `ENC` is
  // replaced by a real ciphertext when the test signs the body.
  const hostile: [string, string][] = [
    [
      'billion laughs',
      '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><xml><Encrypt>ENC</Encrypt><AgentID>&lol2;</AgentID></xml>',
    ],
    [
      'external entity',
      '<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><Encrypt>ENC</Encrypt><AgentID>&xxe;</AgentID></xml>',
    ],
    ['parameter entity', '<!DOCTYPE foo [<!ENTITY % p SYSTEM "http://169.254.169.254/">%p;]><xml><Encrypt>ENC</Encrypt></xml>'],
    ['lower-case doctype', '<!doctype xml><xml><Encrypt>ENC</Encrypt></xml>'],
    ['processing instruction', '<?xml-stylesheet href="http://evil/"?><xml><Encrypt>ENC</Encrypt></xml>'],
  ];
  // The signature is checked before the envelope is parsed (issue 8): an unsigned hostile body is
  // refused as bad_signature after one linear scan, never parsed. Until 2026-11 these were refused
  // as xml_forbidden_construct, after the markup scan the parse starts with.
  test.each(hostile)(
    'unsigned hostile XML (%s) is refused with 403 bad_signature, never parsed, nothing stored',
    async (_n, body) => {
      const res = await post(app, 'msg_signature=a&timestamp=' + Math.floor(Date.now() / 1000) + '&nonce=1', body);
      expect(res.status).toBe(403);
      expect(JSON.parse(res.text).error).toBe('bad_signature');
      expect(await rejections(app, 'bad_signature')).toBe(1);
      expect(await count(app)).toBe(0);
    },
  );
  test.each(hostile)(
    'hostile XML (%s) around a correctly signed ciphertext is refused with 400 xml_forbidden_construct, nothing stored',
    async (_n, body) => {
      const cb = signedCallback(app.keys, textMessage({ msgId: '7000000000000000021' }));
      const res = await post(app, cb.query, body.replace('ENC', cb.encrypt));
      expect(res.status).toBe(400);
      expect(JSON.parse(res.text).error).toBe('xml_forbidden_construct');
      expect(await rejections(app, 'xml_forbidden_construct')).toBe(1);
      expect(await count(app)).toBe(0);
    },
  );

  test('each bad input gets its own 4xx and reason, and writes nothing', async () => {
    const good = signedCallback(app.keys, textMessage({ msgId: '7000000000000000003' }));
    const ts = Math.floor(Date.now() / 1000);
    const sigOf = (q: string) => new URLSearchParams(q).get('msg_signature') ?? '';
    // The malformed bodies below are written by hand on purpose: no builder makes them.
    const cases: [string, Promise<{ status: number; text: string }>, number, string][] = [
      [
        'wrong signature',
        post(app, good.query.replace(/msg_signature=[0-9a-f]{5}/, 'msg_signature=00000'), good.body),
        403,
        'bad_signature',
      ],
      [
        'signature with the right prefix',
        post(app, good.query.replace(sigOf(good.query), sigOf(good.query).slice(0, 39) + 'x'), good.body),
        403,
        'bad_signature',
      ],
      ['missing nonce', post(app, good.query.replace(/&nonce=[^&]+/, ''), good.body), 400, 'missing_param'],
      ['duplicated msg_signature', post(app, `${good.query}&msg_signature=abc`, good.body), 400, 'duplicate_param'],
      [
        'stale timestamp',
        (() => {
          const s = signedCallback(app.keys, textMessage({ msgId: '7000000000000000004' }), { timestamp: ts - 301 });
          return post(app, s.query, s.body);
        })(),
        403,
        'stale_timestamp',
      ],
      [
        'future timestamp',
        (() => {
          const s = signedCallback(app.keys, textMessage({ msgId: '7000000000000000005' }), { timestamp: ts + 400 });
          return post(app, s.query, s.body);
        })(),
        403,
        'stale_timestamp',
      ],
      ['non-numeric timestamp', post(app, good.query.replace(/timestamp=\d+/, 'timestamp=abc'), good.body), 400, 'bad_timestamp'],
      [
        'wrong corp',
        (() => {
          const s = signedCallback(app.keys, textMessage({ msgId: '7000000000000000006' }), { receiveId: 'wwSomeoneElse' });
          return post(app, s.query, s.body);
        })(),
        403,
        'receiveid_mismatch',
      ],
      ['oversized body', post(app, good.query, `<xml><Encrypt>${'A'.repeat(70_000)}</Encrypt></xml>`), 413, 'body_too_large'],
      [
        'JSON content type of another kind',
        post(app, good.query, good.body, 'application/x-www-form-urlencoded'),
        415,
        'unsupported_media_type',
      ],
      // The signature is checked before the envelope is parsed (issue 8): a body whose ciphertext
      // is not the signed one is bad_signature whatever its shape; signed, each keeps its own reason.
      ['malformed XML, unsigned', post(app, good.query, '<xml><Encrypt>abc</xml>'), 403, 'bad_signature'],
      ['malformed XML', post(app, good.query, `<xml><Encrypt>${good.encrypt}</xml>`), 400, 'xml_malformed'],
      [
        'duplicate <Encrypt>',
        post(app, good.query, good.body.replace('</xml>', '<Encrypt><![CDATA[x]]></Encrypt></xml>')),
        400,
        'xml_duplicate_element',
      ],
      [
        '__proto__ element, unsigned',
        post(app, good.query, '<xml><__proto__><a>1</a></__proto__><Encrypt>x</Encrypt></xml>'),
        403,
        'bad_signature',
      ],
      [
        '__proto__ element',
        post(app, good.query, `<xml><__proto__><a>1</a></__proto__><Encrypt>${good.encrypt}</Encrypt></xml>`),
        400,
        'xml_forbidden_construct',
      ],
      [
        'too deep',
        post(app, good.query, `<xml><Encrypt>${good.encrypt}</Encrypt>${'<a>'.repeat(100)}${'</a>'.repeat(100)}</xml>`),
        400,
        'xml_too_deep',
      ],
      ['root not <xml>', post(app, good.query, `<root><Encrypt>${good.encrypt}</Encrypt></root>`), 400, 'xml_unexpected_root'],
      // Nothing that could carry the signed ciphertext: refused as unsigned (bad_envelope until 2026-11).
      ['no <Encrypt>', post(app, good.query, '<xml><ToUserName>x</ToUserName></xml>'), 403, 'bad_signature'],
      ['empty body', post(app, good.query, ''), 400, 'bad_envelope'],
      // Bytes that are not UTF-8 are no reason in themselves (a signed body may carry them, and is
      // stored); these are not an envelope, and carry no signed ciphertext (xml_malformed until 2026-11).
      ['body not UTF-8', post(app, good.query, Buffer.from([0x3c, 0x78, 0xff, 0xfe]) as unknown as string), 403, 'bad_signature'],
    ];
    for (const [name, pending, status, reason] of cases) {
      const res = await pending;
      expect({ name, status: res.status, reason: JSON.parse(res.text).error }).toEqual({ name, status, reason });
    }
    expect(await count(app)).toBe(0);
    expect(await rejections(app, 'bad_signature')).toBe(6);
    expect(await rejections(app, 'stale_timestamp')).toBe(2);
    // And the server still serves: the good callback goes through.
    expect((await post(app, good.query, good.body)).status).toBe(200);
    expect(await count(app)).toBe(1);
  });

  test('a callback without a Content-Type header is read as XML; one with charset=utf-8 too', async () => {
    const a = signedCallback(app.keys, textMessage({ msgId: '7000000000000000011' }));
    const res = await fetch(`${app.url}/wecom/callback?${a.query}`, { method: 'POST', body: Buffer.from(a.body) });
    expect(res.status).toBe(200);
    const b = signedCallback(app.keys, textMessage({ msgId: '7000000000000000012' }));
    expect((await post(app, b.query, b.body, 'text/xml; charset=utf-8')).status).toBe(200);
    expect(await count(app)).toBe(2);
  });

  test.each(['multipart/form-data; boundary=x', 'application/octet-stream', 'text/xmlx'])(
    'Content-Type %s is refused with 415 before parsing',
    async (type) => {
      const cb = signedCallback(app.keys, textMessage({ msgId: '7000000000000000013' }));
      const res = await post(app, cb.query, cb.body, type);
      expect(res.status).toBe(415);
      expect(JSON.parse(res.text).error).toBe('unsupported_media_type');
      expect(await count(app)).toBe(0);
    },
  );

  test('undecryptable payloads (bad base64, wrong length, wrong key) are one uniform 400', async () => {
    const ts = String(Math.floor(Date.now() / 1000));
    const { signatureOf } = await import('../../src/wecom/crypto');
    const other = signedCallback({ ...app.keys, encodingAESKey: OTHER_AES_KEY }, textMessage({ msgId: '1' }));
    for (const enc of ['!!notbase64!!', Buffer.alloc(40).toString('base64'), other.encrypt]) {
      const sig = signatureOf(app.keys.token, ts, 'n1', enc);
      const res = await post(app, `msg_signature=${sig}&timestamp=${ts}&nonce=n1`, envelopeXml(app.keys.corpId, enc, '1000002'));
      expect(res.status).toBe(400);
      expect(JSON.parse(res.text).error).toBe('decrypt_failed');
    }
    expect(await count(app)).toBe(0);
  });

  test('a storage failure answers 503 so WeCom retries, and nothing half-written remains', async () => {
    await app.db.pool.query(`ALTER TABLE evidence_heads RENAME TO evidence_heads_gone`);
    try {
      const cb = signedCallback(app.keys, textMessage({ msgId: '7000000000000000009' }));
      const res = await post(app, cb.query, cb.body);
      expect(res.status).toBe(503);
    } finally {
      await app.db.pool.query(`ALTER TABLE evidence_heads_gone RENAME TO evidence_heads`);
    }
    expect(await count(app)).toBe(0);
    const { rows } = await app.db.pool.query('SELECT last_seq FROM evidence_counter');
    expect(rows[0].last_seq).toBe('0');
  });
});

describe('HTTP-level hostile input', () => {
  let app: RunningApp;
  beforeAll(async () => {
    app = await startApp({ WECOM_ENCODING_AES_KEY_PREVIOUS: OTHER_AES_KEY });
  });
  afterAll(() => app.stop());

  function rawRequest(text: string): Promise<string> {
    const { port } = new URL(app.url);
    return new Promise((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () => socket.end(text));
      let out = '';
      socket.on('data', (d) => (out += d.toString()));
      socket.on('close', () => resolve(out));
      socket.on('error', reject);
    });
  }

  test('Content-Length together with Transfer-Encoding (request smuggling) is refused by the HTTP parser (B14)', async () => {
    const body = '<xml/>';
    const res = await rawRequest(
      `POST /wecom/callback?msg_signature=a&timestamp=1&nonce=1 HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n` +
        `Content-Length: ${body.length}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    );
    expect(res).toMatch(/^HTTP\/1\.1 400/);
  });

  test('CR/LF injected into a header value is refused (B14)', async () => {
    const res = await rawRequest(`GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n`);
    expect(res).toMatch(/^HTTP\/1\.1 400/);
  });

  test('a callback encrypted with the previous EncodingAESKey is accepted during rotation (B12)', async () => {
    const cb = signedCallback({ ...app.keys, encodingAESKey: OTHER_AES_KEY }, textMessage({ msgId: '7300000000000000001' }));
    expect((await post(app, cb.query, cb.body)).status).toBe(200);
    expect(await count(app)).toBe(1);
  });
});
