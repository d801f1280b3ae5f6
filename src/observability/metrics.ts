import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** One registry per app instance, so tests can build several apps in one process. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    callbacksAccepted: new Counter({
      name: 'hireledger_wecom_callbacks_total',
      help: 'Verified WeCom callbacks by outcome (stored, duplicate) and event type',
      labelNames: ['outcome', 'type'] as const,
      registers: [registry],
    }),
    callbackVariants: new Counter({
      name: 'hireledger_wecom_callback_variants_total',
      help: 'Verified WeCom callbacks whose key was already stored with different parsed fields: kept as their own record, linked to the first',
      labelNames: ['type'] as const,
      registers: [registry],
    }),
    callbackRejections: new Counter({
      name: 'hireledger_wecom_callback_rejections_total',
      help: 'WeCom callback requests refused, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    callbackStorageFailures: new Counter({
      name: 'hireledger_wecom_callback_storage_failures_total',
      help: 'Verified WeCom callbacks answered 503 because they could not be stored (WeCom retries them), by reason: disk_full, unavailable, timeout, resources, other. Alert on any increase.',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    callbackDuration: new Histogram({
      name: 'hireledger_wecom_callback_duration_seconds',
      help: 'Time from request to durable acknowledgement',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    evidenceBatchSize: new Histogram({
      name: 'hireledger_evidence_batch_size',
      help: 'Records per evidence group commit',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
      registers: [registry],
    }),
    jobFailures: new Counter({
      name: 'hireledger_job_failures_total',
      help: 'Failed job attempts by queue, job (or ledger consumer) and what the job policy made of them: permanent (given up and recorded), rate_limited (delayed by the window hit), transient (retried with back-off)',
      labelNames: ['queue', 'job', 'class'] as const,
      registers: [registry],
    }),
    evidenceBatchDuration: new Histogram({
      name: 'hireledger_evidence_batch_duration_seconds',
      help: 'Duration of one evidence group commit',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
