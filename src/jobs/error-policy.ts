import { DelayedError, RateLimitError, UnrecoverableError, WaitingChildrenError, WaitingError, type Job } from 'bullmq';
import { ZodError } from 'zod';
import { DuplicateDecisionError, EvidenceInputError } from '../evidence';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';
import { PermanentJobError } from '../platform/errors';
import {
  RateLimitedError,
  IdempotencyConflictError,
  SendAlreadyAttemptedError,
  WecomApiError,
  WecomConfigError,
  WecomNetworkError,
  WecomRateLimitedError,
  WecomRequestError,
} from '../wecom/api';
import { CallbackParseError } from '../wecom/callbacks';

/**
 * The job error policy (ARCHITECTURE.md, "Job error policy"), applied by `withJobPolicy` to every
 * processor the worker runs:
 * - permanent: retrying cannot fix it (configuration, a WeCom errcode that names a wrong request or
 *   a missing permission, invalid input, PermanentJobError). The job fails at once
 *   (UnrecoverableError), with a log line, a metric and, through `onPermanent`, a record of it.
 * - rate_limited: a WeCom limit was hit. WeCom sends no retry-after; a limit blocks for its window
 *   (60 s for a per-minute limit, an hour for an hourly one; ../shared/wecom/README.md §4.12), so
 *   the job waits that long in BullMQ's delayed set without spending an attempt.
 * - transient: everything else (network, 5xx, -1 busy, a stale stream head, a database hiccup):
 *   the queue's exponential back-off.
 */

export type JobErrorClass =
  | { kind: 'permanent'; reason: PermanentReason }
  | { kind: 'rate_limited'; delayMs: number; window: 'exact' | 'minute' | 'hour' | 'concurrency' }
  | { kind: 'transient' };

export type PermanentReason =
  | 'permanent_job_error'
  | 'wecom_config'
  | 'wecom_errcode'
  | 'invalid_request'
  | 'send_already_attempted'
  | 'idempotency_conflict'
  | 'duplicate_decision'
  | 'invalid_evidence'
  | 'unparsable_callback'
  | 'invalid_input'
  | 'invalid_data'
  | 'constraint_violation'
  | 'database_config'
  | 'invalid_argument'
  | 'unrecoverable';

/**
 * Why a job was given up: a permanent error, or a transient one that outlasted the queue's retries
 * (`retries_exhausted`). Either way the failure is recorded in PostgreSQL, not only left in Redis.
 */
export type FailureReason = PermanentReason | 'retries_exhausted';

export const MINUTE_WINDOW_MS = 60_000;
export const HOUR_WINDOW_MS = 3_600_000;
/** 45033 (too many concurrent calls) clears as soon as the other calls return. */
export const CONCURRENCY_BACKOFF_MS = 10_000;
/** After this many rate-limit delays in a row the job stops waiting and takes its ordinary retries. */
export const MAX_RATE_LIMIT_STRIKES = 6;

/**
 * WeCom errcodes that no retry can fix: the request is wrong, the target does not exist or is out
 * of the app's scope, a permission or configuration is missing, or a WeCom rule forbids it now
 * (the 48-hour KF window, five replies per customer message). A person has to act; until then
 * retrying would only spend the corp's API budget. Codes not listed are retried (-1 busy, token
 * errors the client already refreshed, 301057 approval service error, codes we have not met).
 */
export const PERMANENT_ERRCODES: ReadonlySet<number> = new Set([
  40001, 40003, 40007, 40013, 40029, 40056, 40058, 40091, 40096, 41001, 44004, 45002, 47001, 48002, 48007, 50001, 50003, 60011,
  60020, 60030, 60111, 81013, 82001, 84061, 86001, 86003, 86006, 86008, 86201, 86205, 86207, 86215, 86216, 93000, 93004, 95000,
  95001, 95002, 95004, 95007, 95013, 95018, 301025, 301026, 301055, 301056, 301112,
]);

const FREQUENCY_LIMIT = 45009;
const CONCURRENCY_LIMIT = 45033;

/**
 * What to do about an error a job threw. `rateLimitStrikes` is how many rate-limit delays this job
 * has already had in a row: WeCom's 45009 does not say which window was hit, so the first wait is
 * the minute window and a second 45009 right after it means the hourly one.
 */
export function classifyJobError(err: unknown, opts: { rateLimitStrikes?: number } = {}): JobErrorClass {
  const strikes = opts.rateLimitStrikes ?? 0;
  if (err instanceof RateLimitedError || err instanceof WecomRateLimitedError || isErrcode(err, FREQUENCY_LIMIT)) {
    if (strikes >= MAX_RATE_LIMIT_STRIKES) return { kind: 'transient' };
    // Refused locally: the limiter knows exactly when a slot frees.
    if (err instanceof RateLimitedError) return { kind: 'rate_limited', delayMs: Math.max(err.retryAfterMs, 1), window: 'exact' };
    return strikes === 0
      ? { kind: 'rate_limited', delayMs: MINUTE_WINDOW_MS, window: 'minute' }
      : { kind: 'rate_limited', delayMs: HOUR_WINDOW_MS, window: 'hour' };
  }
  if (isErrcode(err, CONCURRENCY_LIMIT)) {
    if (strikes >= MAX_RATE_LIMIT_STRIKES) return { kind: 'transient' };
    return { kind: 'rate_limited', delayMs: CONCURRENCY_BACKOFF_MS, window: 'concurrency' };
  }
  // An error the policy does not know by itself may wrap one it does (`cause`): a wrapped
  // EvidenceInputError is as permanent as the bare one, a wrapped network error as transient.
  let current: unknown = err;
  for (let depth = 0; depth < MAX_CAUSE_DEPTH && current !== undefined && current !== null; depth++) {
    const known = classifyKnown(current);
    if (known) return known;
    current = (current as { cause?: unknown }).cause;
  }
  return { kind: 'transient' };
}

/** How deep `classifyJobError` follows `cause`: far enough for any real wrapping, never round a cycle for ever. */
const MAX_CAUSE_DEPTH = 8;

/**
 * The class of an error known by its type or code, or undefined when only its `cause` can tell.
 * Transient classes are named too, so that a known transient error never inherits a permanent cause.
 */
function classifyKnown(err: unknown): JobErrorClass | undefined {
  if (err instanceof PermanentJobError) return permanent('permanent_job_error');
  if (err instanceof UnrecoverableError) return permanent('unrecoverable');
  if (err instanceof WecomConfigError) return permanent('wecom_config');
  if (err instanceof WecomApiError)
    return PERMANENT_ERRCODES.has(err.errcode) ? permanent('wecom_errcode') : { kind: 'transient' };
  if (err instanceof WecomNetworkError) return { kind: 'transient' };
  if (err instanceof WecomRequestError) return permanent('invalid_request');
  if (err instanceof SendAlreadyAttemptedError) return permanent('send_already_attempted');
  // A different request under a recorded idempotency key, or a decision already recorded: a retry
  // would meet the same refusal, so they are recorded once instead of retried.
  if (err instanceof IdempotencyConflictError) return permanent('idempotency_conflict');
  if (err instanceof DuplicateDecisionError) return permanent('duplicate_decision');
  if (err instanceof EvidenceInputError) return permanent('invalid_evidence');
  if (err instanceof CallbackParseError) return permanent('unparsable_callback');
  if (err instanceof ZodError) return permanent('invalid_input');
  const sqlstate = sqlstateOf(err);
  if (sqlstate) return classifySqlstate(sqlstate);
  // A TypeError of our own code is a wrong argument or a bug (a missing idempotency key, a field
  // read off undefined): the retry runs the same code on the same input. One with a cause is a
  // wrapper (fetch's "fetch failed" around ECONNRESET): its cause decides.
  if (err instanceof TypeError && err.cause === undefined) return permanent('invalid_argument');
  return undefined;
}

/**
 * PostgreSQL's SQLSTATE classes. What the handler's data or the deployment gets wrong does not
 * change on a retry; what the server or the moment gets wrong does.
 */
function classifySqlstate(code: string): JobErrorClass | undefined {
  const cls = code.slice(0, 2);
  // 22: data exception (a value PostgreSQL cannot hold).
  if (cls === '22') return permanent('invalid_data');
  // 23: integrity constraint violation: a CHECK (23514), a unique key (23505), NOT NULL (23502), an
  // exclusion (23P01): data the handler cannot store. Handlers write idempotently (ON CONFLICT), so
  // a unique violation is a wrong decision, not a race. A foreign key (23503) is left transient: the
  // row it references may come from another consumer's work, and consumers run in any order.
  if (cls === '23') return code === '23503' ? { kind: 'transient' } : permanent('constraint_violation');
  // 42: syntax error or access rule violation (42501 a missing GRANT, 42P01 a missing table, 42703 a
  // missing column); 0A: feature not supported. The code or the deployment is wrong until a person fixes it.
  if (cls === '42' || cls === '0A') return permanent('database_config');
  // 40 (serialization failure, deadlock), 53 (resources), 57 (shutdown), 08 (connection) and the
  // rest: the server or the moment, which a retry outlives.
  return { kind: 'transient' };
}

/**
 * A PostgreSQL error's SQLSTATE, or undefined. Only the classes that begin with a digit: Node's
 * own codes (ECONNRESET, EPIPE) begin with a letter, and so do the SQLSTATE classes left to the
 * default (P0 raised by a function, XX internal, F0, HV).
 */
function sqlstateOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9][0-9A-Z]{4}$/.test(code) ? code : undefined;
}

function permanent(reason: PermanentReason): JobErrorClass {
  return { kind: 'permanent', reason };
}

function isErrcode(err: unknown, errcode: number): boolean {
  return err instanceof WecomApiError && err.errcode === errcode;
}

/** BullMQ's own control flow (a processor that moved its job itself): passed through untouched. */
function isControlFlow(err: unknown): boolean {
  return (
    err instanceof DelayedError ||
    err instanceof WaitingError ||
    err instanceof WaitingChildrenError ||
    err instanceof RateLimitError
  );
}

export type JobProcessor<D, R> = (job: Job<D>, token?: string, signal?: AbortSignal) => Promise<R>;

export interface JobPolicyOptions<D> {
  /** The queue's logical name (QUEUES), for logs and the metric. */
  queue: string;
  log: Logger;
  metrics: Pick<Metrics, 'jobFailures'>;
  /**
   * Records a failure the job is given up on, permanent or with its retries spent, where it belongs
   * (for a ledger consumer: its record marked failed, with a `hireledger.job.failed` record). If this
   * throws, the job is not given up: an unrecorded failure must not disappear. It is retried while
   * it has attempts left; on its last attempt it waits `recordRetryMs` in the delayed set (no
   * attempt spent) and runs again, until its outcome is in PostgreSQL.
   */
  recordFailure?(job: Job<D>, err: unknown, reason: FailureReason): Promise<void>;
  /** How long a job on its last attempt waits when its failure could not be recorded (default a minute). */
  recordRetryMs?: number;
  now?: () => number;
}

/** The default of `recordRetryMs`. */
export const RECORD_RETRY_MS = 60_000;

/** How many rate-limit delays in a row the job has had, kept in its progress (processors report none of their own). */
export function rateLimitStrikesOf(job: Pick<Job, 'progress'>): number {
  const p = job.progress;
  if (typeof p !== 'object' || p === null) return 0;
  const n = (p as { rateLimitStrikes?: unknown }).rateLimitStrikes;
  return typeof n === 'number' && Number.isInteger(n) && n > 0 ? n : 0;
}

/** Applies the policy to a processor. Every BullMQ Worker in src/ is built with a processor wrapped by this. */
export function withJobPolicy<D, R>(processor: JobProcessor<D, R>, opts: JobPolicyOptions<D>): JobProcessor<D, R> {
  const now = opts.now ?? Date.now;
  const recordRetryMs = opts.recordRetryMs ?? RECORD_RETRY_MS;
  return async (job, token, signal) => {
    try {
      return await processor(job, token, signal);
    } catch (err) {
      if (isControlFlow(err)) throw err;
      const strikes = rateLimitStrikesOf(job);
      const c = classifyJobError(err, { rateLimitStrikes: strikes });
      const fields = { queue: opts.queue, job: job.name, jobId: job.id, attempt: job.attemptsMade + 1, err: describe(err) };
      const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      opts.metrics.jobFailures.inc({ queue: opts.queue, job: job.name, class: c.kind });

      /** Records the failure; when that fails, the job is retried (or, on its last attempt, delayed), never given up. */
      const record = async (reason: FailureReason): Promise<void> => {
        try {
          await opts.recordFailure?.(job, err, reason);
        } catch (recordErr) {
          const why = { ...fields, reason, recordErr: describe(recordErr) };
          if (!last) {
            opts.log.error(why, 'job failed and its failure could not be recorded; retried instead');
            throw recordErr;
          }
          opts.log.error(
            { ...why, delayMs: recordRetryMs },
            'job failed on its last attempt and its failure could not be recorded; it runs again later',
          );
          await job.moveToDelayed(now() + recordRetryMs, token);
          throw new DelayedError();
        }
      };

      switch (c.kind) {
        case 'permanent': {
          await record(c.reason);
          opts.log.error({ ...fields, reason: c.reason }, 'job failed permanently; not retried');
          throw new UnrecoverableError(`${c.reason}: ${describe(err)}`);
        }
        case 'rate_limited': {
          opts.log.warn({ ...fields, window: c.window, delayMs: c.delayMs, strikes: strikes + 1 }, 'job rate-limited; delayed');
          await job.updateProgress({ rateLimitStrikes: strikes + 1 });
          await job.moveToDelayed(now() + c.delayMs, token);
          // Tells BullMQ the job was moved, not failed: no attempt is spent.
          throw new DelayedError();
        }
        case 'transient': {
          // The strikes count rate limits in a row; another failure in between ends the row.
          if (strikes > 0) await job.updateProgress({ rateLimitStrikes: 0 });
          if (!last) {
            opts.log.warn(fields, 'job failed; will retry with back-off');
            throw err;
          }
          // Its retries are spent: recorded in PostgreSQL like a permanent failure, so the work is
          // neither lost in Redis's failed set nor retried for ever.
          await record('retries_exhausted');
          opts.log.error(fields, 'job failed; retries exhausted, failure recorded');
          throw err;
        }
      }
    }
  };
}

function describe(err: unknown): string {
  const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return text.length > 500 ? `${text.slice(0, 497)}...` : text;
}
