import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkpointOrigin, openCheckpoint, verifierKeyOf } from '../../src/evidence';
import { writeNewSigningKey } from '../../src/evidence/signing-key';
import { QUEUES } from '../../src/jobs/queues';
import { startApp, type RunningApp } from '../support/app';
import { REDIS_URL } from '../support/env';
import { signedCallback, textMessage } from '../support/wecom';

/** The worker as its own process (src/worker.ts): it follows the ledger and completes one job per callback. */
describe('worker process', () => {
  let app: RunningApp;
  beforeEach(async () => {
    app = await startApp();
  });
  afterEach(() => app.stop());

  test('callbacks stored by the API are dispatched and processed by the worker, once each; SIGTERM exits 0', async () => {
    for (let i = 0; i < 5; i++) {
      const cb = signedCallback(app.keys, textMessage({ msgId: `740000000000000000${i}` }));
      const res = await fetch(`${app.url}/wecom/callback?${cb.query}`, {
        method: 'POST',
        body: cb.body,
        headers: { 'content-type': 'text/xml' },
      });
      expect(res.status).toBe(200);
    }
    const worker = spawn(process.execPath, ['--import', 'tsx', join(__dirname, '..', '..', 'src', 'worker.ts')], {
      env: {
        PATH: process.env['PATH'],
        LOG_LEVEL: 'silent',
        DATABASE_URL: app.db.url,
        REDIS_URL,
        QUEUE_PREFIX: app.config.QUEUE_PREFIX,
        WECOM_CORP_ID: app.config.WECOM_CORP_ID,
        WECOM_AGENT_ID: app.config.WECOM_AGENT_ID,
        WECOM_SECRET: app.config.WECOM_SECRET,
        WECOM_TOKEN: app.config.WECOM_TOKEN,
        WECOM_ENCODING_AES_KEY: app.config.WECOM_ENCODING_AES_KEY,
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const exited = new Promise<number | null>((resolve) => worker.once('exit', resolve));
    const queue = app.queues.byName.get(QUEUES.callbacks);
    if (!queue) throw new Error('queue missing');
    try {
      let completed = 0;
      for (let i = 0; i < 200 && completed < 5; i++) {
        completed = (await queue.getJobCounts('completed')).completed ?? 0;
        if (completed < 5) await new Promise((r) => setTimeout(r, 100));
      }
      expect(completed).toBe(5);
      // One more callback while the worker runs is picked up too.
      const cb = signedCallback(app.keys, textMessage({ msgId: '7400000000000000009' }));
      await fetch(`${app.url}/wecom/callback?${cb.query}`, {
        method: 'POST',
        body: cb.body,
        headers: { 'content-type': 'text/xml' },
      });
      for (let i = 0; i < 100 && completed < 6; i++) {
        completed = (await queue.getJobCounts('completed')).completed ?? 0;
        if (completed < 6) await new Promise((r) => setTimeout(r, 100));
      }
      expect(completed).toBe(6);
      const { rows } = await app.db.pool.query(`SELECT last_seq FROM ledger_consumers WHERE name = 'wecom-callbacks'`);
      expect(rows[0]?.last_seq).toBe('6');
    } finally {
      worker.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  }, 40000);

  test('the worker signs a checkpoint on its schedule, and refuses to start in production without a key', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hl-worker-key-'));
    const key = await writeNewSigningKey(join(dir, 'k.pem'));
    const env = {
      PATH: process.env['PATH'],
      LOG_LEVEL: 'silent',
      DATABASE_URL: app.db.appUrl,
      REDIS_URL,
      QUEUE_PREFIX: app.config.QUEUE_PREFIX,
      WECOM_CORP_ID: app.config.WECOM_CORP_ID,
      WECOM_AGENT_ID: app.config.WECOM_AGENT_ID,
      WECOM_SECRET: app.config.WECOM_SECRET,
      WECOM_TOKEN: app.config.WECOM_TOKEN,
      WECOM_ENCODING_AES_KEY: app.config.WECOM_ENCODING_AES_KEY,
    };
    const script = join(__dirname, '..', '..', 'src', 'worker.ts');
    const noKey = spawn(process.execPath, ['--import', 'tsx', script], {
      env: { ...env, NODE_ENV: 'production' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    noKey.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    expect(await new Promise((resolve) => noKey.once('exit', resolve))).toBe(1);
    expect(stderr).toContain('EVIDENCE_SIGNING_KEY_FILE');

    const worker = spawn(process.execPath, ['--import', 'tsx', script], {
      env: { ...env, EVIDENCE_SIGNING_KEY_FILE: join(dir, 'k.pem'), EVIDENCE_CHECKPOINT_INTERVAL_SECONDS: '10' },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const exited = new Promise<number | null>((resolve) => worker.once('exit', resolve));
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
