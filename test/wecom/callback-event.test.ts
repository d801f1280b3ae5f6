import { createHash } from 'node:crypto';
import { canonicalize, contentDigest, type JsonValue } from '../../src/evidence';
import { callbackDigestOf, classifyCallback, type InboundCallback } from '../../src/wecom/callback-event';
import { parseWecomXml } from '../../src/wecom/xml';
import { approvalEvent, contactChange, textMessage } from '../factories/callbacks';
import { TEST_KEYS } from '../support/keys';
import { vector } from '../support/vectors';

/**
 * What a verified callback becomes, without HTTP or a database: its key, aliases, redelivery
 * digest, stream, time and agent check (DECISIONS 1, 2, 3, 8).
 */

const CORP = TEST_KEYS.corpId;
const RECEIVED = Date.UTC(2026, 10, 26, 12, 0, 0);
const T = Math.floor(RECEIVED / 1000) - 60;

/** The opaque id the route would have resolved for the external contact wmCandA (external-contacts.ts). */
const CONTACT_A = `xc_${'a1'.repeat(16)}`;

function classify(plaintext: string | Buffer, over: Partial<InboundCallback> = {}) {
  return classifyCallback(
    {
      corpId: CORP,
      agentId: '1000002',
      plaintext: typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext,
      raw: { method: 'POST', query: 'msg_signature=x&timestamp=1&nonce=n', contentType: 'text/xml', body: Buffer.from('<xml/>') },
      receivedAtMs: RECEIVED,
      ...over,
    },
    new Map([['wmCandA', CONTACT_A]]),
  );
}

const payloadOf = (c: ReturnType<typeof classify>) => c.entry.payload as Record<string, JsonValue>;

describe('approval events: the key names the acting node and approver', () => {
  const base = { spNo: '202611260001', createTime: T, statuChangeEvent: 2, spStatus: 1 };

  test('two approvers of one 会签 node acting in the same second get distinct keys; each keeps the old key as alias', () => {
    const first = classify(
      approvalEvent({
        ...base,
        nodes: [
          [
            { userid: 'LiQiang', spTime: T },
            { userid: 'wangfang', spTime: 0 },
          ],
          [{ userid: 'chenjing', spTime: 0 }],
        ],
      }),
    );
    const second = classify(
      approvalEvent({
        ...base,
        nodes: [
          [
            { userid: 'LiQiang', spTime: T },
            { userid: 'wangfang', spTime: T },
          ],
          [{ userid: 'chenjing', spTime: 0 }],
        ],
      }),
    );
    expect(first.entry.sourceRef).toBe(`${CORP}:approval:202611260001:2:1:${T}:n0:liqiang`);
    expect(second.entry.sourceRef).toBe(`${CORP}:approval:202611260001:2:1:${T}:n0:wangfang`);
    for (const c of [first, second]) {
      expect(c.entry.redelivery.aliases).toEqual([`${CORP}:approval:202611260001:2:1:${T}`]);
      expect(c.entry.stream).toBe('wecom:approval:202611260001');
    }
    expect(first.entry.redelivery.digest).not.toBe(second.entry.redelivery.digest);
  });

  test('the newest SpTime wins over an older one, and the node index is part of the key', () => {
    const c = classify(
      approvalEvent({
        ...base,
        nodes: [
          [{ userid: 'liqiang', spTime: T - 3600 }],
          [{ userid: 'wangfang', spTime: T }],
          [{ userid: 'chenjing', spTime: 0 }],
        ],
      }),
    );
    expect(c.entry.sourceRef.endsWith(':n1:wangfang')).toBe(true);
  });

  test('flows written only as ProcessList/NodeList take the actor from SubNodeList.Sptime', () => {
    const c = classify(
      approvalEvent({
        ...base,
        processOnly: true,
        nodes: [[{ userid: 'liqiang', spTime: T }], [{ userid: 'WangFang', spTime: T + 1 }]],
      }),
    );
    expect(c.entry.sourceRef.endsWith(':p1:wangfang')).toBe(true);
  });

  test('a comment (StatuChangeEvent 10) is named by the newest CommentId, kept exactly', () => {
    const comments = [
      { userid: 'liqiang', time: T, id: '6750538708562308220' },
      { userid: 'wangfang', time: T, id: '6750538708562308299' },
    ];
    const one = classify(
      approvalEvent({
        ...base,
        statuChangeEvent: 10,
        nodes: [[{ userid: 'liqiang', spTime: 0 }]],
        comments: comments.slice(0, 1),
      }),
    );
    const two = classify(approvalEvent({ ...base, statuChangeEvent: 10, nodes: [[{ userid: 'liqiang', spTime: 0 }]], comments }));
    expect(one.entry.sourceRef).toBe(`${CORP}:approval:202611260001:10:1:${T}:c:6750538708562308220`);
    expect(two.entry.sourceRef).toBe(`${CORP}:approval:202611260001:10:1:${T}:c:6750538708562308299`);
  });

  test('a submission, where nobody has acted, ends its key with "-"', () => {
    const c = classify(approvalEvent({ ...base, statuChangeEvent: 1, nodes: [[{ userid: 'liqiang', spTime: 0 }]] }));
    expect(c.entry.sourceRef).toBe(`${CORP}:approval:202611260001:1:1:${T}:-`);
  });

  test('separators inside key parts are escaped, so two different events cannot write the same key', () => {
    const c = classify(approvalEvent({ ...base, spNo: 'A:1#2', nodes: [[{ userid: 'li:qiang', spTime: T }]] }));
    expect(c.entry.sourceRef).toBe(`${CORP}:approval:A%3A1%232:2:1:${T}:n0:li%3Aqiang`);
    expect(c.entry.redelivery.aliases).toEqual([`${CORP}:approval:A:1#2:2:1:${T}`]);
  });
});

describe('customer-contact events', () => {
  test('the contact is named by its opaque id in key and stream, never its external_userid (DECISIONS 4); the member userid lower-cased (DECISIONS 8)', () => {
    const c = classify(
      contactChange({ changeType: 'edit_external_contact', userId: 'ZhangMin', externalUserId: 'wmCandA', createTime: T }),
    );
    expect(c.entry.sourceRef).toBe(`${CORP}:contact-v2:edit_external_contact:zhangmin:${CONTACT_A}:${T}`);
    expect(c.entry.stream).toBe(`wecom:contact:${CONTACT_A}`);
    expect(JSON.stringify([c.entry.stream, c.entry.sourceRef, c.entry.actor])).not.toContain('wmCandA');
    // Records stored before the opaque ids still match their redeliveries under the keys of then.
    expect(c.entry.redelivery.aliases).toEqual([
      `${CORP}:contact:edit_external_contact:zhangmin:wmCandA:${T}`,
      `${CORP}:contact:edit_external_contact:ZhangMin:wmCandA:${T}`,
    ]);
  });

  test('without the opaque id of its contact a contact event cannot be keyed: classification refuses (the route stores it unparsed)', () => {
    const plain = contactChange({
      changeType: 'add_external_contact',
      userId: 'zhangmin',
      externalUserId: 'wmCandZ',
      createTime: T,
    });
    expect(() => classify(plain)).toThrow('no opaque id');
  });

  test('two events sharing the key but not the fields have different digests (the ledger keeps both)', () => {
    const a = classify(
      contactChange({
        changeType: 'add_external_contact',
        userId: 'zhangmin',
        externalUserId: 'wmCandA',
        createTime: T,
        state: 'job-fe',
        welcomeCode: 'W1',
      }),
    );
    const b = classify(
      contactChange({
        changeType: 'add_external_contact',
        userId: 'zhangmin',
        externalUserId: 'wmCandA',
        createTime: T,
        state: 'job-be',
        welcomeCode: 'W2',
      }),
    );
    expect(a.entry.sourceRef).toBe(b.entry.sourceRef);
    expect(a.entry.redelivery.digest).not.toBe(b.entry.redelivery.digest);
  });

  test('member messages go to the lower-cased member stream and actor; MsgId is the key, kept exactly', () => {
    const c = classify(textMessage({ msgId: '7000000000000000001', from: 'ZhangMin' }));
    expect(c.entry.stream).toBe('wecom:member:zhangmin');
    expect(c.entry.actor).toBe('zhangmin');
    expect(c.entry.sourceRef).toBe(`${CORP}:msg:7000000000000000001`);
  });
});

describe('the redelivery digest compares parsed fields, not bytes or format', () => {
  test('the XML and JSON samples of one message have one digest; digestOf recomputes it from the stored payload', () => {
    const xml = vector('qdg-post-xml-text');
    const json = vector('qdg-post-json-go');
    const over = { corpId: xml.receiveId, agentId: '218' };
    const a = classify(xml.expected_plaintext, over);
    const b = classify(json.expected_plaintext, over);
    expect(a.entry.sourceRef).toBe(b.entry.sourceRef);
    expect(a.entry.redelivery.digest).toBe(b.entry.redelivery.digest);
    expect(a.entry.redelivery.digest).toBe(contentDigest(parseWecomXml(xml.expected_plaintext).root as JsonValue));
    for (const c of [a, b]) expect(c.entry.redelivery.digestOf(c.entry.payload)).toBe(c.entry.redelivery.digest);
  });

  test('whitespace between elements and CDATA versus plain text do not change the digest', () => {
    const plain = textMessage({ msgId: '7000000000000000002', createTime: T });
    // Whitespace after every end tag (between elements, never inside one) and plain text for CDATA.
    const spaced = plain
      .replace(/(<\/\w+>)/g, '$1\n  ')
      .replace('<xml>', '<xml>\n  ')
      .replace('<![CDATA[text]]>', 'text')
      .replace('<![CDATA[你好]]>', '你好');
    expect(spaced).not.toBe(plain);
    expect(classify(spaced).entry.redelivery.digest).toBe(classify(plain).entry.redelivery.digest);
  });

  test('a record stored before this change (payload without fields_error) digests the same as its redelivery now', () => {
    const plain = approvalEvent({
      spNo: '202611260002',
      createTime: T,
      statuChangeEvent: 2,
      spStatus: 2,
      nodes: [[{ userid: 'liqiang', spTime: T }]],
    });
    // The payload as written then, read back from jsonb.
    const stored = JSON.parse(
      JSON.stringify({ type: 'event.sys_approval_change', format: 'xml', plaintext: plain, fields: parseWecomXml(plain).root }),
    ) as JsonValue;
    expect(callbackDigestOf(stored)).toBe(classify(plain).entry.redelivery.digest);
    // A variant's payload carries variant_of; the digest ignores it.
    expect(
      callbackDigestOf({ ...(stored as Record<string, JsonValue>), variant_of: { seq: 1, hash: 'x', source_ref: 'y' } }),
    ).toBe(classify(plain).entry.redelivery.digest);
    expect(callbackDigestOf('not an object')).toBeNull();
  });

  test('an unknown event is keyed by its fields digest; the old key (SHA-256 of the plaintext) is its alias', () => {
    // By hand: an event type WeCom does not have, so no builder writes it.
    const plain = `<xml><ToUserName><![CDATA[${CORP}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>${T}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[brand_new]]></Event></xml>`;
    const c = classify(plain);
    expect(c.entry.sourceRef).toBe(`${CORP}:fields:${c.entry.redelivery.digest}`);
    expect(c.entry.redelivery.aliases).toEqual([`${CORP}:sha256:${createHash('sha256').update(plain, 'utf8').digest('hex')}`]);
    expect(c.entry.kind).toBe('wecom.callback.unknown');
  });
});

describe('verified content is stored whatever it holds (DECISIONS 1)', () => {
  // JSON-format messages by hand: the sandbox writes XML only, and these carry values WeCom never should.
  const json = (extra: string) =>
    `{"ToUserName":"${CORP}","FromUserName":"zhangmin","CreateTime":${T},"MsgType":"text","Content":"${extra}","MsgId":7000000000000000003,"AgentID":1000002}`;

  test.each([
    ['U+0000', '\\u0000'],
    ['a lone surrogate', '\\ud800'],
  ])('a JSON string holding %s is left out of fields, the reason recorded, the rest kept', (_n, escaped) => {
    const c = classify(json(`a${escaped}b`));
    const p = payloadOf(c);
    expect(p['fields_error']).toMatch(/left out 1 value.*\$\.Content/);
    expect((p['fields'] as Record<string, JsonValue>)['MsgId']).toBe('7000000000000000003');
    expect((p['fields'] as Record<string, JsonValue>)['Content']).toBeUndefined();
    expect(p['plaintext']).toBe(json(`a${escaped}b`));
    expect(c.entry.sourceRef).toBe(`${CORP}:msg:7000000000000000003`);
    expect(() => canonicalize(c.entry.payload)).not.toThrow();
    // Partial fields never decide equality: the digest falls back to the plaintext bytes.
    expect(c.entry.redelivery.digest).not.toBe(contentDigest(p['fields'] as JsonValue));
    expect(c.entry.redelivery.digestOf(c.entry.payload)).toBe(c.entry.redelivery.digest);
    expect(classify(json('a\\u0000c')).entry.redelivery.digest).not.toBe(c.entry.redelivery.digest);
  });

  test('10,000 levels of JSON nesting: no recursion, fields left out, "nesting deeper than 64"', () => {
    const deep = `{"MsgType":"event","Event":"x","Deep":${'['.repeat(10_000)}${']'.repeat(10_000)}}`;
    const c = classify(deep);
    expect(payloadOf(c)['fields_error']).toBe('JSON: nesting deeper than 64');
    expect(payloadOf(c)['fields']).toBeUndefined();
    expect(c.type).toBe('unparsed');
    expect(c.entry.kind).toBe('wecom.callback.unparsed');
    expect(c.entry.sourceRef).toBe(`${CORP}:sha256:${createHash('sha256').update(deep).digest('hex')}`);
    expect(() => canonicalize(c.entry.payload)).not.toThrow();
  });

  test('a JSON message naming a key twice is kept unparsed: which MsgId would be the message?', () => {
    const c = classify(`{"MsgType":"text","MsgId":"7000000000000000010","MsgId":"7000000000000000011","AgentID":"1000002"}`);
    expect(payloadOf(c)['fields_error']).toBe('JSON: an object names the key "MsgId" twice');
    expect(payloadOf(c)['fields']).toBeUndefined();
    expect(c.type).toBe('unparsed');
  });

  test('10,000 levels of XML nesting and hostile XML inside the envelope are kept unparsed, with the reason', () => {
    const deep = `<xml>${'<a>'.repeat(10_000)}${'</a>'.repeat(10_000)}</xml>`;
    expect(payloadOf(classify(deep))['fields_error']).toBe('XML: elements nested deeper than 64');
    const hostile = '<!DOCTYPE x [<!ENTITY e "e">]><xml><MsgType>text</MsgType></xml>';
    expect(payloadOf(classify(hostile))['fields_error']).toMatch(/^XML: DOCTYPE/);
    expect(payloadOf(classify(hostile))['plaintext']).toBe(hostile);
  });

  test('"<!DOCTYPE" written inside CDATA is text, not a construct: the message is parsed', () => {
    const c = classify(textMessage({ msgId: '7000000000000000004', content: '我的简历里有 <!DOCTYPE html> 和 SYSTEM "x"' }));
    expect(payloadOf(c)['fields_error']).toBeUndefined();
    expect((payloadOf(c)['fields'] as Record<string, JsonValue>)['Content']).toBe('我的简历里有 <!DOCTYPE html> 和 SYSTEM "x"');
  });

  test('a plaintext that is not UTF-8 is kept as base64 exactly; a BOM is kept in the text', () => {
    const bytes = Buffer.from([0x3c, 0x78, 0xff, 0xfe, 0x00, 0x3e]);
    const c = classify(bytes);
    expect(payloadOf(c)['plaintext_base64']).toBe(bytes.toString('base64'));
    expect(payloadOf(c)['plaintext']).toBeUndefined();
    expect(c.entry.redelivery.digestOf(c.entry.payload)).toBe(c.entry.redelivery.digest);
    const bom = classify(`\uFEFF${textMessage({ msgId: '7000000000000000005' })}`);
    expect((payloadOf(bom)['plaintext'] as string).startsWith('\uFEFF<xml>')).toBe(true);
    expect(bom.entry.sourceRef).toBe(`${CORP}:msg:7000000000000000005`);
  });

  test('raw keeps a body that is not text (invalid UTF-8, U+0000) as base64, exactly', () => {
    const body = Buffer.from([0xef, 0xbb, 0xbf, 0x3c, 0xff, 0x00]);
    const c = classify(textMessage({ msgId: '7000000000000000006' }), {
      raw: { method: 'POST', query: 'q', contentType: 'text/xml', body },
    });
    const raw = c.entry.raw as Record<string, JsonValue>;
    expect(raw['body']).toBeUndefined();
    expect(Buffer.from(raw['body_base64'] as string, 'base64').equals(body)).toBe(true);
    const text = classify(textMessage({ msgId: '7000000000000000006' }), {
      raw: { method: 'POST', query: 'q', contentType: 'text/xml', body: Buffer.from('\uFEFF<xml/>') },
    });
    expect((text.entry.raw as Record<string, JsonValue>)['body']).toBe('\uFEFF<xml/>');
  });

  test.each([
    ['253402300800', 'after the year 9999'],
    ['99999999999999999999', 'after the year 9999'],
    ['946684799', 'before 2000-01-01'],
    [String(T + 2 * 86400 + 60), 'more than a day after it was received'],
    ['12a', 'not a whole number of seconds'],
    ['', 'not a whole number of seconds'],
  ])('CreateTime %s is not a sane time: occurred_at is the receive time, the anomaly noted', (value, reason) => {
    const c = classify(
      textMessage({ msgId: '7000000000000000007' }).replace(/<CreateTime>\d+<\/CreateTime>/, `<CreateTime>${value}</CreateTime>`),
    );
    expect(c.entry.occurredAt.getTime()).toBe(RECEIVED);
    expect(payloadOf(c)['anomalies']).toEqual([
      { field: 'CreateTime', value, reason: `${reason}; occurred_at is the receive time` },
    ]);
  });

  test('a sane CreateTime is occurred_at, with no anomaly', () => {
    const c = classify(textMessage({ msgId: '7000000000000000008', createTime: T }));
    expect(c.entry.occurredAt.getTime()).toBe(T * 1000);
    expect(payloadOf(c)['anomalies']).toBeUndefined();
  });

  test('header fields that would be too long for the ledger are shortened deterministically, never refused', () => {
    const from = 'u'.repeat(400);
    const c = classify(textMessage({ msgId: '7000000000000000009', from }));
    expect(c.entry.actor.length).toBe(256);
    expect(c.entry.stream.length).toBe(256);
    expect(classify(textMessage({ msgId: '7000000000000000009', from })).entry.stream).toBe(c.entry.stream);
  });
});

describe('AgentID (DECISIONS 3)', () => {
  test('our AgentID, and the approvals system app on approval events, are ours', () => {
    const text = classify(textMessage({ msgId: '7100000000000000001' }));
    expect(text.ours).toBe(true);
    expect(payloadOf(text)['agent']).toEqual({ id: '1000002', ours: true });
    const approval = classify(
      approvalEvent({
        spNo: '202611260003',
        createTime: T,
        statuChangeEvent: 1,
        spStatus: 1,
        nodes: [[{ userid: 'liqiang', spTime: 0 }]],
      }),
    );
    expect(payloadOf(approval)['agent']).toEqual({ id: '3010040', ours: true, system: 'approvals' });
    expect(approval.entry.kind).toBe('wecom.callback.event.sys_approval_change');
  });

  test('a message for another agent is stored flagged: its own kind, type and stream, never ours', () => {
    const c = classify(textMessage({ msgId: '7100000000000000002', agentId: '1000099' }));
    expect(c.ours).toBe(false);
    expect(c.entry.kind).toBe('wecom.callback.other_agent.message.text');
    expect(payloadOf(c)['type']).toBe('other_agent.message.text');
    expect(payloadOf(c)['agent']).toEqual({ id: '1000099', ours: false, reason: 'AgentID is not ours' });
    expect(c.entry.stream).toBe('wecom:other_agent:1000099');
  });

  test("a system app's AgentID on a type that app does not send is not ours", () => {
    const c = classify(textMessage({ msgId: '7100000000000000003', agentId: '3010040' }));
    expect(c.ours).toBe(false);
  });

  test('an AgentID missing where the type always carries one is flagged; corp-level events carry none and are ours', () => {
    const text = classify(textMessage({ msgId: '7100000000000000004' }).replace('<AgentID>1000002</AgentID>', ''));
    expect(text.ours).toBe(false);
    expect(payloadOf(text)['agent']).toEqual({
      id: null,
      ours: false,
      reason: 'AgentID missing where this type always carries one',
    });
    expect(text.entry.stream).toBe('wecom:other_agent:none');
    const contact = classify(
      contactChange({ changeType: 'add_external_contact', userId: 'zhangmin', externalUserId: 'wmCandA', createTime: T }),
    );
    expect(contact.ours).toBe(true);
    expect(payloadOf(contact)['agent']).toBeUndefined();
    const withAgent = classify(
      contactChange({ changeType: 'add_external_contact', userId: 'zhangmin', externalUserId: 'wmCandA', createTime: T }).replace(
        '</xml>',
        '<AgentID>5</AgentID></xml>',
      ),
    );
    expect(withAgent.ours).toBe(false);
  });
});
