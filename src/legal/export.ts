import type { Pool } from 'pg';
import { CANDIDATE_STREAMS, createCandidateDirectory } from '../candidates';
import { CONVERSATION_SOURCES, type ConversationChannel, type MediaStore } from '../conversations';
import {
  createLedgerReader,
  latestCheckpoint,
  verifierKeyOf,
  type Ledger,
  type SigningKey,
  type StoredRecord,
} from '../evidence';
import { exportBundle, ExportRefusedError, EXPORTED_KIND, type BundleContext, type ExportResult } from '../evidence/export';
import { holdsRole, MEMBER_KINDS, MEMBER_STREAMS } from '../members';
import { completenessReport, readTimeline, resolveCandidate, type ChannelStatus, type TimelineEntry } from '../timeline';
import { involvedMembers, renderLegalDocuments } from './documents';

/**
 * A candidate's evidence for a dispute (issue 11): the person's own streams whole (or a range of
 * them: the candidate's, and those of rows found to be the same person and merged into it), the
 * records their link records name, the media its messages carried, and the documents a
 * lawyer and an arbitrator read (the Chinese timeline as HTML and PDF, the evidence list, the
 * completeness report, the custody log), all bound by the bundle's signed manifest
 * (src/evidence/export). Only a member holding the 法务 role may export, and the export is itself a
 * record on the candidate's stream before the file exists.
 */

export interface LegalExportDeps {
  pool: Pool;
  ledger: Ledger;
  corpId: string;
  origin: string;
  signingKey: SigningKey;
  formatSpec: Buffer;
  verifyHtml: Buffer;
  verifierScript?: Buffer;
  chromiumPath: string;
  media?: MediaStore;
  /** Each conversation channel's status in this deployment (the completeness report and 环境说明). */
  channels: Record<ConversationChannel, ChannelStatus>;
  /** Streams shared by all candidates that may hold this one's gaps (the chat archive's corp stream). */
  sharedStreams?: string[];
  system: { version: string; keyHolder: string; publicKey: string };
}

export interface LegalExportRequest {
  /** external_userid (exact) or the candidate's `cd_…` id. */
  candidate: string;
  /** Only records whose time (occurred_at) is in [from, to). */
  from?: Date;
  to?: Date;
  exportedBy: string;
  outPath: string;
  /** The output must resolve inside this folder (EVIDENCE_EXPORT_DIR). */
  exportDir?: string;
}

const CHANNEL_HOW: Readonly<Record<ConversationChannel, string>> = {
  kf: '微信客服：回调触发 kf/sync_msg 拉取，按游标逐页保存，每条消息一条证据记录（含企业微信原始应答）',
  archive: '会话内容存档：经企业微信 Finance SDK 按 seq 拉取并解密，每个 seq 一条证据记录，无法解密的留占位记录',
};

/** The media SHA-256s a record names: a stored conversation media file. */
function mediaRefs(record: StoredRecord): string[] {
  const p = record.payload;
  if (p === null || typeof p !== 'object' || Array.isArray(p)) return [];
  const sha = p['sha256'];
  return p['status'] === 'stored' && typeof sha === 'string' ? [sha] : [];
}

/**
 * A channel the exporting process's configuration calls off, while the bundle holds messages it
 * captured, was on for the worker: the export ran without the worker's settings (MSGAUDIT_*). A
 * legal document must not then say "off, nothing captured": it says the export cannot tell.
 */
function channelsAsHeld(
  configured: Record<ConversationChannel, ChannelStatus>,
  records: readonly StoredRecord[],
): Record<ConversationChannel, ChannelStatus> {
  const out = { ...configured };
  for (const c of Object.keys(configured) as ConversationChannel[]) {
    if (configured[c].state === 'on') continue;
    if (!records.some((r) => r.source === CONVERSATION_SOURCES[c])) continue;
    out[c] = {
      state: 'unknown',
      detail: `导出时的配置显示该通道未开启，但本证据包中有该通道采集的消息：请用 worker 的配置（${c === 'archive' ? 'MSGAUDIT_*' : '同一 .env'}）重新导出以说明通道状态`,
    };
  }
  return out;
}

/**
 * The identity section ties each account to a person (LEGAL.md): for every member who took part
 * (the same list the documents show), the newest directory record (member.profile, what WeCom's
 * directory said of them) within the newest signed checkpoint goes into the bundle as a single
 * linked record.
 */
async function memberProfiles(
  deps: LegalExportDeps,
  candidate: { id: string; externalUserId: string; stream: string; streams: readonly string[] },
  entries: readonly TimelineEntry[],
): Promise<number[]> {
  const checkpoint = await latestCheckpoint(deps.pool, deps.origin, verifierKeyOf(deps.origin, deps.signingKey.publicKey));
  if (!checkpoint) return []; // the export refuses anyway, saying why
  const reader = createLedgerReader(deps.pool);
  const records: StoredRecord[] = [];
  for (const stream of candidate.streams) for await (const r of reader.cursor({ stream, pageSize: 1000 })) records.push(r);
  const members = involvedMembers({ entries, records, candidate });
  const seqs: number[] = [];
  for (const userid of [...members.keys()].sort()) {
    let newest: number | undefined;
    for await (const r of reader.cursor({ stream: MEMBER_STREAMS.member(userid), pageSize: 500 })) {
      if (r.seq > checkpoint.size) break;
      if (r.kind === MEMBER_KINDS.profile) newest = r.seq;
    }
    if (newest !== undefined) seqs.push(newest);
  }
  return seqs;
}

/** Who may export and over what range: checked before anything is read or written. */
async function refuseUnlessAllowed(deps: LegalExportDeps, req: Omit<LegalExportRequest, 'candidate'>): Promise<void> {
  if (!(await holdsRole(deps.pool, deps.corpId, req.exportedBy, 'legal'))) {
    throw new ExportRefusedError(
      `${req.exportedBy} 没有法务角色，不能导出证据 (only a member with the legal role may export; grant it with npm run members:role -- grant legal <userid> --as <admin>)`,
    );
  }
  if (req.from && req.to && req.from >= req.to) throw new ExportRefusedError('--from 须早于 --to (--from must be before --to)');
}

/**
 * What every export gives exportBundle: the signing and format pieces of the deployment, and the
 * request's range (occurred_at in [from, to)), exporter and output.
 */
function bundleOptions(deps: LegalExportDeps, req: Omit<LegalExportRequest, 'candidate'>) {
  return {
    ...(req.from || req.to ? { range: { ...(req.from ? { from: req.from } : {}), ...(req.to ? { to: req.to } : {}) } } : {}),
    origin: deps.origin,
    signingKey: deps.signingKey,
    formatSpec: deps.formatSpec,
    verifyHtml: deps.verifyHtml,
    ...(deps.verifierScript ? { verifierScript: deps.verifierScript } : {}),
    exportedBy: req.exportedBy,
    outPath: req.outPath,
    ...(req.exportDir !== undefined ? { exportDir: req.exportDir } : {}),
  };
}

/** One stream as it is (an approval's, a member's), without the documents of a candidate's export. */
export async function exportStreamEvidence(
  deps: LegalExportDeps,
  req: Omit<LegalExportRequest, 'candidate'> & { stream: string },
): Promise<ExportResult> {
  await refuseUnlessAllowed(deps, req);
  return exportBundle(deps.pool, deps.ledger, { ...bundleOptions(deps, req), streams: [req.stream], subjectStream: req.stream });
}

export async function exportCandidateEvidence(deps: LegalExportDeps, req: LegalExportRequest): Promise<ExportResult> {
  await refuseUnlessAllowed(deps, req);
  const directory = createCandidateDirectory(deps.pool);
  const candidate = await resolveCandidate(directory, deps.corpId, req.candidate);
  if (!candidate) throw new ExportRefusedError('未找到该候选人（本企业没有这个 external_userid 或候选人 id）(unknown candidate)');

  // Named the same whichever id the request used, so the documents do not depend on it.
  const externalUserId = (await directory.externalUserIds(deps.corpId, candidate.candidateId)).join(', ');
  const { entries } = await readTimeline(deps.pool, candidate, { verify: true });
  const linkedSeqs = entries.flatMap((e) => (e.linked ? [e.linked.seq] : []));
  const person = { id: candidate.candidateId, externalUserId, stream: candidate.stream, streams: candidate.streams };
  linkedSeqs.push(...(await memberProfiles(deps, person, entries)));
  const ownStreams = new Set(candidate.streams);
  // Media is content-addressed per candidate row (DECISIONS 11): a merged row's files are its own.
  const owners = candidate.streams.flatMap((s) => CANDIDATE_STREAMS.candidateOf(s) ?? []);
  const media = deps.media;

  return exportBundle(deps.pool, deps.ledger, {
    ...bundleOptions(deps, req),
    streams: candidate.streams,
    linkedSeqs,
    ...(media
      ? {
          media: {
            refs: (r: StoredRecord) => (ownStreams.has(r.stream) ? mediaRefs(r) : []),
            read: async (sha256: string) => {
              for (const owner of owners) {
                const found = await media.get({ corpId: deps.corpId, owner }, sha256);
                if (found) return found.bytes;
              }
              return null;
            },
          },
        }
      : {}),
    documents: async (ctx: BundleContext) => {
      const channels = channelsAsHeld(deps.channels, ctx.records);
      const inBundle = new Set(ctx.records.map((r) => r.seq));
      const bundled = entries.filter((e: TimelineEntry) => inBundle.has(e.seq));
      // The report's clock is the checkpoint's, so two exports against one checkpoint agree.
      const completeness = await completenessReport(deps.pool, candidate, {
        channels,
        ...(deps.sharedStreams ? { sharedStreams: deps.sharedStreams } : {}),
        now: () => ctx.checkpoint.createdAt,
        untilSeq: ctx.checkpoint.size,
      });
      const docs = await renderLegalDocuments(
        {
          corpId: deps.corpId,
          candidate: person,
          entries: bundled,
          records: ctx.records,
          checkpoint: {
            size: ctx.checkpoint.size,
            rootHash: ctx.checkpoint.rootHash.toString('base64'),
            signedAt: ctx.checkpoint.createdAt,
          },
          completeness,
          system: {
            software: 'HireLedger',
            version: deps.system.version,
            channels: (Object.keys(channels) as ConversationChannel[]).map((c) => ({
              name: c,
              state: channels[c].state,
              how: `${CHANNEL_HOW[c]}${channels[c].detail ? `（${channels[c].detail}）` : ''}`,
            })),
            monitoring: completeness.complete ? '本期间未发现缺口、占位或媒体失败' : completeness.findings.join('；'),
            keyHolder: deps.system.keyHolder,
            publicKey: deps.system.publicKey,
          },
          bundleFiles: ctx.files,
        },
        { chromiumPath: deps.chromiumPath },
      );
      const custody = ctx.records
        .filter((r) => r.kind === EXPORTED_KIND)
        .map(
          (r) =>
            `${JSON.stringify({ seq: r.seq, hash: r.hash, at: r.occurredAt.toISOString(), by: r.actor, what: 'exported', payload: r.payload })}\n`,
        )
        .join('');
      return new Map([
        ...docs,
        ['completeness.json', Buffer.from(`${JSON.stringify(completeness, null, 2)}\n`, 'utf8')],
        ['custody.jsonl', Buffer.from(custody, 'utf8')],
      ] as const);
    },
    subjectStream: candidate.stream,
  });
}
