import { Queue, type DefaultJobOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { QUEUES, corpQueue, type QueueName } from './names';

export { QUEUES, type QueueName } from './names';

/**
 * The corp's BullMQ queues. PostgreSQL owns correctness (the evidence ledger, each consumer's
 * progress); Redis holds only what can be rebuilt from it.
 */

/**
 * What a job gets unless it says otherwise: eight attempts with exponential back-off from 2 s (about
 * 4 minutes in all) for errors that may pass; the job policy (error-policy.ts) fails the others at
 * once and delays rate-limited ones by the window they hit, without spending an attempt. A failed
 * job stays in the failed set for inspection: its failure is recorded in PostgreSQL when it is given
 * up (ARCHITECTURE.md, "Job error policy"), so the job is not what holds the work.
 */
export const DEFAULT_JOB_OPTIONS: DefaultJobOptions = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 2000 },
  removeOnComplete: { age: 24 * 3600, count: 10000 },
  removeOnFail: false,
};

export interface QueueSet {
  corpId: string;
  prefix: string;
  /** By logical name (QUEUES); the queue's own name carries the corp. */
  byName: Map<QueueName, Queue>;
  get(name: QueueName): Queue;
  close(): Promise<void>;
}

export function createQueues(
  connection: Redis,
  opts: { prefix: string; corpId: string; jobOptions?: Pick<DefaultJobOptions, 'attempts' | 'backoff'> },
): QueueSet {
  const byName = new Map<QueueName, Queue>();
  for (const name of Object.values(QUEUES)) {
    const queue = new Queue(corpQueue(name, opts.corpId), {
      connection,
      prefix: opts.prefix,
      defaultJobOptions: { ...DEFAULT_JOB_OPTIONS, ...opts.jobOptions },
    });
    queue.on('error', ignoreConnectionError);
    byName.set(name, queue);
  }
  return {
    corpId: opts.corpId,
    prefix: opts.prefix,
    byName,
    get(name) {
      const queue = byName.get(name);
      if (!queue) throw new Error(`queue ${name} missing`);
      return queue;
    },
    async close() {
      await Promise.all([...byName.values()].map((q) => q.close()));
    },
  };
}

/**
 * A Queue re-emits its connection's errors, and BullMQ prints each one with console.error when
 * nobody listens: a stack trace every retry while Redis is down. The connection's own listener
 * (infra/redis.ts createRedis) already logs each of them in one line, so the queues stay quiet.
 */
export function ignoreConnectionError(): void {
  // Logged once, by the connection's own 'error' listener.
}
