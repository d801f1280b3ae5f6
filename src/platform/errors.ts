/**
 * Errors a module throws to tell the job policy (src/jobs/error-policy.ts) that retrying cannot
 * help. Everything else a handler, consumer or job throws is retried with back-off, except the
 * permanent WeCom errors and validation errors the policy knows by class.
 */

/**
 * The work can never succeed as asked: invalid input, a state that rules it out, a person's
 * decision that stands. The job fails at once (BullMQ `UnrecoverableError`), is logged and counted,
 * and a ledger consumer's record is marked failed in PostgreSQL with a `hireledger.job.failed`
 * record, so it is neither retried nor forgotten.
 */
export class PermanentJobError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PermanentJobError';
  }
}
