import { randomBytes } from 'node:crypto';
import { Queue, QueueEvents, UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { EvidenceInputError, StaleStreamError } from '../../src/evidence';
import {
  classifyJobError,
  CONCURRENCY_BACKOFF_MS,
  HOUR_WINDOW_MS,
  MAX_RATE_LIMIT_STRIKES,
  MINUTE_WINDOW_MS,
  withJobPolicy,
  type JobProcessor,
  type FailureReason,
  type PermanentReason,
} from '../../src/jobs/error-policy';
import { createLogger } from '../../src/observability/logger';
import { createMetrics } from '../../src/observability/metrics';
import { PermanentJobError } from '../../src/platform/errors';
import {
  RateLimitedError,
  SendAlreadyAttemptedError,
  WecomApiError,
  WecomConfigError,
  WecomContentTooLongError,
  WecomNetworkError,
  WecomRateLimitedError,
} from '../../src/wecom/api';
import { CallbackParseError } from '../../src/wecom/callbacks';
import { REDIS_URL } from '../support/env';

/**
 * The job error policy: what retrying cannot fix fails at once and is recorded, a WeCom limit is
 * waited out for its window without spending an attempt, everything else backs off.
 */

/** An error as `pg` throws it: the SQLSTATE in `code`. */
function pgError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

function econnreset(): Error {
  return Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
}

describe('classifyJobError', () => {
  test.each<[string, unknown, PermanentReason]>([
    ['PermanentJobError', new PermanentJobError('the offer was withdrawn'), 'permanent_job_error'],
    ['WecomConfigError (40001 wrong secret)', new WecomConfigError(40001, 'invalid credential', 'gettoken'), 'wecom_config'],
    ['60111 no such member', new WecomApiError(60111, 'userid not found', 'user/get'), 'wecom_errcode'],
    ['95002 the 48-hour KF window has passed', new WecomApiError(95002, 'outside 48h', 'kf/send_msg'), 'wecom_errcode'],
    ['48002 API not permitted', new WecomApiError(48002, 'api forbidden', 'oa/applyevent'), 'wecom_errcode'],
    [
      'a request refused locally (too long)',
      new WecomContentTooLongError('message/send', 'text.content', 3000, 2048),
      'invalid_request',
    ],
    [
      'a send already attempted under its key',
      new SendAlreadyAttemptedError('externalcontact/add_msg_template', 'k', []),
      'send_already_attempted',
    ],
    ['EvidenceInputError', new EvidenceInputError('payload holds a float'), 'invalid_evidence'],
    ['CallbackParseError', new CallbackParseError('message.text', 'MsgId', 'is missing'), 'unparsable_callback'],
    ['a ZodError (invalid job data)', z.object({ seq: z.number() }).safeParse({}).error, 'invalid_input'],
    [
      'SQLSTATE 22P02 (invalid text representation)',
      Object.assign(new Error('invalid input syntax'), { code: '22P02' }),
      'invalid_data',
    ],
    ['UnrecoverableError', new UnrecoverableError('given up'), 'unrecoverable'],
    ['SQLSTATE 23514 (a CHECK the data breaks)', pgError('23514', 'violates check constraint'), 'constraint_violation'],
    ['SQLSTATE 23505 (a unique key the decision breaks)', pgError('23505', 'duplicate key'), 'constraint_violation'],
    ['SQLSTATE 23502 (NOT NULL)', pgError('23502', 'null value in column'), 'constraint_violation'],
    ['SQLSTATE 42501 (a GRANT missing)', pgError('42501', 'permission denied for table offers'), 'database_config'],
    ['SQLSTATE 42P01 (a table missing)', pgError('42P01', 'relation "offers" does not exist'), 'database_config'],
    ['SQLSTATE 42703 (a column missing)', pgError('42703', 'column "x" does not exist'), 'database_config'],
    ['SQLSTATE 0A000 (feature not supported)', pgError('0A000', 'not supported'), 'database_config'],
    [
      'a TypeError for a missing idempotency key',
      new TypeError('idempotencyKey is required: 1-256 printable ASCII characters'),
      'invalid_argument',
    ],
    ['a TypeError of a bug', new TypeError("Cannot read properties of undefined (reading 'userid')"), 'invalid_argument'],
    [
      'an error wrapping an EvidenceInputError',
      new Error('could not record the outcome', { cause: new EvidenceInputError('payload holds a float') }),
      'invalid_evidence',
    ],
    [
      'an error wrapping one that wraps a unique violation',
      new Error('outer', { cause: new Error('inner', { cause: pgError('23505', 'duplicate key') }) }),
      'constraint_violation',
    ],
  ])('%s → permanent', (_n, err, reason) => {
    expect(classifyJobError(err)).toEqual({ kind: 'permanent', reason });
  });

  test.each<[string, unknown]>([
    ['-1 system busy', new WecomApiError(-1, 'system busy', 'message/send')],
    ['301057 approval service error', new WecomApiError(301057, 'inner error', 'oa/applyevent')],
    ['an errcode HireLedger has not met', new WecomApiError(99999, '?', 'x')],
    ['a network error', new WecomNetworkError('message/send', 'ECONNRESET', true, 'socket hang up')],
    ['a stale stream head (the retry reads the new one)', new StaleStreamError('offer:1', null, 'ab')],
    ['a serialization failure', Object.assign(new Error('could not serialize'), { code: '40001' })],
    ['a deadlock', pgError('40P01', 'deadlock detected')],
    ['the server shutting down', pgError('57P01', 'terminating connection due to administrator command')],
    ['a connection failure', pgError('08006', 'connection failure')],
    ['a connection that does not exist', pgError('08003', 'connection does not exist')],
    ['a foreign key (the row may come from other work)', pgError('23503', 'violates foreign key constraint')],
    ['a network error of Node', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })],
    ['fetch failed (a TypeError with a network cause)', new TypeError('fetch failed', { cause: econnreset() })],
    ['an error wrapping a network error', new Error('witness failed', { cause: econnreset() })],
    ['an error wrapping -1', new Error('send failed', { cause: new WecomApiError(-1, 'system busy', 'message/send') })],
    // Known as transient itself: a permanent-looking cause does not change it.
    [
      'a WeCom network error whatever its cause',
      Object.assign(new WecomNetworkError('message/send', 'ECONNRESET', true, 'reset'), {
        cause: new TypeError('x'),
      }),
    ],
    ['anything else', new Error('boom')],
    ['a thrown string', 'boom'],
  ])('%s → transient', (_n, err) => {
    expect(classifyJobError(err)).toEqual({ kind: 'transient' });
  });

  test('a limit HireLedger measured itself: exactly until the slot frees', () => {
    expect(classifyJobError(new RateLimitedError('member', 1234, ['zhangmin']))).toEqual({
      kind: 'rate_limited',
      delayMs: 1234,
      window: 'exact',
    });
  });

  test("WeCom's 45009: the minute window first, the hour window when it is hit again right after", () => {
    const limited = new WecomRateLimitedError('api freq out of limit', 'message/send');
    expect(classifyJobError(limited)).toEqual({ kind: 'rate_limited', delayMs: MINUTE_WINDOW_MS, window: 'minute' });
    expect(classifyJobError(new WecomApiError(45009, 'freq', 'user/get'))).toEqual({
      kind: 'rate_limited',
      delayMs: 60_000,
      window: 'minute',
    });
    expect(classifyJobError(limited, { rateLimitStrikes: 1 })).toEqual({
      kind: 'rate_limited',
      delayMs: HOUR_WINDOW_MS,
      window: 'hour',
    });
    expect(HOUR_WINDOW_MS).toBe(3_600_000);
    // A job limited again and again stops waiting and takes its ordinary retries.
    expect(classifyJobError(limited, { rateLimitStrikes: MAX_RATE_LIMIT_STRIKES })).toEqual({ kind: 'transient' });
  });

  test('45033 (too many concurrent calls): a short wait', () => {
    expect(classifyJobError(new WecomApiError(45033, 'concurrency', 'kf/sync_msg'))).toEqual({
      kind: 'rate_limited',
      delayMs: CONCURRENCY_BACKOFF_MS,
      window: 'concurrency',
    });
  });
});

describe('withJobPolicy on real BullMQ jobs', () => {
  const prefix = `hltest_policy_${randomBytes(4).toString('hex')}`;
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const eventsConnection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const log = createLogger('silent', 'test');
  let queue: Queue;
  let events: QueueEvents;
  let worker: Worker | undefined;
  let name: string;

  beforeEach(async () => {
    name = `policy-${randomBytes(3).toString('hex')}`;
    queue = new Queue(name, { connection, prefix });
    events = new QueueEvents(name, { connection: eventsConnection, prefix });
    await events.waitUntilReady();
  });
  afterEach(async () => {
    await worker?.close();
    worker = undefined;
    await events.close();
    await queue.obliterate({ force: true });
    await queue.close();
  });
  afterAll(async () => {
    const keys = await connection.keys(`${prefix}:*`);
    if (keys.length) await connection.del(...keys);
    connection.disconnect();
    eventsConnection.disconnect();
  });

  function run(
    processor: JobProcessor<unknown, string>,
    recordFailure?: (job: Job, err: unknown, reason: FailureReason) => Promise<void>,
    recordRetryMs?: number,
  ) {
    const metrics = createMetrics();
    worker = new Worker(
      name,
      withJobPolicy(processor, {
        queue: 'test',
        log,
        metrics,
        ...(recordFailure ? { recordFailure } : {}),
        ...(recordRetryMs !== undefined ? { recordRetryMs } : {}),
      }),
      {
        connection,
        prefix,
      },
    );
    return metrics;
  }

  const failures = async (metrics: ReturnType<typeof createMetrics>) =>
    Object.fromEntries((await metrics.jobFailures.get()).values.map((v) => [String(v.labels['class']), v.value]));

  test('permanent: one attempt of eight, UnrecoverableError, recorded once', async () => {
    const recorded: FailureReason[] = [];
    let calls = 0;
    const metrics = run(
      async () => {
        calls += 1;
        throw new WecomApiError(60111, 'userid not found', 'user/get');
      },
      async (_job, _err, reason) => void recorded.push(reason),
    );
    const job = await queue.add('t', {}, { attempts: 8, backoff: { type: 'fixed', delay: 10 } });
    await expect(job.waitUntilFinished(events, 10_000)).rejects.toThrow(
      /^wecom_errcode: WecomApiError: WeCom user\/get failed: errcode 60111/,
    );
    expect(calls).toBe(1);
    expect(recorded).toEqual(['wecom_errcode']);
    expect(await job.getState()).toBe('failed');
    expect(await failures(metrics)).toEqual({ permanent: 1 });
  });

  test('permanent but its record cannot be written: retried, not given up unrecorded', async () => {
    let calls = 0;
    run(
      async () => {
        calls += 1;
        if (calls === 1) throw new PermanentJobError('invalid');
        return 'ok';
      },
      async () => {
        throw new Error('database down');
      },
    );
    const job = await queue.add('t', {}, { attempts: 3, backoff: { type: 'fixed', delay: 10 } });
    expect(await job.waitUntilFinished(events, 10_000)).toBe('ok');
    expect(calls).toBe(2);
  });

  test('rate-limited, measured: delayed until the slot frees, no attempt spent, then done', async () => {
    const started: number[] = [];
    const metrics = run(async () => {
      started.push(Date.now());
      if (started.length === 1) throw new RateLimitedError('member', 400, ['zhangmin']);
      return 'sent';
    });
    const job = await queue.add('t', {}, { attempts: 1 });
    // attempts: 1, so had the wait spent an attempt the job would have failed.
    expect(await job.waitUntilFinished(events, 10_000)).toBe('sent');
    expect(started).toHaveLength(2);
    expect((started[1] ?? 0) - (started[0] ?? 0)).toBeGreaterThanOrEqual(390);
    expect((await queue.getJob(job.id ?? ''))?.progress).toEqual({ rateLimitStrikes: 1 });
    expect(await failures(metrics)).toEqual({ rate_limited: 1 });
  });

  test('rate-limited by WeCom (45009): the job waits out the minute window in the delayed set', async () => {
    let calls = 0;
    run(async () => {
      calls += 1;
      throw new WecomRateLimitedError('api freq out of limit', 'message/send');
    });
    const before = Date.now();
    const job = await queue.add('t', {}, { attempts: 8 });
    const delayed = new Promise<void>((resolve) => events.once('delayed', () => resolve()));
    await delayed;
    const stored = await queue.getJob(job.id ?? '');
    expect(await stored?.getState()).toBe('delayed');
    expect(calls).toBe(1);
    // Due a minute after the refusal (processedOn ≥ before), not after the queue's 2 s back-off.
    expect((stored?.delay ?? 0) + (stored?.processedOn ?? before)).toBeGreaterThanOrEqual(before + 59_000);
    expect(stored?.delay).toBeGreaterThan(59_000);
    expect(stored?.attemptsMade).toBe(0);
  });

  test('transient: retried with back-off, then done', async () => {
    let calls = 0;
    const metrics = run(async () => {
      calls += 1;
      if (calls === 1) throw new WecomNetworkError('message/send', 'ECONNRESET', false, 'socket hang up');
      return 'ok';
    });
    const job = await queue.add('t', {}, { attempts: 3, backoff: { type: 'exponential', delay: 50 } });
    expect(await job.waitUntilFinished(events, 10_000)).toBe('ok');
    expect(calls).toBe(2);
    expect(await failures(metrics)).toEqual({ transient: 1 });
  });

  test('transient until the retries are spent: the failure is recorded (retries_exhausted), once, on the last attempt', async () => {
    const recorded: { reason: FailureReason; attempt: number }[] = [];
    let calls = 0;
    run(
      async () => {
        calls += 1;
        throw new WecomNetworkError('user/get', 'ECONNREFUSED', false, 'connection refused');
      },
      async (job, _err, reason) => void recorded.push({ reason, attempt: job.attemptsMade + 1 }),
    );
    const job = await queue.add('t', {}, { attempts: 3, backoff: { type: 'fixed', delay: 10 } });
    await expect(job.waitUntilFinished(events, 10_000)).rejects.toThrow(/ECONNREFUSED/);
    expect(calls).toBe(3);
    expect(recorded).toEqual([{ reason: 'retries_exhausted', attempt: 3 }]);
  });

  test('last attempt and its failure cannot be recorded: the job waits in the delayed set, runs again, then is recorded', async () => {
    const recorded: FailureReason[] = [];
    let calls = 0;
    let recordings = 0;
    run(
      async () => {
        calls += 1;
        throw new Error('boom');
      },
      async (_job, _err, reason) => {
        recordings += 1;
        if (recordings === 1) throw new Error('database down');
        recorded.push(reason);
      },
      100,
    );
    const job = await queue.add('t', {}, { attempts: 1 });
    // Not given up unrecorded: delayed first, with no attempt spent…
    await new Promise<void>((resolve) => events.once('delayed', () => resolve()));
    // …then run again and, its failure recorded this time, failed for good.
    await expect(job.waitUntilFinished(events, 10_000)).rejects.toThrow('boom');
    expect(calls).toBe(2);
    expect(recorded).toEqual(['retries_exhausted']);
    expect(await job.getState()).toBe('failed');
  });
});
