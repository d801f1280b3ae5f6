/**
 * Every name the signals module writes (ARCHITECTURE.md, "Names"). A hit is a record on the
 * candidate's own stream (DECISIONS 9) that points at the message it was found in.
 */

export const SIGNALS_MODULE = 'signals';

export const SIGNALS_SOURCE = 'hireledger.signals';

export type SignalType = 'hesitation' | 'resigned_before_offer' | 'over_promise';

export const SIGNAL_KINDS = {
  /** A rule matched a message: message seq and hash, rule id and version, matched span. */
  hit: 'signal.hit',
  /** The recruiter was told of a hit (the send itself is recorded by the WeCom send path). */
  alert: 'signal.alert',
} as const;

export const SIGNAL_SOURCE_REFS = {
  /** One hit per message, rule and rule version: a re-run finds the same key. */
  hit: (messageSeq: number, ruleId: string, ruleVersion: number) => `hit:${messageSeq}:${ruleId}:${ruleVersion}`,
  /** What became of the alert of a hit: `sent`, `held` (over the recruiter's limit, for the digest), `undeliverable`. */
  alert: (hitSeq: number, outcome: SignalAlertOutcome) => `alert:${hitSeq}:${outcome}`,
} as const;

export type SignalAlertOutcome = 'sent' | 'held' | 'undeliverable';

/** Idempotency keys of the WeCom messages that carry alerts (printable ASCII, no `#`: src/wecom/api/evidence.ts). */
export const SIGNAL_SEND_KEYS = {
  /** One message per hit: the hit's seq and the start of its hash, so a key never names another ledger's hit. */
  alert: (hitSeq: number, hitHash: string) => `signal-alert.${hitSeq}.${hitHash.slice(0, 16)}`,
  /** One digest of held alerts, named by the first hit it carries (a hit is in at most one digest). */
  digest: (firstHitSeq: number, firstHitHash: string) => `signal-digest.${firstHitSeq}.${firstHitHash.slice(0, 16)}`,
} as const;

export const SIGNAL_JOBS = {
  /** Sends each recruiter's held alerts in one message once their rate-limit window has room. */
  digest: `${SIGNALS_MODULE}.alert-digest`,
} as const;

export const SIGNAL_CONSUMERS = {
  /** Judges every conversation message once. */
  classifier: `${SIGNALS_MODULE}.classifier`,
  /** Tells the recruiter of each resigned_before_offer and over_promise hit, once. */
  alerts: `${SIGNALS_MODULE}.alerts`,
  /** A re-applicant's first contact after an ended offer: history and questions to the recruiter, once. */
  reapplication: `${SIGNALS_MODULE}.reapplication`,
} as const;

/**
 * Re-application (reapplication.ts): a candidate whose offer ended appears again. The record is
 * the candidate's (their stream), written by the signals module: ids and hashes of the earlier
 * records, never copies of what they said.
 */
export const REAPPLICATION_KINDS = {
  /** The first contact after an offer ended: the history summary and the questions suggested to the recruiter. */
  reapplied: 'candidate.reapplied',
} as const;

export const REAPPLICATION_SOURCE_REFS = {
  /** Once per ended offer: the seq of the record that ended it. */
  reapplied: (endedSeq: number) => `reapplied:${endedSeq}`,
} as const;

export const REAPPLICATION_SEND_KEYS = {
  /** The recruiter's summary, once per ended offer (its record's seq and the start of its hash). */
  summary: (endedSeq: number, endedHash: string) => `reapplied.${endedSeq}.${endedHash.slice(0, 16)}`,
} as const;
