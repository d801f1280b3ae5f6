import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { type JsonValue } from '../../src/evidence';
import { callbackDigestOf, classifyCallback, type InboundCallback } from '../../src/wecom/callback-event';
import { VECTORS } from '../support/vectors';

/**
 * The parsed fields of a verified callback, and the redelivery digest over them (DECISIONS 2):
 * real WeCom messages keep the fields and digests they always had, so records already stored keep
 * matching their redeliveries.
 */

const RECEIVED = Date.UTC(2026, 10, 26, 12, 0, 0);

function classify(plaintext: string | Buffer) {
  const cb: InboundCallback = {
    corpId: 'wwfieldstest',
    agentId: '1000002',
    plaintext: typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext,
    raw: { method: 'POST', query: 'msg_signature=x&timestamp=1&nonce=n', contentType: 'text/xml', body: Buffer.from('<xml/>') },
    receivedAtMs: RECEIVED,
  };
  // Customer-contact events are keyed by the contact's opaque id (DECISIONS 4); any id will do here.
  const external = /<ExternalUserID><!\[CDATA\[([^\]]*)\]\]>/.exec(Buffer.from(cb.plaintext).toString('utf8'))?.[1];
  return classifyCallback(cb, new Map(external ? [[external, `xc_${'0'.repeat(32)}`]] : []));
}

const payloadOf = (c: ReturnType<typeof classify>) => c.entry.payload as Record<string, JsonValue>;

const FIXTURES = join(__dirname, '..', 'sandbox', 'fixtures');

/** Every real WeCom message the tests hold: the official vectors and the reference's plaintext samples. */
const SAMPLES: [string, string][] = [
  ...VECTORS.filter((v) => typeof v.expected_plaintext === 'string' && /^\s*[<{]/.test(v.expected_plaintext)).map(
    (v): [string, string] => [`vector ${v.name}`, v.expected_plaintext],
  ),
  ...readdirSync(FIXTURES)
    .filter((f) => f.endsWith('.xml'))
    .sort()
    .map((f): [string, string] => [`sandbox fixture ${f}`, readFileSync(join(FIXTURES, f), 'utf8')]),
];

/**
 * Computed by the code as it was before the parse learnt to report itself lossy (and before XML
 * text was decoded and kept untrimmed): these must never change, or stored records stop matching
 * their redeliveries.
 */
const PINNED: Record<string, string> = {
  'vector qdg-post-xml-text': '8c8403925a538529ba1a50dad8791be59d8f32da6c143e714947ccc23f5ca216',
  'vector qdg-post-json-envelope-cpp': '8c8403925a538529ba1a50dad8791be59d8f32da6c143e714947ccc23f5ca216',
  'vector qdg-post-json-go': '8c8403925a538529ba1a50dad8791be59d8f32da6c143e714947ccc23f5ca216',
  'vector derived-qdg-sys-approval-change': 'f0d32e137bdd91fe8c9e8d1d5ad4febb49272ce8308b2550a929252442b0458f',
  'vector derived-qdg-kf-msg-or-event': 'c087dc3e6845a2fca1662905133c2638ff1292f8f68126ad0dee75a98fff54fd',
  'sandbox fixture callback-change-external-contact.xml': '21faea2048b037e35089f80d73e38e79d391bf1aef62765c04d8007f8e3f9034',
  'sandbox fixture callback-kf-msg-or-event.xml': 'e326d5d7ea37f346e838840c372c367db7ac8a650fb9ac2ea4d6a1ba624a15d3',
  'sandbox fixture callback-sys-approval-change.xml': 'd349b88251f3d813cfb535091ebf103b13913941c2b75c8a2fa32d941615a599',
  'sandbox fixture callback-text.xml': 'f10f79eae0fb4493f15b15efc4d2cfa840adafb62f74b2fdd667735c0a222496',
};

describe('real WeCom messages keep their fields and digests', () => {
  test('every sample is pinned', () => {
    expect(SAMPLES.map(([name]) => name).sort()).toEqual(Object.keys(PINNED).sort());
  });

  test.each(SAMPLES)('%s: complete fields, and the digest computed before this change', (name, plaintext) => {
    const c = classify(plaintext);
    expect(payloadOf(c)['fields_error']).toBeUndefined();
    expect(c.entry.redelivery.digest).toBe(PINNED[name]);
    expect(c.entry.redelivery.digestOf(c.entry.payload)).toBe(PINNED[name]);
  });
});

describe('a parse that would lose something says so, and the digest falls back to the plaintext bytes (DECISIONS 2)', () => {
  const T = Math.floor(RECEIVED / 1000) - 60;
  // By hand: an event type WeCom does not have, carrying what WeCom never writes.
  const xml = (extra: string) =>
    `<xml><ToUserName><![CDATA[wwfieldstest]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>` +
    `<CreateTime>${T}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[some_new_event]]></Event>${extra}</xml>`;
  const fieldsOf = (c: ReturnType<typeof classify>) => payloadOf(c)['fields'] as Record<string, JsonValue> | undefined;

  /** Two plaintexts that mean different things: never one digest, and each digest recomputes from its payload. */
  function distinct(a: string, b: string) {
    const [ca, cb] = [classify(a), classify(b)];
    expect(ca.entry.redelivery.digest).not.toBe(cb.entry.redelivery.digest);
    for (const c of [ca, cb]) expect(c.entry.redelivery.digestOf(c.entry.payload)).toBe(c.entry.redelivery.digest);
    return [ca, cb] as const;
  }

  test.each(['constructor', '__proto__', 'prototype'])('a JSON key %s is left out and named in fields_error', (key) => {
    const [a] = distinct(`{"Event":"some_new_event","${key}":"A"}`, `{"Event":"some_new_event","${key}":"B"}`);
    expect(payloadOf(a)['fields_error']).toBe(
      `left out 1 key(s) that name JavaScript object internals (__proto__, constructor, prototype): $.${key}`,
    );
    expect(fieldsOf(a)?.['Event']).toBe('some_new_event');
  });

  test('both kinds of JSON left-outs are named together', () => {
    const c = classify(`{"MsgType":"text","Content":"a\\u0000b","x":{"prototype":"1"}}`);
    expect(payloadOf(c)['fields_error']).toBe(
      'left out 1 value(s) that are not storable text (U+0000 or a lone surrogate): $.Content; ' +
        'left out 1 key(s) that name JavaScript object internals (__proto__, constructor, prototype): $.x.prototype',
    );
  });

  test('JSON numbers are kept as written: no two numbers merge by rounding', () => {
    const [a, b] = distinct('{"Event":"x","N":0.12345678901234567891}', '{"Event":"x","N":0.12345678901234567892}');
    expect(fieldsOf(a)?.['N']).toBe('0.12345678901234567891');
    expect(fieldsOf(b)?.['N']).toBe('0.12345678901234567892');
    distinct('{"Event":"x","N":1.0}', '{"Event":"x","N":1}');
    distinct('{"Event":"x","N":1e400}', '{"Event":"x","N":2e400}');
    expect(payloadOf(a)['fields_error']).toBeUndefined();
  });

  test('a JSON number that is not one is not valid JSON', () => {
    const c = classify('{"MsgType":"text","MsgId":0000000000000000012}');
    expect(payloadOf(c)['fields_error']).toBe('JSON: the message is not valid JSON');
  });

  test('XML attributes are not fields: a message carrying one is lossy', () => {
    const [a] = distinct(xml('<Foo k="1">A</Foo>'), xml('<Foo k="2">A</Foo>'));
    expect(payloadOf(a)['fields_error']).toBe('XML: fields leave out attributes (<Foo>)');
    expect(fieldsOf(a)?.['Foo']).toBe('A');
    expect(payloadOf(classify(xml('<Foo>A</Foo>').replace('<xml>', '<xml a="1">')))['fields_error']).toBe(
      'XML: fields leave out attributes (<xml>)',
    );
  });

  test('text is kept untrimmed: whitespace inside an element is content', () => {
    const [a, b] = distinct(xml('<Foo>A</Foo>'), xml('<Foo>  A  </Foo>'));
    expect(fieldsOf(a)?.['Foo']).toBe('A');
    expect(fieldsOf(b)?.['Foo']).toBe('  A  ');
    expect(payloadOf(b)['fields_error']).toBeUndefined();
    distinct(xml('<Foo></Foo>'), xml('<Foo> </Foo>'));
    distinct(xml('<Foo><![CDATA[我接受]]></Foo>'), xml('<Foo><![CDATA[我接受\n]]></Foo>'));
    distinct(xml('<Foo>A</Foo>'), xml('<Foo>A\u3000</Foo>'));
  });

  test('escaped text is decoded; CDATA is literal: equal only when they mean the same characters', () => {
    const [a, b] = distinct(xml('<Foo>a &amp;lt; b</Foo>'), xml('<Foo><![CDATA[a &amp;lt; b]]></Foo>'));
    expect(fieldsOf(a)?.['Foo']).toBe('a &lt; b');
    expect(fieldsOf(b)?.['Foo']).toBe('a &amp;lt; b');
    const same = (x: string, y: string) => expect(classify(x).entry.redelivery.digest).toBe(classify(y).entry.redelivery.digest);
    same(xml('<Foo>a &amp;lt; b</Foo>'), xml('<Foo><![CDATA[a &lt; b]]></Foo>'));
    same(xml('<Foo>a &lt; b &gt; c &amp; &quot;d&quot; &apos;e&apos;</Foo>'), xml(`<Foo><![CDATA[a < b > c & "d" 'e']]></Foo>`));
    same(xml('<Foo>&#65;&#x42;&#x0043;&#x1F642;&#20320;</Foo>'), xml('<Foo>ABC🙂你</Foo>'));
    same(xml('<Foo>x<![CDATA[<y>]]>&amp;z</Foo>'), xml('<Foo>x&lt;y&gt;&amp;z</Foo>'));
    expect(payloadOf(classify(xml('<Foo>&#x1F642;</Foo>')))['fields_error']).toBeUndefined();
  });

  test.each([
    ['an entity XML does not predefine', '<Foo>a &nbsp; b</Foo>'],
    ['a reference to U+0000', '<Foo>&#0;</Foo>'],
    ['a reference to a surrogate', '<Foo>&#xD800;</Foo>'],
    ['a reference past U+10FFFF', '<Foo>&#x110000;</Foo>'],
    ['a reference without digits', '<Foo>&#x;</Foo>'],
    ['a reference with a capital X', '<Foo>&#X43;</Foo>'],
    ['an entity name without its semicolon', '<Foo>a &amp b</Foo>'],
  ])('%s is not well-formed XML: kept unparsed, the reason recorded', (_n, extra) => {
    const c = classify(xml(extra));
    // The validator refuses some of these before the references are read.
    expect(payloadOf(c)['fields_error']).toMatch(
      /^XML: (?:a reference that is neither one of XML's five entities nor a character|body is not well-formed XML)$/,
    );
    expect(c.entry.kind).toBe('wecom.callback.unparsed');
  });

  test('comments, text beside child elements and an unusual declaration are lossy', () => {
    const [a] = distinct(xml('<Foo>A<!--x--></Foo>'), xml('<Foo>A<!--y--></Foo>'));
    expect(payloadOf(a)['fields_error']).toBe('XML: fields leave out comments');
    const [m] = distinct(xml('<Foo>x<B>1</B></Foo>'), xml('<Foo><B>1</B>x</Foo>'));
    expect(payloadOf(m)['fields_error']).toBe('XML: fields leave out text beside child elements (<Foo>)');
    distinct(xml('<Foo><B>1</B><![CDATA[x]]></Foo>'), xml('<Foo><B>1</B></Foo>'));
    const [d] = distinct(
      `<?xml version="1.0" encoding="x-A"?>${xml('<Foo>A</Foo>')}`,
      `<?xml version="1.0" encoding="x-B"?>${xml('<Foo>A</Foo>')}`,
    );
    expect(payloadOf(d)['fields_error']).toBe('XML: fields leave out an XML declaration other than version 1.0, UTF-8');
  });

  test('format is not content: whitespace between elements, CDATA for text, a plain declaration, <Foo/> for <Foo></Foo>', () => {
    const base = classify(xml('<Foo>A</Foo><Bar></Bar>')).entry.redelivery.digest;
    for (const variant of [
      xml('\n  <Foo><![CDATA[A]]></Foo>\n  <Bar/>\n'),
      `<?xml version="1.0" encoding="UTF-8"?>\n${xml('<Foo>A</Foo><Bar/>')}`,
      `<?xml version='1.0'?>${xml('<Foo>A</Foo><Bar><![CDATA[]]></Bar>')}`,
      // CRLF between elements: XML reads every line end as LF.
      xml('<Foo>A</Foo><Bar/>').replace(/(<\/\w+>|<Bar\/>)(?=<)/g, '$1\r\n'),
    ]) {
      const c = classify(variant);
      expect(payloadOf(c)['fields_error']).toBeUndefined();
      expect(c.entry.redelivery.digest).toBe(base);
    }
  });

  test.each(['hasOwnProperty', 'toString', 'valueOf', '__defineGetter__', '__lookupSetter__'])(
    'an element named %s (which the XML parser would rename) is refused: kept unparsed',
    (name) => {
      const [a] = distinct(xml(`<${name}>1</${name}>`), xml(`<__${name}>1</__${name}>`));
      expect(payloadOf(a)['fields_error']).toBe(
        'XML: an element named after a JavaScript object internal (toString, __proto__, …)',
      );
    },
  );

  test('a record stored with fields from the earlier parse matches its redelivery, not a distinct message', () => {
    const trimmed = xml('<Content><![CDATA[我接受 ]]></Content>');
    const exact = xml('<Content><![CDATA[我接受]]></Content>');
    // As the earlier parse stored it: Content trimmed, no fields_error.
    const stored = { ...payloadOf(classify(trimmed)), fields: fieldsOf(classify(exact)) ?? null };
    expect(callbackDigestOf(stored)).toBe(classify(trimmed).entry.redelivery.digest);
    expect(callbackDigestOf(stored)).not.toBe(classify(exact).entry.redelivery.digest);
  });
});
