import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { checkpointSigner, createCheckpointer, createLedger, verifierKeyOf, type Ledger } from '../../src/evidence';
import { buildBundle, bundleZip } from '../../src/evidence/export';
import { writeNewSigningKey } from '../../src/evidence/signing-key';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { TEST_KEYS } from '../support/keys';
import { forgeZip, fromLines, lines, rezip, root, seqOf, unicodePath, unzip } from './helpers';

/**
 * Issue 11: verify.html, opened from a file:// URL with the network blocked, checks a real bundle
 * (made by the exporter against a real database) in Chromium with WebCrypto: PASS, and FAIL naming
 * the record whose byte was changed. The page is the committed verifier/verify.html, the same core
 * as hireledger-verify.mjs.
 */
const CHROMIUM = '/usr/bin/chromium';
const ORIGIN = `hireledger.evidence/${TEST_KEYS.corpId}`;
const STREAM = 'wecom:kf:verifyhtml';

describe('verify.html in Chromium, offline', () => {
  let db: TestDatabase;
  let ledger: Ledger;
  let dir: string;
  let browser: Browser;
  let bundle: Buffer;
  let publishedKey: string;
  const requests: string[] = [];

  beforeAll(async () => {
    // Not a skip: without Chromium this test cannot show the page works, so it fails saying why.
    if (!existsSync(CHROMIUM))
      throw new Error(`Chromium is missing at ${CHROMIUM}: install Debian's chromium package (apt-get install chromium)`);
    db = await createTestDatabase();
    ledger = createLedger({ pool: db.appPool });
    dir = await mkdtemp(join(tmpdir(), 'hl-verify-html-'));
    const key = await writeNewSigningKey(join(dir, 'signing.pem'));
    publishedKey = verifierKeyOf(ORIGIN, key.publicKey);
    for (let i = 1; i <= 12; i++) {
      await ledger.append({
        stream: i % 3 ? STREAM : 'wecom:member:someoneelse',
        kind: 'conversation.message',
        occurredAt: new Date(Date.UTC(2026, 10, 22, 1, i)),
        actor: 'wangwu',
        source: 'test',
        sourceRef: `m${i}`,
        payload: { text: `第 ${i} 条：您好`, i },
        raw: { body: `<xml><Encrypt>e${i}</Encrypt></xml>` },
      });
    }
    await createCheckpointer({ pool: db.appPool, origin: ORIGIN, signer: checkpointSigner(ORIGIN, key), witnesses: [] }).take();
    const built = await buildBundle(db.appPool, {
      streams: [STREAM],
      origin: ORIGIN,
      signingKey: key,
      formatSpec: await readFile(join(root, 'docs', 'evidence-format.md')),
      verifyHtml: await readFile(join(root, 'verifier', 'verify.html')),
    });
    bundle = bundleZip(built, {
      exportedBy: 'legal01',
      exportedAt: new Date(),
      record: { seq: 99, hash: 'a'.repeat(64), stream: STREAM },
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await ledger?.close();
    await db?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Opens verify.html from a temp folder, the network blocked, every request recorded. */
  async function open(): Promise<{ page: Page; close: () => Promise<void> }> {
    const page_dir = await mkdtemp(join(dir, 'page-'));
    await copyFile(join(root, 'verifier', 'verify.html'), join(page_dir, 'verify.html'));
    const url = pathToFileURL(join(page_dir, 'verify.html')).href;
    const context = await browser.newContext({ offline: true, serviceWorkers: 'block' });
    await context.route('**/*', (r) => (r.request().url() === url ? r.continue() : r.abort()));
    const page = await context.newPage();
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(url);
    return { page, close: () => context.close() };
  }

  async function check(page: Page, zip: Buffer, name: string): Promise<string> {
    const file = join(dir, name);
    await writeFile(file, zip);
    await page.setInputFiles('#bundle', file);
    await page.waitForSelector('body[data-result]', { state: 'attached', timeout: 30_000 });
    return (await page.getAttribute('body', 'data-result')) as string;
  }

  test('a real bundle PASSes; one byte of a record changed FAILs naming its seq; no request leaves the page', async () => {
    const { page, close } = await open();
    try {
      expect(await check(page, bundle, 'good.zip')).toBe('PASS');
      const overall = await page.textContent('#overall');
      expect(overall).toContain('总体结论：全部通过');
      expect(overall).toContain('OVERALL: PASS');
      for (const id of ['zip', 'checkpoint', 'statement', 'manifest', 'records', 'streams', 'proofs', 'witnesses', 'export'])
        expect([id, await page.getAttribute(`#check-${id}`, 'data-status')]).toEqual([id, 'PASS']);
      expect(await page.textContent('#check-records')).toContain('通过');
      expect(await page.textContent('#notes')).toContain(publishedKey);

      // the published key typed in: PASS; another key: FAIL
      await page.fill('#key', publishedKey);
      await page.click('#run');
      await page.waitForSelector('body[data-result]', { state: 'attached' });
      expect(await page.getAttribute('body', 'data-result')).toBe('PASS');
      await page.fill('#key', verifierKeyOf(ORIGIN, generateKeyPairSync('ed25519').publicKey));
      await page.click('#run');
      await page.waitForSelector('body[data-result]', { state: 'attached' });
      expect(await page.getAttribute('body', 'data-result')).toBe('FAIL');
      expect(await page.textContent('#check-checkpoint')).toContain('not the published key');
      await page.fill('#key', '');

      const files = unzip(bundle);
      const ls = lines(files.get('records.jsonl') as Buffer);
      const seq = seqOf(ls[2] as string);
      ls[2] = (ls[2] as string).replace('您好', '你好');
      files.set('records.jsonl', fromLines(ls));
      expect(await check(page, rezip(files), 'bad.zip')).toBe('FAIL');
      expect(await page.textContent('#overall')).toContain('OVERALL: FAIL');
      expect(await page.textContent('#first-bad')).toContain(`seq ${seq}`);
      expect(await page.getAttribute('#check-records', 'data-status')).toBe('FAIL');
      expect(await page.textContent('#check-records')).toContain(`record seq ${seq}: payload does not match`);

      // not a ZIP at all: FAIL, in the page's words
      expect(await check(page, Buffer.from('not a zip'), 'junk.zip')).toBe('FAIL');
      expect(await page.textContent('#check-zip')).toContain('not a ZIP file');
    } finally {
      await close();
    }
    expect(requests.length).toBeGreaterThan(0);
    expect(requests.filter((u) => !u.startsWith('file://'))).toEqual([]);
  });

  test("the forensic review's forgeries FAIL in the page as on the command line; a PASS without a key warns beside the result", async () => {
    const { page, close } = await open();
    try {
      // the page says its own copy in a bundle can be replaced
      const intro = ((await page.textContent('body')) as string).replace(/\s+/g, ' ');
      expect(intro).toContain('交给您证据包的人可以把它换成一个谎报结果的页面');
      expect(intro).toContain('A careful reader uses a verifier obtained independently');

      expect(await check(page, bundle, 'good.zip')).toBe('PASS');
      expect(await page.isVisible('#key-warning')).toBe(true);
      const warning = (await page.textContent('#key-warning')) as string;
      expect(warning).toContain('未核对公布的公钥');
      expect(warning).toContain(publishedKey);
      expect(warning).toContain('WARNING: the signer was NOT checked against a published key');
      await page.fill('#key', publishedKey);
      await page.click('#run');
      await page.waitForSelector('body[data-result]', { state: 'attached' });
      expect(await page.getAttribute('body', 'data-result')).toBe('PASS');
      expect(await page.isVisible('#key-warning')).toBe(false);

      const files = unzip(bundle);
      const ls = lines(files.get('records.jsonl') as Buffer);
      ls[0] = (ls[0] as string).replace('您好', '你好');
      const statement = files.get('statement.txt') as Buffer;
      const cosigned = unzip(bundle);
      cosigned.set(
        'statement.txt',
        Buffer.concat([statement, Buffer.from(`\u2014 notary.example/公证处 ${randomBytes(68).toString('base64')}\n`)]),
      );
      const forgeries: [string, Buffer, string, string][] = [
        [
          'hidden.zip',
          forgeZip(files, { hiddenAfter: [{ name: 'records.jsonl', data: fromLines(ls) }] }),
          'zip',
          'bytes after the last local entry that no entry accounts for',
        ],
        ['prefix.zip', forgeZip(files, { prefix: Buffer.alloc(64) }), 'zip', "64 bytes before checkpoint.txt's local entry"],
        ['comment.zip', forgeZip(files, { comment: Buffer.from('verified OK') }), 'zip', 'archive comment'],
        [
          'junk.zip',
          forgeZip(files, { tailJunk: { 'records.jsonl': Buffer.from('JUNKJUNK') } }),
          'zip',
          'bytes after its deflate stream',
        ],
        [
          'upath.zip',
          forgeZip(files, { centralExtra: { 'format.md': unicodePath('format.md', 'records.jsonl') } }),
          'zip',
          'format.md: an extra field in the central directory',
        ],
        ['dd.zip', forgeZip(files, { dataDescriptor: ['records.jsonl'] }), 'zip', 'records.jsonl: a data descriptor'],
        ['cosigned.zip', forgeZip(cosigned), 'statement', 'statement.txt carries 2 signature lines'],
      ];
      // the forger's writer, told nothing else, writes a bundle the page passes: each knob is the change
      expect(await check(page, forgeZip(files), 'same.zip')).toBe('PASS');
      for (const [name, zip, id, why] of forgeries) {
        expect([name, await check(page, zip, name)]).toEqual([name, 'FAIL']);
        expect([name, await page.getAttribute(`#check-${id}`, 'data-status')]).toEqual([name, 'FAIL']);
        expect([name, await page.textContent(`#check-${id}`)]).toEqual([name, expect.stringContaining(why)]);
        expect(await page.isVisible('#key-warning')).toBe(false);
      }
    } finally {
      await close();
    }
  });
});
