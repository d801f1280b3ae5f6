import { QUEUES } from '../../src/jobs/names';
import { PermanentJobError } from '../../src/platform/errors';
import type { HireLedgerModule } from '../../src/platform/module';
import { startApp, type RunningApp } from '../support/app';
import { startRuntime, until } from './harness';

/** Modules' scheduled jobs: one scheduler per corp and job, run under the job policy, failures recorded where they say. */
describe('module jobs', () => {
  let app: RunningApp;
  beforeEach(async () => {
    app = await startApp();
  });
  afterEach(() => app.stop());

  test('a scheduled job runs with its data; its scheduler is named for the corp; schedulers no module declares are removed', async () => {
    const corp = app.config.WECOM_CORP_ID;
    const queue = app.queues.get(QUEUES.jobs);
    // Left by an earlier version of the code: removed at start.
    await queue.upsertJobScheduler(`${corp}.reports.retired`, { every: 3_600_000 }, { name: 'reports.retired' });
    const seen: { data: unknown; attempt: number; corpId: string }[] = [];
    const reports: HireLedgerModule = {
      name: 'reports',
      jobs: {
        'reports.tick': {
          schedule: { every: 60_000 },
          data: { window: 'day' },
          process: async (data, ctx) => void seen.push({ data, attempt: ctx.attempt, corpId: ctx.corpId }),
        },
      },
    };
    const worker = await startRuntime(app, [reports]);
    try {
      await until('the scheduled run', async () => seen.length > 0);
      expect(seen[0]).toEqual({ data: { window: 'day' }, attempt: 1, corpId: corp });
      await until('the retired scheduler removed', async () => (await queue.getJobSchedulers()).length === 1);
      expect((await queue.getJobSchedulers()).map((s) => s.key)).toEqual([`${corp}.reports.tick`]);
    } finally {
      await worker.stop();
    }
  });

  test('a job that concerns evidence and fails for good is recorded on the stream it names', async () => {
    const reports: HireLedgerModule = {
      name: 'reports',
      jobs: {
        'reports.close-month': {
          evidenceStream: (data) => `report:${typeof data['month'] === 'string' ? data['month'] : 'unknown'}`,
          process: async () => {
            throw new PermanentJobError('the month has no records');
          },
        },
      },
    };
    const worker = await startRuntime(app, [reports]);
    try {
      await app.queues.get(QUEUES.jobs).add('reports.close-month', { month: '2026-10' }, { jobId: 'close-2026-10' });
      const failed = async () =>
        (
          await app.db.pool.query<{ stream: string; kind: string; source_ref: string; payload: Record<string, unknown> }>(
            `SELECT stream, kind, source_ref, payload FROM evidence_records WHERE kind = 'hireledger.job.failed'`,
          )
        ).rows;
      await until('the failure record', async () => (await failed()).length === 1);
      const [row] = await failed();
      expect(row?.stream).toBe('report:2026-10');
      expect(row?.source_ref).toBe('reports.close-month:close-2026-10:failed');
      expect(row?.payload).toEqual(
        expect.objectContaining({
          job: 'reports.close-month',
          data: { month: '2026-10' },
          reason: 'permanent_job_error',
          error: { name: 'PermanentJobError', message: 'the month has no records' },
        }),
      );
    } finally {
      await worker.stop();
    }
  });
});
