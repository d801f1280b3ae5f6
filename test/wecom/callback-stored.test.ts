import { createHash } from 'node:crypto';
import Fastify from 'fastify';
import { EvidenceInputError, type EvidenceEntry } from '../../src/evidence';
import { createMetrics } from '../../src/observability/metrics';
import { callbackRoutes } from '../../src/wecom/callback-route';
import { decryptMessage, aesKeyOf, verifySignature } from '../../src/wecom/crypto';
import { parseWecomXml } from '../../src/wecom/xml';
import { envelopeXml } from '../../sandbox/callbacks';
import { approvalEvent, contactChange, textMessage } from '../factories/callbacks';
import { signedBytes, signedCallback } from '../factories/signed';
import { startApp, type RunningApp } from '../support/app';
import { TEST_KEYS } from '../support/keys';

/**
 * Issue 6, findings 1 and 3 to 5, at the HTTP boundary: what is verified is stored (raw exactly
 * as received, plaintext kept, fields left out or partial with the reason), what is not is
 * refused with a fixed message, distinct events are never merged, redeliveries never stored twice.
 */

interface Row {
  seq: string;
  kind: string;
  stream: string;
  source_ref: string;
  occurred_at: Date;
  payload: Record<string, unknown>;
  raw: Record<string, string>;
}

async function post(app: RunningApp, query: string, body: string | Buffer, contentType = 'text/xml') {
  const res = await fetch(`${app.url}/wecom/callback?${query}`, {
    method: 'POST',
    body,
    headers: { 'content-type': contentType },
  });
  return { status: res.status, text: await res.text() };
}

async function send(app: RunningApp, plaintext: string): Promise<number> {
  const cb = signedCallback(app.keys, plaintext);
  return (await post(app, cb.query, cb.body)).status;
}

async function rows(app: RunningApp): Promise<Row[]> {
  const { rows: r } = await app.db.pool.query<Row>(
    'SELECT seq, kind, stream, source_ref, occurred_at, payload, raw FROM evidence_records ORDER BY seq',
  );
  return r;
}

async function deliveries(app: RunningApp): Promise<Record<string, number>> {
  const { rows: r } = await app.db.pool.query<{ source_ref: string; deliveries: number }>(
    'SELECT source_ref, deliveries FROM evidence_redeliveries',
  );
  return Object.fromEntries(r.map((x) => [x.source_ref, x.deliveries]));
}

async function counter(app: RunningApp, name: 'callbackVariants' | 'callbacksAccepted', labels: Record<string, string>) {
  const metric = await app.app.metrics[name].get();
  return metric.values
    .filter((v) => Object.entries(labels).every(([k, val]) => (v.labels as Record<string, unknown>)[k] === val))
    .reduce((n, v) => n + v.value, 0);
}

/** What an outside verifier does with a stored record: re-verify the signature over raw, decrypt, compare. */
function reverify(app: RunningApp, row: Row): Buffer {
  const body =
    row.raw['body'] !== undefined ? Buffer.from(row.raw['body'], 'utf8') : Buffer.from(row.raw['body_base64'] ?? '', 'base64');
  const encrypt = /<Encrypt><!\[CDATA\[([A-Za-z0-9+/=]+)\]\]><\/Encrypt>/.exec(body.toString('latin1'))?.[1] ?? '';
  const q = new URLSearchParams(row.raw['query']);
  expect(
    verifySignature(app.keys.token, q.get('timestamp') ?? '', q.get('nonce') ?? '', encrypt, q.get('msg_signature') ?? ''),
  ).toBe(true);
  const message = decryptMessage([aesKeyOf(app.keys.encodingAESKey)], encrypt, app.keys.corpId).message;
  const stored =
    typeof row.payload['plaintext'] === 'string'
      ? Buffer.from(row.payload['plaintext'], 'utf8')
      : Buffer.from(String(row.payload['plaintext_base64']), 'base64');
  expect(stored.equals(message)).toBe(true);
  return body;
}

const T = Math.floor(Date.now() / 1000) - 30;

describe('distinct events are never merged; redeliveries never stored twice (finding 1)', () => {
  let app: RunningApp;
  beforeEach(async () => {
    app = await startApp();
  });
  afterEach(() => app.stop());

  test('two approvers acting in the same second: two records; each replayed: still two, counted', async () => {
    const base = { spNo: '202611260101', createTime: T, statuChangeEvent: 2, spStatus: 1 };
    const first = approvalEvent({
      ...base,
      nodes: [
        [
          { userid: 'liqiang', spTime: T },
          { userid: 'wangfang', spTime: 0 },
        ],
        [{ userid: 'chenjing', spTime: 0 }],
      ],
    });
    const second = approvalEvent({
      ...base,
      nodes: [
        [
          { userid: 'liqiang', spTime: T },
          { userid: 'wangfang', spTime: T },
        ],
        [{ userid: 'chenjing', spTime: 0 }],
      ],
    });
    for (const plain of [first, second, first, second]) expect(await send(app, plain)).toBe(200);
    const stored = await rows(app);
    expect(stored.map((r) => r.source_ref.split(':').slice(-2).join(':'))).toEqual(['n0:liqiang', 'n0:wangfang']);
    expect(Object.values(await deliveries(app))).toEqual([2, 2]);
  });

  test('two comments in the same second: two records', async () => {
    const base = {
      spNo: '202611260102',
      createTime: T,
      statuChangeEvent: 10,
      spStatus: 1,
      nodes: [[{ userid: 'liqiang', spTime: 0 }]],
    };
    const c1 = { userid: 'liqiang', time: T, id: '6750538708562308220' };
    const c2 = { userid: 'wangfang', time: T, id: '6750538708562308221' };
    expect(await send(app, approvalEvent({ ...base, comments: [c1] }))).toBe(200);
    expect(await send(app, approvalEvent({ ...base, comments: [c1, c2] }))).toBe(200);
    expect((await rows(app)).map((r) => r.source_ref.split(':').at(-1))).toEqual(['6750538708562308220', '6750538708562308221']);
  });

  test('two contact events of the same second sharing the key but not the fields: the second is a linked variant, counted', async () => {
    const base = {
      changeType: 'add_external_contact' as const,
      userId: 'zhangmin',
      externalUserId: 'wmCandVariant',
      createTime: T,
    };
    expect(await send(app, contactChange({ ...base, state: 'job-fe', welcomeCode: 'W1' }))).toBe(200);
    expect(await send(app, contactChange({ ...base, state: 'job-be', welcomeCode: 'W2' }))).toBe(200);
    // And each of them again: redeliveries, under their own keys.
    expect(await send(app, contactChange({ ...base, state: 'job-be', welcomeCode: 'W2' }))).toBe(200);
    expect(await send(app, contactChange({ ...base, state: 'job-fe', welcomeCode: 'W1' }))).toBe(200);
    const stored = await rows(app);
    expect(stored).toHaveLength(2);
    // The contact by its opaque id, never its external_userid (DECISIONS 4).
    const { rows: ids } = await app.db.pool.query<{ id: string }>(
      "SELECT id FROM wecom_external_contacts WHERE external_userid = 'wmCandVariant'",
    );
    const key = `${app.keys.corpId}:contact-v2:add_external_contact:zhangmin:${ids[0]?.id}:${T}`;
    expect(stored[0]?.source_ref).toBe(key);
    expect(stored[1]?.source_ref).toMatch(new RegExp(`^${key}#[0-9a-f]{16}$`));
    expect(stored[1]?.payload['variant_of']).toEqual(expect.objectContaining({ seq: 1, source_ref: key }));
    expect(await counter(app, 'callbackVariants', { type: 'event.change_external_contact' })).toBe(1);
    expect(Object.values(await deliveries(app)).sort()).toEqual([2, 2]);
  });

  test('two identical contact edits in the same second cannot be told from a redelivery: one record, counted', async () => {
    // edit_external_contact carries no field beyond ChangeType, UserID, ExternalUserID and
    // CreateTime (doc 92130): two such edits are byte for byte the same message.
    const edit = contactChange({
      changeType: 'edit_external_contact',
      userId: 'zhangmin',
      externalUserId: 'wmCandEdit',
      createTime: T,
    });
    for (let i = 0; i < 2; i++) expect(await send(app, edit)).toBe(200);
    expect(await rows(app)).toHaveLength(1);
    expect(Object.values(await deliveries(app))).toEqual([2]);
  });

  test('the same delivery replayed byte for byte is one record', async () => {
    const cb = signedCallback(app.keys, textMessage({ msgId: '7200000000000000001' }));
    for (let i = 0; i < 3; i++) expect((await post(app, cb.query, cb.body)).status).toBe(200);
    expect(await rows(app)).toHaveLength(1);
    expect(Object.values(await deliveries(app))).toEqual([3]);
  });

  test('two signed messages whose parse would have been the same are two records: fields that lose something never decide', async () => {
    // One MsgId (the key), content differing only by what a lossy parse dropped: the trimmed
    // whitespace, an attribute. By hand for the attribute: WeCom writes none.
    const plain = textMessage({ msgId: '7200000000000000002', content: '我接受' });
    const spaced = textMessage({ msgId: '7200000000000000002', content: '我接受 ' });
    const attributed = plain.replace('<Content>', '<Content lang="x">');
    for (const p of [plain, spaced, attributed, spaced, attributed]) expect(await send(app, p)).toBe(200);
    const stored = await rows(app);
    expect(stored.map((r) => r.payload['plaintext'])).toEqual([plain, spaced, attributed]);
    expect(stored[2]?.payload['fields_error']).toBe('XML: fields leave out attributes (<Content>)');
    expect(await counter(app, 'callbackVariants', { type: 'message.text' })).toBe(2);
    // The spaced one and the attributed one were each delivered twice: redeliveries of their own.
    expect(Object.values(await deliveries(app)).sort()).toEqual([2, 2]);
  });

  test('a record stored under the old key format still matches its redelivery; a distinct event with that old key is stored', async () => {
    const base = { spNo: '202611260103', createTime: T, statuChangeEvent: 2, spStatus: 1 };
    const first = approvalEvent({
      ...base,
      nodes: [
        [
          { userid: 'liqiang', spTime: T },
          { userid: 'wangfang', spTime: 0 },
        ],
        [{ userid: 'chenjing', spTime: 0 }],
      ],
    });
    const second = approvalEvent({
      ...base,
      nodes: [
        [
          { userid: 'liqiang', spTime: T },
          { userid: 'wangfang', spTime: T },
        ],
        [{ userid: 'chenjing', spTime: 0 }],
      ],
    });
    // As the callback route wrote it before the key named the approver.
    const oldKey = `${app.keys.corpId}:approval:202611260103:2:1:${T}`;
    await app.app.ledger.append({
      stream: 'wecom:approval:202611260103',
      kind: 'wecom.callback.event.sys_approval_change',
      occurredAt: new Date(T * 1000),
      actor: 'sys',
      source: 'wecom.callback',
      sourceRef: oldKey,
      payload: {
        type: 'event.sys_approval_change',
        format: 'xml',
        plaintext: first,
        fields: JSON.parse(JSON.stringify(parseWecomXml(first).root)),
      },
      raw: null,
    });
    expect(await send(app, first)).toBe(200);
    expect(await rows(app)).toHaveLength(1);
    expect(await deliveries(app)).toEqual({ [oldKey]: 2 });
    expect(await send(app, second)).toBe(200);
    const stored = await rows(app);
    expect(stored.map((r) => r.source_ref)).toEqual([oldKey, `${oldKey}:n0:wangfang`]);
  });
});

describe('every verified callback is stored; nothing internal reaches a response (finding 3, DECISIONS 1)', () => {
  let app: RunningApp;
  beforeEach(async () => {
    app = await startApp();
  });
  afterEach(() => app.stop());

  // JSON-format messages and the broken plaintexts below by hand: the sandbox writes XML WeCom would send.
  const json = (content: string, createTime: number | string = T) =>
    `{"ToUserName":"${TEST_KEYS.corpId}","FromUserName":"zhangmin","CreateTime":${createTime},"MsgType":"text",` +
    `"Content":"${content}","MsgId":7300000000000000001,"AgentID":1000002}`;

  test.each([
    ['\\u0000 in a string', json('a\\u0000b'), /left out 1 value.*\$\.Content/],
    ['a lone surrogate', json('a\\ud800b'), /left out 1 value.*\$\.Content/],
    [
      '10,000 levels of nesting',
      `{"MsgType":"event","Deep":${'['.repeat(10_000)}${']'.repeat(10_000)}}`,
      /^JSON: nesting deeper than 64$/,
    ],
    [
      // 10,000 would not fit the body limit once encrypted; callback-event.test.ts has 10,000.
      '5,000 levels of XML nesting',
      `<xml>${'<a>'.repeat(5_000)}${'</a>'.repeat(5_000)}</xml>`,
      /^XML: elements nested deeper than 64$/,
    ],
    ['a DOCTYPE inside the envelope', '<!DOCTYPE x [<!ENTITY a "b">]><xml><MsgType>text</MsgType></xml>', /^XML: DOCTYPE/],
  ])('a JSON or XML plaintext with %s: 200, stored with its plaintext and the reason', async (_n, plain, reason) => {
    const cb = signedCallback(app.keys, plain);
    const res = await post(app, cb.query, cb.body);
    expect(res).toEqual({ status: 200, text: '' });
    const [row] = await rows(app);
    expect(row?.payload['plaintext']).toBe(plain);
    expect(row?.payload['fields_error']).toMatch(reason);
    expect(row?.raw['body']).toBe(cb.body);
    // WeCom retries a delivery we answered slowly: the retry is the same record.
    expect(await send(app, plain)).toBe(200);
    expect(await rows(app)).toHaveLength(1);
  });

  test('CreateTime 253402300800 (past year 9999): 200, occurred_at is the receive time, the anomaly noted', async () => {
    const before = Date.now();
    expect(await send(app, json('hi', 253402300800))).toBe(200);
    const [row] = await rows(app);
    expect(row?.occurred_at.getTime()).toBeGreaterThanOrEqual(before - 1);
    expect(row?.occurred_at.getTime()).toBeLessThanOrEqual(Date.now() + 1);
    expect(row?.payload['anomalies']).toEqual([
      { field: 'CreateTime', value: '253402300800', reason: 'after the year 9999; occurred_at is the receive time' },
    ]);
  });

  test('a refusal answers a fixed sentence for its reason, never what the request or an error carried', async () => {
    const cb = signedCallback(app.keys, textMessage({ msgId: '7300000000000000002' }));
    const res = await post(app, cb.query, cb.body, 'text/evil-<script>alert(1)</script>');
    expect(res.status).toBe(415);
    expect(JSON.parse(res.text)).toEqual({
      error: 'unsupported_media_type',
      message: '不支持的 Content-Type / this Content-Type is not accepted',
    });
    // Signed (the ciphertext is cb's), so the parse after the signature check sees the nesting.
    const xml = await post(app, cb.query, `<xml><Encrypt>${cb.encrypt}${'<a>'.repeat(10_000)}</Encrypt></xml>`);
    expect(xml.status).toBe(400);
    expect(xml.text).not.toMatch(/stack|Maximum|Error/);
  });

  test('a storage failure answers 503 with a fixed message, not the database error', async () => {
    await app.db.admin('ALTER TABLE evidence_heads RENAME TO evidence_heads_gone');
    try {
      const cb = signedCallback(app.keys, textMessage({ msgId: '7300000000000000003' }));
      const res = await post(app, cb.query, cb.body);
      expect(res.status).toBe(503);
      expect(res.text).not.toMatch(/evidence_heads|relation|does not exist/);
    } finally {
      await app.db.admin('ALTER TABLE evidence_heads_gone RENAME TO evidence_heads');
    }
  });
});

describe('"as received" byte for byte (finding 4)', () => {
  let app: RunningApp;
  beforeEach(async () => {
    app = await startApp();
  });
  afterEach(() => app.stop());

  test('a BOM-prefixed body is stored with the BOM, and the stored raw re-verifies the signature', async () => {
    const cb = signedCallback(app.keys, textMessage({ msgId: '7400000000000000001' }));
    const body = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(cb.body)]);
    expect((await post(app, cb.query, body)).status).toBe(200);
    const [row] = await rows(app);
    expect(row?.raw['body']).toBe(`\uFEFF${cb.body}`);
    expect(reverify(app, row as Row).equals(body)).toBe(true);
  });

  test('a BOM at the start of the decrypted message is kept in payload.plaintext', async () => {
    const plain = `\uFEFF${textMessage({ msgId: '7400000000000000002' })}`;
    expect(await send(app, plain)).toBe(200);
    const [row] = await rows(app);
    expect(row?.payload['plaintext']).toBe(plain);
    expect(row?.source_ref).toBe(`${app.keys.corpId}:msg:7400000000000000002`);
    reverify(app, row as Row);
  });

  test('a signed body with invalid UTF-8 outside <Encrypt> is stored (not refused) and round-trips exactly from base64', async () => {
    const cb = signedBytes(app.keys, Buffer.from(textMessage({ msgId: '7400000000000000003' })), {
      envelope: (enc) =>
        Buffer.concat([
          Buffer.from('<xml><ToUserName><![CDATA['),
          Buffer.from([0xff, 0xfe, 0xc3]),
          Buffer.from(`]]></ToUserName><Encrypt><![CDATA[${enc}]]></Encrypt></xml>`),
        ]),
    });
    expect((await post(app, cb.query, cb.body)).status).toBe(200);
    const [row] = await rows(app);
    expect(row?.raw['body']).toBeUndefined();
    expect(Buffer.from(row?.raw['body_base64'] ?? '', 'base64').equals(cb.body)).toBe(true);
    expect(reverify(app, row as Row).equals(cb.body)).toBe(true);
  });

  test('a decrypted message that is not UTF-8 is stored as plaintext_base64, exactly', async () => {
    const message = Buffer.concat([
      Buffer.from('<xml><Content>'),
      Buffer.from([0xff, 0x00, 0xfe]),
      Buffer.from('</Content></xml>'),
    ]);
    const cb = signedBytes(app.keys, message);
    expect((await post(app, cb.query, cb.body)).status).toBe(200);
    const [row] = await rows(app);
    expect(Buffer.from(String(row?.payload['plaintext_base64']), 'base64').equals(message)).toBe(true);
    expect(row?.payload['fields_error']).toBe('the plaintext is not UTF-8 text without U+0000');
    expect(row?.kind).toBe('wecom.callback.unparsed');
    expect(row?.source_ref).toBe(`${app.keys.corpId}:sha256:${createHash('sha256').update(message).digest('hex')}`);
    reverify(app, row as Row);
  });
});

describe('unsigned content beside signed content (finding 5, DECISIONS 3)', () => {
  let app: RunningApp;
  beforeEach(async () => {
    app = await startApp();
  });
  afterEach(() => app.stop());

  test.each([
    ['Encrypt and encrypt', (enc: string) => `{"Encrypt":"${enc}","encrypt":"${Buffer.alloc(64).toString('base64')}"}`],
    ['encrypt twice', (enc: string) => `{"encrypt":"${enc}","encrypt":"${Buffer.alloc(64).toString('base64')}"}`],
    ['another key twice', (enc: string) => `{"encrypt":"${enc}","agentid":"1","agentid":"2"}`],
    ['encrypt and ENCRYPT', (enc: string) => `{"encrypt":"${enc}","ENCRYPT":"x"}`],
    ['a nested encrypt', (enc: string) => `{"encrypt":"${enc}","agent":{"Encrypt":"x"}}`],
  ])('a JSON envelope with %s is refused with 400 bad_envelope, nothing stored', async (_n, envelope) => {
    const cb = signedCallback(app.keys, textMessage({ msgId: '7500000000000000001' }));
    const res = await post(app, cb.query, envelope(cb.encrypt), 'application/json');
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text).error).toBe('bad_envelope');
    expect(await rows(app)).toHaveLength(0);
  });

  test.each([
    ['<Encrypt> and <encrypt>', '<encrypt><![CDATA[AAAA]]></encrypt></xml>'],
    ['a nested <Encrypt>', '<Extra><Encrypt><![CDATA[AAAA]]></Encrypt></Extra></xml>'],
  ])('an XML envelope with %s is refused too', async (_n, tail) => {
    const cb = signedCallback(app.keys, textMessage({ msgId: '7500000000000000002' }));
    const res = await post(app, cb.query, cb.body.replace('</xml>', tail));
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text).error).toBe('bad_envelope');
  });

  test('the one-ciphertext JSON envelope is still accepted', async () => {
    const cb = signedCallback(app.keys, textMessage({ msgId: '7500000000000000003' }));
    const res = await post(
      app,
      cb.query,
      `{"tousername":"${app.keys.corpId}","encrypt":"${cb.encrypt}","agentid":"1000002"}`,
      'application/json',
    );
    expect(res.status).toBe(200);
  });

  // The signed plaintext says 我拒绝这个offer; the unsigned envelope must not say anything else.
  const REFUSAL = '我拒绝这个offer';
  test.each([
    ['an element besides the three', (body: string) => body.replace('</xml>', '<Content>我接受这个offer</Content></xml>')],
    ['an attribute', (body: string) => body.replace('<Encrypt>', '<Encrypt note="我接受这个offer">')],
    ['an attribute on <xml>', (body: string) => body.replace('<xml>', '<xml note="我接受这个offer">')],
    ['a comment', (body: string) => body.replace('</xml>', '<!-- 我接受这个offer --></xml>')],
    ['a comment after the document', (body: string) => `${body}<!-- 我接受这个offer -->`],
    ['text beside the elements', (body: string) => body.replace('</xml>', '我接受这个offer</xml>')],
    [
      'an element inside AgentID',
      (body: string) => body.replace(/<AgentID>.*<\/AgentID>/, '<AgentID><Note>我接受这个offer</Note></AgentID>'),
    ],
    [
      'a declaration saying more than XML 1.0 in UTF-8',
      (body: string) => `<?xml version="1.0" encoding="我接受这个offer"?>${body}`,
    ],
  ])('an XML envelope with %s is refused: 400 bad_envelope, a fixed message, nothing stored', async (_n, change) => {
    const cb = signedCallback(app.keys, textMessage({ msgId: '7500000000000000010', content: REFUSAL }));
    const res = await post(app, cb.query, change(cb.body));
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text)).toEqual({
      error: 'bad_envelope',
      message: '回调信封格式无效 / the callback envelope is not valid',
    });
    expect(await rows(app)).toHaveLength(0);
    expect(await counter(app, 'callbacksAccepted', {})).toBe(0);
  });

  test.each([
    [
      'a key besides the three',
      (enc: string) => `{"tousername":"x","encrypt":"${enc}","agentid":"1","content":"我接受这个offer"}`,
    ],
    ['a nested value', (enc: string) => `{"tousername":"x","encrypt":"${enc}","agentid":{"note":"我接受这个offer"}}`],
    ['a list', (enc: string) => `{"tousername":["x","我接受这个offer"],"encrypt":"${enc}"}`],
    ['one name in two letter cases', (enc: string) => `{"ToUserName":"x","tousername":"我接受这个offer","encrypt":"${enc}"}`],
  ])('a JSON envelope with %s is refused: 400 bad_envelope, nothing stored', async (_n, envelope) => {
    const cb = signedCallback(app.keys, textMessage({ msgId: '7500000000000000011', content: REFUSAL }));
    const res = await post(app, cb.query, envelope(cb.encrypt), 'application/json');
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text)).toEqual({
      error: 'bad_envelope',
      message: '回调信封格式无效 / the callback envelope is not valid',
    });
    expect(await rows(app)).toHaveLength(0);
  });

  test('a JSON envelope whose ciphertext is a number is refused: 400 bad_envelope when signed, 403 bad_signature when not', async () => {
    // The signature is checked before the envelope is parsed (issue 8): signed over the number as
    // written, the parse after the check refuses it with its own reason; unsigned, it never gets there.
    const ts = String(Math.floor(Date.now() / 1000));
    const { signatureOf } = await import('../../src/wecom/crypto');
    const signedQuery = `msg_signature=${signatureOf(app.keys.token, ts, 'n1', '12345')}&timestamp=${ts}&nonce=n1`;
    const signedNumber = await post(app, signedQuery, `{"encrypt":12345}`, 'application/json');
    expect(JSON.parse(signedNumber.text).error).toBe('bad_envelope');
    expect(signedNumber.status).toBe(400);
    const cb = signedCallback(app.keys, textMessage({ msgId: '7500000000000000012', content: REFUSAL }));
    const res = await post(app, cb.query, `{"encrypt":12345}`, 'application/json');
    expect(res.status).toBe(403);
    expect(JSON.parse(res.text).error).toBe('bad_signature');
    expect(await rows(app)).toHaveLength(0);
  });

  test('envelopes as WeCom and the sandbox write them pass: XML with or without AgentID, spaced, declared; JSON in any letter case', async () => {
    const bodies: [string, (enc: string) => string, string?][] = [
      ['sandbox', (enc) => envelopeXml(app.keys.corpId, enc, '1000002')],
      ['empty AgentID', (enc) => envelopeXml(app.keys.corpId, enc, '')],
      [
        'no AgentID',
        (enc) => `<xml><ToUserName><![CDATA[${app.keys.corpId}]]></ToUserName><Encrypt><![CDATA[${enc}]]></Encrypt></xml>`,
      ],
      ['Encrypt alone, plain text', (enc) => `<xml><Encrypt>${enc}</Encrypt></xml>`],
      [
        'spaced and declared',
        (enc) =>
          `<?xml version="1.0" encoding="utf-8"?>\n<xml>\n  <ToUserName><![CDATA[${app.keys.corpId}]]></ToUserName>\r\n` +
          `  <Encrypt><![CDATA[${enc}]]></Encrypt>\n  <AgentID>1000002</AgentID>\n</xml>\n`,
      ],
      [
        'JSON, WeCom casing',
        (enc) => `{"ToUserName":"${app.keys.corpId}","Encrypt":"${enc}","AgentID":1000002}`,
        'application/json',
      ],
      [
        'JSON, upper case',
        (enc) => `{"TOUSERNAME":"${app.keys.corpId}","ENCRYPT":"${enc}","AGENTID":"1000002"}`,
        'application/json',
      ],
    ];
    let n = 0;
    for (const [name, envelope, type] of bodies) {
      n += 1;
      const cb = signedCallback(app.keys, textMessage({ msgId: `75000000000000001${String(n).padStart(2, '0')}` }));
      const res = await post(app, cb.query, envelope(cb.encrypt), type);
      expect({ name, status: res.status }).toEqual({ name, status: 200 });
    }
    expect(await rows(app)).toHaveLength(bodies.length);
  });

  test('a message for another AgentID is stored flagged as for another agent, never refused, never as ours', async () => {
    const plain = textMessage({ msgId: '7500000000000000004', agentId: '1000077' });
    expect(await send(app, plain)).toBe(200);
    const [row] = await rows(app);
    expect(row?.kind).toBe('wecom.callback.other_agent.message.text');
    expect(row?.stream).toBe('wecom:other_agent:1000077');
    expect(row?.payload['type']).toBe('other_agent.message.text');
    expect(row?.payload['agent']).toEqual({ id: '1000077', ours: false, reason: 'AgentID is not ours' });
    expect(await counter(app, 'callbacksAccepted', { type: 'other_agent' })).toBe(1);
  });
});

describe('the last resort: a record the ledger refuses is stored unparsed, not answered 4xx', () => {
  test.each([
    ['EvidenceInputError', new EvidenceInputError('stream must be a non-empty string')],
    ['a PostgreSQL data exception (class 22)', Object.assign(new Error('date/time field value out of range'), { code: '22008' })],
  ])('%s on the first append: 200, and the raw material stored as base64 under the plaintext bytes', async (_n, failure) => {
    const appended: EvidenceEntry[] = [];
    const server = Fastify();
    await server.register(async (scope) =>
      callbackRoutes(scope, {
        settings: {
          corpId: TEST_KEYS.corpId,
          token: TEST_KEYS.token,
          encodingAesKey: TEST_KEYS.encodingAESKey,
          agentId: TEST_KEYS.agentId,
          maxSkewSeconds: 300,
          bodyLimitBytes: 65536,
        },
        metrics: createMetrics(),
        externalContacts: { idsFor: async () => new Map() },
        ledger: {
          append: async (entry) => {
            appended.push(entry);
            if (appended.length === 1) throw failure;
            return { status: 'appended', seq: 1, hash: '0'.repeat(64), recordedAt: new Date() };
          },
        },
      }),
    );
    try {
      const plain = textMessage({ msgId: '7700000000000000001' });
      const cb = signedCallback(TEST_KEYS, plain);
      // inject() would load light-my-request, whose cookie dependency jest cannot require.
      const url = await server.listen({ host: '127.0.0.1', port: 0 });
      const res = await fetch(`${url}/wecom/callback?${cb.query}`, {
        method: 'POST',
        body: cb.body,
        headers: { 'content-type': 'text/xml' },
      });
      expect(res.status).toBe(200);
      expect(appended).toHaveLength(2);
      const last = appended[1];
      expect(last?.kind).toBe('wecom.callback.unparsed');
      expect(last?.sourceRef).toBe(`${TEST_KEYS.corpId}:sha256:${createHash('sha256').update(plain).digest('hex')}`);
      const payload = last?.payload as Record<string, string>;
      expect(Buffer.from(payload['plaintext_base64'] ?? '', 'base64').toString('utf8')).toBe(plain);
      expect(payload['fields_error']).toBe('the record derived from the message could not be stored');
      expect(Buffer.from((last?.raw as Record<string, string>)['body_base64'] ?? '', 'base64').toString('utf8')).toBe(cb.body);
    } finally {
      await server.close();
    }
  });
});
