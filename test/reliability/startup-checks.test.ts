import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { freePort, spawnApi } from '../support/process';
import { TEST_KEYS, signedCallback, textMessage } from '../support/wecom';

/** RELIABILITY F3 and F8: the service refuses to run where acknowledged work could be lost. */
describe('start-up safety checks', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase();
  });
  afterEach(() => db.drop());

  async function startExpectingFailure(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
    const port = await freePort();
    return new Promise((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, '..', '..', 'src', 'main.ts')], {
        env: {
          PATH: process.env['PATH'],
          LOG_LEVEL: 'silent',
          DATABASE_URL: db.url,
          REDIS_URL: 'redis://127.0.0.1:6379',
          PORT: String(port),
          WECOM_CORP_ID: 'wwtest',
          WECOM_AGENT_ID: '1',
          WECOM_SECRET: 's',
          WECOM_TOKEN: 't',
          WECOM_ENCODING_AES_KEY: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
          ...env,
        },
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 20000);
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, stderr });
      });
    });
  }

  test('synchronous_commit=off for the database → the API refuses to start (F3)', async () => {
    await db.pool.query(`ALTER DATABASE ${db.name} SET synchronous_commit = off`);
    const result = await startExpectingFailure({});
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('synchronous_commit=off');
  }, 30000);

  test('Redis with an evicting maxmemory-policy → the API refuses to start (F8)', async () => {
    const port = await freePort();
    const redis = spawn('redis-server', [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--maxmemory-policy',
      'allkeys-lru',
    ]);
    try {
      await new Promise((r) => setTimeout(r, 300));
      const result = await startExpectingFailure({ REDIS_URL: `redis://127.0.0.1:${port}` });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('maxmemory-policy is allkeys-lru');
    } finally {
      redis.kill('SIGKILL');
    }
  }, 30000);

  test('Redis down at start-up does not stop the API: it reports 503 on /health and still stores callbacks (F7)', async () => {
    const api = await spawnApi(db.url, await freePort(), { REDIS_URL: `redis://127.0.0.1:${await freePort()}` }, 'listening');
    try {
      const health = await fetch(`${api.url}/health`);
      expect(health.status).toBe(503);
      expect(((await health.json()) as { checks: Record<string, { ok: boolean }> }).checks['redis']?.ok).toBe(false);
      const cb = signedCallback(TEST_KEYS, textMessage({ msgId: '7200000000000000001' }));
      const res = await fetch(`${api.url}/wecom/callback?${cb.query}`, {
        method: 'POST',
        body: cb.body,
        headers: { 'content-type': 'text/xml' },
      });
      expect(res.status).toBe(200);
      const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM evidence_records');
      expect(rows[0].n).toBe(1);
    } finally {
      api.child.kill('SIGTERM');
      await api.exited;
    }
  }, 30000);
});
