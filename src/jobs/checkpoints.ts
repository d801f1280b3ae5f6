import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Pool } from 'pg';
import type { Config } from '../config/env';
import {
  checkpointOrigin,
  checkpointSigner,
  createCheckpointer,
  loadSigningKey,
  tsaWitness,
  type Checkpointer,
  type CheckpointWitness,
} from '../evidence';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';
import { createWecomCheckpointWitness } from '../wecom/checkpoint-witness';
import type { WecomClient } from '../wecom/api';
import { withJobPolicy } from './error-policy';
import { CHECKPOINT_JOB, QUEUES, corpQueue, schedulerId } from './names';
import { every } from './periodic';
import { ignoreConnectionError } from './queues';

/**
 * The scheduled checkpoint: every EVIDENCE_CHECKPOINT_INTERVAL_SECONDS the worker signs the
 * ledger's tree head and has it witnessed (a WeCom group, an RFC 3161 TSA), then retries the
 * witnesses that failed before. One scheduler per corp (DECISIONS 5), upserted at every start,
 * so restarts never multiply it (RELIABILITY F11), and upserted again while the worker runs when
 * Redis has lost it (restarted empty), so checkpoints never stop for good.
 */

/** Builds the checkpointer from configuration; null when no signing key is configured. */
export async function checkpointerFromConfig(
  config: Config,
  deps: { pool: Pool; logger: Logger; wecom?: Pick<WecomClient, 'appchat' | 'webhook'> },
): Promise<Checkpointer | null> {
  if (!config.EVIDENCE_SIGNING_KEY_FILE) return null;
  const origin = checkpointOrigin(config.WECOM_CORP_ID);
  const key = await loadSigningKey(
    config.EVIDENCE_SIGNING_KEY_FILE,
    config.NODE_ENV === 'production'
      ? { insecurePermissions: 'refuse' }
      : { insecurePermissions: 'warn', onWarning: (m) => deps.logger.warn(m) },
  );
  const witnesses: CheckpointWitness[] = [];
  if (deps.wecom && config.WECOM_CHECKPOINT_CHATID) {
    witnesses.push(createWecomCheckpointWitness({ client: deps.wecom, chatid: config.WECOM_CHECKPOINT_CHATID }));
  }
  if (deps.wecom && config.WECOM_CHECKPOINT_WEBHOOK_KEY) {
    witnesses.push(createWecomCheckpointWitness({ client: deps.wecom, webhookKey: config.WECOM_CHECKPOINT_WEBHOOK_KEY }));
  }
  if (config.EVIDENCE_TSA_URL) witnesses.push(tsaWitness(config.EVIDENCE_TSA_URL));
  if (witnesses.length === 0)
    deps.logger.warn('evidence checkpoints have no witness configured: they are signed but not anchored outside the database');
  return createCheckpointer({
    pool: deps.pool,
    origin,
    signer: checkpointSigner(origin, key),
    witnesses,
    logger: deps.logger,
    ...(config.EVIDENCE_CHECKPOINT_STATE_FILE ? { stateFile: config.EVIDENCE_CHECKPOINT_STATE_FILE } : {}),
  });
}

export interface CheckpointJobs {
  close(): Promise<void>;
}

export async function startCheckpointJobs(opts: {
  checkpointer: Checkpointer;
  connection: Redis;
  prefix: string;
  corpId: string;
  intervalSeconds: number;
  logger: Logger;
  metrics: Pick<Metrics, 'jobFailures'>;
  /** How often the scheduler is checked and upserted again when Redis lost it (default 30 s). */
  restoreIntervalMs?: number;
}): Promise<CheckpointJobs> {
  const name = corpQueue(QUEUES.checkpoints, opts.corpId);
  const queue = new Queue(name, { connection: opts.connection, prefix: opts.prefix });
  queue.on('error', ignoreConnectionError);
  const id = schedulerId(opts.corpId, CHECKPOINT_JOB);
  const upsert = () =>
    queue.upsertJobScheduler(
      id,
      { every: opts.intervalSeconds * 1000 },
      // One attempt: the next scheduled run is the retry, and it retries the witnesses that failed.
      { name: CHECKPOINT_JOB, data: { corpId: opts.corpId }, opts: { attempts: 1, removeOnComplete: 100, removeOnFail: 100 } },
    );
  await upsert();
  // Only when missing: an upsert of a scheduler Redis still holds would change nothing, but need not run.
  const restoring = every(
    opts.restoreIntervalMs ?? 30_000,
    async () => {
      if (await queue.getJobScheduler(id)) return;
      await upsert();
      opts.logger.warn({ scheduler: id }, 'the evidence checkpoint scheduler was missing from Redis; upserted again');
    },
    opts.logger,
    'restoring the evidence checkpoint scheduler',
  );
  const worker = new Worker(
    name,
    withJobPolicy(
      async () => {
        const taken = await opts.checkpointer.take();
        const retried = await opts.checkpointer.retryWitnesses();
        return { id: taken.checkpoint.id, size: taken.checkpoint.size, witnesses: taken.witnesses, retried: retried.length };
      },
      { queue: QUEUES.checkpoints, log: opts.logger, metrics: opts.metrics },
    ),
    // One at a time: two checkpoints racing would only waste witness posts.
    { connection: opts.connection, prefix: opts.prefix, concurrency: 1 },
  );
  worker.on('error', (err) => opts.logger.error({ queue: QUEUES.checkpoints, err: err.message }, 'job worker error'));
  worker.on('failed', (job, err) => opts.logger.error({ jobId: job?.id, err: err.message }, 'evidence checkpoint failed'));
  return {
    async close() {
      await restoring.stop();
      await worker.close();
      await queue.close();
    },
  };
}
