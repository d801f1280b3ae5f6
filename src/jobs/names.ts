/**
 * Every name src/jobs puts in Redis or in the ledger: queues, job ids, scheduler ids, consumer
 * cursors, and the records of failed work. Code outside this file never builds one itself
 * (ARCHITECTURE.md, "Names").
 *
 * One ledger per corp (DECISIONS 5): a queue's name carries the corp, and so does every job id and
 * scheduler id, so two corps sharing a Redis (and a QUEUE_PREFIX) never take each other's jobs.
 * BullMQ refuses `:` in queue names and custom job ids; CorpIDs are letters, digits, `_` and `-`.
 */

/** The queues, by what they carry. */
export const QUEUES = {
  /** One job per (ledger consumer, record): callback handlers and module consumers, fed from PostgreSQL. */
  ledger: 'ledger-consumers',
  /** Modules' scheduled jobs. */
  jobs: 'module-jobs',
  /** The scheduled, signed and witnessed checkpoint of the evidence ledger. */
  checkpoints: 'evidence-checkpoints',
} as const;

export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

/** The BullMQ queue of one corp: `ledger-consumers@<CorpID>`. */
export function corpQueue(queue: QueueName, corpId: string): string {
  return `${queue}@${corpId}`;
}

/**
 * The job of one consumer for one record. The record's hash is part of it: a job left in Redis by
 * another database (a restored backup, a wiped test database, a shared Redis) can never stand in
 * for this record's job.
 */
export function consumerJobId(corpId: string, consumer: string, seq: number, hash: string): string {
  return `${corpId}.${consumer}.${seq}.${hash.slice(0, 32)}`;
}

/** The scheduler of a module job, or of the checkpoint: one per corp, upserted at every start. */
export function schedulerId(corpId: string, job: string): string {
  return `${corpId}.${job}`;
}

/** Name of the checkpoint job on its queue. */
export const CHECKPOINT_JOB = 'evidence.checkpoint';

const NAME = /^[a-z][a-z0-9_.-]{0,63}$/;

/** Consumer and job names: lower-case, dotted, at most 64 characters (ledger_consumers.name). */
export function isValidWorkName(name: string): boolean {
  return NAME.test(name);
}

/** The ledger consumer behind a module's typed callback handler: `<module>.on.<type>`. */
export function callbackConsumerName(module: string, type: string): string {
  return `${module}.on.${type}`;
}

/** `source` of the records the job runtime writes. */
export const JOBS_SOURCE = 'hireledger.jobs';

export const JOB_KINDS = {
  /** Work that retrying cannot fix, given up on and recorded (ARCHITECTURE.md, "Job error policy"). */
  failed: 'hireledger.job.failed',
} as const;

export { HIRELEDGER_ACTOR } from '../platform/names';

export const JOB_STREAMS = {
  /** Failures of one ledger consumer (the failed record is linked by seq and hash in the payload). */
  consumer: (consumer: string) => `job:${consumer}`,
} as const;

export const JOB_SOURCE_REFS = {
  consumerFailed: (consumer: string, seq: number) => `${consumer}:${seq}:failed`,
  jobFailed: (job: string, jobId: string) => `${job}:${jobId}:failed`,
} as const;
