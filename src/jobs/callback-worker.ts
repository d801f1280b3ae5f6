import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Pool } from 'pg';
import type { JsonValue } from '../evidence';
import type { Logger } from '../observability/logger';
import { QUEUES } from './queues';

/**
 * Processes stored callbacks off the request path. Domain modules register a handler per event
 * type (e.g. `event.sys_approval_change` → approvals, routed by SpNo); types with no handler yet
 * are acknowledged and stay in the ledger, so a handler added later can replay them.
 * Handlers must be idempotent: BullMQ delivers at least once.
 */

export interface CallbackJobData {
  v: 1;
  seq: number;
  kind: string;
  stream: string;
}

export interface StoredCallback {
  seq: number;
  stream: string;
  type: string;
  fields: JsonValue;
  occurredAt: Date;
}

export type CallbackHandler = (callback: StoredCallback, log: Logger) => Promise<void>;

export interface CallbackWorkerOptions {
  pool: Pool;
  connection: Redis;
  prefix: string;
  logger: Logger;
  handlers?: Record<string, CallbackHandler>;
  concurrency?: number;
}

export function createCallbackWorker(opts: CallbackWorkerOptions): Worker<CallbackJobData> {
  const handlers = opts.handlers ?? {};
  return new Worker<CallbackJobData>(
    QUEUES.callbacks,
    async (job: Job<CallbackJobData>) => {
      const { rows } = await opts.pool.query<{ stream: string; payload: { type: string; fields: JsonValue }; occurred_at: Date }>(
        'SELECT stream, payload, occurred_at FROM evidence_records WHERE seq = $1',
        [job.data.seq],
      );
      const row = rows[0];
      if (!row) throw new Error(`evidence record ${job.data.seq} not found`);
      const callback: StoredCallback = {
        seq: job.data.seq,
        stream: row.stream,
        type: row.payload.type,
        fields: row.payload.fields,
        occurredAt: row.occurred_at,
      };
      const handler = handlers[callback.type];
      const log = opts.logger.child({ seq: callback.seq, type: callback.type });
      if (!handler) {
        log.debug('no handler for this callback type yet; kept in the ledger');
        return { handled: false };
      }
      await handler(callback, log);
      return { handled: true };
    },
    {
      connection: opts.connection,
      prefix: opts.prefix,
      concurrency: opts.concurrency ?? 8,
      // A stalled job (worker killed) is retried after lockDuration; handlers are idempotent.
      lockDuration: 30_000,
      maxStalledCount: 3,
    },
  );
}
