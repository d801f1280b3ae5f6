export { canonicalize, CanonicalError, type JsonValue } from './canonical';
export {
  checkpointOrigin,
  formatCheckpoint,
  openCheckpoint,
  openSignedNote,
  parseCheckpoint,
  signNote,
  verifierKeyOf,
  NoteError,
  type Checkpoint,
} from './checkpoint';
export {
  checkpointSigner,
  createCheckpointer,
  currentTreeHead,
  latestCheckpoint,
  storedCheckpoints,
  tsaWitness,
  type Checkpointer,
  type CheckpointSigner,
  type CheckpointWitness,
  type StoredCheckpoint,
  type WitnessReceipt,
} from './checkpointer';
export {
  createLedger,
  DuplicateDecisionError,
  EvidenceInputError,
  StaleStreamError,
  type Decision,
  type Ledger,
  type LedgerOptions,
} from './ledger';
export { createLedgerReader, type LedgerReader, type RecordHeaderRow, type StoredRecord } from './reader';
export {
  HASH_VERSION,
  contentDigest,
  hashedForm,
  headerOf,
  leafHash,
  leafHashOfHeader,
  type RecordFields,
  type RecordHeader,
} from './record';
export { loadSigningKey, SigningKeyError, type SigningKey } from './signing-key';
export type { AppendResult, EvidenceEntry, RedeliveryRule } from './types';
export { verifyLedger, type TreeHead, type VerifyReport, type VerifyProblem } from './verify';
export {
  readRecordsChecked,
  readStreamChecked,
  readStreamsChecked,
  readStreamKinds,
  verifyStream,
  type CheckedRecord,
  type RecordsRead,
  type StreamRead,
  type StreamReadOptions,
  type StreamVerifyReport,
} from './stream-verify';
export {
  buildBundle,
  bundleZip,
  exportBundle,
  ExportRefusedError,
  EXPORTED_KIND,
  type Bundle,
  type BundleRequest,
  type ExportRequest,
  type ExportResult,
} from './export';
