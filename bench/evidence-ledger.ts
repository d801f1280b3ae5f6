/**
 * The ledger bench:evidence measures: BENCH_RECORDS (1,000,000) records through the real append
 * path (`ledger.transact`, BENCH_BATCH records per transaction), so every record, chain and Merkle
 * node verifies exactly. The record shapes are bench/timeline.ts's (copied, not shared: timeline.ts
 * runs its benchmark when imported), ~0.5 KB with raw; the difference is the subject: one
 * candidate stream of SUBJECT_RECORDS (5,000) records spread evenly through the ledger, MEDIA_COUNT
 * of them `conversation.media` records whose objects (MEDIA_BYTES each, random, so incompressible)
 * are in the media store (`pg` back end) under the candidate, as kf-media.ts stores them.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import { CANDIDATE_STREAMS, createCandidateDirectory } from '../src/candidates';
import {
  CONVERSATION_KINDS,
  CONVERSATION_SOURCE_REFS,
  CONVERSATION_SOURCES,
  createMediaStore,
  type ConversationMediaPayload,
} from '../src/conversations';
import { createLedger, type EvidenceEntry, type JsonValue } from '../src/evidence';
import { grantRole } from '../src/members';
import { callback, KFID, message } from './ledger-records';

export interface LedgerShape {
  records: number;
  subjectRecords: number;
  mediaCount: number;
  mediaBytes: number;
  batch: number;
}

export const CORP_ID = 'wwhireledgerbench01';
/** The candidate exported: a KF contact, known to the candidate directory as any real one is. */
export const SUBJECT_EXTERNAL = 'wmBenchExportCandidate01';
/** A member with the 法务 role, who exports. */
export const LEGAL_USERID = 'legalbench';

export interface Subject {
  candidateId: string;
  stream: string;
  externalUserId: string;
}
const OTHER_CANDIDATES = 10_000;
const T0 = Date.UTC(2026, 9, 1, 1, 0, 0);

function otherCandidate(i: number): string {
  return `cd_${(i % OTHER_CANDIDATES).toString(16).padStart(32, '0')}`;
}

function mediaRecord(
  stream: string,
  n: number,
  at: number,
  stored: { sha256: string; size: number },
  of: { seq: number; hash: string; sourceRef: string },
): EvidenceEntry {
  const payload: ConversationMediaPayload = {
    channel: 'kf',
    message: { seq: of.seq, hash: of.hash, source_ref: of.sourceRef },
    msgtype: 'image',
    media_id: `benchmedia${n}`,
    status: 'stored',
    sha256: stored.sha256,
    size: stored.size,
    content_type: 'image/jpeg',
    already_stored: false,
  };
  return {
    stream,
    kind: CONVERSATION_KINDS.media,
    occurredAt: new Date(at),
    actor: 'hireledger',
    source: CONVERSATION_SOURCES.kf,
    sourceRef: CONVERSATION_SOURCE_REFS.media(of.sourceRef, stored.sha256),
    payload: payload as unknown as JsonValue,
    raw: null,
  };
}

/**
 * Builds the ledger; resolves with its size, the build time and the media objects stored
 * (sha256 → bytes), so the benchmark can compare what an export carries with what was stored.
 */
export async function buildLedger(
  pool: Pool,
  shape: LedgerShape,
  progress: (line: string) => void,
): Promise<{ records: number; seconds: number; media: Map<string, Buffer>; subject: Subject }> {
  const ledger = createLedger({ pool });
  const store = createMediaStore(pool, { kind: 'pg', maxBytes: Math.max(shape.mediaBytes, 1) });
  const started = performance.now();
  // The candidate as the KF channel first meets one, and the member who may export.
  const made = await ledger.transact(async (tx) => {
    const c = await createCandidateDirectory(pool).candidateFor(tx, CORP_ID, SUBJECT_EXTERNAL, { via: 'kf', openKfId: KFID });
    return { result: c, entries: c.entries };
  });
  await grantRole(ledger, CORP_ID, { userid: LEGAL_USERID, role: 'legal', by: 'adminbench' });
  const subjectRef: Subject = {
    candidateId: made.result.candidateId,
    stream: made.result.stream,
    externalUserId: SUBJECT_EXTERNAL,
  };
  const subjectId = subjectRef.candidateId;
  const subjectStream = subjectRef.stream;
  const owner = { corpId: CORP_ID, owner: subjectId };
  const spacing = Math.floor(shape.records / shape.subjectRecords);
  const mediaEvery = Math.floor(shape.subjectRecords / Math.max(shape.mediaCount, 1));
  const media = new Map<string, Buffer>();
  let written = made.records.length + 1;
  let subject = made.records.length;
  let mediaStored = 0;
  let batch: EvidenceEntry[] = [];
  let pendingMedia: Buffer[] = [];
  // The subject's last message already committed: what the next media record refers to.
  const last: { message: { seq: number; hash: string; sourceRef: string } | null } = { message: null };

  const flush = async () => {
    if (batch.length === 0) return;
    const entries = batch;
    const objects = pendingMedia;
    batch = [];
    pendingMedia = [];
    const { records } = await ledger.transact(async (tx: PoolClient) => {
      // The objects commit with the records that evidence them, as kf-media.ts does.
      for (const bytes of objects) await store.put(tx, owner, bytes, 'image/jpeg');
      return { result: null, entries };
    });
    entries.forEach((e, k) => {
      const r = records[k];
      if (r && e.stream === subjectStream && e.kind === CONVERSATION_KINDS.message) {
        last.message = { seq: r.seq, hash: r.hash, sourceRef: e.sourceRef };
      }
    });
    const before = written;
    written += entries.length;
    if (Math.floor(written / 100_000) > Math.floor(before / 100_000)) {
      progress(`  ${written} records (${((performance.now() - started) / 1000).toFixed(0)} s)`);
    }
  };

  for (let i = written; i < shape.records; i++) {
    const at = T0 + i * 1000;
    if (i % spacing === spacing - 1 && subject < shape.subjectRecords) {
      subject += 1;
      // Every mediaEvery-th subject record is a media record (later, if no message is committed yet).
      if (mediaStored < Math.min(shape.mediaCount, Math.floor(subject / mediaEvery)) && last.message) {
        const bytes = randomBytes(shape.mediaBytes);
        const stored = { sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length };
        media.set(stored.sha256, bytes);
        pendingMedia.push(bytes);
        batch.push(mediaRecord(subjectStream, subject, at, stored, last.message));
        mediaStored += 1;
      } else {
        batch.push(message(subjectStream, subjectId, 10_000_000 + subject, at, subject % 2 ? 'candidate' : 'recruiter'));
      }
    } else if (i % 10 === 3) {
      batch.push(callback(i, at));
    } else {
      batch.push(
        message(CANDIDATE_STREAMS.candidate(otherCandidate(i)), otherCandidate(i), i, at, i % 2 ? 'candidate' : 'recruiter'),
      );
    }
    if (batch.length >= shape.batch) await flush();
  }
  await flush();
  await ledger.close();
  if (mediaStored < shape.mediaCount) throw new Error(`only ${mediaStored} of ${shape.mediaCount} media objects placed`);
  return { records: written, seconds: (performance.now() - started) / 1000, media, subject: subjectRef };
}
