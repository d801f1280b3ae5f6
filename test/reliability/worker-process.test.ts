import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkpointOrigin, openCheckpoint, verifierKeyOf } from '../../src/evidence';
import { writeNewSigningKey } from '../../src/evidence/signing-key';
import { QUEUES } from '../../src/jobs/queues';
import { enterAgent } from '../factories/callbacks';
import { postCallback, signedCallback } from '../factories/signed';
import { startApp, startSandboxFor, type RunningApp } from '../support/app';
import { exitOf, spawnEntrypoint } from '../support/process';

/** The worker as its own process (src/worker.ts): it follows the ledger and runs the modules' work, one job per record and consumer. */
describe('worker process', () => {
  let app: RunningApp;
  beforeEach(async () => {
    app = await startApp();
  });
  afterEach(() => app.stop());

  test("callbacks stored by the API reach the modules' handlers and consumers in the worker, once each; SIGTERM exits 0", async () => {
    // The members module (src/modules.ts) handles enter_agent: a visit each, then the member's profile from WeCom (the sandbox).
    const members = ['zhangmin', 'chenjing', 'wangfang', 'liqiang', 'sunwei'];
    for (const from of members)
      expect((await postCallback(app.url, signedCallback(app.keys, enterAgent({ from })))).status).toBe(200);
    const sandbox = await startSandboxFor(app);
    // The API's environment (same corp, same queue prefix), connected as DATABASE_URL's superuser.
    const worker = spawnEntrypoint('worker.ts', { ...app.env, DATABASE_URL: app.db.url, WECOM_API_BASE: sandbox.url });
    const exited = exitOf(worker);
    const queue = app.queues.get(QUEUES.ledger);
    // The members module's jobs (other modules follow the same records too: the candidates, the
    // conversations and the signals consumers take what they accept, which is not these).
    const completed = async (n: number) => {
      let c = 0;
      for (let i = 0; i < 300 && c < n; i++) {
        const jobs = await queue.getJobs(['completed']);
        c = jobs.filter((j) => j.id?.includes('.members.')).length;
        if (c < n) await new Promise((r) => setTimeout(r, 100));
      }
      return c;
    };
    try {
      // A visit job and a profile job per member.
      expect(await completed(10)).toBe(10);
      // One more callback while the worker runs is picked up too.
      await postCallback(app.url, signedCallback(app.keys, enterAgent({ from: 'zhaolei' })));
      expect(await completed(12)).toBe(12);
      const { rows } = await app.db.pool.query(`SELECT userid FROM member_profiles ORDER BY userid`);
      expect(rows.map((r) => r.userid)).toEqual([...members, 'zhaolei'].sort());
      const cursors = await app.db.pool.query(
        `SELECT name, last_seq FROM ledger_consumers WHERE name LIKE 'members.%' ORDER BY name`,
      );
      expect(cursors.rows).toEqual([
        { name: 'members.on.event.enter_agent', last_seq: expect.any(String) },
        { name: 'members.profiles', last_seq: expect.any(String) },
      ]);
    } finally {
      worker.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    await sandbox.close();
  }, 60000);

  test('the worker signs a checkpoint on its schedule, and refuses to start in production without a key', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hl-worker-key-'));
    const key = await writeNewSigningKey(join(dir, 'k.pem'));
    // The API's environment: same corp, same queue prefix, the least-privileged login.
    const env = app.env;
    const noKey = spawnEntrypoint('worker.ts', { ...env, NODE_ENV: 'production' }, ['ignore', 'ignore', 'pipe']);
    let stderr = '';
    noKey.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    expect(await exitOf(noKey)).toBe(1);
    expect(stderr).toContain('EVIDENCE_SIGNING_KEY_FILE');

    const worker = spawnEntrypoint('worker.ts', {
      ...env,
      EVIDENCE_SIGNING_KEY_FILE: join(dir, 'k.pem'),
      EVIDENCE_CHECKPOINT_INTERVAL_SECONDS: '10',
    });
    const exited = exitOf(worker);
    try {
      let rows: { note: string }[] = [];
      for (let i = 0; i < 150 && rows.length === 0; i++) {
        ({ rows } = await app.db.pool.query<{ note: string }>('SELECT note FROM evidence_checkpoints'));
        if (rows.length === 0) await new Promise((r) => setTimeout(r, 100));
      }
      const origin = checkpointOrigin(app.config.WECOM_CORP_ID);
      expect(openCheckpoint(rows[0]?.note ?? '', verifierKeyOf(origin, key.publicKey), origin).origin).toBe(origin);
    } finally {
      worker.kill('SIGTERM');
      await rm(dir, { recursive: true, force: true });
    }
    expect(await exited).toBe(0);
  }, 40000);
});
