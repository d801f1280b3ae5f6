import { renderCsv } from './csv';
import { renderHtml } from './html';
import { buildModel } from './model';
import { renderPdf } from './pdf';
import { DOCUMENT_FILES, type DocumentFile, type LegalDocumentsInput, type LegalDocumentsOptions } from './types';

/**
 * The documents of a legal evidence bundle that people read (issue 11 item 1): timeline.html,
 * timeline.pdf (the same page printed by headless Chromium) and evidence-list.csv (the 证据目录 for
 * the lawyer to fill in). Made from the input alone: the same input gives byte-identical files.
 */

export { CSV_HEADER } from './csv';
export { involvedMembers } from './model';
export { fixPdf } from './pdf';
export { APPROVED_DIVIDER, STAGE_LABEL, type StageKey } from './stages';
export { DOCUMENT_FILES, type DocumentFile, type LegalDocumentsInput, type LegalDocumentsOptions } from './types';

export async function renderLegalDocuments(
  input: LegalDocumentsInput,
  opts: LegalDocumentsOptions,
): Promise<Map<DocumentFile, Buffer>> {
  const model = buildModel(input);
  const page = renderHtml(input, model);
  const header = `HireLedger 证据时间线 · ${model.candidateName || input.candidate.externalUserId} · 检查点 ${input.checkpoint.size}`;
  const pdf = await renderPdf(page, { chromiumPath: opts.chromiumPath, signedAt: input.checkpoint.signedAt, header });
  return new Map<DocumentFile, Buffer>([
    [DOCUMENT_FILES.html, Buffer.from(page, 'utf8')],
    [DOCUMENT_FILES.pdf, pdf],
    [DOCUMENT_FILES.csv, renderCsv(model)],
  ]);
}
