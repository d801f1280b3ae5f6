import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';

/**
 * Every BullMQ queue the project uses, by name. PostgreSQL owns correctness (the evidence ledger,
 * later reminder rows); Redis holds only what can be rebuilt from it.
 */
export const QUEUES = {
  /** One job per stored WeCom callback, fed from the ledger by the dispatcher. */
  callbacks: 'wecom-callbacks',
  /** The scheduled, signed and witnessed checkpoint of the evidence ledger. */
  checkpoints: 'evidence-checkpoints',
} as const;

export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

export interface QueueSet {
  byName: Map<QueueName, Queue>;
  close(): Promise<void>;
}

export function createQueues(connection: Redis, prefix: string): QueueSet {
  const byName = new Map<QueueName, Queue>();
  for (const name of Object.values(QUEUES)) {
    byName.set(
      name,
      new Queue(name, {
        connection,
        prefix,
        defaultJobOptions: {
          attempts: 8,
          backoff: { type: 'exponential', delay: 2000 },
          removeOnComplete: { age: 24 * 3600, count: 10000 },
          removeOnFail: false,
        },
      }),
    );
  }
  return {
    byName,
    async close() {
      await Promise.all([...byName.values()].map((q) => q.close()));
    },
  };
}
