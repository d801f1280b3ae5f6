import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { copyFile, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { inflateRawSync } from 'node:zlib';
import { createCandidateDirectory } from '../../src/candidates';
import { CONVERSATION_KINDS, CONVERSATION_SOURCE_REFS, CONVERSATION_SOURCES } from '../../src/conversations';
import {
  checkpointSigner,
  createCheckpointer,
  createLedger,
  createLedgerReader,
  signNote,
  type Ledger,
} from '../../src/evidence';
import { EXPORTED_KIND, writeZip } from '../../src/evidence/export';
import { writeNewSigningKey } from '../../src/evidence/signing-key';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { testEnv } from '../support/env';
import { TEST_KEYS } from '../support/keys';

/**
 * Issue 11, first slice: `evidence:export` writes a candidate's bundle, and
 * `node verifier/hireledger-verify.mjs` checks it with nothing but the bundle, from an empty
 * folder. Every kind of damage makes it FAIL naming what broke; bad ZIPs FAIL without a stack trace.
 */
const run = promisify(execFile);
const root = join(__dirname, '..', '..');
const tsx = join(root, 'node_modules', '.bin', 'tsx');
const VERIFIER = join(root, 'verifier', 'hireledger-verify.mjs');
const ORIGIN = `hireledger.evidence/${TEST_KEYS.corpId}`;
const EXTERNAL = 'wmExportCandidate01';
const KFID = 'wkExportAccount01';

type Out = { code: number; stdout: string; stderr: string };
const settle = (p: Promise<{ stdout: string; stderr: string }>): Promise<Out> =>
  p.then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

/** The test's own ZIP reader (trusting): entries by name. */
function unzip(buf: Buffer): Map<string, Buffer> {
  const eocd = buf.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  const out = new Map<string, Buffer>();
  for (let i = 0; i < count; i++) {
    const csize = buf.readUInt32LE(p + 20);
    const nlen = buf.readUInt16LE(p + 28);
    const local = buf.readUInt32LE(p + 42);
    const name = buf.subarray(p + 46, p + 46 + nlen).toString('utf8');
    const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    out.set(name, inflateRawSync(buf.subarray(start, start + csize)));
    p += 46 + nlen + buf.readUInt16LE(p + 30) + buf.readUInt16LE(p + 32);
  }
  return out;
}

const rezip = (files: Map<string, Buffer>) => writeZip([...files].map(([name, data]) => ({ name, data })));
const lines = (b: Buffer) => b.toString('utf8').trimEnd().split('\n');
const fromLines = (ls: string[]) => Buffer.from(`${ls.join('\n')}\n`, 'utf8');

describe('evidence:export and the offline verifier', () => {
  let db: TestDatabase;
  let ledger: Ledger;
  let dir: string;
  let env: Record<string, string>;
  let stream: string;
  let candidateId: string;
  let bundlePath: string;
  let bundle: Buffer;

  const exportCli = (args: string[]) =>
    settle(run(tsx, [join(root, 'scripts', 'evidence-export.ts'), ...args], { env, maxBuffer: 16 * 1024 * 1024 }));

  /** Copies the verifier and a bundle into a fresh, otherwise empty folder and runs it there. */
  async function verify(zip: Buffer, extra: string[] = []): Promise<Out> {
    const empty = await mkdtemp(join(tmpdir(), 'hl-verify-'));
    try {
      await copyFile(VERIFIER, join(empty, 'hireledger-verify.mjs'));
      await writeFile(join(empty, 'bundle.zip'), zip);
      return await settle(
        run(process.execPath, ['hireledger-verify.mjs', 'bundle.zip', ...extra], {
          cwd: empty,
          env: { PATH: process.env['PATH'] ?? '' },
        }),
      );
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  }

  function expectFail(out: Out, ...why: (string | RegExp)[]) {
    expect(out.code).toBe(1);
    expect(out.stdout).toMatch(/OVERALL: FAIL\n$/);
    expect(out.stdout).not.toMatch(/OVERALL: PASS/);
    expect(out.stdout + out.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/); // no stack trace
    expect(out.stderr).toBe('');
    for (const w of why) expect(out.stdout).toMatch(w);
  }

  beforeAll(async () => {
    db = await createTestDatabase();
    ledger = createLedger({ pool: db.appPool });
    dir = await mkdtemp(join(tmpdir(), 'hl-export-'));
    const key = await writeNewSigningKey(join(dir, 'signing.pem'));
    env = testEnv({ DATABASE_URL: db.appUrl, EVIDENCE_SIGNING_KEY_FILE: join(dir, 'signing.pem') });
    const directory = createCandidateDirectory(db.appPool);
    const made = await ledger.transact(async (tx) => {
      const c = await directory.candidateFor(tx, TEST_KEYS.corpId, EXTERNAL, { via: 'kf', openKfId: KFID });
      return { result: c, entries: c.entries };
    });
    candidateId = made.result.candidateId;
    stream = made.result.stream;
    for (let i = 1; i <= 6; i++) {
      // Someone else's record between the candidate's: the bundle must leave it out.
      await ledger.append({
        stream: 'wecom:member:someoneelse',
        kind: 'test.noise',
        occurredAt: new Date(Date.UTC(2026, 10, 22, 0, i)),
        actor: 'sys',
        source: 'test',
        sourceRef: `noise-${i}`,
        payload: { i },
        raw: null,
      });
      await ledger.append({
        stream,
        kind: CONVERSATION_KINDS.message,
        occurredAt: new Date(Date.UTC(2026, 10, 22, 1, i)),
        actor: i % 2 ? candidateId : 'wangwu',
        source: CONVERSATION_SOURCES.kf,
        sourceRef: CONVERSATION_SOURCE_REFS.kfMessage(KFID, `e${i}`),
        payload: {
          channel: 'kf',
          role: i % 2 ? 'candidate' : 'recruiter',
          msgid: `e${i}`,
          msgtype: 'text',
          text: `第 ${i} 条：您好`,
        },
        raw: { method: 'POST', body: `<xml><Encrypt>e${i}</Encrypt></xml>` },
      });
    }
    await createCheckpointer({ pool: db.appPool, origin: ORIGIN, signer: checkpointSigner(ORIGIN, key), witnesses: [] }).take();
    bundlePath = join(dir, 'a.zip');
    const out = await exportCli(['--candidate', EXTERNAL, '--out', bundlePath, '--as', 'legal01']);
    expect(out).toMatchObject({ code: 0 });
    bundle = await readFile(bundlePath);
  });
  afterAll(async () => {
    await ledger.close();
    await db.drop();
    await rm(dir, { recursive: true, force: true });
  });

  test('a bundle verifies from an empty folder, and its export is recorded', async () => {
    const out = await verify(bundle);
    expect(out.stdout).toMatch(/OVERALL: PASS\n/);
    expect(out.code).toBe(0);
    expect(out.stdout).not.toMatch(/FAIL/);
    // Without the published key the PASS says which key signed, and that it must be compared.
    expect(out.stdout).toMatch(/NOTE: the checkpoint is signed by key .*--key/);
    const published = (unzip(bundle).get('public-key.txt') as Buffer).toString('utf8').trim();
    const withKey = await verify(bundle, ['--key', published]);
    expect(withKey.code).toBe(0);
    expect(withKey.stdout).toMatch(/\(the published key\)/);
    expect(withKey.stdout).not.toMatch(/NOTE:/);
    const files = unzip(bundle);
    expect([...files.keys()]).toEqual([
      'checkpoint.txt',
      'export.json',
      'format.md',
      'manifest.json',
      'proofs.jsonl',
      'public-key.txt',
      'records.jsonl',
    ]);
    const records = lines(files.get('records.jsonl') as Buffer).map((l) => JSON.parse(l) as { stream: string; seq: number });
    expect(records.length).toBe(7); // candidate.created + 6 messages, no noise
    expect(records.every((r) => r.stream === stream)).toBe(true);
    expect(files.get('format.md')?.equals(await readFile(join(root, 'docs', 'evidence-format.md')))).toBe(true);

    const custody = (await createLedgerReader(db.appPool).readStream(stream)).filter((r) => r.kind === EXPORTED_KIND);
    expect(custody).toHaveLength(1);
    const meta = JSON.parse((files.get('export.json') as Buffer).toString('utf8')) as Record<string, unknown>;
    expect(custody[0]).toMatchObject({ actor: 'legal01', payload: { content_sha256: meta['content_sha256'], records: 7 } });
    expect(meta).toMatchObject({ exported_by: 'legal01', export_record: { seq: custody[0]?.seq, stream } });
  });

  test('two exports of the same records are byte-identical except export.json', async () => {
    const second = join(dir, 'b.zip');
    // By cd_ id this time; the first export's custody record is after the checkpoint and left out.
    const out = await exportCli(['--candidate', candidateId, '--out', second, '--as', 'legal02']);
    expect(out.code).toBe(0);
    const a = unzip(bundle);
    const b = unzip(await readFile(second));
    expect([...b.keys()]).toEqual([...a.keys()]);
    for (const [name, data] of a) {
      if (name === 'export.json') expect(data.equals(b.get(name) as Buffer)).toBe(false);
      else expect(data.equals(b.get(name) as Buffer)).toBe(true);
    }
    a.delete('export.json');
    b.delete('export.json');
    expect(rezip(a).equals(rezip(b))).toBe(true);
    expect((await verify(await readFile(second))).code).toBe(0);
  });

  test('one byte of a record changed: FAIL naming the record', async () => {
    const files = unzip(bundle);
    const ls = lines(files.get('records.jsonl') as Buffer);
    const seq = (JSON.parse(ls[3] as string) as { seq: number }).seq;
    ls[3] = (ls[3] as string).replace('第 3 条', '第 8 条');
    files.set('records.jsonl', fromLines(ls));
    expectFail(
      await verify(rezip(files)),
      new RegExp(`record seq ${seq}: payload does not match`),
      new RegExp(`first bad record: seq ${seq}`),
    );
    // and one byte of the raw WeCom material
    const ls2 = lines(unzip(bundle).get('records.jsonl') as Buffer);
    ls2[2] = (ls2[2] as string).replace('<Encrypt>e2', '<Encrypt>f2');
    files.set('records.jsonl', fromLines(ls2));
    expectFail(await verify(rezip(files)), /raw does not match raw_sha256/);
  });

  test('a record removed, two swapped, one added: FAIL naming the record', async () => {
    const original = lines(unzip(bundle).get('records.jsonl') as Buffer);
    const seqOf = (l: string) => (JSON.parse(l) as { seq: number }).seq;

    const removed = unzip(bundle);
    const ls = [...original];
    ls.splice(3, 1);
    removed.set('records.jsonl', fromLines(ls));
    expectFail(await verify(rezip(removed)), /a record removed or added/);
    // even with its proof and the manifest count fixed up, the chain names the next record
    const pr = lines(removed.get('proofs.jsonl') as Buffer);
    pr.splice(3, 1);
    removed.set('proofs.jsonl', fromLines(pr));
    const manifest = JSON.parse((removed.get('manifest.json') as Buffer).toString('utf8')) as {
      records: number;
      streams: { records: number }[];
    };
    manifest.records -= 1;
    (manifest.streams[0] as { records: number }).records -= 1;
    removed.set('manifest.json', Buffer.from(JSON.stringify(manifest)));
    expectFail(await verify(rezip(removed)), new RegExp(`record seq ${seqOf(original[4] as string)}: chain broken`));

    const swapped = unzip(bundle);
    const sw = [...original];
    [sw[2], sw[3]] = [sw[3] as string, sw[2] as string];
    swapped.set('records.jsonl', fromLines(sw));
    expectFail(await verify(rezip(swapped)), new RegExp(`record seq ${seqOf(original[2] as string)}: out of order`));

    const added = unzip(bundle);
    const extra = JSON.parse(original[1] as string) as Record<string, unknown>;
    extra['seq'] = seqOf(original.at(-1) as string) + 1;
    added.set('records.jsonl', fromLines([...original, JSON.stringify(extra)]));
    expectFail(await verify(rezip(added)), new RegExp(`record seq ${extra['seq'] as number}`));
  });

  test('a checkpoint signed by another key: FAIL', async () => {
    const files = unzip(bundle);
    const note = (files.get('checkpoint.txt') as Buffer).toString('utf8');
    const body = note.slice(0, note.lastIndexOf('\n\n') + 1);
    files.set('checkpoint.txt', Buffer.from(signNote(body, ORIGIN, generateKeyPairSync('ed25519').privateKey)));
    expectFail(await verify(rezip(files)), /FAIL {2}checkpoint\b.*not signed by the bundled key/);
  });

  test('malformed, truncated, ../ and bomb ZIPs: FAIL, no stack trace', async () => {
    expectFail(await verify(Buffer.from('this is not a zip file at all')), /FAIL {2}zip\b.*: not a ZIP file/);
    expectFail(await verify(bundle.subarray(0, Math.floor(bundle.length / 2))), /FAIL {2}zip\b/);
    expectFail(await verify(bundle.subarray(0, bundle.length - 5)), /FAIL {2}zip\b/);
    const corrupt = Buffer.from(bundle);
    corrupt[100] = (corrupt[100] as number) ^ 0xff;
    expectFail(await verify(corrupt), /FAIL {2}zip\b/);
    const files = unzip(bundle);
    const evil = writeZip([...files].map(([name, data]) => ({ name, data })))
      .toString('latin1')
      .replaceAll('format.md', '../a/f.md');
    expectFail(await verify(Buffer.from(evil, 'latin1')), /unsafe entry name/);
    files.set('format.md', Buffer.alloc(20 * 1024 * 1024));
    expectFail(await verify(rezip(files)), /ZIP bomb/);
  });

  test("the outside reviewer's forgeries: FAIL (found by review; each passed before)", async () => {
    const original = lines(unzip(bundle).get('records.jsonl') as Buffer);
    const seqOf = (l: string) => (JSON.parse(l) as { seq: number }).seq;
    // A record left out, its proof too, and the manifest told the stream is not whole: the
    // stream's wholeness is not the manifest's to say.
    const cut = unzip(bundle);
    const ls = [...original];
    ls.splice(3, 1);
    cut.set('records.jsonl', fromLines(ls));
    const pr = lines(cut.get('proofs.jsonl') as Buffer);
    pr.splice(3, 1);
    cut.set('proofs.jsonl', fromLines(pr));
    const manifest = JSON.parse((cut.get('manifest.json') as Buffer).toString('utf8')) as {
      records: number;
      streams: { records: number; complete?: boolean }[];
    };
    manifest.records -= 1;
    (manifest.streams[0] as { records: number }).records -= 1;
    (manifest.streams[0] as { complete?: boolean }).complete = false;
    cut.set('manifest.json', Buffer.from(JSON.stringify(manifest)));
    expectFail(await verify(rezip(cut)), new RegExp(`record seq ${seqOf(original[4] as string)}: chain broken`));
    // The first record left out the same way: the stream no longer starts at its beginning.
    const head = unzip(bundle);
    head.set('records.jsonl', fromLines(original.slice(1)));
    head.set('proofs.jsonl', fromLines(lines(head.get('proofs.jsonl') as Buffer).slice(1)));
    const m2 = JSON.parse((head.get('manifest.json') as Buffer).toString('utf8')) as typeof manifest;
    m2.records -= 1;
    (m2.streams[0] as { records: number }).records -= 1;
    (m2.streams[0] as { complete?: boolean }).complete = false;
    head.set('manifest.json', Buffer.from(JSON.stringify(m2)));
    expectFail(await verify(rezip(head)), /chain broken/);
    // A second entry that other tools read as records.jsonl (a NUL in its name), another file,
    // bytes after the archive, a byte-order mark.
    const nul = unzip(bundle);
    nul.set('records.jsonl\u0000x', Buffer.from('forged\n'));
    expectFail(await verify(rezip(nul)), /unsafe entry name/);
    const other = unzip(bundle);
    other.set('RECORDS.JSONL', Buffer.from('forged\n'));
    expectFail(await verify(rezip(other)), /unexpected entry/);
    expectFail(await verify(Buffer.concat([bundle, Buffer.from('PK\u0005\u0006 trailing')])), /after the end of the ZIP/);
    const bom = unzip(bundle);
    bom.set('records.jsonl', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bom.get('records.jsonl') as Buffer]));
    expectFail(await verify(rezip(bom)), /line 1 is not JSON/);
    // Another key than the published one, given: FAIL even though the bundle is consistent in itself.
    const otherKey = (unzip(bundle).get('public-key.txt') as Buffer)
      .toString('utf8')
      .trim()
      .replace(/\+[^+]+$/, '+AQ' + 'A'.repeat(42) + '=');
    expect((await verify(bundle, ['--key', otherKey])).code).toBe(1);
  });

  test('refusals: nothing written, exit 1, a clear reason', async () => {
    const before = await readdir(dir);
    expect(await exportCli(['--candidate', EXTERNAL, '--out', bundlePath, '--as', 'legal01'])).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('already exists') as unknown,
    });
    expect(await exportCli(['--candidate', EXTERNAL, '--out', join(dir, 'nope', 'x.zip'), '--as', 'legal01'])).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('does not exist') as unknown,
    });
    expect(await exportCli(['--candidate', 'wmNobodyAtAll', '--out', join(dir, 'c.zip'), '--as', 'legal01'])).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('未找到该候选人') as unknown,
    });
    await ledger.append({
      stream,
      kind: CONVERSATION_KINDS.message,
      occurredAt: new Date(),
      actor: candidateId,
      source: CONVERSATION_SOURCES.kf,
      sourceRef: CONVERSATION_SOURCE_REFS.kfMessage(KFID, 'late'),
      payload: { channel: 'kf', msgid: 'late', text: '晚到的一条' },
      raw: null,
    });
    expect(await exportCli(['--candidate', EXTERNAL, '--out', join(dir, 'c.zip'), '--as', 'legal01'])).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('npm run evidence:checkpoint') as unknown,
    });
    expect((await readdir(dir)).sort()).toEqual(before.sort());
  });
});
