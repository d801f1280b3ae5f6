import type { Pool } from 'pg';
import { CANDIDATE_STREAMS, type CandidateDirectory } from '../candidates';
import { CONVERSATION_KINDS } from '../conversations';
import type { HireLedgerModule } from '../platform/module';
import type { MessageApi } from '../wecom/api';
import { alertConsumer, DEFAULT_ALERT_LIMIT, digestJob, type AlertLimit, type RecruiterOf } from './alerts';
import { classifierConsumer, NO_OFFER_YET, type OfferStatusOf } from './hits';
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
 * - `signals.alert-digest` (job, every minute): held alerts, one message per recruiter.
 */

export interface SignalsDeps {
  db: Pick<Pool, 'query' | 'connect'>;
  /** `wecom.message` of the WeCom client: the recorded send path. */
  messages: Pick<MessageApi, 'send'>;
  /** The candidate's recruiter: `recruiterFromDirectory(candidateDirectory)`. */
  recruiterOf: RecruiterOf;
  /** The offers module's answer; until it exists, none approved (the default). */
  offerStatus?: OfferStatusOf;
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
    },
    jobs: { [SIGNAL_JOBS.digest]: digestJob(alerts) },
  };
}

/** `recruiterOf` from the candidates module's directory. */
export function recruiterFromDirectory(directory: Pick<CandidateDirectory, 'get'>): RecruiterOf {
  return async (corpId, candidateId) => (await directory.get(corpId, candidateId))?.recruiter ?? null;
}

export {
  createClassifier,
  MAX_JUDGED_LENGTH,
  NO_OFFER_APPROVED,
  ROLE_OF_TYPE,
  SIGNAL_TYPES,
  SignalRuleError,
  typesJudged,
  validateRule,
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
