import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { envelopeXml, kfMsgOrEventXml } from '../../sandbox/callbacks';
import { approvalEvent, contactChange, enterAgent, textMessage } from '../factories/callbacks';
import { MAX_XML_DEPTH, XmlError, parsePlainXml, parseWecomXml, parseWecomXmlFully } from '../../src/wecom/xml';

/**
 * The fast path of parseWecomXml reads the documents WeCom writes without the general parser. It
 * must give exactly what the general path gives (tree, key order, arrays, what is lost) for every
 * document it accepts, and leave every other document to the general path, which refuses what it
 * refuses with its own reasons. Checked here on WeCom's messages, on variants that step outside the
 * fast path's subset one way at a time, and on random documents.
 */

type Outcome = { tree: string; lost: string[] } | { error: string };

function outcome(parse: (xml: string) => { root: unknown; lost: string[] }, xml: string): Outcome {
  try {
    const { root, lost } = parse(xml);
    return { tree: JSON.stringify(root), lost };
  } catch (err) {
    if (err instanceof XmlError) return { error: `${err.code}: ${err.message}` };
    throw err;
  }
}

/** The fast path's answer, when it gives one, is the general path's; and parseWecomXml is the general path's answer. */
function expectSameReading(xml: string): boolean {
  const fast = parsePlainXml(xml);
  const full = outcome(parseWecomXmlFully, xml);
  if (fast !== undefined) expect({ tree: JSON.stringify(fast.root), lost: fast.lost }).toEqual(full);
  expect(outcome(parseWecomXml, xml)).toEqual(full);
  return fast !== undefined;
}

const T = 1764115200;
const vectors = JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', 'wecom-vectors.json'), 'utf8')) as {
  expected_plaintext?: string;
}[];

const messages: Record<string, string> = {
  text: textMessage({ msgId: '7000000000000000001', content: '候选人：我再考虑一下，薪资能否再谈？😀 <b>&amp; ]] >' }),
  enterAgent: enterAgent({ createTime: T }),
  contact: contactChange({
    changeType: 'add_external_contact',
    userId: 'ZhangMin',
    externalUserId: 'wmAbC',
    createTime: T,
    state: 's',
    welcomeCode: 'w',
  }),
  approval: approvalEvent({
    spNo: '202611260001',
    createTime: T,
    statuChangeEvent: 10,
    spStatus: 1,
    nodes: [
      [
        { userid: 'liqiang', spTime: T },
        { userid: 'wangfang', spTime: 0 },
      ],
      [{ userid: 'chenjie', spTime: 0 }],
    ],
    comments: [
      { userid: 'liqiang', time: T, id: 'c1' },
      { userid: 'wangfang', time: T + 1, id: 'c2', content: '同意 & 备注' },
    ],
  }),
  approvalProcessOnly: approvalEvent({
    spNo: '202611260002',
    createTime: T,
    statuChangeEvent: 2,
    spStatus: 2,
    nodes: [[{ userid: 'liqiang', spTime: T }]],
    processOnly: true,
  }),
  kf: kfMsgOrEventXml('wwcorp', 'ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NR', 'wkAJ2GCAAAZSfhHCt7IFSvLKtMPxyJTw', T),
  envelope: envelopeXml('wwcorp', 'bXkgc2VjcmV0IGNpcGhlcnRleHQ+Lz0=', '1000002'),
  ...Object.fromEntries(
    vectors.flatMap((v, i) =>
      typeof v.expected_plaintext === 'string' && v.expected_plaintext.trimStart().startsWith('<')
        ? [[`vector${i}`, v.expected_plaintext]]
        : [],
    ),
  ),
};

/** One step outside (or along the edge of) the fast path's subset at a time. */
const variants: Record<string, (xml: string) => string> = {
  pretty: (x) => x.replace(/></g, '>\n  <'),
  crlf: (x) => x.replace(/></g, '>\r\n<'),
  spaceAround: (x) => ` \n\t${x}\n `,
  declaration: (x) => `<?xml version="1.0" encoding="UTF-8"?>${x}`,
  odd_declaration: (x) => `<?xml version="1.1"?>${x}`,
  comment: (x) => x.replace('<xml>', '<xml><!-- note -->'),
  attribute: (x) => x.replace(/<xml><([A-Za-z]+)>/, '<xml><$1 a="1">'),
  rootAttribute: (x) => x.replace('<xml>', '<xml id="1">'),
  unwrapCdata: (x) => x.replace(/<!\[CDATA\[([^\]<&]*)\]\]>/g, '$1'),
  reference: (x) => x.replace(/<!\[CDATA\[([^\]<&]*)\]\]>/, '$1&amp;&#x41;&#66;'),
  badReference: (x) => x.replace(/<!\[CDATA\[([^\]<&]*)\]\]>/, '$1&nbsp;'),
  splitCdata: (x) => x.replace(/<!\[CDATA\[([^\]]*)\]\]>/, '<![CDATA[$1]]><![CDATA[x]]>tail'),
  selfClosing: (x) => x.replace(/<([A-Za-z]+)><!\[CDATA\[\]\]><\/\1>/g, '<$1/>').replace(/<(\w+)><\/\1>/g, '<$1/>'),
  emptyLeaf: (x) => x.replace('</xml>', '<Extra></Extra><Other/></xml>'),
  spaceLeaf: (x) => x.replace('</xml>', '<Extra>  \n </Extra></xml>'),
  duplicate: (x) => x.replace('</xml>', '<MsgType>again</MsgType><MsgType>again</MsgType></xml>'),
  repeating: (x) => x.replace('</xml>', '<Item>1</Item><Item><A>2</A></Item><Item/></xml>'),
  mixed: (x) => x.replace(/<xml><([A-Za-z]+)>/, '<xml>text<$1>'),
  mixedCdata: (x) => x.replace('</xml>', '<![CDATA[x]]></xml>'),
  internalName: (x) => x.replace('</xml>', '<toString>1</toString></xml>'),
  internalNameCase: (x) => x.replace('</xml>', '<Constructor/></xml>'),
  internalPrefix: (x) => x.replace('</xml>', '<toStringX>1</toStringX><__proto__x/></xml>'),
  system: (x) => x.replace('</xml>', '<Note>SYSTEM "x"</Note></xml>'),
  systemAcrossCdata: (x) => x.replace('</xml>', '<Note>SYSTEM<![CDATA[ ]]>"x"</Note></xml>'),
  doctype: (x) => `<!DOCTYPE xml [<!ENTITY a "b">]>${x}`,
  pi: (x) => x.replace('</xml>', '<?pi x?></xml>'),
  trailing: (x) => `${x}junk`,
  secondRoot: (x) => `${x}<xml><A>1</A></xml>`,
  otherRoot: (x) => x.replace(/^<xml>/, '<doc>').replace(/<\/xml>$/, '</doc>'),
  nestedXml: (x) => x.replace('</xml>', '<xml><A>1</A></xml></xml>'),
  endTagSpace: (x) => x.replace(/<\/([A-Za-z]+)>/, '</$1 >'),
  unclosed: (x) => x.replace(/<\/xml>$/, ''),
  mismatched: (x) => x.replace(/<\/([A-Za-z]+)>/, '</Wrong>'),
  controlChar: (x) => x.replace('</xml>', '<C><![CDATA[a\u0001b]]></C></xml>'),
  loneSurrogate: (x) => x.replace('</xml>', '<C><![CDATA[a\uD800b]]></C></xml>'),
  nonCharacter: (x) => x.replace('</xml>', '<C>a\uFFFEb</C></xml>'),
  cdataEndInText: (x) => x.replace('</xml>', '<C>a]]>b</C></xml>'),
  greaterThan: (x) => x.replace('</xml>', '<C>a > b</C></xml>'),
  dashName: (x) => x.replace('</xml>', '<a-b>1</a-b><a.b>2</a.b><ns:a>3</ns:a></xml>'),
  xmlName: (x) => x.replace('</xml>', '<xmlThing>1</xmlThing></xml>'),
  unicode: (x) => x.replace('</xml>', '<C>中文 😀 é</C><D><![CDATA[中文 😀]]></D></xml>'),
  punctuation: (x) => x.replace('</xml>', `<C>a "q" 'b' = / ? ! # % ; : , . ( ) { } [ ] | \\ ^ ~ \` @ $ * + -</C></xml>`),
  bracketsInText: (x) => x.replace('</xml>', '<C>]] ] ]]</C><D><![CDATA[]]]]><![CDATA[>]]></D></xml>'),
};

function nested(depth: number, leaf: string): string {
  let inner = leaf;
  for (let d = depth - 1; d >= 1; d--) inner = `<L${d}>${inner}</L${d}>`;
  return `<xml>${inner}</xml>`;
}

describe('parseWecomXml: the fast path reads exactly what the general path reads', () => {
  test.each(Object.entries(messages))('WeCom message %s: read by the fast path, same tree', (_name, xml) => {
    expect(expectSameReading(xml)).toBe(true);
    expect(parseWecomXml(xml).lost).toEqual([]);
  });

  test('variants inside and outside the subset: the same answer (tree, loss or refusal) either way', () => {
    let fast = 0;
    let total = 0;
    for (const xml of Object.values(messages)) {
      for (const vary of Object.values(variants)) {
        total += 1;
        if (expectSameReading(vary(xml))) fast += 1;
      }
    }
    // Not vacuous: some variants stay in the subset (pretty-printed, self-closing, repeating, …).
    expect(fast).toBeGreaterThan(Object.keys(messages).length * 5);
    expect(fast).toBeLessThan(total);
  });

  test('nesting at the bound and past it', () => {
    for (const depth of [MAX_XML_DEPTH - 1, MAX_XML_DEPTH, MAX_XML_DEPTH + 1, MAX_XML_DEPTH + 2]) {
      for (const leaf of ['<A>1</A>', '<A/>', 'text', '']) {
        expectSameReading(nested(depth, leaf));
      }
    }
    expect(parsePlainXml(nested(MAX_XML_DEPTH - 1, '<A>1</A>'))).toBeDefined();
    expect(() => parseWecomXml(nested(MAX_XML_DEPTH + 1, '<A>1</A>'))).toThrow(XmlError);
  });

  test('degenerate documents', () => {
    for (const xml of [
      '',
      ' ',
      '<xml/>',
      '<xml></xml>',
      '<xml>text</xml>',
      '<xml> </xml>',
      '<xml><A/></xml>',
      '<xml><A></A>',
      '<xml><A>1</A></xml><!---->',
    ]) {
      expectSameReading(xml);
    }
  });

  test('random documents', () => {
    let seed = 20261126;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
    const names = ['A', 'B', 'MsgType', 'Item', 'Details', 'SpRecord', 'Comments', 'toString', 'x_y', 'C1'];
    const plainTexts = ['', ' ', 'abc', '中文', '😀', '1234567890123456789', '\t', 'x y', 'a > b'];
    const oddTexts = ['a&amp;b', 'a]]>b', '\r\n', 'SYSTEM "a"', '\u0001', '&#x41;'];
    const spaces = ['', '', '', ' ', '\n  ', '\t'];
    const content = (depth: number): string => {
      if (depth > 4 || random() < 0.4) {
        const t = random() < 0.95 ? pick(plainTexts) : pick(oddTexts);
        return random() < 0.5 ? `<![CDATA[${t}]]>` : t.replace(/&(?!amp;)/g, '&amp;');
      }
      const count = 1 + Math.floor(random() * 4);
      let out = pick(spaces);
      for (let k = 0; k < count; k++) {
        const name = pick(names);
        out += random() < 0.1 ? `<${name}/>` : `<${name}>${content(depth + 1)}</${name}>`;
        out += pick(spaces);
      }
      return out;
    };
    let fast = 0;
    for (let k = 0; k < 3000; k++) {
      const odd = random() < 0.05 ? '\r\n' : '';
      if (expectSameReading(`${pick(spaces)}<xml>${odd}${content(1)}</xml>${pick(spaces)}`)) fast += 1;
    }
    expect(fast).toBeGreaterThan(300);
  });
});
