import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCandidateDirectory } from '../../src/candidates';
import { CONVERSATION_KINDS, CONVERSATION_SOURCE_REFS, CONVERSATION_SOURCES } from '../../src/conversations';
import {
  checkpointSigner,
  createCheckpointer,
  createLedger,
  createLedgerReader,
  signNote,
  verifierKeyOf,
  type Ledger,
} from '../../src/evidence';
import { buildBundle, bundleZip, EXPORTED_KIND } from '../../src/evidence/export';
import { crc32 } from '../../src/evidence/export/zip';
import { createMerkleStore } from '../../src/evidence/merkle-store';
import { writeNewSigningKey, type SigningKey } from '../../src/evidence/signing-key';
import { grantRole } from '../../src/members';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { testEnv } from '../support/env';
import { TEST_KEYS } from '../support/keys';
import {
  expectFail,
  expectPass,
  forgeZip,
  fromLines,
  lines,
  localEntry,
  manifestOf,
  noteBody,
  resign,
  rezip,
  root,
  run,
  seqOf,
  setManifest,
  settle,
  sha256Hex,
  timeStampToken,
  unicodePath,
  unzip,
  verify,
  type Out,
} from './helpers';

/**
 * Issue 11: `evidence:export` writes a candidate's bundle (format 2), and
 * `node verifier/hireledger-verify.mjs` checks it with nothing but the bundle, from an empty
 * folder. Every forgery in the issue's list makes it FAIL naming what broke; bad ZIPs FAIL in the
 * verifier's own words, never with a stack trace or a JavaScript error message.
 */
const tsx = join(root, 'node_modules', '.bin', 'tsx');
const ORIGIN = `hireledger.evidence/${TEST_KEYS.corpId}`;
const EXTERNAL = 'wmExportCandidate01';
const KFID = 'wkExportAccount01';
const MEDIA = Buffer.from('\x89PNG not really an image, but bytes whose hash a record names', 'latin1');

describe('evidence:export and the offline verifier', () => {
  let db: TestDatabase;
  let ledger: Ledger;
  let dir: string;
  let env: Record<string, string>;
  let key: SigningKey;
  let stream: string;
  let candidateId: string;
  let bundlePath: string;
  /** The CLI's candidate bundle. */
  let bundle: Buffer;
  /** The subject stream alone, with one media file (built with buildBundle). */
  let withMedia: Buffer;

  const exportCli = (args: string[]) =>
    settle(run(tsx, [join(root, 'scripts', 'evidence-export.ts'), ...args], { env, maxBuffer: 16 * 1024 * 1024 }));
  /** The subject stream's own records (the candidate bundle may hold shared streams too). */
  const own = (files: Map<string, Buffer>) => {
    const all = lines(files.get('records.jsonl') as Buffer);
    return all.map((l, i) => ({ l, i })).filter(({ l }) => (JSON.parse(l) as { stream: string }).stream === stream);
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    ledger = createLedger({ pool: db.appPool });
    dir = await mkdtemp(join(tmpdir(), 'hl-export-'));
    key = await writeNewSigningKey(join(dir, 'signing.pem'));
    env = testEnv({
      DATABASE_URL: db.appUrl,
      EVIDENCE_SIGNING_KEY_FILE: join(dir, 'signing.pem'),
      EVIDENCE_EXPORT_DIR: dir,
    });
    const directory = createCandidateDirectory(db.appPool);
    const made = await ledger.transact(async (tx) => {
      const c = await directory.candidateFor(tx, TEST_KEYS.corpId, EXTERNAL, { via: 'kf', openKfId: KFID });
      return { result: c, entries: c.entries };
    });
    candidateId = made.result.candidateId;
    stream = made.result.stream;
    // The corp's first grant is the bootstrap; after it, only a holder of 法务 grants it.
    await grantRole(ledger, TEST_KEYS.corpId, { userid: 'legal01', role: 'legal', by: 'admin' });
    await grantRole(ledger, TEST_KEYS.corpId, { userid: 'legal02', role: 'legal', by: 'legal01' });
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
    const built = await buildBundle(db.appPool, {
      streams: [stream],
      origin: ORIGIN,
      signingKey: key,
      formatSpec: await readFile(join(root, 'docs', 'evidence-format.md')),
      verifyHtml: await readFile(join(root, 'verifier', 'verify.html')),
      media: {
        refs: (r) => ((r.payload as { msgid?: string } | null)?.msgid === 'e2' ? [sha256Hex(MEDIA)] : []),
        read: async () => MEDIA,
      },
    });
    withMedia = bundleZip(built, {
      exportedBy: 'legal01',
      exportedAt: new Date(),
      record: { seq: 999, hash: 'f'.repeat(64), stream },
    });
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
    expectPass(out);
    for (const id of ['zip', 'checkpoint', 'statement', 'manifest', 'records', 'streams', 'proofs', 'witnesses', 'export'])
      expect(out.stdout).toMatch(new RegExp(`^PASS  ${id}: `, 'm'));
    // Without the published key the report names the key and origin to compare.
    expect(out.stdout).toMatch(/NOTE: Origin hireledger\.evidence\/\S+; signed by key .*--key/);
    expect(out.stdout).toMatch(/\(unsigned\)/);
    const published = (unzip(bundle).get('public-key.txt') as Buffer).toString('utf8').trim();
    const withKey = await verify(bundle, ['--key', published]);
    expectPass(withKey);
    expect(withKey.stdout).toMatch(/\(the published key\)/);
    expect(withKey.stdout).not.toMatch(/--key <that key>/);
    const files = unzip(bundle);
    for (const name of ['checkpoint.txt', 'export.json', 'manifest.json', 'statement.txt', 'verify.html', 'witnesses.json'])
      expect(files.has(name)).toBe(true);
    expect(files.get('verify.html')?.equals(await readFile(join(root, 'verifier', 'verify.html')))).toBe(true);
    const records = own(files).map(({ l }) => JSON.parse(l) as { seq: number });
    expect(records.length).toBe(7); // candidate.created + 6 messages, no noise
    expect(files.get('format.md')?.equals(await readFile(join(root, 'docs', 'evidence-format.md')))).toBe(true);

    const custody = (await createLedgerReader(db.appPool).readStream(stream)).filter((r) => r.kind === EXPORTED_KIND);
    expect(custody).toHaveLength(1);
    const meta = JSON.parse((files.get('export.json') as Buffer).toString('utf8')) as Record<string, unknown>;
    expect(custody[0]).toMatchObject({ actor: 'legal01', payload: { content_sha256: meta['content_sha256'] } });
    expect(out.stdout).toContain(`content_sha256 ${(meta['content_sha256'] as string).slice(0, 16)}`);

    expectPass(await verify(withMedia));
  });

  test('two exports of the same records are byte-identical except export.json', async () => {
    const second = join(dir, 'b.zip');
    // By cd_ id this time; the first export's custody record is after the checkpoint and left out.
    const out = await exportCli(['--candidate', candidateId, '--out', second, '--as', 'legal02']);
    expect(out).toMatchObject({ code: 0 });
    const a = unzip(bundle);
    const b = unzip(await readFile(second));
    expect([...b.keys()]).toEqual([...a.keys()]);
    for (const [name, data] of a) {
      if (name === 'export.json') expect(data.equals(b.get(name) as Buffer)).toBe(false);
      else expect([name, data.equals(b.get(name) as Buffer)]).toEqual([name, true]);
    }
    expectPass(await verify(await readFile(second)));
  });

  test('one byte of a record, of a raw envelope, of a media file: FAIL naming the record', async () => {
    const files = unzip(bundle);
    const ls = lines(files.get('records.jsonl') as Buffer);
    const target = own(files)[3] as { l: string; i: number };
    ls[target.i] = target.l.replace('第 3 条', '第 8 条');
    files.set('records.jsonl', fromLines(ls));
    const seq = seqOf(target.l);
    expectFail(
      await verify(rezip(files)),
      new RegExp(`FAIL {2}records: .*record seq ${seq}: payload does not match`),
      new RegExp(`first bad record: seq ${seq}\n`),
    );
    // one byte of the raw WeCom material
    const raw = unzip(bundle);
    const ls2 = lines(raw.get('records.jsonl') as Buffer);
    const t2 = own(raw)[2] as { l: string; i: number };
    ls2[t2.i] = t2.l.replace('<Encrypt>e2', '<Encrypt>f2');
    raw.set('records.jsonl', fromLines(ls2));
    expectFail(
      await verify(rezip(raw)),
      new RegExp(`record seq ${seqOf(t2.l)}: raw does not match raw_sha256`),
      new RegExp(`first bad record: seq ${seqOf(t2.l)}\n`),
    );
    // one byte of a media file (stored as it is in the ZIP)
    const media = unzip(withMedia);
    const name = `media/${sha256Hex(MEDIA)}`;
    const m = Buffer.from(media.get(name) as Buffer);
    m[5] = (m[5] as number) ^ 1;
    media.set(name, m);
    const e2 = lines(media.get('records.jsonl') as Buffer).find((l) => l.includes('"msgid":"e2"')) as string;
    expectFail(
      await verify(rezip(media)),
      new RegExp(
        `FAIL {2}manifest: .*${name}: its SHA-256 is not the one manifest.json lists \\(altered\\) \\(named by record seq ${seqOf(e2)}\\)`,
      ),
      new RegExp(`first bad record: seq ${seqOf(e2)}\n`),
    );
    // the media file removed
    const gone = unzip(withMedia);
    gone.delete(name);
    expectFail(await verify(rezip(gone)), new RegExp(`${name} is listed in manifest.json but missing`));
  });

  test('a record removed from the middle or the END of a stream, two swapped, one added: FAIL naming the record', async () => {
    const recs = own(unzip(bundle));
    // middle, with its proof: the statement still binds the old manifest, the chain names the gap
    const mid = unzip(bundle);
    const target = recs[3] as { l: string; i: number };
    mid.set('records.jsonl', fromLines(lines(mid.get('records.jsonl') as Buffer).filter((_, i) => i !== target.i)));
    mid.set('proofs.jsonl', fromLines(lines(mid.get('proofs.jsonl') as Buffer).filter((_, i) => i !== target.i)));
    const next = seqOf((recs[4] as { l: string }).l);
    expectFail(
      await verify(rezip(mid)),
      /FAIL {2}manifest: .*(proofs|records).jsonl: .*\(altered\)/,
      new RegExp(`FAIL {2}streams: .*record seq ${next}: chain broken in ${stream} after seq ${seqOf(recs[2]!.l)}`),
      new RegExp(`first bad record: seq ${next}\n`),
    );

    // the LAST record of the stream, with its proof: what format 1 could not see
    const cut = unzip(bundle);
    const last = recs.at(-1) as { l: string; i: number };
    cut.set('records.jsonl', fromLines(lines(cut.get('records.jsonl') as Buffer).filter((_, i) => i !== last.i)));
    cut.set('proofs.jsonl', fromLines(lines(cut.get('proofs.jsonl') as Buffer).filter((_, i) => i !== last.i)));
    const lastSeq = seqOf(last.l);
    expectFail(
      await verify(rezip(cut)),
      new RegExp(
        `FAIL {2}streams: .*stream ${stream}: the bundle's last record is seq ${seqOf(recs.at(-2)!.l)} .*the signed manifest says seq ${lastSeq} .*records removed at the end`,
      ),
      new RegExp(`first bad record: seq ${lastSeq}\n`),
    );
    // ...and the manifest edited to match the truncation (head_hash, counts, files), not re-signed
    const m = manifestOf(cut);
    const s = m.streams.find((x) => x.stream === stream)!;
    const prev = JSON.parse(recs.at(-2)!.l) as { seq: number; hash: string };
    Object.assign(s, { records: s.records - 1, last_seq: prev.seq, head_hash: prev.hash });
    m.records -= 1;
    m.last_seq = Math.max(...m.streams.map((x) => x.last_seq));
    for (const f of m.files) {
      const data = cut.get(f.name) as Buffer;
      Object.assign(f, { sha256: sha256Hex(data), bytes: data.length });
    }
    setManifest(cut, m);
    expectFail(await verify(rezip(cut)), /FAIL {2}statement: .*manifest.json was changed after it was signed/);
    // ...and re-signed, but by another key than the checkpoint's
    const other = generateKeyPairSync('ed25519').privateKey;
    resign(cut, ORIGIN, other);
    expectFail(await verify(rezip(cut)), /FAIL {2}statement: .*statement.txt is not signed by the bundled key/);

    const swapped = unzip(bundle);
    const sw = lines(swapped.get('records.jsonl') as Buffer);
    const [a, b] = [recs[2]!.i, recs[3]!.i];
    [sw[a], sw[b]] = [sw[b] as string, sw[a] as string];
    swapped.set('records.jsonl', fromLines(sw));
    expectFail(await verify(rezip(swapped)), new RegExp(`record seq ${seqOf(recs[2]!.l)}: out of order`));

    const added = unzip(bundle);
    const extra = JSON.parse(recs[1]!.l) as Record<string, unknown>;
    const all = lines(added.get('records.jsonl') as Buffer);
    extra['seq'] = seqOf(all.at(-1) as string) + 1;
    added.set('records.jsonl', fromLines([...all, JSON.stringify(extra)]));
    expectFail(await verify(rezip(added)), new RegExp(`record seq ${extra['seq'] as number}`));
  });

  test('a checkpoint signed by another key, a statement signed by another key: FAIL', async () => {
    const files = unzip(bundle);
    const other = generateKeyPairSync('ed25519').privateKey;
    files.set('checkpoint.txt', Buffer.from(signNote(noteBody(files.get('checkpoint.txt') as Buffer), ORIGIN, other)));
    expectFail(await verify(rezip(files)), /FAIL {2}checkpoint: .*not signed by the bundled key/);
    const st = unzip(bundle);
    st.set('statement.txt', Buffer.from(signNote(noteBody(st.get('statement.txt') as Buffer), ORIGIN, other)));
    expectFail(await verify(rezip(st)), /FAIL {2}statement: .*statement.txt is not signed by the bundled key/);
    // the statement's body altered under its old signature
    const body = unzip(bundle);
    body.set(
      'statement.txt',
      // Another first digit than the one there (replacing it with '0' changed nothing 1 time in 16).
      Buffer.from(
        (body.get('statement.txt') as Buffer)
          .toString('utf8')
          .replace(/manifest ([0-9a-f])/, (_m, d: string) => `manifest ${d === '0' ? '1' : '0'}`),
      ),
    );
    expectFail(await verify(rezip(body)), /FAIL {2}statement: .*does not verify/);
    // another key than the published one, given: FAIL even though the bundle is consistent in itself
    const otherKey = verifierKeyOf(ORIGIN, generateKeyPairSync('ed25519').publicKey);
    expectFail(await verify(bundle, ['--key', otherKey]), /FAIL {2}checkpoint: .*, not the published key /);
    expectFail(
      await verify(bundle, ['--key', 'nonsense']),
      /FAIL {2}checkpoint: .*the published key is not <name>\+<key ID>\+<key>/,
    );
  });

  test("proofs for another tree (a checkpoint the bundle's does not extend): FAIL naming the record", async () => {
    // A larger tree: more records and a newer checkpoint; proofs against it swapped in.
    const files = unzip(bundle);
    const size = Number(noteBody(files.get('checkpoint.txt') as Buffer).split('\n')[1]);
    for (let i = 0; i < 3; i++)
      await ledger.append({
        stream: 'wecom:member:someoneelse',
        kind: 'test.noise',
        occurredAt: new Date(),
        actor: 'sys',
        source: 'test',
        sourceRef: `later-${i}`,
        payload: { i },
        raw: null,
      });
    const store = createMerkleStore(db.appPool);
    const recs = lines(files.get('records.jsonl') as Buffer).map((l) => JSON.parse(l) as { seq: number; hash: string });
    const proofsFor = async (treeSize: number, claim: number) =>
      fromLines(
        await Promise.all(
          recs.map(async (r) => {
            const p = await store.inclusionProof(r.seq, treeSize);
            return JSON.stringify({
              leaf_hash: r.hash,
              leaf_index: r.seq - 1,
              path: p.path.map((b) => b.toString('hex')),
              seq: r.seq,
              tree_size: claim,
            });
          }),
        ),
      );
    files.set('proofs.jsonl', await proofsFor(size + 3, size + 3));
    expectFail(await verify(rezip(files)), new RegExp(`FAIL {2}proofs: .*record seq ${recs[0]!.seq}: the proof is not for leaf`));
    // the same paths, claiming the bundle's tree size: they lead to another root
    files.set('proofs.jsonl', await proofsFor(size + 3, size));
    const out = await verify(rezip(files));
    expectFail(out, /FAIL {2}proofs: .*record seq \d+: the inclusion proof does not lead to the checkpoint's root/);
    expect(out.stdout).toMatch(/first bad record: seq \d+\n/);
  });

  test('an RFC 3161 token: its imprint is checked; a token for other data FAILs', async () => {
    const files = unzip(bundle);
    const cpSha = sha256Hex(files.get('checkpoint.txt') as Buffer);
    const witnesses = (token: Buffer) =>
      Buffer.from(
        `${JSON.stringify({
          checkpoint_sha256: cpSha,
          witnesses: [
            {
              attempted_at: '2026-11-26T01:02:03.000Z',
              error: null,
              response: null,
              status: 'ok',
              token_base64: token.toString('base64'),
              witness: 'rfc3161',
            },
          ],
        })}\n`,
      );
    files.set('witnesses.json', witnesses(timeStampToken(Buffer.from(cpSha, 'hex'))));
    files.delete('export.json');
    resign(files, ORIGIN, key.privateKey); // what the exporter does: the bundle is consistent, signed by the ledger's key
    const good = await verify(rezip(files));
    expectPass(good);
    expect(good.stdout).toMatch(
      /PASS {2}witnesses: .*rfc3161 \(ok, 2026-11-26T01:02:03.000Z\): RFC 3161 token for SHA-256\(checkpoint.txt\), genTime 20261126010203Z/,
    );
    expect(good.stdout).toMatch(/TSA's signature was not checked here: openssl ts -verify/);

    files.set('witnesses.json', witnesses(timeStampToken(Buffer.from(sha256Hex('other data'), 'hex'))));
    resign(files, ORIGIN, key.privateKey);
    expectFail(await verify(rezip(files)), /FAIL {2}witnesses: .*rfc3161 token time-stamps other data/);
    // a token that is not DER: FAIL in the verifier's words
    files.set('witnesses.json', witnesses(Buffer.from([0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x06])));
    resign(files, ORIGIN, key.privateKey);
    expectFail(await verify(rezip(files)), /FAIL {2}witnesses: .*rfc3161 token cannot be read: .*(not DER|truncated)/);
    // witnesses of another checkpoint
    files.set('witnesses.json', Buffer.from(`${JSON.stringify({ checkpoint_sha256: '0'.repeat(64), witnesses: [] })}\n`));
    resign(files, ORIGIN, key.privateKey);
    expectFail(await verify(rezip(files)), /FAIL {2}witnesses: .*witnesses.json is for another checkpoint/);
  });

  test('export.json edited: FAIL; it is unsigned and says so', async () => {
    const files = unzip(bundle);
    const meta = JSON.parse((files.get('export.json') as Buffer).toString('utf8')) as Record<string, unknown>;
    meta['content_sha256'] = '0'.repeat(64);
    files.set('export.json', Buffer.from(JSON.stringify(meta)));
    expectFail(await verify(rezip(files)), /FAIL {2}export: .*export.json names content_sha256 0000000000000000/);
    files.set('export.json', Buffer.from('{not json'));
    expectFail(await verify(rezip(files)), /FAIL {2}export: .*export.json is not JSON/);
  });

  test('malformed, truncated, ../, bomb, unknown files and format 1: FAIL, no stack trace', async () => {
    expectFail(await verify(Buffer.from('this is not a zip file at all')), /FAIL {2}zip: .*not a ZIP file/);
    expectFail(await verify(bundle.subarray(0, Math.floor(bundle.length / 2))), /FAIL {2}zip: .*/);
    expectFail(await verify(bundle.subarray(0, bundle.length - 5)), /FAIL {2}zip: .*/);
    const corrupt = Buffer.from(bundle);
    corrupt[100] = (corrupt[100] as number) ^ 0xff;
    expectFail(await verify(corrupt), /FAIL {2}zip: .*/);
    const files = unzip(bundle);
    const evil = rezip(files).toString('latin1').replaceAll('format.md', '../a/f.md');
    expectFail(await verify(Buffer.from(evil, 'latin1')), /unsafe entry name/);
    const bomb = unzip(bundle);
    bomb.set('format.md', Buffer.alloc(20 * 1024 * 1024));
    expectFail(await verify(rezip(bomb)), /ZIP bomb/);
    // A second entry that other tools read as records.jsonl (a NUL in its name), another file,
    // bytes after the archive, a byte-order mark.
    const nul = unzip(bundle);
    nul.set('records.jsonl\u0000x', Buffer.from('forged\n'));
    expectFail(await verify(rezip(nul)), /unsafe entry name/);
    const other = unzip(bundle);
    other.set('RECORDS.JSONL', Buffer.from('forged\n'));
    expectFail(await verify(rezip(other)), /unexpected entry "RECORDS.JSONL"/);
    // a known name, signed nowhere: not in the manifest
    const extra = unzip(bundle);
    extra.set('timeline.html', Buffer.from('<p>another timeline</p>'));
    const extraName = [...unzip(bundle).keys()].includes('timeline.html') ? null : 'timeline.html';
    if (extraName) expectFail(await verify(rezip(extra)), /timeline.html is in the ZIP but not in manifest.json/);
    const media = unzip(bundle);
    media.set(`media/${sha256Hex('x')}`, Buffer.from('x'));
    expectFail(await verify(rezip(media)), /is in the ZIP but not in manifest.json \(a file added\)/);
    expectFail(await verify(Buffer.concat([bundle, Buffer.from('PK\u0005\u0006 trailing')])), /after the end of the ZIP/);
    const bom = unzip(bundle);
    bom.set('records.jsonl', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bom.get('records.jsonl') as Buffer]));
    expectFail(await verify(rezip(bom)), /line 1 is not JSON/);
    // format 1 (the statement dropped, the manifest relabelled): refused, it cannot prove a stream's end
    const v1 = unzip(bundle);
    const m1 = manifestOf(v1);
    m1['format'] = 'hireledger.evidence-bundle/1';
    setManifest(v1, m1);
    v1.delete('statement.txt');
    expectFail(await verify(rezip(v1)), /FAIL {2}zip: .*format 1 bundle .*cannot prove that a stream was not cut short/);
    // malformed shapes in signed files reach the checks: still the verifier's own words
    const shapes = unzip(bundle);
    resign(shapes, ORIGIN, key.privateKey, (m) => {
      (m as { streams: unknown[] }).streams = [null, 5];
    });
    expectFail(await verify(rezip(shapes)), /FAIL {2}manifest: .*manifest.json: a malformed stream entry/);
    const recs = unzip(bundle);
    const ls = lines(recs.get('records.jsonl') as Buffer);
    ls[0] = '[1,2]';
    ls[1] = '{"seq":{"a":1}}';
    recs.set('records.jsonl', fromLines(ls));
    expectFail(await verify(rezip(recs)), /FAIL {2}records: .*records.jsonl line 1 is not a JSON object/);
    const pr = unzip(bundle);
    pr.set('proofs.jsonl', fromLines(['null', '{"path":5}']));
    expectFail(
      await verify(rezip(pr)),
      /FAIL {2}proofs: .*record seq \d+: its proof \(proofs.jsonl line 1\) is not a JSON object/,
    );
    // usage errors exit 2
    const usage = await verify(bundle, ['--key']);
    expect(usage.code).toBe(2);
    expect(usage.stdout).toMatch(/^usage: /);
  });

  // ---- the forensic review's forgeries: each passed before, each FAILs naming what is wrong

  test("the forging ZIP writer writes the exporter's bytes when told nothing else (so each knob below is the only change)", async () => {
    const files = unzip(bundle);
    expect(forgeZip(files).equals(rezip(files))).toBe(true);
    expectPass(await verify(forgeZip(files)));
    expectPass(await verify(forgeZip(unzip(withMedia))));
  });

  test('bytes no entry accounts for: hidden local entries before or after, prepended bytes, an archive comment: FAIL', async () => {
    const files = unzip(bundle);
    // an altered records.jsonl as a local entry after the real ones (a streaming reader takes it)
    const ls = lines(files.get('records.jsonl') as Buffer);
    ls[1] = (ls[1] as string).replace('您好', '你好');
    const altered = fromLines(ls);
    expectFail(
      await verify(forgeZip(files, { hiddenAfter: [{ name: 'records.jsonl', data: altered }] })),
      /FAIL {2}zip: .*\d+ bytes after the last local entry that no entry accounts for \(a hidden entry, or bytes added\)/,
    );
    // the same, before the real ones (every offset moved past it)
    expectFail(
      await verify(forgeZip(files, { prefix: localEntry('records.jsonl', altered) })),
      /FAIL {2}zip: .*\d+ bytes before checkpoint\.txt's local entry that no entry accounts for/,
    );
    // bytes prepended (a self-extractor stub), offsets adjusted
    expectFail(
      await verify(forgeZip(files, { prefix: Buffer.concat([Buffer.from('MZ'), Buffer.alloc(100)]) })),
      /FAIL {2}zip: .*102 bytes before checkpoint\.txt's local entry/,
    );
    // an archive comment that archive tools show beside the files
    expectFail(
      await verify(forgeZip(files, { comment: Buffer.from('本证据包经公证 verified OK') })),
      /FAIL {2}zip: .*the ZIP has an archive comment, which no bundle has/,
    );
    // bytes between the central directory and the end record
    const gap = Buffer.from(bundle);
    const eocd = gap.length - 22;
    const withGap = Buffer.concat([gap.subarray(0, eocd), Buffer.from('hidden'), gap.subarray(eocd)]);
    expectFail(await verify(withGap), /FAIL {2}zip: .*6 bytes between the central directory and the end record/);
  });

  test('data descriptors, extra fields (Unicode Path), other flags or methods, a local header unlike its central entry: FAIL', async () => {
    const files = unzip(bundle);
    expectFail(
      await verify(forgeZip(files, { dataDescriptor: [...files.keys()] })),
      /FAIL {2}zip: .*checkpoint\.txt: a data descriptor \(sizes after the data, flag bit 3\)/,
    );
    // records.jsonl stored; its local header gives the CRC and size of a copy cut 3 records short,
    // the central entry's bit 3 says "ignore the local sizes" (a streaming reader reads the short one)
    const cut = fromLines(lines(files.get('records.jsonl') as Buffer).slice(0, -3));
    const short = (h: Buffer) => {
      h.writeUInt32LE(crc32(cut), 14);
      h.writeUInt32LE(cut.length, 18);
      h.writeUInt32LE(cut.length, 22);
    };
    const bit3 = (h: Buffer) => h.writeUInt16LE(0x0808, 8);
    expectFail(
      await verify(
        forgeZip(files, {
          method: { 'records.jsonl': 0 },
          patchLocal: { 'records.jsonl': short },
          patchCentral: { 'records.jsonl': bit3 },
        }),
      ),
      /FAIL {2}zip: .*records\.jsonl: a data descriptor/,
    );
    // without bit 3, the same local header disagrees with the central directory
    expectFail(
      await verify(forgeZip(files, { method: { 'records.jsonl': 0 }, patchLocal: { 'records.jsonl': short } })),
      /FAIL {2}zip: .*records\.jsonl is stored; a bundle deflates it/,
    );
    expectFail(
      await verify(forgeZip(files, { patchLocal: { 'records.jsonl': short } })),
      /FAIL {2}zip: .*records\.jsonl: the local header disagrees with the central directory/,
    );
    expectFail(
      await verify(forgeZip(files, { patchLocal: { 'records.jsonl': (h) => h.writeUInt16LE(45, 4) } })),
      /FAIL {2}zip: .*records\.jsonl: the local header disagrees with the central directory/,
    );
    // Unicode Path fields that make unzip extract timeline.html and timeline.pdf under each other's name
    const swap = {
      'timeline.html': unicodePath('timeline.html', 'timeline.pdf'),
      'timeline.pdf': unicodePath('timeline.pdf', 'timeline.html'),
    };
    expectFail(
      await verify(forgeZip(files, { centralExtra: swap })),
      /FAIL {2}zip: .*timeline\.html: an extra field in the central directory, which no bundle has/,
    );
    expectFail(
      await verify(forgeZip(files, { localExtra: swap })),
      /FAIL {2}zip: .*timeline\.html: an extra field in the local header, which no bundle has/,
    );
    // the same without the UTF-8 flag (where unzip honours the field), and other flags
    expectFail(
      await verify(forgeZip(files, { flags: 0, centralExtra: swap })),
      /FAIL {2}zip: .*checkpoint\.txt: ZIP flags 0x0, a bundle's are 0x800/,
    );
    expectFail(await verify(forgeZip(files, { flags: 0x0802 })), /FAIL {2}zip: .*ZIP flags 0x802/);
    expectFail(
      await verify(forgeZip(files, { patchLocal: { 'manifest.json': (h) => h.writeUInt16LE(0x0000, 6) } })),
      /FAIL {2}zip: .*manifest\.json: the local header disagrees with the central directory/,
    );
    // every entry stored: the same content, not the form the exporter writes
    expectFail(
      await verify(forgeZip(files, { method: Object.fromEntries([...files.keys()].map((n) => [n, 0])) })),
      /FAIL {2}zip: .*checkpoint\.txt is stored; a bundle deflates it/,
    );
    const media = unzip(withMedia);
    const mediaName = [...media.keys()].find((n) => n.startsWith('media/')) as string;
    expectFail(
      await verify(forgeZip(media, { method: { [mediaName]: 8 } })),
      new RegExp(`${mediaName} is deflated; a bundle stores it`),
    );
  });

  test('bytes after the deflate stream inside an entry (the browser refuses them): FAIL', async () => {
    const files = unzip(bundle);
    for (const [name, junk] of [
      ['timeline.html', Buffer.from('JUNKJUNK')],
      ['records.jsonl', Buffer.from([0x03, 0x00])], // another, empty, deflate stream
    ] as const)
      expectFail(
        await verify(forgeZip(files, { tailJunk: { [name]: junk } })),
        new RegExp(
          `FAIL {2}zip: .*${name.replace('.', '\\.')}: cannot be decompressed \\(corrupt, bytes after its deflate stream`,
        ),
      );
  });

  test('statement.txt carries one signature line, by the ledger key; the checkpoint may carry witnesses', async () => {
    const files = unzip(bundle);
    const statement = files.get('statement.txt') as Buffer;
    const fake = (name: string, id: Buffer) => `\u2014 ${name} ${Buffer.concat([id, randomBytes(64)]).toString('base64')}\n`;
    const cosigned = unzip(bundle);
    cosigned.set(
      'statement.txt',
      Buffer.concat([
        statement,
        Buffer.from(fake('北京互联网法院/天平链', randomBytes(4)) + fake('notary.example/公证处', randomBytes(4))),
      ]),
    );
    expectFail(
      await verify(forgeZip(cosigned)),
      /FAIL {2}statement: .*statement\.txt carries 3 signature lines \(hireledger\.evidence\/\S+, 北京互联网法院\/天平链\+[0-9a-f]{8}, notary\.example\/公证处\+[0-9a-f]{8}\); it must carry exactly one, by the ledger's key/,
    );
    // a second line under the key's own name, another key ID
    const same = unzip(bundle);
    same.set('statement.txt', Buffer.concat([statement, Buffer.from(fake(ORIGIN, Buffer.from('00000000', 'hex')))]));
    expectFail(
      await verify(forgeZip(same)),
      new RegExp(
        `FAIL {2}statement: .*statement\\.txt carries 2 signature lines \\(.*${ORIGIN.replace(/\./g, '\\.')}\\+00000000\\)`,
      ),
    );
    // a witness cosignature on checkpoint.txt, listed in the signed manifest: PASS (C2SP allows it)
    const witnessed = unzip(bundle);
    witnessed.set(
      'checkpoint.txt',
      Buffer.concat([witnessed.get('checkpoint.txt') as Buffer, Buffer.from(fake('witness.example/w1', randomBytes(4)))]),
    );
    const wj = JSON.parse((witnessed.get('witnesses.json') as Buffer).toString('utf8')) as Record<string, unknown>;
    wj['checkpoint_sha256'] = sha256Hex(witnessed.get('checkpoint.txt') as Buffer);
    witnessed.set('witnesses.json', Buffer.from(`${JSON.stringify(wj)}\n`));
    witnessed.delete('export.json');
    resign(witnessed, ORIGIN, key.privateKey);
    expectPass(await verify(rezip(witnessed)));
  });

  test('without --key a PASS warns, right above OVERALL: PASS, that the signer was not checked; a re-signed bundle shows why', async () => {
    const published = (unzip(bundle).get('public-key.txt') as Buffer).toString('utf8').trim();
    const warned = (out: Out, key: string) => {
      expectPass(out);
      const tail = out.stdout.trimEnd().split('\n').slice(-4);
      expect(tail[0]).toBe('结论：全部通过');
      expect(tail[1]).toMatch(/^警告：未核对公布的公钥：请将签名密钥 /);
      expect(tail[1]).toContain(key);
      expect(tail[2]).toMatch(/^WARNING: the signer was NOT checked against a published key: compare key /);
      expect(tail[2]).toContain(`key ${key} and origin ${ORIGIN}`);
      expect(tail[2]).toContain('A bundle re-signed end to end with another key passes without it.');
      expect(tail[3]).toBe('OVERALL: PASS');
    };
    warned(await verify(bundle), published);
    const withKey = await verify(bundle, ['--key', published]);
    expectPass(withKey);
    expect(withKey.stdout).not.toMatch(/WARNING|警告/);
    // every signature redone with another key under the same origin: consistent in itself
    const other = generateKeyPairSync('ed25519');
    const files = unzip(bundle);
    const otherKey = verifierKeyOf(ORIGIN, other.publicKey);
    files.set('public-key.txt', Buffer.from(`${otherKey}\n`));
    files.set('checkpoint.txt', Buffer.from(signNote(noteBody(files.get('checkpoint.txt') as Buffer), ORIGIN, other.privateKey)));
    const w = JSON.parse((files.get('witnesses.json') as Buffer).toString('utf8')) as Record<string, unknown>;
    w['checkpoint_sha256'] = sha256Hex(files.get('checkpoint.txt') as Buffer);
    files.set('witnesses.json', Buffer.from(`${JSON.stringify(w)}\n`));
    resign(files, ORIGIN, other.privateKey);
    files.delete('export.json');
    warned(await verify(rezip(files)), otherKey);
    expectFail(await verify(rezip(files), ['--key', published]), /FAIL {2}checkpoint: .*not the published key/);
  });

  test('refusals: nothing written, exit 1, a clear reason', async () => {
    const before = await readdir(dir);
    const refused = async (args: string[], why: string) => {
      const out: Out = await exportCli(args);
      expect(out.code).toBe(1);
      expect(out.stderr).toContain(why);
    };
    await refused(['--candidate', EXTERNAL, '--out', bundlePath, '--as', 'legal01'], 'already exists');
    await refused(['--candidate', EXTERNAL, '--out', join(dir, 'nope', 'x.zip'), '--as', 'legal01'], 'does not exist');
    await refused(['--candidate', 'wmNobodyAtAll', '--out', join(dir, 'c.zip'), '--as', 'legal01'], '未找到该候选人');
    // Outside EVIDENCE_EXPORT_DIR, however it is written.
    await refused(['--candidate', EXTERNAL, '--out', join(dir, '..', 'escaped.zip'), '--as', 'legal01'], 'EVIDENCE_EXPORT_DIR');
    await refused(['--candidate', EXTERNAL, '--out', 'escaped.zip', '--as', 'legal01'], 'EVIDENCE_EXPORT_DIR'); // the cwd is the project
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
    await refused(['--candidate', EXTERNAL, '--out', join(dir, 'c.zip'), '--as', 'legal01'], 'npm run evidence:checkpoint');
    expect((await readdir(dir)).sort()).toEqual(before.sort());
  });

  test('verify.html is what build-verify-html.mjs makes from the current core', async () => {
    const built = await settle(
      run(process.execPath, [join(root, 'verifier', 'build-verify-html.mjs'), '--stdout'], { maxBuffer: 8 << 20 }),
    );
    expect(built.code).toBe(0);
    const committed = await readFile(join(root, 'verifier', 'verify.html'), 'utf8');
    expect(committed).toBe(built.stdout);
    const mjs = await readFile(join(root, 'verifier', 'hireledger-verify.mjs'), 'utf8');
    const core = mjs.slice(mjs.indexOf('// ---- BEGIN CORE'), mjs.indexOf('// ---- END CORE'));
    expect(core.length).toBeGreaterThan(10_000);
    expect(committed).toContain(core);
    expect(core).not.toMatch(/^\s*import\b|\brequire\(|\bprocess\.|\bBuffer\./m);
    const check = await settle(run(process.execPath, [join(root, 'verifier', 'build-verify-html.mjs'), '--check']));
    expect(check.code).toBe(0);
  });
});
