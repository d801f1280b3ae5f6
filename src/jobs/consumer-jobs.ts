import type { Job } from 'bullmq';
import type { Pool } from 'pg';
import type { EvidenceEntry, JsonValue, Ledger, LedgerReader } from '../evidence';
import type { Logger } from '../observability/logger';
import type { ConsumerContext, LedgerConsumer } from '../platform/module';
import type { ConsumerJobData } from './dispatcher';
import type { PermanentReason } from './error-policy';
import { HIRELEDGER_ACTOR, JOB_KINDS, JOB_SOURCE_REFS, JOB_STREAMS, JOBS_SOURCE } from './names';
import { claimDone, isDone } from './progress';

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
        if (used) throw new Error('ctx.transact may be called once per record');
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
 * The permanent failure of a consumer's job, recorded: the record marked failed (so neither a retry
 * nor the sweeper runs it again) and a `hireledger.job.failed` record on the consumer's stream, in
 * one transaction; nothing when the record was already marked.
 */
export function recordConsumerFailure(opts: Pick<ConsumerJobsOptions, 'ledger'>) {
  return async (job: Job<ConsumerJobData>, err: unknown, reason: PermanentReason): Promise<void> => {
    const { consumer, seq, hash } = job.data;
    await opts.ledger.transact(async (tx) => {
      const claimed = await claimDone(tx, consumer, seq, 'failed');
      const entry: EvidenceEntry = {
        stream: JOB_STREAMS.consumer(consumer),
        kind: JOB_KINDS.failed,
        occurredAt: new Date(),
        actor: HIRELEDGER_ACTOR,
        source: JOBS_SOURCE,
        sourceRef: JOB_SOURCE_REFS.consumerFailed(consumer, seq),
        payload: { consumer, record: { seq, hash }, ...failureOf(job, err, reason) },
        raw: null,
      };
      return { result: claimed, entries: claimed ? [entry] : [] };
    });
  };
}

/** What a failure record says about the error: its class and message, bounded and storable. */
export function failureOf(
  job: Pick<Job, 'id' | 'attemptsMade'>,
  err: unknown,
  reason: PermanentReason,
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
