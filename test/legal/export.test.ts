import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { createCandidateDirectory } from '../../src/candidates';
import {
  CONVERSATION_KINDS,
  CONVERSATION_SOURCE_REFS,
  CONVERSATION_SOURCES,
  createMediaStore,
  type MediaStore,
} from '../../src/conversations';
import {
  checkpointOrigin,
  checkpointSigner,
  createCheckpointer,
  createLedger,
  createLedgerReader,
  openSignedNote,
  verifierKeyOf,
  type Ledger,
  type SigningKey,
  type StoredRecord,
} from '../../src/evidence';
import { buildBundle, EXPORTED_KIND, ExportRefusedError } from '../../src/evidence/export';
import { writeNewSigningKey } from '../../src/evidence/signing-key';
import { exportCandidateEvidence, type LegalExportDeps } from '../../src/legal';
import { grantRole, holdsRole, revokeRole, RoleError } from '../../src/members';
// The command itself: its main runs only when it is the program.
import { parseWhen } from '../../scripts/evidence-export';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { legalExportDeps } from './fixtures/deps';
import { testEnv } from '../support/env';
import { TEST_KEYS } from '../support/keys';

/**
 * Issue 11: the legal export of one candidate through src/legal as the CLI wires it — only the 法务
 * role exports, the bundle's signed manifest states each stream's end and every file's hash, media
 * travels by hash, two exports differ only in export.json, and every refusal writes nothing.
 */
const CORP = TEST_KEYS.corpId;
const ORIGIN = checkpointOrigin(CORP);
const EXTERNAL = 'wmLegalExport0001';
const KFID = 'wkLegalAccount01';
const root = join(__dirname, '..', '..');
const tsx = join(root, 'node_modules', '.bin', 'tsx');

/** The test's own ZIP reader (trusting): entries by name, with their method. */
function unzip(buf: Buffer): Map<string, { data: Buffer; method: number }> {
  const eocd = buf.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  const out = new Map<string, { data: Buffer; method: number }>();
  for (let i = 0; i < count; i++) {
    const method = buf.readUInt16LE(p + 10);
    const csize = buf.readUInt32LE(p + 20);
    const nlen = buf.readUInt16LE(p + 28);
    const local = buf.readUInt32LE(p + 42);
    const name = buf.subarray(p + 46, p + 46 + nlen).toString('utf8');
    const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    const raw = buf.subarray(start, start + csize);
    out.set(name, { data: method === 0 ? Buffer.from(raw) : inflateRawSync(raw), method });
    p += 46 + nlen + buf.readUInt16LE(p + 30) + buf.readUInt16LE(p + 32);
  }
  return out;
}

/** The media a record names, as src/legal reads them (a stored conversation media record). */
function mediaRefsForTest(r: StoredRecord): string[] {
  const p = r.payload as Record<string, unknown> | null;
  return p && p['status'] === 'stored' && typeof p['sha256'] === 'string' ? [p['sha256']] : [];
}

const json = (b: Buffer): Record<string, unknown> => JSON.parse(b.toString('utf8')) as Record<string, unknown>;

describe('legal export of a candidate (src/legal)', () => {
  let db: TestDatabase;
  let ledger: Ledger;
  let dir: string;
  let key: SigningKey;
  let deps: LegalExportDeps;
  let media: MediaStore;
  let stream: string;
  let candidateId: string;
  const image = randomBytes(300_000);
  let imageSha: string;
  let profileSeq: number;

  const out = (name: string) => join(dir, name);

  async function customRecords(): Promise<number> {
    const { rows } = await db.appPool.query<{ n: string }>('SELECT count(*) AS n FROM evidence_records WHERE kind = $1', [
      EXPORTED_KIND,
    ]);
    return Number(rows[0]?.n);
  }

  async function expectRefused(p: Promise<unknown>, why: RegExp, file?: string): Promise<void> {
    const before = await customRecords();
    await expect(p).rejects.toThrow(ExportRefusedError);
    await expect(p).rejects.toThrow(why);
    expect(await customRecords()).toBe(before); // no custody record of an export that did not happen
    if (file) await expect(readFile(file)).rejects.toThrow(/ENOENT/);
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  }

  beforeAll(async () => {
    db = await createTestDatabase();
    ledger = createLedger({ pool: db.appPool });
    dir = await mkdtemp(join(tmpdir(), 'hl-legal-'));
    key = await writeNewSigningKey(join(dir, 'signing.pem'));
    media = createMediaStore(db.appPool, { kind: 'pg', maxBytes: 10 * 1024 * 1024 });
    const directory = createCandidateDirectory(db.appPool);
    const made = await ledger.transact(async (tx) => {
      const c = await directory.candidateFor(tx, CORP, EXTERNAL, { via: 'kf', openKfId: KFID });
      return { result: c, entries: c.entries };
    });
    candidateId = made.result.candidateId;
    stream = made.result.stream;
    for (let i = 1; i <= 5; i++) {
      await ledger.append({
        stream,
        kind: CONVERSATION_KINDS.message,
        occurredAt: new Date(Date.UTC(2026, 10, 20 + i, 2, 0)),
        actor: i % 2 ? candidateId : 'zhangmin',
        source: CONVERSATION_SOURCES.kf,
        sourceRef: CONVERSATION_SOURCE_REFS.kfMessage(KFID, `m${i}`),
        payload: {
          channel: 'kf',
          role: i % 2 ? 'candidate' : 'recruiter',
          msgid: `m${i}`,
          msgtype: 'text',
          text: i === 3 ? '我再考虑一下 <script>alert(1)</script>' : `第 ${i} 条：您好`,
        },
        raw: { body: `<xml><Encrypt>m${i}</Encrypt></xml>` },
      });
    }
    // A picture the candidate sent, stored content-addressed, and its media record.
    const stored = await ledger.transact(async (tx) => {
      const s = await media.put(tx, { corpId: CORP, owner: candidateId }, image, 'image/jpeg');
      return {
        result: s,
        entries: [
          {
            stream,
            kind: CONVERSATION_KINDS.media,
            occurredAt: new Date(Date.UTC(2026, 10, 25, 3, 0)),
            actor: 'hireledger',
            source: CONVERSATION_SOURCES.kf,
            sourceRef: CONVERSATION_SOURCE_REFS.media(`kf:${KFID}:m5`, s.sha256),
            payload: { channel: 'kf', status: 'stored', sha256: s.sha256, size: s.size, content_type: 'image/jpeg' },
            raw: null,
          },
        ],
      };
    });
    imageSha = stored.result.sha256;
    // What WeCom's directory said of the recruiter: the identity section ties 'zhangmin' to 张敏.
    const profile = (name: string, n: number) => ({
      stream: 'member:zhangmin',
      kind: 'member.profile',
      occurredAt: new Date(Date.UTC(2026, 10, 20, 0, n)),
      actor: 'hireledger',
      source: 'hireledger.members',
      sourceRef: `profile:zhangmin:test-${n}`,
      payload: { userid: 'zhangmin', name, department: ['招聘部'], position: '招聘专员' },
      raw: null,
    });
    await ledger.append(profile('张敏（旧）', 1));
    profileSeq = (await ledger.append(profile('张敏', 2))).seq;
    await grantRole(ledger, CORP, { userid: 'LvFa01', role: 'legal', by: 'admin' });
    await createCheckpointer({ pool: db.appPool, origin: ORIGIN, signer: checkpointSigner(ORIGIN, key), witnesses: [] }).take();
    deps = await legalExportDeps({
      pool: db.appPool,
      ledger,
      corpId: CORP,
      origin: ORIGIN,
      key,
      media,
      channels: { kf: { state: 'on' }, archive: { state: 'off', detail: '未配置 SDK' } },
    });
  });
  afterAll(async () => {
    await ledger.close();
    await db.drop();
    await rm(dir, { recursive: true, force: true });
  });

  test('the bundle: signed manifest naming each stream end and every file, media by hash, documents, custody', async () => {
    const result = await exportCandidateEvidence(deps, { candidate: EXTERNAL, exportedBy: 'lvfa01', outPath: out('a.zip') });
    const files = unzip(await readFile(out('a.zip')));
    expect([...files.keys()].sort()).toEqual(
      [
        'checkpoint.txt',
        'completeness.json',
        'custody.jsonl',
        'evidence-list.csv',
        'export.json',
        'format.md',
        'hireledger-verify.mjs',
        'manifest.json',
        `media/${imageSha}`,
        'proofs.jsonl',
        'public-key.txt',
        'records.jsonl',
        'statement.txt',
        'timeline.html',
        'timeline.pdf',
        'verify.html',
        'witnesses.json',
      ].sort(),
    );
    const get = (n: string) => (files.get(n) as { data: Buffer }).data;
    // Media is stored as it is, and is the picture.
    expect(files.get(`media/${imageSha}`)?.method).toBe(0);
    expect(get(`media/${imageSha}`).equals(image)).toBe(true);

    // The manifest states where the candidate's stream ends: its last record at the checkpoint.
    const manifest = json(get('manifest.json')) as {
      streams: { stream: string; complete: boolean; records: number; head_hash: string; last_seq: number }[];
      files: { name: string; sha256: string }[];
      media: { sha256: string; records: number[] }[];
    };
    const all = [];
    for await (const r of createLedgerReader(db.appPool).cursor({ stream })) all.push(r);
    const atCheckpoint = all.filter((r) => r.seq <= result.bundle.checkpoint.size);
    const last = atCheckpoint.at(-1);
    expect(manifest.streams).toEqual([
      expect.objectContaining({
        stream,
        complete: true,
        records: atCheckpoint.length,
        last_seq: last?.seq,
        head_hash: last?.hash,
      }),
      // The recruiter's newest directory record within the checkpoint, as a single linked record.
      expect.objectContaining({ stream: 'member:zhangmin', complete: false, records: 1, first_seq: profileSeq }),
    ]);
    expect(get('timeline.html').toString('utf8')).toMatch(/张敏[\s\S]*招聘部/);
    expect(get('timeline.html').toString('utf8')).not.toContain('张敏（旧）');
    expect(manifest.media).toEqual([{ sha256: imageSha, bytes: image.length, records: [expect.any(Number)] }]);
    const listed = manifest.files.map((f) => f.name);
    expect(listed).toContain('timeline.pdf');
    expect(listed).not.toContain('manifest.json');
    expect(listed).not.toContain('export.json');

    // The statement is signed with the checkpoint's key and binds this manifest's bytes.
    const opened = openSignedNote(get('statement.txt').toString('utf8'), verifierKeyOf(ORIGIN, key.publicKey));
    const lines = opened.body.trimEnd().split('\n');
    expect(lines[0]).toBe('hireledger.evidence-bundle/2');
    expect(lines[1]).toBe(ORIGIN);
    expect(lines[2]).toBe(String(result.bundle.checkpoint.size));
    expect(lines[4]).toBe(`manifest ${createHash('sha256').update(get('manifest.json')).digest('hex')}`);

    // The custody record is on the candidate's stream, after the checkpoint, naming the bundle.
    const custody = await createLedgerReader(db.appPool).readRecord(result.record.seq);
    expect(custody).toMatchObject({ stream, kind: EXPORTED_KIND, actor: 'lvfa01' });
    expect((custody?.payload as Record<string, unknown>)['content_sha256']).toBe(result.bundle.contentSha256);
    expect(json(get('export.json'))).toMatchObject({ exported_by: 'lvfa01', content_sha256: result.bundle.contentSha256 });
    // Hostile text from a message stays text in the documents.
    expect(get('timeline.html').toString('utf8')).not.toContain('<script>alert(1)</script>');
  });

  test('two exports against the same checkpoint differ only in export.json, the PDF included', async () => {
    await exportCandidateEvidence(deps, { candidate: candidateId, exportedBy: 'lvfa01', outPath: out('b1.zip') });
    await exportCandidateEvidence(deps, { candidate: EXTERNAL, exportedBy: 'lvfa01', outPath: out('b2.zip') });
    const a = unzip(await readFile(out('b1.zip')));
    const b = unzip(await readFile(out('b2.zip')));
    expect([...a.keys()]).toEqual([...b.keys()]);
    const differing = [...a.keys()].filter((n) => !a.get(n)?.data.equals(b.get(n)?.data as Buffer));
    expect(differing).toEqual(['export.json']);
  });

  test('a range exports only its records, and says no stream is whole', async () => {
    const r = await exportCandidateEvidence(deps, {
      candidate: EXTERNAL,
      from: new Date(Date.UTC(2026, 10, 22, 0, 0)),
      to: new Date(Date.UTC(2026, 10, 24, 0, 0)),
      exportedBy: 'lvfa01',
      outPath: out('range.zip'),
    });
    expect(r.bundle.records).toBe(2); // the messages of the 22nd and the 23rd
    expect(r.bundle.streams).toEqual([expect.objectContaining({ stream, complete: false, records: 2 })]);
    const files = unzip(await readFile(out('range.zip')));
    expect([...files.keys()].some((n) => n.startsWith('media/'))).toBe(false); // the picture is outside the range
  });

  test("a channel the exporter's configuration calls off, with its messages in the bundle, is not reported as off", async () => {
    await exportCandidateEvidence(
      { ...deps, channels: { kf: { state: 'off', detail: '未配置' }, archive: { state: 'off', detail: '未配置 SDK' } } },
      { candidate: EXTERNAL, exportedBy: 'lvfa01', outPath: out('channels.zip') },
    );
    const files = unzip(await readFile(out('channels.zip')));
    const report = json((files.get('completeness.json') as { data: Buffer }).data) as {
      channels: Record<string, { status: { state: string; detail?: string } }>;
    };
    expect(report.channels['kf']?.status.state).toBe('unknown'); // its messages are in the bundle
    expect(report.channels['kf']?.status.detail).toMatch(/worker 的配置/);
    expect(report.channels['archive']?.status.state).toBe('off'); // nothing of it here: off as configured
  });

  test('refusals write nothing: no legal role, a revoked role, unknown candidate, empty range, bad output paths', async () => {
    await expectRefused(
      exportCandidateEvidence(deps, { candidate: EXTERNAL, exportedBy: 'zhangmin', outPath: out('r1.zip') }),
      /法务/,
      out('r1.zip'),
    );
    await grantRole(ledger, CORP, { userid: 'formerlegal', role: 'legal', by: 'lvfa01' });
    await revokeRole(ledger, CORP, { userid: 'formerlegal', role: 'legal', by: 'lvfa01' });
    await expectRefused(
      exportCandidateEvidence(deps, { candidate: EXTERNAL, exportedBy: 'formerlegal', outPath: out('r2.zip') }),
      /法务/,
      out('r2.zip'),
    );
    await expectRefused(
      exportCandidateEvidence(deps, { candidate: 'wmNobodyKnows', exportedBy: 'lvfa01', outPath: out('r3.zip') }),
      /未找到该候选人/,
      out('r3.zip'),
    );
    await expectRefused(
      exportCandidateEvidence(deps, {
        candidate: EXTERNAL,
        from: new Date(Date.UTC(2027, 0, 1)),
        to: new Date(Date.UTC(2027, 0, 2)),
        exportedBy: 'lvfa01',
        outPath: out('r4.zip'),
      }),
      /范围内没有证据记录/,
      out('r4.zip'),
    );
    await expectRefused(
      exportCandidateEvidence(deps, {
        candidate: EXTERNAL,
        from: new Date(Date.UTC(2027, 0, 2)),
        to: new Date(Date.UTC(2027, 0, 1)),
        exportedBy: 'lvfa01',
        outPath: out('r5.zip'),
      }),
      /--from/,
    );
    await writeFile(out('exists.zip'), 'keep me');
    await expectRefused(
      exportCandidateEvidence(deps, { candidate: EXTERNAL, exportedBy: 'lvfa01', outPath: out('exists.zip') }),
      /已存在/,
    );
    expect(await readFile(out('exists.zip'), 'utf8')).toBe('keep me');
    await expectRefused(
      exportCandidateEvidence(deps, { candidate: EXTERNAL, exportedBy: 'lvfa01', outPath: join(dir, 'no', 'such', 'x.zip') }),
      /输出目录不存在/,
    );
    // Outside the export folder: by `..`, and through a symbolic link inside it that points out.
    const exportDir = join(dir, 'exports');
    await mkdir(exportDir);
    await symlink(tmpdir(), join(exportDir, 'out'));
    for (const outPath of [join(exportDir, '..', 'escaped.zip'), join(exportDir, 'out', `escaped-${candidateId}.zip`)]) {
      await expectRefused(
        exportCandidateEvidence(deps, { candidate: EXTERNAL, exportedBy: 'lvfa01', outPath, exportDir }),
        /不在导出目录/,
        outPath,
      );
    }
    const inside = await exportCandidateEvidence(deps, {
      candidate: EXTERNAL,
      exportedBy: 'lvfa01',
      outPath: join(exportDir, 'ok.zip'),
      exportDir,
    });
    expect(inside.bytes).toBeGreaterThan(0);
  });

  test('--stream exports one stream (a member stream here) without documents, through the command', async () => {
    const env = testEnv({
      DATABASE_URL: db.appUrl,
      EVIDENCE_SIGNING_KEY_FILE: join(dir, 'signing.pem'),
      EVIDENCE_EXPORT_DIR: dir,
    });
    const cli = (args: string[]) =>
      new Promise<{ code: number; stderr: string }>((done) => {
        execFile(tsx, [join(root, 'scripts', 'evidence-export.ts'), ...args], { env }, (err, _o, stderr) =>
          done({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stderr: String(stderr) }),
        );
      });
    const ok = await cli(['--stream', 'member:zhangmin', '--out', out('stream.zip'), '--as', 'lvfa01']);
    expect(ok).toMatchObject({ code: 0 });
    const files = unzip(await readFile(out('stream.zip')));
    expect([...files.keys()].filter((n) => n.startsWith('timeline'))).toEqual([]);
    const manifest = json((files.get('manifest.json') as { data: Buffer }).data) as {
      streams: { stream: string; complete: boolean }[];
    };
    expect(manifest.streams).toEqual([expect.objectContaining({ stream: 'member:zhangmin', complete: true })]);
    const refused = await cli(['--stream', 'member:zhangmin', '--out', out('stream2.zip'), '--as', 'zhangmin']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/法务/);
    expect(refused.stderr).not.toMatch(/usage:/); // a refusal, not a mistake on the command line
    await expect(readFile(out('stream2.zip'))).rejects.toThrow(/ENOENT/);
  });

  test('a media file the store lost is declared missing, and the documents are made without it', async () => {
    const seen: string[][] = [];
    const bundle = await buildBundle(db.appPool, {
      streams: [stream],
      origin: ORIGIN,
      signingKey: key,
      formatSpec: Buffer.from('format'),
      verifyHtml: Buffer.from('<!doctype html>'),
      media: { refs: (r) => mediaRefsForTest(r), read: () => Promise.resolve(null) },
      documents: (ctx) => {
        seen.push([...ctx.files]);
        return Promise.resolve(new Map([['custody.jsonl', Buffer.from('')]] as const));
      },
    });
    const manifest = json(bundle.files.get('manifest.json') as Buffer) as { media: unknown[] };
    expect(manifest.media).toEqual([{ sha256: imageSha, missing: true, records: [expect.any(Number)] }]);
    expect([...bundle.files.keys()].some((n) => n.startsWith('media/'))).toBe(false);
    // Made first on the word that the media is there, then again once it was found missing.
    expect(seen).toHaveLength(2);
    expect(seen[0]).toContain(`media/${imageSha}`);
    expect(seen[1]).not.toContain(`media/${imageSha}`);
    expect(bundle.media).toEqual({ files: 0, bytes: 0, missing: 1 });
  });

  test('roles: only a holder grants or revokes (the first grant excepted), never to oneself; each change is a record', async () => {
    expect(await grantRole(ledger, CORP, { userid: 'lvfa01', role: 'legal', by: 'admin' })).toBe('already held');
    await expect(grantRole(ledger, CORP, { userid: 'zhangmin', role: 'legal', by: 'zhangmin' })).rejects.toThrow(RoleError);
    await expect(grantRole(ledger, CORP, { userid: 'zhangmin', role: 'legal', by: 'liuyang' })).rejects.toThrow(
      /only a holder of the role may grant it/,
    );
    await expect(revokeRole(ledger, CORP, { userid: 'lvfa01', role: 'legal', by: 'zhangmin' })).rejects.toThrow(
      /only a holder of the role may revoke it/,
    );
    expect(await holdsRole(db.appPool, CORP, 'zhangmin', 'legal')).toBe(false);
    expect(await holdsRole(db.appPool, CORP, 'LVFA01', 'legal')).toBe(true);
    const { rows } = await db.appPool.query<{ stream: string; kind: string; actor: string; bootstrap: boolean | null }>(
      `SELECT stream, kind, actor, (payload->>'bootstrap')::boolean AS bootstrap FROM evidence_records
        WHERE stream IN ('member:lvfa01', 'member:formerlegal') ORDER BY seq`,
    );
    expect(rows).toEqual([
      { stream: 'member:lvfa01', kind: 'member.role_granted', actor: 'admin', bootstrap: true },
      { stream: 'member:formerlegal', kind: 'member.role_granted', actor: 'lvfa01', bootstrap: false },
      { stream: 'member:formerlegal', kind: 'member.role_revoked', actor: 'lvfa01', bootstrap: null },
    ]);
  });
});

describe('evidence:export --from/--to', () => {
  test('a day is a day in Asia/Shanghai, and --to includes it', () => {
    expect(parseWhen('2026-11-01', '--from', false).toISOString()).toBe('2026-10-31T16:00:00.000Z');
    expect(parseWhen('2026-11-01', '--to', true).toISOString()).toBe('2026-11-01T16:00:00.000Z');
    expect(parseWhen('2026-11-01T09:30:00+08:00', '--from', false).toISOString()).toBe('2026-11-01T01:30:00.000Z');
  });

  test.each(['2026-02-30', '2026-13-01', '20261101', '2026-11-01T09:30:00', 'yesterday', ''])('%j is refused', (text) => {
    expect(() => parseWhen(text, '--from', false)).toThrow(/不是有效的日期/);
  });
});
