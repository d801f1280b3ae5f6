import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addIdentifier, CANDIDATE_STREAMS, createCandidateByRecruiter, createCandidateDirectory } from '../../src/candidates';
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
  type EvidenceEntry,
  type Ledger,
} from '../../src/evidence';
import { writeNewSigningKey } from '../../src/evidence/signing-key';
import { exportCandidateEvidence, type LegalExportDeps } from '../../src/legal';
import { grantRole } from '../../src/members';
import { expectPass, manifestOf, unzip, verify } from '../export/helpers';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { legalExportDeps } from './fixtures/deps';
import { TEST_KEYS } from '../support/keys';

/**
 * A person who was two candidates (a re-applicant under another WeChat account) merged into one:
 * the legal export holds both rows' streams whole, the media the merged row's messages carried, and
 * documents that show both rows' messages; the bundle verifies offline. Before, only the surviving
 * row's stream was exported: what the person said under the other account before the merge was
 * missing from the bundle a lawyer reads.
 */

const CORP = TEST_KEYS.corpId;
const ORIGIN = checkpointOrigin(CORP);
const KFID = 'wkMergedExport01';

describe('legal export of a merged candidate', () => {
  let db: TestDatabase;
  let ledger: Ledger;
  let dir: string;
  let media: MediaStore;
  let deps: LegalExportDeps;
  let first: string;
  let second: string;
  const photo = randomBytes(50_000);
  let photoSha: string;

  const message = (candidateId: string, n: number, text: string): EvidenceEntry => ({
    stream: CANDIDATE_STREAMS.candidate(candidateId),
    kind: CONVERSATION_KINDS.message,
    occurredAt: new Date(Date.UTC(2026, 10, 20, 2, n)),
    actor: candidateId,
    source: CONVERSATION_SOURCES.kf,
    sourceRef: CONVERSATION_SOURCE_REFS.kfMessage(KFID, `mm${n}`),
    payload: { channel: 'kf', role: 'candidate', msgid: `mm${n}`, msgtype: 'text', text },
    raw: { body: `mm${n}` },
  });

  beforeAll(async () => {
    db = await createTestDatabase();
    ledger = createLedger({ pool: db.appPool });
    dir = await mkdtemp(join(tmpdir(), 'hl-legal-merged-'));
    const key = await writeNewSigningKey(join(dir, 'signing.pem'));
    media = createMediaStore(db.appPool, { kind: 'pg', maxBytes: 10 * 1024 * 1024 });
    const directory = createCandidateDirectory(db.appPool);
    const ids = { transact: ledger.transact.bind(ledger), hmacKey: 'a-test-key-for-the-merged-export-0123456789' };
    first = (await createCandidateByRecruiter(ids, { corpId: CORP, recruiter: 'zhangmin', externalUserId: 'wmMergedFirst' }))
      .candidate.candidateId;
    await ledger.append(message(first, 1, '您好，我想应聘这个岗位'));
    // What externalcontact/get said of the first account: the documents name the person by it.
    await ledger.append({
      stream: CANDIDATE_STREAMS.candidate(first),
      kind: 'candidate.profile',
      occurredAt: new Date(Date.UTC(2026, 10, 20, 2, 0, 30)),
      actor: 'hireledger',
      source: 'hireledger.candidates',
      sourceRef: `profile:${first}:1`,
      payload: { external_contact: { external_userid: 'wmMergedFirst', name: '李雷', type: 1 } },
      raw: null,
    });
    second = (
      await ledger.transact(async (tx) => {
        const ref = await directory.candidateFor(tx, CORP, 'wmMergedSecond', { via: 'kf', openKfId: KFID });
        return { result: ref, entries: ref.entries };
      })
    ).result.candidateId;
    await ledger.append(message(second, 2, '我已经从原单位辞职了'));
    // The merged row's picture: stored under that row (media is per candidate row, DECISIONS 11).
    photoSha = (
      await ledger.transact(async (tx) => {
        const s = await media.put(tx, { corpId: CORP, owner: second }, photo, 'image/jpeg');
        const entry: EvidenceEntry = {
          stream: CANDIDATE_STREAMS.candidate(second),
          kind: CONVERSATION_KINDS.media,
          occurredAt: new Date(Date.UTC(2026, 10, 20, 2, 3)),
          actor: 'hireledger',
          source: CONVERSATION_SOURCES.kf,
          sourceRef: CONVERSATION_SOURCE_REFS.media(`kf:${KFID}:mm2`, s.sha256),
          payload: { channel: 'kf', status: 'stored', sha256: s.sha256, size: s.size, content_type: 'image/jpeg' },
          raw: null,
        };
        return { result: s, entries: [entry] };
      })
    ).result.sha256;
    await addIdentifier(ids, {
      corpId: CORP,
      candidateId: second,
      enteredBy: 'zhangmin',
      input: { kind: 'external_userid', value: 'wmMergedFirst' },
    });
    await ledger.append(message(first, 4, '收到，谢谢'));
    await grantRole(ledger, CORP, { userid: 'lvfa01', role: 'legal', by: 'admin' });
    await createCheckpointer({ pool: db.appPool, origin: ORIGIN, signer: checkpointSigner(ORIGIN, key), witnesses: [] }).take();
    deps = await legalExportDeps({
      pool: db.appPool,
      ledger,
      corpId: CORP,
      origin: ORIGIN,
      key,
      media,
      channels: { kf: { state: 'on' }, archive: { state: 'on' } },
    });
  }, 60_000);
  afterAll(async () => {
    await ledger.close();
    await db.drop();
    await rm(dir, { recursive: true, force: true });
  });

  test("either account exports the person: both rows' streams whole, the merged row's media, both in the documents", async () => {
    const out = join(dir, 'merged.zip');
    const result = await exportCandidateEvidence(deps, { candidate: 'wmMergedSecond', exportedBy: 'lvfa01', outPath: out });
    const zip = await readFile(out);
    const files = unzip(zip);
    const manifest = manifestOf(files);
    const streams = manifest.streams.filter((s) => s.stream.startsWith('candidate:'));
    expect(streams.map((s) => [s.stream, s.complete])).toEqual(
      [
        [CANDIDATE_STREAMS.candidate(first), true],
        [CANDIDATE_STREAMS.candidate(second), true],
      ].sort(),
    );
    expect(files.get(`media/${photoSha}`)?.equals(photo)).toBe(true);
    const records = (files.get('records.jsonl') as Buffer).toString('utf8');
    expect(records).toContain('我已经从原单位辞职了');
    const html = (files.get('timeline.html') as Buffer).toString('utf8');
    for (const said of ['您好，我想应聘这个岗位', '我已经从原单位辞职了', '收到，谢谢']) expect(html).toContain(said);
    expect(html).toContain(CANDIDATE_STREAMS.candidate(second));
    // The person is named by both rows' messages: never an unnamed 候选人（cd_…）.
    expect(html).not.toContain(`候选人（${second}）`);
    expect((html.match(/候选人 李雷/g) ?? []).length).toBeGreaterThanOrEqual(3);
    expect(html).toContain('wmMergedFirst, wmMergedSecond');
    const completeness = JSON.parse((files.get('completeness.json') as Buffer).toString('utf8')) as {
      streams: string[];
      channels: { kf: { messages: number } };
    };
    expect(completeness.streams).toEqual([CANDIDATE_STREAMS.candidate(first), CANDIDATE_STREAMS.candidate(second)]);
    expect(completeness.channels.kf.messages).toBe(3);
    // The custody record is on the surviving row's stream.
    expect(result.record.seq).toBeGreaterThan(0);
    expectPass(await verify(zip, ['--key', deps.system.publicKey]));
  }, 60_000);
});
