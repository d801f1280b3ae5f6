/**
 * The legal export (issue 11): a candidate's evidence as a bundle anyone can verify offline, with the
 * documents a lawyer and an arbitrator read. Entry points (scripts/evidence-export.ts, later the H5
 * button for legal) reach it through this file.
 */
export { exportCandidateEvidence, exportStreamEvidence, type LegalExportDeps, type LegalExportRequest } from './export';
