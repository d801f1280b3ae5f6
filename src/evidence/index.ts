export { canonicalize, CanonicalError, type JsonValue } from './canonical';
export { createLedger, EvidenceInputError, type Ledger, type LedgerOptions } from './ledger';
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
export type { AppendResult, EvidenceEntry } from './types';
export { verifyLedger, type VerifyReport, type VerifyProblem } from './verify';
