import type { Job } from 'bullmq';
import type { Pool } from 'pg';
import type { EvidenceEntry, JsonValue, Ledger, LedgerReader } from '../evidence';
import type { Logger } from '../observability/logger';
import { PermanentJobError } from '../platform/errors';
import type { ConsumerContext, LedgerConsumer } from '../platform/module';
import type { ConsumerJobData } from './dispatcher';
import type { FailureReason } from './error-policy';
import { HIRELEDGER_ACTOR, JOB_KINDS, JOB_SOURCE_REFS, JOB_STREAMS, JOBS_SOURCE } from './names';
import { claimDone, isDone, outcomeOf } from './progress';

/**
 * Runs one ledger consumer on one record (a job on the ledger queue), so that its effect happens
 * exactly once however often the job runs: a job whose record is done is skipped; the work's own
 * transaction (`ctx.transact`) begins by claiming the done row, so a concurrent second run waits
 * for the first and then finds nothing to do; a handler that never transacts is marked done when it
 * returns.
 */

export interface ConsumerJobsOptions {
  corpId: string;
  pool: Pick<Pool, 'query'>;
  ledger: Pick<Ledger, 'transact'>;
  reader: LedgerReader;
  consumers: ReadonlyMap<string, { consumer: LedgerConsumer }>;
  logger: Logger;
}

export type ConsumerJobResult = { done: true } | { skipped: 'done' | 'foreign' };

/** Thrown inside the work's transaction when another run has done the record: rolls it back. */
class AlreadyDone extends Error {
  constructor() {
    super('this record was done by another run of its job');
    this.name = 'AlreadyDone';
  }
}

export function consumerJobProcessor(opts: ConsumerJobsOptions) {
  return async (job: Job<ConsumerJobData>): Promise<ConsumerJobResult> => {
    const { consumer: name, seq, hash } = job.data;
    const entry = opts.consumers.get(name);
    // Not permanent: during a rolling deploy an older worker may take a job of a consumer only the
    // newer one has; the back-off gives the newer one the job.
    if (!entry) throw new Error(`no ledger consumer named ${name} in this worker`);
    if (await isDone(opts.pool, name, seq)) return { skipped: 'done' };
    const record = await opts.reader.readRecord(seq);
    const log = opts.logger.child({ consumer: name, seq });
    if (!record || record.hash !== hash) {
      log.warn('job for a record of another ledger (restored backup or shared Redis); skipped');
      return { skipped: 'foreign' };
    }
    let used = false;
    let committed = false;
    const ctx: ConsumerContext = {
      corpId: opts.corpId,
      log,
      reader: opts.reader,
      async transact(work) {
        // Permanent, and so recorded: a second decision on one record is a bug of the handler, and
        // the retry would find the record done by the first and drop the second without a trace.
        if (used)
          throw new PermanentJobError(
            `consumer ${name} called ctx.transact twice for record ${seq}: one decision per record; the second was not made`,
          );
        used = true;
        const out = await opts.ledger.transact(async (tx) => {
          if (!(await claimDone(tx, name, seq, 'done'))) throw new AlreadyDone();
          return work(tx);
        });
        committed = true;
        return out;
      },
    };
    try {
      await entry.consumer.handle(record, ctx);
    } catch (err) {
      if (err instanceof AlreadyDone) return { skipped: 'done' };
      throw err;
    }
    if (!committed) await claimDone(opts.pool, name, seq, 'done');
    return { done: true };
  };
}

/**
 * The failure a consumer's job is given up on (permanent, or its retries spent), recorded: the
 * record marked failed (so neither a retry nor the sweeper runs it again, and `done_seq` moves on)
 * and a `hireledger.job.failed` record on the consumer's stream, in one transaction. When the record
 * is already marked failed, nothing more. When it is marked done (the handler's first decision
 * committed, then it failed, e.g. a second `ctx.transact`), it stays done and the failure is
 * recorded all the same. A consumer this worker does not run (a rolling deploy) is not recorded
 * here: that throws, so the job is retried until a worker that knows it takes it.
 */
export function recordConsumerFailure(opts: Pick<ConsumerJobsOptions, 'ledger' | 'consumers'>) {
  return async (job: Job<ConsumerJobData>, err: unknown, reason: FailureReason): Promise<void> => {
    const { consumer, seq, hash } = job.data;
    if (!opts.consumers.has(consumer))
      throw new Error(`no ledger consumer named ${consumer} in this worker: failure not recorded`);
    await opts.ledger.transact(async (tx) => {
      const claimed = await claimDone(tx, consumer, seq, 'failed');
      const outcome = claimed ? 'failed' : await outcomeOf(tx, consumer, seq);
      if (!claimed && outcome !== 'done') return { result: false, entries: [] };
      const entry: EvidenceEntry = {
        stream: JOB_STREAMS.consumer(consumer),
        kind: JOB_KINDS.failed,
        occurredAt: new Date(),
        actor: HIRELEDGER_ACTOR,
        source: JOBS_SOURCE,
        sourceRef: JOB_SOURCE_REFS.consumerFailed(consumer, seq),
        payload: { consumer, record: { seq, hash }, record_outcome: outcome ?? 'failed', ...failureOf(job, err, reason) },
        raw: null,
      };
      // A repeat of this (a crash after COMMIT) finds its record stored and adds nothing.
      return { result: true, entries: [entry], allowDuplicates: true };
    });
  };
}

/** What a failure record says about the error: its class and message, bounded and storable. */
export function failureOf(
  job: Pick<Job, 'id' | 'attemptsMade'>,
  err: unknown,
  reason: FailureReason,
): { [key: string]: JsonValue } {
  const name = err instanceof Error ? err.name : typeof err;
  const message = err instanceof Error ? err.message : String(err);
  const errcode = (err as { errcode?: unknown } | null)?.errcode;
  return {
    reason,
    error: {
      name: storable(name, 64),
      message: storable(message, 1000),
      ...(typeof errcode === 'number' && Number.isSafeInteger(errcode) ? { errcode } : {}),
    },
    job_id: job.id ?? null,
    attempt: job.attemptsMade + 1,
  };
}

function storable(text: string, max: number): string {
  // jsonb cannot hold U+0000, nor a lone surrogate: both become U+FFFD.
  const clean = text.replaceAll('\u0000', '\uFFFD').toWellFormed();
  return clean.length > max ? `${clean.slice(0, max - 1)}…`.toWellFormed() : clean;
}
