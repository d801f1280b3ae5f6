import type { StoredRecord } from '../../evidence';
import type { CompletenessReport, TimelineEntry } from '../../timeline';

/** What the exporter hands the documents: everything they show comes from here, nothing from a clock or a database. */
export interface LegalDocumentsInput {
  corpId: string;
  /** `name`: as known from the candidate's profile records, if any (else the latest `candidate.profile` name is used). */
  /**
   * `streams`: every stream of the person (the candidate's own, and those of rows merged into it);
   * `externalUserId`: theirs, comma-separated when more than one.
   */
  candidate: { id: string; externalUserId: string; stream: string; streams?: readonly string[]; name?: string };
  /** The candidate's whole timeline (readTimeline, all pages, verified). */
  entries: readonly TimelineEntry[];
  /** The exact records in the bundle, seq order: payloads for identity facts and stage details. */
  records: readonly StoredRecord[];
  /** The bundle's checkpoint; `signedAt` is also the PDF's fixed creation date. */
  checkpoint: { size: number; rootHash: string; signedAt: Date };
  completeness?: CompletenessReport;
  system: {
    software: string;
    version: string;
    channels: { name: string; state: string; how: string }[];
    monitoring: string;
    keyHolder: string;
    publicKey: string;
  };
  /** The other files of the bundle (records.jsonl, media/<sha256>…): the evidence list's "where". */
  bundleFiles: readonly string[];
}

export interface LegalDocumentsOptions {
  /** The Chromium executable (Debian: /usr/bin/chromium); the CLI reads it from CHROMIUM_PATH. */
  chromiumPath: string;
}

export const DOCUMENT_FILES = {
  html: 'timeline.html',
  pdf: 'timeline.pdf',
  csv: 'evidence-list.csv',
} as const;

export type DocumentFile = (typeof DOCUMENT_FILES)[keyof typeof DOCUMENT_FILES];
