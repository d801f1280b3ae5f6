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
} as const;

export const SIGNAL_CONSUMERS = {
  /** Judges every conversation message once. */
  classifier: `${SIGNALS_MODULE}.classifier`,
  /** Tells the recruiter of each resigned_before_offer and over_promise hit, once. */
  alerts: `${SIGNALS_MODULE}.alerts`,
} as const;
