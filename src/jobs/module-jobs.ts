import type { Job, Queue } from 'bullmq';
import type { JsonValue, Ledger, LedgerReader } from '../evidence';
import type { Logger } from '../observability/logger';
import type { JobData, JobDefinition } from '../platform/module';
import { failureOf } from './consumer-jobs';
import type { FailureReason } from './error-policy';
import { HIRELEDGER_ACTOR, JOB_KINDS, JOB_SOURCE_REFS, JOBS_SOURCE, schedulerId } from './names';

/** Modules' jobs on the corp's jobs queue: the processor by job name, the schedulers, failure records. */

export interface ModuleJobsOptions {
  corpId: string;
  ledger: Pick<Ledger, 'transact'>;
  reader: LedgerReader;
  jobs: ReadonlyMap<string, { module: string; job: JobDefinition }>;
  logger: Logger;
}

export function moduleJobProcessor(opts: ModuleJobsOptions) {
  return async (job: Job<JobData>): Promise<JsonValue> => {
    const entry = opts.jobs.get(job.name);
    // Not permanent: a newer worker may know it (rolling deploy).
    if (!entry) throw new Error(`no job named ${job.name} in this worker`);
    const result = await entry.job.process(job.data, {
      corpId: opts.corpId,
      log: opts.logger.child({ job: job.name, jobId: job.id }),
      reader: opts.reader,
      transact: (work) => opts.ledger.transact(work),
      attempt: job.attemptsMade + 1,
    });
    return result ?? null;
  };
}

/** A failure a job that concerns evidence is given up on (permanent, or its retries spent), recorded on the stream it names. */
export function recordJobFailure(opts: Pick<ModuleJobsOptions, 'ledger' | 'jobs'>) {
  return async (job: Job<JobData>, err: unknown, reason: FailureReason): Promise<void> => {
    const def = opts.jobs.get(job.name)?.job;
    const stream = def?.evidenceStream?.(job.data);
    if (!stream) return;
    await opts.ledger.transact(async () => ({
      result: null,
      // A repeat of this (a crash after COMMIT) finds its record stored and adds nothing.
      allowDuplicates: true,
      entries: [
        {
          stream,
          kind: JOB_KINDS.failed,
          occurredAt: new Date(),
          actor: HIRELEDGER_ACTOR,
          source: JOBS_SOURCE,
          sourceRef: JOB_SOURCE_REFS.jobFailed(job.name, job.id ?? 'unknown'),
          payload: { job: job.name, data: job.data, ...failureOf(job, err, reason) },
          raw: null,
        },
      ],
    }));
  };
}

/**
 * Upserts one scheduler per scheduled job (id `<CorpID>.<job>`, so restarts never multiply them and
 * corps never share one) and removes this corp's schedulers whose job no module declares any more.
 * Schedulers are a cache of the code: the worker runs this at start and `restoreSchedules` while it
 * runs, so a Redis that lost them gets them back without a restart.
 */
export async function upsertSchedules(queue: Queue, opts: Pick<ModuleJobsOptions, 'corpId' | 'jobs'>): Promise<void> {
  const wanted = new Set<string>();
  for (const [name, { job }] of opts.jobs) {
    if (!job.schedule) continue;
    const id = schedulerId(opts.corpId, name);
    wanted.add(id);
    await queue.upsertJobScheduler(id, job.schedule, { name, data: job.data ?? {} });
  }
  const prefix = schedulerId(opts.corpId, '');
  for (const s of await queue.getJobSchedulers()) {
    if (s.key.startsWith(prefix) && !wanted.has(s.key)) await queue.removeJobScheduler(s.key);
  }
}

/**
 * Upserts the schedulers that are missing (Redis restarted empty, flushed, failed over to an empty
 * replica) and leaves the others alone: run periodically, it changes nothing while Redis keeps
 * them, so a scheduler's next run is never moved. Returns the ids it restored. Removing retired
 * schedulers stays with `upsertSchedules` at start: during a rolling deploy an older worker would
 * otherwise re-add what a newer one removed.
 */
export async function restoreSchedules(queue: Queue, opts: Pick<ModuleJobsOptions, 'corpId' | 'jobs'>): Promise<string[]> {
  const restored: string[] = [];
  for (const [name, { job }] of opts.jobs) {
    if (!job.schedule) continue;
    const id = schedulerId(opts.corpId, name);
    if (await queue.getJobScheduler(id)) continue;
    await queue.upsertJobScheduler(id, job.schedule, { name, data: job.data ?? {} });
    restored.push(id);
  }
  return restored;
}
