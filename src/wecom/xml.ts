import { XMLParser, XMLValidator } from 'fast-xml-parser';

/**
 * Parsing of WeCom XML (outer envelope and decrypted inner message).
 *
 * WeCom XML never carries a DOCTYPE, entities or processing instructions, so anything of that
 * kind is hostile and is refused before a parser sees it (fast-xml-parser had entity-expansion
 * CVEs in 2026). Values stay strings: MsgId and friends are 64-bit and must not become numbers.
 *
 * The tree is what the document means, never less: two documents with the same tree say the same
 * thing (the redelivery digest relies on it, DECISIONS 2). Text is the element's characters
 * exactly: not trimmed, references decoded here (the parser's entity processing stays off; only
 * XML's five entities and character references exist without a DTD), CDATA taken literally. What
 * the tree cannot hold (attributes, comments, text beside child elements, an unusual XML
 * declaration) is listed in `lost`, so the caller can tell a faithful tree from a partial one.
 * Whitespace between elements, CDATA versus escaped text, `<a/>` versus `<a></a>` and line ends
 * (XML reads CR LF and CR as LF) are form, not content, and make no difference.
 */

export class XmlError extends Error {
  constructor(
    readonly code: 'xml_forbidden_construct' | 'xml_malformed' | 'xml_duplicate_element' | 'xml_unexpected_root' | 'xml_too_deep',
    message: string,
  ) {
    super(message);
    this.name = 'XmlError';
  }
}

/** Elements that legitimately repeat in WeCom payloads: always arrays, never "duplicates". */
const REPEATING = new Set([
  'SpRecord',
  'Details',
  'Notifyer',
  'Comments',
  'NodeList',
  'SubNodeList',
  'AuthAddOpenKfId',
  'AuthDelOpenKfId',
  'SelectedItem',
  'OptionId',
  'Item',
  'ApprovalNode',
  'NotifyNode',
]);

/**
 * Deepest element nesting accepted, `<xml>` included. WeCom's deepest is 7 (ApprovalInfo →
 * ProcessList → NodeList → SubNodeList → UserInfo → UserId); the bound is checked by a flat scan
 * before anything recursive (the parser, the tree walk, canonical JSON) sees the document.
 */
export const MAX_XML_DEPTH = 64;

const FORBIDDEN = /<!DOCTYPE|<!ENTITY|<!ELEMENT|<!ATTLIST|<!NOTATION|<\?(?!xml\s)|SYSTEM\s*["']/i;

/**
 * Element names the parser refuses or silently renames (`toString` becomes `__toString`, which a
 * real `<__toString>` also gives), and that no WeCom message uses: refused, never misread.
 */
const INTERNAL_NAMES =
  /<\/?(?:__proto__|constructor|prototype|hasOwnProperty|toString|valueOf|__defineGetter__|__defineSetter__|__lookupGetter__|__lookupSetter__)\b/i;

const TEXT = '#text';
const CDATA = '#cdata';
const COMMENT = '#comment';
const ATTRIBUTES = ':@';
const DECLARATION = '?xml';

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  processEntities: false,
  htmlEntities: false,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  ignoreDeclaration: false,
  ignorePiTags: false,
  textNodeName: TEXT,
  cdataPropName: CDATA,
  commentPropName: COMMENT,
  maxNestedTags: MAX_XML_DEPTH,
});

export type XmlValue = string | XmlNode | XmlValue[];
export interface XmlNode {
  [key: string]: XmlValue;
}

export interface ParsedXml {
  /** The children of `<xml>`: elements with child elements become nodes, others their text. */
  root: XmlNode;
  /** What the tree leaves out of the document, one phrase each; empty when the tree is the whole of it. */
  lost: string[];
}

/** Parse a `<xml>…</xml>` document into a tree of strings; throws XmlError on anything suspicious. */
export function parseWecomXml(xml: string): ParsedXml {
  return parsePlainXml(xml) ?? parseWecomXmlFully(xml);
}

/**
 * parseWecomXml without its fast path: every document through the checks, the validator and the
 * general parser. The fast path must give exactly what this gives (test/wecom/xml-fast-path.test.ts).
 */
export function parseWecomXmlFully(xml: string): ParsedXml {
  const { markup, tooDeep } = scanMarkup(xml, MAX_XML_DEPTH);
  if (FORBIDDEN.test(markup))
    throw new XmlError('xml_forbidden_construct', 'DOCTYPE, entity declarations and processing instructions are refused');
  if (INTERNAL_NAMES.test(markup))
    throw new XmlError('xml_forbidden_construct', 'an element named after a JavaScript object internal (toString, __proto__, …)');
  if (tooDeep) throw new XmlError('xml_too_deep', `elements nested deeper than ${MAX_XML_DEPTH}`);
  if (XMLValidator.validate(xml) !== true) throw new XmlError('xml_malformed', 'body is not well-formed XML');
  let doc: unknown;
  try {
    doc = parser.parse(xml);
  } catch {
    throw new XmlError('xml_malformed', 'body could not be parsed as XML');
  }
  return readDocument(doc);
}

// ------------------------------------------------------------------ from the parser's ordered nodes

interface Losses {
  attributes: Set<string>;
  comments: boolean;
  mixed: Set<string>;
  declaration: boolean;
}

interface OrderedNode {
  /** `#text`, `#cdata`, `#comment`, `?xml` or an element name. */
  name: string;
  /** A text node's string; the child nodes of anything else. */
  value: unknown;
  attributes: boolean;
}

const malformed = () => new XmlError('xml_malformed', 'body could not be parsed as XML');

/** One node of fast-xml-parser's `preserveOrder` output: `{ <name>: value, ':@'?: attributes }`. */
function orderedNode(node: unknown): OrderedNode {
  if (typeof node !== 'object' || node === null || Array.isArray(node)) throw malformed();
  const names = Object.keys(node).filter((k) => k !== ATTRIBUTES);
  const name = names[0];
  if (names.length !== 1 || name === undefined) throw malformed();
  return { name, value: (node as Record<string, unknown>)[name], attributes: ATTRIBUTES in node };
}

function childrenOf(value: unknown): unknown[] {
  if (!Array.isArray(value)) throw malformed();
  return value;
}

function readDocument(doc: unknown): ParsedXml {
  const losses: Losses = { attributes: new Set(), comments: false, mixed: new Set(), declaration: false };
  let root: XmlValue | undefined;
  let seen = 0;
  for (const item of childrenOf(doc)) {
    const node = orderedNode(item);
    seen += 1;
    if (node.name === DECLARATION) {
      // Only first in the document (the validator lets a late one through; XML does not).
      if (seen !== 1) throw new XmlError('xml_forbidden_construct', 'an XML declaration after the start of the document');
      if (!plainDeclaration(item)) losses.declaration = true;
    } else if (node.name === COMMENT) {
      losses.comments = true;
    } else if (node.name === TEXT) {
      if (typeof node.value !== 'string' || !/^[ \t\r\n]*$/.test(node.value)) throw malformed();
      seen -= 1;
    } else if (node.name === 'xml' && root === undefined) {
      if (node.attributes) losses.attributes.add(node.name);
      root = readElement(node.name, childrenOf(node.value), losses);
    } else {
      throw new XmlError('xml_unexpected_root', 'root element must be <xml>');
    }
  }
  if (root === undefined || !isNode(root)) throw new XmlError('xml_unexpected_root', 'root element must be <xml>');
  const lost: string[] = [];
  if (losses.attributes.size > 0) lost.push(`attributes (${listed(losses.attributes)})`);
  if (losses.comments) lost.push('comments');
  if (losses.mixed.size > 0) lost.push(`text beside child elements (${listed(losses.mixed)})`);
  if (losses.declaration) lost.push('an XML declaration other than version 1.0, UTF-8');
  return { root, lost };
}

/** `<?xml version="1.0"?>`, with at most encoding UTF-8 and standalone: form, saying nothing. */
function plainDeclaration(item: unknown): boolean {
  const attributes = (item as Record<string, unknown>)[ATTRIBUTES];
  if (typeof attributes !== 'object' || attributes === null) return false;
  const allowed: Record<string, RegExp> = { version: /^1\.0$/, encoding: /^utf-8$/i, standalone: /^(?:yes|no)$/ };
  return (
    Object.entries(attributes).every(([k, v]) => Object.hasOwn(allowed, k) && typeof v === 'string' && allowed[k]?.test(v)) &&
    'version' in attributes
  );
}

/**
 * An element: its text when it has no child elements (character data and CDATA in order, exactly),
 * otherwise a node of its children. Depth is bounded by the scan, so the recursion is too.
 */
function readElement(name: string, children: unknown[], losses: Losses): XmlValue {
  const elements: OrderedNode[] = [];
  let text = '';
  /** Character data that is more than whitespace between elements: a CDATA section, a reference, a letter. */
  let content = false;
  for (const child of children) {
    const node = orderedNode(child);
    switch (node.name) {
      case TEXT:
        if (typeof node.value !== 'string') throw malformed();
        text += decodeText(node.value);
        if (!/^[ \t\r\n]*$/.test(node.value)) content = true;
        break;
      case CDATA:
        for (const part of childrenOf(node.value)) {
          const t = orderedNode(part);
          if (t.name !== TEXT || typeof t.value !== 'string') throw malformed();
          text += t.value;
        }
        content = true;
        break;
      case COMMENT:
        losses.comments = true;
        break;
      case DECLARATION:
        throw new XmlError('xml_forbidden_construct', 'an XML declaration inside the document');
      default:
        if (node.name.startsWith('?') || node.name.startsWith('#')) throw malformed();
        elements.push(node);
    }
  }
  if (elements.length === 0) return text;
  if (content) losses.mixed.add(name);
  const out: XmlNode = {};
  for (const element of elements) {
    if (element.attributes) losses.attributes.add(element.name);
    const value = readElement(element.name, childrenOf(element.value), losses);
    const prior = Object.hasOwn(out, element.name) ? out[element.name] : undefined;
    if (REPEATING.has(element.name)) {
      if (Array.isArray(prior)) prior.push(value);
      else out[element.name] = [value];
    } else if (prior !== undefined) {
      throw new XmlError('xml_duplicate_element', `element <${element.name.slice(0, 64)}> appears more than once`);
    } else {
      out[element.name] = value;
    }
  }
  return out;
}

const PREDEFINED = new Map([
  ['amp', '&'],
  ['lt', '<'],
  ['gt', '>'],
  ['quot', '"'],
  ['apos', "'"],
]);

/**
 * Character data as written, with its references resolved: XML's five entities and character
 * references (`&#65;`, `&#x41;`) to a character XML allows. Anything else after `&` is not
 * well-formed without a DTD, and DTDs are refused.
 */
function decodeText(raw: string): string {
  if (!raw.includes('&')) return raw;
  return raw.replace(/&([^&;]*)(;?)/g, (_m, body: string, semi: string) => {
    const named = semi ? PREDEFINED.get(body) : undefined;
    if (named !== undefined) return named;
    const ref = semi ? /^#(?:x([0-9A-Fa-f]{1,8})|([0-9]{1,10}))$/.exec(body) : null;
    const code = ref ? (ref[1] !== undefined ? parseInt(ref[1], 16) : Number(ref[2])) : -1;
    if (!xmlChar(code)) {
      throw new XmlError('xml_malformed', "a reference that is neither one of XML's five entities nor a character");
    }
    return String.fromCodePoint(code);
  });
}

/** XML 1.0 `Char`: tab, LF, CR, and U+0020 on, without surrogates, U+FFFE and U+FFFF. */
function xmlChar(code: number): boolean {
  return (
    code === 0x9 ||
    code === 0xa ||
    code === 0xd ||
    (code >= 0x20 && code <= 0xd7ff) ||
    (code >= 0xe000 && code <= 0xfffd) ||
    (code >= 0x10000 && code <= 0x10ffff)
  );
}

function listed(names: Set<string>): string {
  const all = [...names].map((n) => `<${n.slice(0, 64)}>`);
  return all.slice(0, 8).join(', ') + (all.length > 8 ? ', …' : '');
}

/**
 * One flat pass over the markup: the document without the content of CDATA sections and
 * comments (where "<!DOCTYPE" is only text, and a candidate may well write it), and whether
 * elements nest deeper than `max`. Quoted attribute values are skipped, so a CDATA marker there
 * hides nothing. Counting too deep only refuses more; the validator refuses whatever this scan
 * would misread; an unterminated section is kept as markup, so it is still checked.
 */
function scanMarkup(xml: string, max: number): { markup: string; tooDeep: boolean } {
  let markup = '';
  let depth = 0;
  let tooDeep = false;
  let i = 0;
  while (i < xml.length) {
    const lt = xml.indexOf('<', i);
    if (lt === -1) {
      markup += xml.slice(i);
      break;
    }
    markup += xml.slice(i, lt);
    const section = xml.startsWith('<![CDATA[', lt) ? ']]>' : xml.startsWith('<!--', lt) ? '-->' : undefined;
    if (section) {
      const close = xml.indexOf(section, lt + 4);
      if (close === -1) {
        markup += xml.slice(lt);
        break;
      }
      i = close + 3;
      continue;
    }
    const end = tagEnd(xml, lt + 1);
    if (end === -1) {
      markup += xml.slice(lt);
      break;
    }
    markup += xml.slice(lt, end + 1);
    const next = xml[lt + 1];
    if (next === '/') depth -= 1;
    else if (next !== '!' && next !== '?' && xml[end - 1] !== '/') {
      depth += 1;
      if (depth > max) tooDeep = true;
    }
    i = end + 1;
  }
  return { markup, tooDeep };
}

/** Index of the `>` ending a tag whose name starts at `from`, skipping quoted attribute values. */
function tagEnd(xml: string, from: number): number {
  let quote: string | undefined;
  for (let i = from; i < xml.length; i++) {
    const c = xml[i];
    if (quote) {
      if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === '>') {
      return i;
    }
  }
  return -1;
}

// ------------------------------------------------------------------ the fast path

/** Element names of the fast path: ASCII, as every WeCom name is. Anything else takes the general path. */
const PLAIN_NAME = /[A-Za-z_][A-Za-z0-9_]*/y;
const INTERNAL_NAME =
  /^(?:__proto__|constructor|prototype|hasOwnProperty|toString|valueOf|__defineGetter__|__defineSetter__|__lookupGetter__|__lookupSetter__)$/i;
/**
 * What sends a document to the general path before it is read: a carriage return (line ends are
 * normalised there), characters XML does not allow, and `SYSTEM` (the forbidden-construct check
 * looks for it in the markup with CDATA sections taken out, which may join text around them).
 */
// eslint-disable-next-line no-control-regex -- these control characters are what the fast path must not read
const NOT_PLAIN = /[\r\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|system/i;
const XML_SPACE = /^[ \t\n]*$/;

/**
 * The documents WeCom writes, read in one pass without the validator and the general parser (which
 * together cost several times more): `<xml>` holding elements without attributes, each holding
 * either child elements (whitespace between them) or character data (text without references, and
 * CDATA sections), no declaration, comment or processing instruction, nested no deeper than
 * MAX_XML_DEPTH, no element repeated unless it is one of REPEATING. For such a document the tree is
 * exactly the general path's (same values, arrays and key order) and nothing is lost. Anything
 * else, however harmless, gives undefined, and the general path reads the document and refuses
 * what it refuses, with its own reasons: this path refuses nothing.
 */
export function parsePlainXml(xml: string): ParsedXml | undefined {
  if (NOT_PLAIN.test(xml) || !xml.isWellFormed()) return undefined;
  let i = 0;
  const n = xml.length;
  const skipSpace = () => {
    while (i < n) {
      const c = xml.charCodeAt(i);
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a) break;
      i += 1;
    }
  };
  /** After the `<` of a start tag: its name and whether it closes itself, or undefined. */
  const startTag = (): { name: string; empty: boolean } | undefined => {
    PLAIN_NAME.lastIndex = i;
    const m = PLAIN_NAME.exec(xml);
    if (!m || INTERNAL_NAME.test(m[0])) return undefined;
    i += m[0].length;
    if (xml.charCodeAt(i) === 0x3e) {
      i += 1;
      return { name: m[0], empty: false };
    }
    if (xml.startsWith('/>', i)) {
      i += 2;
      return { name: m[0], empty: true };
    }
    return undefined;
  };
  /** The content and end tag of an element whose start tag has been read; undefined when not plain. */
  const element = (name: string, depth: number): XmlValue | undefined => {
    let text = '';
    let content = false;
    let children: XmlNode | undefined;
    for (;;) {
      const lt = xml.indexOf('<', i);
      if (lt === -1) return undefined;
      if (lt > i) {
        const chars = xml.slice(i, lt);
        if (chars.includes('&') || chars.includes(']]>')) return undefined;
        if (!XML_SPACE.test(chars)) content = true;
        text += chars;
      }
      i = lt + 1;
      const next = xml.charCodeAt(i);
      if (next === 0x2f /* / */) {
        if (!xml.startsWith(name, i + 1) || xml.charCodeAt(i + 1 + name.length) !== 0x3e) return undefined;
        i += name.length + 2;
        if (!children) return text;
        return content ? undefined : children;
      }
      if (next === 0x21 /* ! */) {
        if (!xml.startsWith('![CDATA[', i)) return undefined;
        const close = xml.indexOf(']]>', i + 8);
        if (close === -1) return undefined;
        text += xml.slice(i + 8, close);
        content = true;
        i = close + 3;
        continue;
      }
      // A child one level deeper, self-closing or not (the general path's bounds count both alike here).
      if (depth + 1 > MAX_XML_DEPTH) return undefined;
      const tag = startTag();
      if (!tag) return undefined;
      const value = tag.empty ? '' : element(tag.name, depth + 1);
      if (value === undefined) return undefined;
      children ??= {};
      const prior = Object.hasOwn(children, tag.name) ? children[tag.name] : undefined;
      if (REPEATING.has(tag.name)) {
        if (Array.isArray(prior)) prior.push(value);
        else children[tag.name] = [value];
      } else if (prior !== undefined) {
        return undefined;
      } else {
        children[tag.name] = value;
      }
    }
  };
  skipSpace();
  if (!xml.startsWith('<xml>', i)) return undefined;
  i += 5;
  const root = element('xml', 1);
  if (root === undefined || !isNode(root)) return undefined;
  skipSpace();
  return i === n ? { root, lost: [] } : undefined;
}

export function isNode(value: XmlValue | undefined): value is XmlNode {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The text of a direct child element, or undefined when absent or not text. */
export function textOf(node: XmlNode | undefined, name: string): string | undefined {
  const value = node?.[name];
  return typeof value === 'string' ? value : undefined;
}

export function childOf(node: XmlNode | undefined, name: string): XmlNode | undefined {
  const value = node?.[name];
  return isNode(value) ? value : undefined;
}

const ENCRYPT_OPEN = /<Encrypt(?=[ \t\r\n/>])/y;

/**
 * The ciphertext an XML envelope appears to carry, found without parsing, for the signature check
 * that comes before any parse: the character data (text with its references resolved, and CDATA
 * sections, in order) right after the first `<Encrypt>` start tag outside CDATA sections and
 * comments, up to the next tag; undefined when there is none. One forward pass of `indexOf` over the
 * string: its cost is linear in the body and independent of how the body nests, what it declares or
 * how many elements it holds. For every envelope parseWecomXml and the route accept, this is exactly
 * the `Encrypt` they read (one `<Encrypt>`, a child of `<xml>`, holding text and CDATA only); for
 * anything else it is at most a guess, which the signature then refuses unless WeCom signed it, and
 * the full parse after the signature check still decides, with its own precise reason.
 */
export function envelopeCiphertext(xml: string): string | undefined {
  // Only `<Encrypt` and `<!` (where CDATA sections and comments start) matter; each is searched for
  // natively and searched again only once passed, so the whole is one pass however many tags there are.
  let i = 0;
  let start = -1;
  let open = xml.indexOf('<Encrypt', 0);
  let bang = xml.indexOf('<!', 0);
  while (start === -1) {
    if (open === -1) return undefined;
    if (bang !== -1 && bang < open) {
      const section = xml.startsWith('<![CDATA[', bang) ? ']]>' : xml.startsWith('<!--', bang) ? '-->' : undefined;
      if (section) {
        const close = xml.indexOf(section, bang + 4);
        if (close === -1) return undefined;
        i = close + 3;
        if (open < i) open = xml.indexOf('<Encrypt', i);
      } else {
        i = bang + 2;
      }
      bang = xml.indexOf('<!', i);
      continue;
    }
    ENCRYPT_OPEN.lastIndex = open;
    if (ENCRYPT_OPEN.test(xml)) {
      const end = tagEnd(xml, open + 1);
      if (end === -1) return undefined;
      if (xml[end - 1] === '/') return '';
      start = end + 1;
    } else {
      i = open + 1;
      open = xml.indexOf('<Encrypt', i);
    }
  }
  let value = '';
  i = start;
  for (;;) {
    const lt = xml.indexOf('<', i);
    const text = xml.slice(i, lt === -1 ? xml.length : lt);
    try {
      value += decodeText(text);
    } catch {
      return undefined;
    }
    // The closing tag, or anything else (then the parse after the signature check refuses it).
    if (lt === -1 || !xml.startsWith('<![CDATA[', lt)) return value;
    const close = xml.indexOf(']]>', lt + 9);
    if (close === -1) return undefined;
    value += xml.slice(lt + 9, close);
    i = close + 3;
  }
}
