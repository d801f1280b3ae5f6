import { createHash } from 'node:crypto';
import { chromium, type Browser } from 'playwright-core';
import { CJK_SANS } from './html';
import { html as esc } from './text';

/**
 * timeline.pdf: timeline.html printed by headless Chromium (Debian's, through playwright-core),
 * with the CJK font of fonts-noto-cjk. The page may load nothing: every request is refused.
 *
 * Deterministic: Chromium's PDF differs between two prints of one page only in /CreationDate and
 * /ModDate (measured with Chromium 156: nothing else, no document /ID). Both are rewritten to the
 * checkpoint's signing time in a string of the same length, so no object moves and the xref table
 * stays right; a document /ID derived from the HTML is added to the trailer, which comes after
 * the xref table and so moves nothing either.
 */

const LAUNCH_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // Docker gives /dev/shm 64 MB; a few hundred A4 pages need more, so Chromium uses /tmp instead.
  '--disable-dev-shm-usage',
];

/** The CJK font the PDF needs; without it Chinese prints as empty boxes, so its absence is an error. */
const CJK_FONT = 'Noto Sans CJK SC';

function installHint(chromiumPath: string, why: { zh: string; en: string }): Error {
  return new Error(
    `无法用 Chromium 生成 PDF：${why.zh}。请安装 Debian 软件包 chromium 与 fonts-noto-cjk，并用 CHROMIUM_PATH 指明 Chromium 的路径（当前：${chromiumPath}）` +
      ` (cannot render the PDF with Chromium: ${why.en}; install the Debian packages chromium and fonts-noto-cjk and set CHROMIUM_PATH; now ${chromiumPath})`,
  );
}

async function launch(chromiumPath: string): Promise<Browser> {
  try {
    return await chromium.launch({ executablePath: chromiumPath, args: LAUNCH_ARGS });
  } catch (e) {
    const first = (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? '';
    throw installHint(chromiumPath, { zh: `启动失败（${first}）`, en: 'it did not start' });
  }
}

/** `D:YYYYMMDDHHmmSS` in UTC, then a zone written in exactly as many characters as `zone`. */
function pdfDate(at: Date, zone: string): string {
  const s = at.toISOString();
  const digits = `${s.slice(0, 4)}${s.slice(5, 7)}${s.slice(8, 10)}${s.slice(11, 13)}${s.slice(14, 16)}${s.slice(17, 19)}`;
  const utc = zone === 'Z' ? 'Z' : `+00'00'`.slice(0, zone.length).padEnd(zone.length, "'");
  return `D:${digits}${utc}`;
}

const DATE_ENTRY = /\/(CreationDate|ModDate) ?\(D:\d{14}(Z|[+-]\d\d'\d\d'?)?\)/g;

/**
 * The PDF with its dates fixed and a document /ID; throws when Chromium's output has a form this
 * does not know (so a new Chromium cannot silently make exports differ).
 */
export function fixPdf(pdf: Buffer, at: Date, htmlText: string): Buffer {
  // latin1 maps bytes to characters one to one, so string offsets are byte offsets.
  let text = pdf.toString('latin1');
  let dates = 0;
  text = text.replace(DATE_ENTRY, (whole: string, name: string, zone: string | undefined) => {
    dates++;
    const fixed = whole.replace(/\(D:[^)]*\)/, `(${pdfDate(at, zone ?? '')})`);
    if (fixed.length !== whole.length) throw new Error(`PDF date of unexpected form: ${name}`);
    return fixed;
  });
  if (dates === 0 && /\/(CreationDate|ModDate)/.test(text))
    throw new Error('PDF dates of unexpected form (Chromium changed its output)');
  const trailer = text.lastIndexOf('trailer');
  const startxref = text.lastIndexOf('startxref');
  if (trailer < 0 || startxref < trailer) throw new Error('PDF without a classic trailer (Chromium changed its output)');
  const dict = text.slice(trailer, startxref);
  if (!dict.includes('/ID')) {
    const id = createHash('sha256').update(`${at.toISOString()}\n`).update(htmlText).digest('hex').slice(0, 32);
    const end = dict.lastIndexOf('>>');
    if (end < 0) throw new Error('PDF trailer without a dictionary');
    const withId = `${dict.slice(0, end)}\n/ID [<${id}> <${id}>]${dict.slice(end)}`;
    text = `${text.slice(0, trailer)}${withId}${text.slice(startxref)}`;
  }
  return Buffer.from(text, 'latin1');
}

export async function renderPdf(
  htmlText: string,
  opts: { chromiumPath: string; signedAt: Date; header: string },
): Promise<Buffer> {
  const browser = await launch(opts.chromiumPath);
  try {
    const page = await browser.newPage();
    await page.route('**/*', (route) => route.abort());
    // A string, evaluated in the page: this project's TypeScript has no DOM types.
    const fontFound = await page.evaluate<boolean>(
      `new FontFace('probe', 'local("${CJK_FONT}")').load().then(() => true, () => false)`,
    );
    if (!fontFound) throw installHint(opts.chromiumPath, { zh: `找不到字体 ${CJK_FONT}`, en: `no font ${CJK_FONT}` });
    await page.setContent(htmlText, { waitUntil: 'load' });
    const small = `font-family: ${CJK_SANS.replace(/"/g, "'")}; font-size: 7pt; color: #555; width: 100%; margin: 0 12mm;`;
    const pdf = await page.pdf({
      format: 'A4',
      printBackground: true,
      preferCSSPageSize: true,
      displayHeaderFooter: true,
      headerTemplate: `<div style="${small} text-align: right;">${esc(opts.header)}</div>`,
      footerTemplate: `<div style="${small} text-align: center;">第 <span class="pageNumber"></span> 页 / 共 <span class="totalPages"></span> 页</div>`,
      margin: { top: '16mm', bottom: '16mm', left: '12mm', right: '12mm' },
    });
    return fixPdf(pdf, opts.signedAt, htmlText);
  } finally {
    await browser.close();
  }
}
