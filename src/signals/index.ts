import type { Pool } from 'pg';
import { CANDIDATE_STREAMS, candidateStreams, type CandidateDirectory } from '../candidates';
import { CONVERSATION_KINDS } from '../conversations';
import type { HireLedgerModule } from '../platform/module';
import type { MessageApi } from '../wecom/api';
import { alertConsumer, DEFAULT_ALERT_LIMIT, digestJob, type AlertLimit, type RecruiterOf } from './alerts';
import { classifierConsumer, NO_OFFER_YET, type OfferStatusOf } from './hits';
import {
  DEFAULT_REAPPLICATION_MAX_AGE_MS,
  DEFAULT_REAPPLICATION_QUIET_MS,
  reapplicationConsumer,
  type OfferStatesOf,
} from './reapplication';
import { SIGNAL_CONSUMERS, SIGNAL_JOBS, SIGNALS_MODULE } from './names';
import { databaseRules, type RuleSource } from './store';

/**
 * The signals module (docs/signals.md): risk in what candidates and recruiters write, flagged by
 * explainable rules an admin edits in the database, each hit an evidence record on the candidate's
 * stream, and the recruiter told through WeCom of the two that call for action. Signals advise a
 * person; nothing is decided on them (PIPL art. 24).
 *
 * - `signals.classifier` (consumer): every `conversation.message` on a candidate stream, once →
 *   `signal.hit` records (hits.ts);
 * - `signals.alerts` (consumer): every resigned_before_offer / over_promise hit → one WeCom text to
 *   the recruiter, rate-limited, or a record that it was held or could not be delivered (alerts.ts);
 * - `signals.alert-digest` (job, every minute): held alerts, one message per recruiter;
 * - `signals.reapplication` (consumer, with `offerStates`): a candidate whose offer ended appears
 *   again → `candidate.reapplied` and their history with suggested questions to the recruiter
 *   (reapplication.ts).
 *
 * With an approved offer, a recruiter's salary, level, start date and title are compared with the
 * approved terms (beyond.ts): a promise beyond them is an over_promise hit.
 */

export interface SignalsDeps {
  db: Pick<Pool, 'query' | 'connect'>;
  /** `wecom.message` of the WeCom client: the recorded send path. */
  messages: Pick<MessageApi, 'send'>;
  /** The candidate's recruiter: `recruiterFromDirectory(candidateDirectory)`. */
  recruiterOf: RecruiterOf;
  /** The offers module's answer (`offers.offerStatusOf`); without it, none approved. */
  offerStatus?: OfferStatusOf;
  /** The candidate's offers and states (`offers.listOffers`): with it, the re-application consumer runs. */
  offerStates?: OfferStatesOf;
  /** A contact this soon after an offer ended is the same conversation, not a re-application (default 24 h). */
  reapplicationQuietMs?: number;
  /** A contact older than this when handled is recorded, not sent (default 7 days). */
  reapplicationMaxAgeMs?: number;
  /** Default: the corp's rules in the database (the shipped defaults inserted on first use). */
  rules?: RuleSource;
  /** Default DEFAULT_ALERT_LIMIT: 5 alert messages per recruiter per 10 minutes. */
  alertLimit?: AlertLimit;
  now?: () => number;
}

/** `candidate:` — the prefix of every candidate stream, from the candidates module's own name. */
export const CANDIDATE_STREAM_PREFIX = CANDIDATE_STREAMS.candidate(`cd_${'0'.repeat(32)}`).slice(0, -35);

export function createSignalsModule(deps: SignalsDeps): HireLedgerModule {
  const now = deps.now ?? Date.now;
  const rules = deps.rules ?? databaseRules(deps.db);
  const alerts = {
    db: deps.db,
    messages: deps.messages,
    recruiterOf: deps.recruiterOf,
    candidateStreamPrefix: CANDIDATE_STREAM_PREFIX,
    limit: deps.alertLimit ?? DEFAULT_ALERT_LIMIT,
    now,
  };
  return {
    name: SIGNALS_MODULE,
    consumers: {
      [SIGNAL_CONSUMERS.classifier]: classifierConsumer({
        rules,
        offerStatus: deps.offerStatus ?? NO_OFFER_YET,
        messages: { kind: CONVERSATION_KINDS.message, streamPrefix: CANDIDATE_STREAM_PREFIX },
        now,
      }),
      [SIGNAL_CONSUMERS.alerts]: alertConsumer(alerts),
      ...(deps.offerStates
        ? {
            [SIGNAL_CONSUMERS.reapplication]: reapplicationConsumer({
              messages: deps.messages,
              recruiterOf: deps.recruiterOf,
              offerStates: deps.offerStates,
              candidateStreamPrefix: CANDIDATE_STREAM_PREFIX,
              personStreams: (corpId, candidateId) => candidateStreams(deps.db, corpId, candidateId),
              quietMs: deps.reapplicationQuietMs ?? DEFAULT_REAPPLICATION_QUIET_MS,
              maxAgeMs: deps.reapplicationMaxAgeMs ?? DEFAULT_REAPPLICATION_MAX_AGE_MS,
              now,
            }),
          }
        : {}),
    },
    jobs: { [SIGNAL_JOBS.digest]: digestJob(alerts) },
  };
}

/** `recruiterOf` from the candidates module's directory. */
export function recruiterFromDirectory(directory: Pick<CandidateDirectory, 'get'>): RecruiterOf {
  return async (corpId, candidateId) => (await directory.get(corpId, candidateId))?.recruiter ?? null;
}

export { statementsIn, amountsIn, chineseInt, ANNUAL_FROM_YUAN, type SalaryPeriod, type Statement } from './amounts';
export { annualPackage, beyondTerms, BEYOND_TERMS_RULE, type BeyondCode, type BeyondFinding } from './beyond';
export {
  DEFAULT_REAPPLICATION_MAX_AGE_MS,
  DEFAULT_REAPPLICATION_QUIET_MS,
  ENDED_OFFER_KINDS,
  isContact,
  reapplicationHistory,
  reapplicationText,
  type EarlierOffer,
  type EarlierSignal,
  type OfferStatesOf,
  type ReapplicationHistory,
  type SuggestedQuestion,
} from './reapplication';
export {
  createClassifier,
  MAX_JUDGED_LENGTH,
  NO_OFFER_APPROVED,
  ROLE_OF_TYPE,
  SIGNAL_TYPES,
  SignalRuleError,
  typesJudged,
  validateRule,
  type ApprovedOffer,
  type ApprovedTerms,
  type Classifier,
  type OfferStatus,
  type RuleGuards,
  type SignalHit,
  type SignalMatch,
  type SignalRole,
  type SignalRule,
} from './classifier';
export { DEFAULT_RULES } from './defaults';
export { evaluate, parseLabelled, type LabelledMessage, type Mistake, type TypeScore } from './evaluate';
export { alertText, digestText, DEFAULT_ALERT_LIMIT, DIGEST_MAX, type AlertLimit, type RecruiterOf } from './alerts';
export { NO_OFFER_YET, type HitPayload, type OfferStatusOf } from './hits';
export {
  SIGNAL_CONSUMERS,
  SIGNAL_JOBS,
  SIGNAL_KINDS,
  SIGNAL_SEND_KEYS,
  SIGNAL_SOURCE_REFS,
  REAPPLICATION_KINDS,
  REAPPLICATION_SEND_KEYS,
  REAPPLICATION_SOURCE_REFS,
  SIGNALS_MODULE,
  SIGNALS_SOURCE,
  type SignalAlertOutcome,
  type SignalType,
} from './names';
export { normalize } from './normalize';
export { overlayRules, parseRuleFile, type RulePatch } from './rule-file';
export {
  databaseRules,
  ensureDefaultRules,
  fixedRules,
  loadRules,
  ruleAtVersion,
  saveRule,
  type RuleSource,
  type StoredRule,
} from './store';
