import { CANDIDATE_STREAMS } from '../../src/candidates';
import { startApp, startSandboxFor, type RunningApp } from '../support/app';
import { exitOf, spawnEntrypoint } from '../support/process';
import { until } from '../jobs/harness';

/**
 * Issue 9's story end to end, through the processes as they are wired (src/modules.ts): a
 * conversation typed into the sandbox's 微信客服 console, as the candidate and as the recruiter,
 * reaches the candidate's own stream through the worker process (kf_msg_or_event → sync_msg pull);
 * the candidate saying they resigned and the recruiter over-promising are flagged as signal hits
 * pointing at their messages; the recruiter gets one WeCom alert per such hit, also after the worker
 * is restarted.
 */

interface Row {
  seq: string;
  kind: string;
  payload: { [key: string]: unknown };
  hash: string;
}

describe('a conversation typed into the sandbox reaches the timeline, flagged, and the recruiter is alerted', () => {
  let app: RunningApp;
  beforeEach(async () => {
    app = await startApp();
  });
  afterEach(() => app.stop());

  test('candidate and recruiter messages → candidate stream → signal hits → one alert each', async () => {
    const sandbox = await startSandboxFor(app);
    const env = { ...app.env, DATABASE_URL: app.db.appUrl, WECOM_API_BASE: sandbox.url };
    let worker = spawnEntrypoint('worker.ts', env);
    const type = async (origin: '3' | '5', content: string) => {
      const res = await fetch(`${sandbox.url}/sandbox/admin/kf/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          external_userid: 'wmE2eCandidate01',
          origin,
          servicer_userid: 'ZhangMin',
          content,
        }).toString(),
        redirect: 'manual',
      });
      expect(res.status).toBe(303);
      await sandbox.idle();
    };
    const candidateStream = async (): Promise<string | null> => {
      const { rows } = await app.db.pool.query<{ candidate_id: string }>(
        'SELECT candidate_id FROM candidate_external_ids WHERE external_userid = $1',
        ['wmE2eCandidate01'],
      );
      return rows[0] ? CANDIDATE_STREAMS.candidate(rows[0].candidate_id) : null;
    };
    const records = async (kind: string): Promise<Row[]> => {
      const stream = await candidateStream();
      if (!stream) return [];
      const { rows } = await app.db.pool.query<Row>(
        'SELECT seq, kind, payload, hash FROM evidence_records WHERE stream = $1 AND kind = $2 ORDER BY seq',
        [stream, kind],
      );
      return rows;
    };
    const alerts = () => sandbox.state.inbox('zhangmin').filter((m) => JSON.stringify(m.body).includes('HireLedger'));

    try {
      await type('3', '你好，我这边已经辞职了，offer什么时候能发');
      await type('5', '放心，你肯定被录用了');
      await type('3', '薪资能否再谈一下');
      await until(
        'three messages on the candidate stream',
        async () => (await records('conversation.message')).length === 3,
        30000,
      );
      await until('three signal hits', async () => (await records('signal.hit')).length === 3, 30000);

      const messages = await records('conversation.message');
      expect(messages.map((m) => [m.payload['role'], m.payload['recruiter'] ?? null])).toEqual([
        ['candidate', null],
        ['recruiter', 'zhangmin'],
        ['candidate', null],
      ]);
      const hits = await records('signal.hit');
      // Each hit names the message it was found in, by seq and hash.
      expect(
        hits
          .map((h) => [h.payload['type'], (h.payload['message'] as { seq: number }).seq])
          .sort((a, b) => Number(a[1]) - Number(b[1])),
      ).toEqual([
        ['resigned_before_offer', Number(messages[0]?.seq)],
        ['over_promise', Number(messages[1]?.seq)],
        ['hesitation', Number(messages[2]?.seq)],
      ]);
      for (const h of hits) {
        const m = messages.find((x) => Number(x.seq) === (h.payload['message'] as { seq: number }).seq);
        expect((h.payload['message'] as { hash: string }).hash).toBe(m?.hash);
      }

      // The recruiter is told of the resignation and of the over-promise; hesitation is on the timeline only.
      await until('two alerts to the recruiter', async () => alerts().length >= 2, 30000);
      const restart = exitOf(worker);
      worker.kill('SIGTERM');
      expect(await restart).toBe(0);
      worker = spawnEntrypoint('worker.ts', env);
      await type('3', '嗯嗯好的');
      await until('the fourth message', async () => (await records('conversation.message')).length === 4, 30000);
      // Nothing is judged or sent twice after the restart.
      await new Promise((r) => setTimeout(r, 1500));
      expect(await records('signal.hit')).toHaveLength(3);
      expect(alerts()).toHaveLength(2);
    } finally {
      const exited = exitOf(worker);
      worker.kill('SIGTERM');
      await exited;
      await sandbox.close();
    }
  }, 120000);
});
