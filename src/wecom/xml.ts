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
    readonly code: 'xml_forbidden_construct' | 'xml_malformed' | 'xml_duplicate_element' | 'xml_unexpected_root',
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
});

export type XmlValue = string | XmlNode | XmlValue[];
export interface XmlNode {
  [key: string]: XmlValue;
}

/** Parse a `<xml>…</xml>` document into a tree of strings; throws XmlError on anything suspicious. */
export function parseWecomXml(xml: string): XmlNode {
  if (FORBIDDEN.test(xml))
    throw new XmlError('xml_forbidden_construct', 'DOCTYPE, entity declarations and processing instructions are refused');
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

function isNode(value: XmlValue | undefined): value is XmlNode {
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
