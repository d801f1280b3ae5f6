import { XMLParser, XMLValidator } from 'fast-xml-parser';

/**
 * Parsing of WeCom XML (outer envelope and decrypted inner message).
 *
 * WeCom XML never carries a DOCTYPE, entities or processing instructions, so anything of that
 * kind is hostile and is refused before a parser sees it (fast-xml-parser had entity-expansion
 * CVEs in 2026). Values stay strings: MsgId and friends are 64-bit and must not become numbers.
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
 * before anything recursive (the parser, the duplicate check, canonical JSON) sees the document.
 */
export const MAX_XML_DEPTH = 64;

const FORBIDDEN =
  /<!DOCTYPE|<!ENTITY|<!ELEMENT|<!ATTLIST|<!NOTATION|<\?(?!xml\s)|SYSTEM\s*["']|<\/?(?:__proto__|constructor|prototype)\b/i;

const parser = new XMLParser({
  ignoreAttributes: true,
  processEntities: false,
  htmlEntities: false,
  parseTagValue: false,
  trimValues: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  isArray: (name) => REPEATING.has(name),
  maxNestedTags: MAX_XML_DEPTH,
});

export type XmlValue = string | XmlNode | XmlValue[];
export interface XmlNode {
  [key: string]: XmlValue;
}

/** Parse a `<xml>…</xml>` document into a tree of strings; throws XmlError on anything suspicious. */
export function parseWecomXml(xml: string): XmlNode {
  const { markup, tooDeep } = scanMarkup(xml, MAX_XML_DEPTH);
  if (FORBIDDEN.test(markup))
    throw new XmlError('xml_forbidden_construct', 'DOCTYPE, entity declarations and processing instructions are refused');
  if (tooDeep) throw new XmlError('xml_too_deep', `elements nested deeper than ${MAX_XML_DEPTH}`);
  if (XMLValidator.validate(xml) !== true) throw new XmlError('xml_malformed', 'body is not well-formed XML');
  let doc: unknown;
  try {
    doc = parser.parse(xml);
  } catch {
    throw new XmlError('xml_malformed', 'body could not be parsed as XML');
  }
  const root = (doc as Record<string, unknown>)['xml'];
  if (
    root === undefined ||
    typeof root !== 'object' ||
    root === null ||
    Array.isArray(root) ||
    Object.keys(doc as object).length !== 1
  ) {
    throw new XmlError('xml_unexpected_root', 'root element must be <xml>');
  }
  assertNoDuplicates(root as XmlNode);
  return root as XmlNode;
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

function assertNoDuplicates(node: XmlNode): void {
  for (const [name, value] of Object.entries(node)) {
    if (Array.isArray(value)) {
      if (!REPEATING.has(name)) throw new XmlError('xml_duplicate_element', `element <${name}> appears more than once`);
      for (const item of value) if (isNode(item)) assertNoDuplicates(item);
    } else if (isNode(value)) {
      assertNoDuplicates(value);
    }
  }
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
