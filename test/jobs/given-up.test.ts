import { QUEUES } from '../../src/jobs/names';
import type { HireLedgerModule } from '../../src/platform/module';
import { textMessage } from '../factories/callbacks';
import { postCallback, signedCallback } from '../factories/signed';
import { startApp, type RunningApp } from '../support/app';
import { startRuntime, until } from './harness';

/**
 * Work given up is recorded in PostgreSQL, never only in Redis's failed set: a job whose retries
 * are spent, and a handler that decides twice on one record, leave the record marked in
 * `ledger_consumer_done` and a `hireledger.job.failed` record, so the consumer's `done_seq` moves on.
 */

interface FailureRow {
  stream: string;
  source_ref: string;
  payload: Record<string, unknown>;
}

describe('jobs given up are recorded in PostgreSQL', () => {
  let app: RunningApp;
  beforeEach(async () => {
    app = await startApp();
    await app.db.pool.query(
      'CREATE TABLE test_effects (consumer text NOT NULL, seq bigint NOT NULL); GRANT SELECT, INSERT ON test_effects TO hireledger_app',
    );
  });
  afterEach(() => app.stop());

  const post = async (msgId: string) =>
    expect((await postCallback(app.url, signedCallback(app.keys, textMessage({ msgId })))).status).toBe(200);
  const failures = async () =>
    (
      await app.db.pool.query<FailureRow>(
        "SELECT stream, source_ref, payload FROM evidence_records WHERE kind = 'hireledger.job.failed' ORDER BY seq",
      )
    ).rows;
  const outcomes = async (consumer: string) =>
    (
      await app.db.pool.query<{ seq: string; outcome: string }>(
        'SELECT seq, outcome FROM ledger_consumer_done WHERE consumer = $1 ORDER BY seq',
        [consumer],
      )
    ).rows;
  const cursor = async (consumer: string) =>
    (
      await app.db.pool.query<{ last_seq: string; done_seq: string }>(
        'SELECT last_seq, done_seq FROM ledger_consumers WHERE name = $1',
        [consumer],
      )
    ).rows[0];

  test('a transient error that outlasts the retries: the record is marked failed and recorded, and done_seq moves past it', async () => {
    let calls = 0;
    const flaky: HireLedgerModule = {
      name: 'flaky',
      consumers: {
        'flaky.texts': {
          accepts: (r) => r.kind === 'wecom.callback.message.text',
          handle: async () => {
            calls += 1;
            throw new Error('upstream unavailable');
          },
        },
      },
    };
    await post('9200000000000000001');
    const worker = await startRuntime(app, [flaky], {
      jobOptions: { attempts: 3, backoff: { type: 'fixed', delay: 20 } },
      dispatch: { sweepIntervalMs: 60_000 },
    });
    try {
      await until('the failure record', async () => (await failures()).length === 1);
      const [failure] = await failures();
      expect(failure?.stream).toBe('job:flaky.texts');
      expect(failure?.source_ref).toBe('flaky.texts:1:failed');
      expect(failure?.payload).toEqual(
        expect.objectContaining({
          consumer: 'flaky.texts',
          reason: 'retries_exhausted',
          record_outcome: 'failed',
          error: { name: 'Error', message: 'upstream unavailable' },
          attempt: 3,
        }),
      );
      expect(calls).toBe(3);
      expect(await outcomes('flaky.texts')).toEqual([{ seq: '1', outcome: 'failed' }]);
      // The sweeper neither enqueues it again nor stays stuck behind it.
      await until(
        'the job failed',
        async () => (await worker.runtime.queues.get(QUEUES.ledger).getJobCounts('failed')).failed === 1,
      );
      // (A sweep skips a consumer whose row the running dispatcher holds at that moment: sweep until it moved.
      // Seq 2 is the failure record itself, which the consumer does not take.)
      await until('done_seq past the failed record', async () => {
        expect(await worker.runtime.dispatcher.sweep()).toBe(0);
        return (await cursor('flaky.texts'))?.done_seq === '2';
      });
      expect(await cursor('flaky.texts')).toEqual({ last_seq: '2', done_seq: '2' });
      expect(calls).toBe(3);
    } finally {
      await worker.stop();
    }
  }, 30_000);

  test('a handler that calls ctx.transact twice: its first decision stands, the second is refused permanently and recorded', async () => {
    let calls = 0;
    const twice: HireLedgerModule = {
      name: 'twice',
      callbackHandlers: {
        'message.text': async (cb, ctx) => {
          calls += 1;
          for (const consumer of ['first', 'second']) {
            await ctx.transact(async (tx) => {
              await tx.query('INSERT INTO test_effects (consumer, seq) VALUES ($1, $2)', [consumer, cb.seq]);
              return { result: null, entries: [] };
            });
          }
        },
      },
    };
    await post('9200000000000000002');
    const worker = await startRuntime(app, [twice]);
    try {
      await until('the failure record', async () => (await failures()).length === 1);
      const [failure] = await failures();
      expect(failure?.stream).toBe('job:twice.on.message.text');
      expect(failure?.payload).toEqual(
        expect.objectContaining({
          consumer: 'twice.on.message.text',
          reason: 'permanent_job_error',
          record_outcome: 'done',
          error: expect.objectContaining({ name: 'PermanentJobError' }) as unknown,
          attempt: 1,
        }),
      );
      expect(calls).toBe(1);
      const { rows } = await app.db.pool.query('SELECT consumer FROM test_effects');
      expect(rows).toEqual([{ consumer: 'first' }]);
      expect(await outcomes('twice.on.message.text')).toEqual([{ seq: '1', outcome: 'done' }]);
    } finally {
      await worker.stop();
    }
  }, 30_000);
});
