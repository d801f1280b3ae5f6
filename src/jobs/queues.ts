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
 * once and delays rate-limited ones by the window they hit, without spending an attempt.
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

export function createQueues(connection: Redis, opts: { prefix: string; corpId: string }): QueueSet {
  const byName = new Map<QueueName, Queue>();
  for (const name of Object.values(QUEUES)) {
    byName.set(
      name,
      new Queue(corpQueue(name, opts.corpId), { connection, prefix: opts.prefix, defaultJobOptions: DEFAULT_JOB_OPTIONS }),
    );
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
