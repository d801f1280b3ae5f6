import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { StoredRecord } from '../../src/evidence';
import { APPROVED_DIVIDER, CSV_HEADER, fixPdf, renderLegalDocuments, type LegalDocumentsInput } from '../../src/legal/documents';
import { buildModel } from '../../src/legal/documents/model';
import { CANDIDATE_NAME, FORMULA_SOURCE, HOSTILE, input } from './fixtures/case';

/**
 * The documents a lawyer and an arbitrator read (issue 11 item 1), rendered with the real Chromium
 * and read back with poppler's pdftotext and pdfinfo, as a reader of the bundle would.
 */

const run = promisify(execFile);
const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

let dir: string;
let given: LegalDocumentsInput;
let first: Map<string, Buffer>;
let second: Map<string, Buffer>;
let pdfText: string;
/** The same PDF as `pdftotext -raw` reads it: each cell's text in drawing order, whatever the column widths. */
let rawText: string;

async function pdfTool(
  tool: 'pdftotext' | 'pdfinfo',
  pdf: Buffer,
  name: string,
  mode: '-layout' | '-raw' = '-layout',
): Promise<{ stdout: string; stderr: string }> {
  const file = join(dir, name);
  await writeFile(file, pdf);
  const args = tool === 'pdftotext' ? [mode, '-enc', 'UTF-8', file, '-'] : [file];
  return run(`/usr/bin/${tool}`, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
}

const squash = (s: string) => s.replace(/\s+/g, '');
const record = (kind: string): StoredRecord => given.records.find((r) => r.kind === kind) as StoredRecord;
const doc = (docs: Map<string, Buffer>, name: string): Buffer => {
  const b = docs.get(name);
  if (!b) throw new Error(`no ${name}`);
  return b;
};

/** A quoted CSV line (every field quoted, as the documents write it). */
function fields(line: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"]|"")*)"(?:,|$)/gy;
  let m: RegExpExecArray | null;
  while ((m = re.exec(line)) !== null) {
    out.push((m[1] as string).replace(/""/g, '"'));
    if (re.lastIndex >= line.length) break;
  }
  return out;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hl-legal-docs-'));
  given = input();
  first = await renderLegalDocuments(given, { chromiumPath: CHROMIUM });
  second = await renderLegalDocuments(input(), { chromiumPath: CHROMIUM });
  pdfText = (await pdfTool('pdftotext', doc(first, 'timeline.pdf'), 'a.pdf')).stdout;
  rawText = (await pdfTool('pdftotext', doc(first, 'timeline.pdf'), 'a.pdf', '-raw')).stdout;
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('legal documents', () => {
  it('returns exactly timeline.html, timeline.pdf and evidence-list.csv', () => {
    expect([...first.keys()].sort()).toEqual(['evidence-list.csv', 'timeline.html', 'timeline.pdf']);
    expect(doc(first, 'timeline.pdf').subarray(0, 5).toString('latin1')).toBe('%PDF-');
  });

  it('prints a PDF whose text holds the Chinese name, Beijing times, page numbers and full hashes', () => {
    expect(pdfText).toContain(CANDIDATE_NAME);
    expect(pdfText).toContain('候选人证据时间线');
    // offer.accepted happened at 01:00 UTC: 09:00 in Beijing (the date over the time, in its row).
    const lines = pdfText.split('\n');
    const accepted = lines.findIndex((l) => l.includes('候选人接受了 offer 第 1 版') && !l.includes('：候选人接受了'));
    expect(lines[accepted]).toMatch(/^\s*2026-11-11\s/);
    expect(lines[accepted + 1]).toMatch(/^\s*09:00:00(\s|$)/);
    expect(pdfText).toContain('（北京时间）');
    // UTC beside it, on the row's hash line, the hash still whole on its line.
    const acceptedRecord = record('offer.accepted');
    expect(pdfText).toMatch(new RegExp(`${acceptedRecord.hash} +2026-11-11 01:00:00 UTC`));
    expect(squash(pdfText)).toMatch(/第1页\/共\d+页/);
    for (const kind of [
      'offer.interview_invitation',
      'offer.approved',
      'offer.sent',
      'offer.accepted',
      'signal.hit',
      'member.profile',
    ]) {
      // The 64 hex digits on one line, unbroken.
      expect(pdfText).toContain(record(kind).hash);
    }
    // The record a link names, with its own hash.
    expect(pdfText).toContain(record('wecom.callback.event.change_external_contact').hash);
  });

  it('marks each key stage on its own row, and the first approval with the divider', () => {
    const text = squash(rawText);
    // Badge followed by the row's summary (the legend and the evidence list never put them together).
    const marked: [string, string][] = [
      ['面试邀请', '面试邀请：2026-11-0514:00'],
      ['录用意向', '录用意向（不具法律约束力'],
      ['审批', '提交offer第1版审批'],
      ['审批通过', 'offer第1版审批通过（审批单202611100001）'],
      ['正式offer', '正式offer第1版已发出'],
      ['接受', '候选人接受了offer第1版'],
      ['离职陈述', '候选人（微信客服）：我已经向原单位提出离职了'],
      ['离职陈述', '风险信号：未获正式offer即已离职'],
    ];
    for (const [badge, summary] of marked) expect(text).toContain(`${badge}${summary}`);
    // An unmarked row has no badge.
    expect(text).toContain('110哈希');
    expect(text).not.toMatch(/(面试邀请|录用意向|审批|审批通过|正式offer|接受|离职陈述)起草offer第1版/);
    const divider = text.indexOf(squash(APPROVED_DIVIDER));
    expect(divider).toBeGreaterThan(text.indexOf('审批提交offer第1版审批'));
    expect(divider).toBeLessThan(text.indexOf('审批通过offer第1版审批通过'));
    // In the HTML, the stage's colour class is on the row's group.
    const html = doc(first, 'timeline.html').toString('utf8');
    expect(html).toMatch(/<tbody class="entry with-hash stage-accepted"><tr>(?:(?!<\/tbody>).)*候选人接受了 offer 第 1 版/s);
    expect(html).toMatch(/tbody\.stage-accepted td \{ background: #[0-9a-f]{6}; \}/);
  });

  it('shows identity, completeness and the system statement', () => {
    const text = squash(rawText);
    // The WeCom profile as captured, the candidate's own confirmation (phone masked but for 4 digits), the recruiter's directory record.
    expect(text).toContain(`${CANDIDATE_NAME}wmAbCdEf0123456789xyz微信用户`);
    expect(text).toContain('*******5678与招聘方登记的手机号一致');
    expect(text).not.toContain('138****5678');
    // The number the recruiter noted in WeCom, masked the same way, beside the check.
    expect(text).toContain('备注手机号：*******5678');
    expect(text).not.toContain('13800005678');
    expect(text).toContain('张敏3/招聘专员');
    expect(text).toContain('lihua审批人');
    expect(text).toContain('会话存档未开启');
    expect(text).toContain('缺口');
    expect(text).toContain('法务部李律师');
    expect(text).toContain('HireLedger1.4.0');
    expect(pdfText).toContain(given.system.publicKey);
  });

  it('escapes hostile text in the HTML, which loads nothing and runs nothing', () => {
    const html = doc(first, 'timeline.html').toString('utf8');
    expect(html).not.toMatch(/<script/i);
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39; [U+0007] [U+202E]gnp.exe');
    expect(html).not.toContain(HOSTILE);
    // eslint-disable-next-line no-control-regex
    expect(html).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
    expect(html).not.toMatch(/\s(src|href)\s*=|<link|@import|url\(|@font-face/i);
    expect(html).toContain(`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`);
    expect(html).toMatch(/@page \{ size: A4;/);
  });

  it('renders byte-identical files twice, with the PDF dated at the checkpoint and a fixed document id', async () => {
    for (const name of ['timeline.html', 'timeline.pdf', 'evidence-list.csv'])
      expect(doc(second, name).equals(doc(first, name))).toBe(true);
    const pdf = doc(first, 'timeline.pdf').toString('latin1');
    expect(pdf).toMatch(/\/CreationDate \(D:20261112000000(Z|\+00'00'?)\)/);
    expect(pdf).toMatch(/\/ModDate \(D:20261112000000(Z|\+00'00'?)\)/);
    expect(pdf).toMatch(/trailer[\s\S]*\/ID \[<[0-9a-f]{32}> <[0-9a-f]{32}>\][\s\S]*startxref/);
    // poppler reads the rewritten file without repairing its cross-reference table.
    const info = await pdfTool('pdfinfo', doc(first, 'timeline.pdf'), 'info.pdf');
    expect(info.stderr).toBe('');
    expect(info.stdout).toMatch(/CreationDate:\s+Thu Nov 12 00:00:00 2026 UTC/);
    expect(info.stdout).toMatch(/Page size:\s+594\.96 x 841\.92 pts \(A4\)/);
  });

  it('fixes dates in place: same length, other checkpoint time gives other bytes, nothing else moves', async () => {
    const original = doc(first, 'timeline.pdf');
    const html = doc(first, 'timeline.html').toString('utf8');
    const later = fixPdf(original, new Date('2027-01-02T03:04:05.000Z'), html);
    expect(later.length).toBe(original.length);
    expect(later.equals(original)).toBe(false);
    // Only the two dates differ (each 14 digits), and the trailer /ID already there is kept.
    let differing = 0;
    for (let i = 0; i < original.length; i++) if (original[i] !== later[i]) differing++;
    expect(differing).toBeGreaterThan(0);
    expect(differing).toBeLessThanOrEqual(28);
    const info = await pdfTool('pdfinfo', later, 'later.pdf');
    expect(info.stderr).toBe('');
    expect(info.stdout).toMatch(/CreationDate:\s+Sat Jan {2}2 03:04:05 2027 UTC/);
  });

  it('writes the evidence list as CSV with a BOM, CRLF, quoted fields and an empty 证明目的 column', () => {
    const csv = doc(first, 'evidence-list.csv');
    expect([...csv.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const text = csv.toString('utf8').slice(1);
    expect(text.endsWith('\r\n')).toBe(true);
    expect(text.replace(/\r\n/g, '')).not.toMatch(/[\r\n]/);
    const lines = text.slice(0, -2).split('\r\n');
    expect(fields(lines[0] as string)).toEqual([...CSV_HEADER]);
    // The format document lists the same columns, in order.
    const spec = readFileSync(join(__dirname, '..', '..', 'docs', 'evidence-format.md'), 'utf8').replace(/\s+/g, ' ');
    expect(spec).toContain(`columns ${CSV_HEADER.join(', ')};`);
    const rows = lines.slice(1).map(fields);
    expect(rows.length).toBeGreaterThan(10);
    for (const [i, row] of rows.entries()) {
      expect(row).toHaveLength(9);
      expect(row[0]).toBe(String(i + 1));
      expect(row[5]).toBe('');
    }
    const sent = record('offer.sent');
    const sentRow = rows.find((r) => r[8] === sent.hash);
    expect(sentRow?.[7]).toBe(String(sent.seq));
    expect(sentRow?.[6]).toContain(`records.jsonl（seq ${sent.seq}）`);
    expect(sentRow?.[1]).toContain('正式 offer');
    // When, in Beijing time to the second as the records say, and the same instant in UTC beside it.
    const s = new Date(sent.occurredAt.getTime() + 8 * 3600_000).toISOString();
    expect(sentRow?.[2]).toBe(`${s.slice(0, 10)} ${s.slice(11, 19)}`);
    const u = sent.occurredAt.toISOString();
    expect(sentRow?.[3]).toBe(`${u.slice(0, 10)} ${u.slice(11, 19)}`);
    // A field a spreadsheet would run as a formula is quoted with an apostrophe.
    expect(rows.some((r) => r[4] === `'${FORMULA_SOURCE}`)).toBe(true);
    expect(rows.some((r) => r.some((f) => /^[=+@]/.test(f)))).toBe(false);
  });

  it('says there was no approval when there was none, and draws no divider', async () => {
    const base = input();
    const records = base.records.filter((r) => r.kind !== 'offer.approved');
    const docs = await renderLegalDocuments(
      { ...base, records, entries: base.entries.filter((e) => e.kind !== 'offer.approved') },
      { chromiumPath: CHROMIUM },
    );
    const html = doc(docs, 'timeline.html').toString('utf8');
    expect(html).not.toContain(APPROVED_DIVIDER);
    expect(html).toContain('本时间线中没有 offer 审批通过的记录');
    expect(doc(first, 'timeline.html').toString('utf8')).toContain(APPROVED_DIVIDER);
  });

  it('names CHROMIUM_PATH and the Debian packages when Chromium cannot be launched', async () => {
    await expect(renderLegalDocuments(input(), { chromiumPath: join(dir, 'no-such-chromium') })).rejects.toThrow(
      /无法用 Chromium 生成 PDF：启动失败.*fonts-noto-cjk.*CHROMIUM_PATH.*\(cannot render the PDF with Chromium: it did not start; install the Debian packages chromium and fonts-noto-cjk and set CHROMIUM_PATH/s,
    );
  });

  it('refuses to print Chinese without the CJK font rather than print empty boxes', async () => {
    // The real Chromium, seeing a font configuration with no fonts in it.
    const empty = join(dir, 'no-fonts');
    await mkdir(join(empty, 'cache'), { recursive: true });
    await writeFile(
      join(empty, 'fonts.conf'),
      `<?xml version="1.0"?>\n<fontconfig><dir>${empty}</dir><cachedir>${join(empty, 'cache')}</cachedir></fontconfig>\n`,
    );
    const wrapper = join(empty, 'chromium');
    await writeFile(wrapper, `#!/bin/sh\nFONTCONFIG_FILE='${join(empty, 'fonts.conf')}' exec '${CHROMIUM}' "$@"\n`, {
      mode: 0o755,
    });
    await expect(renderLegalDocuments(input(), { chromiumPath: wrapper })).rejects.toThrow(
      /找不到字体 Noto Sans CJK SC.*fonts-noto-cjk.*\(cannot render the PDF with Chromium: no font Noto Sans CJK SC; install/s,
    );
  });
});

describe('evidence list times', () => {
  it('a group of records within one second shows one time, in Beijing time and in UTC; a wider one a range', () => {
    const given = input();
    const messages = given.records.filter((r) => r.kind === 'conversation.message');
    expect(messages.length).toBeGreaterThan(1);
    const base = Date.UTC(2026, 10, 10, 16, 0, 30); // 00:00:30 in Beijing on the 11th
    const within = given.records.map((r) =>
      r.kind === 'conversation.message' ? { ...r, occurredAt: new Date(base + messages.indexOf(r) * 100) } : r,
    );
    const chat = (records: StoredRecord[]) =>
      buildModel({ ...given, records }).evidence.find((e) => e.name.startsWith('聊天记录'));
    expect(chat(within)).toMatchObject({ when: '2026-11-11 00:00:30', whenUtc: '2026-11-10 16:00:30' });
    const wider = given.records.map((r) =>
      r.kind === 'conversation.message' ? { ...r, occurredAt: new Date(base + messages.indexOf(r) * 1000) } : r,
    );
    const last = `2026-11-11 00:00:${String(30 + messages.length - 1).padStart(2, '0')}`;
    expect(chat(wider)).toMatchObject({
      when: `2026-11-11 00:00:30 至 ${last}`,
      whenUtc: `2026-11-10 16:00:30 至 2026-11-10 16:00:${String(30 + messages.length - 1).padStart(2, '0')}`,
    });
  });
});
