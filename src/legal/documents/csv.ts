import type { DocumentModel } from './model';
import { plain } from './text';

/**
 * evidence-list.csv: the 证据目录 for the lawyer to edit. UTF-8 with a BOM and CRLF line ends, every
 * field quoted, so Excel and WPS open it in Chinese as it is. 证明目的 is an empty column.
 */

export const CSV_HEADER = [
  '序号',
  '证据名称',
  '时间（北京时间）',
  '时间（UTC）',
  '来源',
  '证明目的',
  '所在位置',
  'seq',
  'hash',
] as const;

/**
 * A field as a spreadsheet must not run it: a leading = + - @ (or tab/CR) would make Excel or WPS
 * read a hostile record as a formula, so such a field starts with an apostrophe (OWASP's advice).
 */
function field(value: string): string {
  const v = plain(value);
  const safe = /^[=+\-@]/.test(v) ? `'${v}` : v;
  return `"${safe.replace(/"/g, '""')}"`;
}

export function renderCsv(model: DocumentModel): Buffer {
  const lines = [
    CSV_HEADER.map(field).join(','),
    ...model.evidence.map((e) =>
      [String(e.no), e.name, e.when, e.whenUtc, e.source, '', e.where, e.seq, e.hash].map(field).join(','),
    ),
  ];
  return Buffer.from(`\ufeff${lines.join('\r\n')}\r\n`, 'utf8');
}
