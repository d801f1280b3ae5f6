import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { textMessage } from '../factories/callbacks';
import { postCallback, signedCallback } from '../factories/signed';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { REDIS_URL, testEnv } from '../support/env';
import { TEST_KEYS } from '../support/keys';
import { exitOf, freePort, spawnApi, spawnEntrypoint, type Entrypoint } from '../support/process';

/**
 * RELIABILITY F3 and F8: the service refuses to run where acknowledged work could be lost; issue 6:
 * in production it refuses a database role that could rewrite evidence.
 */
describe('start-up safety checks', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase();
  });
  afterEach(() => db.drop());

  async function startExpectingFailure(
    env: Record<string, string>,
    entry: Entrypoint = 'main.ts',
  ): Promise<{ code: number | null; stderr: string }> {
    const port = await freePort();
    return new Promise((resolve) => {
      const child = spawnEntrypoint(entry, testEnv({ DATABASE_URL: db.url, PORT: String(port), ...env }), 'pipe');
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
  }, 60000);

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
  }, 60000);

  test('Redis down at start-up does not stop the API: it reports 503 on /health and still stores callbacks (F7)', async () => {
    const api = await spawnApi(db.appUrl, await freePort(), { REDIS_URL: `redis://127.0.0.1:${await freePort()}` }, 'listening');
    try {
      const health = await fetch(`${api.url}/health`);
      expect(health.status).toBe(503);
      expect(((await health.json()) as { checks: Record<string, { ok: boolean }> }).checks['redis']?.ok).toBe(false);
      const res = await postCallback(api.url, signedCallback(TEST_KEYS, textMessage({ msgId: '7200000000000000001' })));
      expect(res.status).toBe(200);
      const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM evidence_records');
      expect(rows[0].n).toBe(1);
    } finally {
      api.child.kill('SIGTERM');
      await api.exited;
    }
  }, 60000);

  test.each(['main.ts', 'worker.ts'] as const)(
    'NODE_ENV=production as a superuser → %s refuses to start, naming the role and what to do (issue 6)',
    async (entry) => {
      const { rows } = await db.pool.query<{ u: string }>('SELECT current_user AS u');
      const result = await startExpectingFailure({ NODE_ENV: 'production' }, entry);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`PostgreSQL role "${rows[0]?.u}"`);
      expect(result.stderr).toContain('it is a superuser');
      expect(result.stderr).toContain('npm run db:roles');
    },
    60000,
  );

  test('NODE_ENV=production as a member of hireledger_app → the API and the worker start and the API stores callbacks (issue 6)', async () => {
    const api = await spawnApi(db.appUrl, await freePort(), { NODE_ENV: 'production' });
    // A production worker also refuses to start without a checkpoint signing key.
    const dir = await mkdtemp(join(tmpdir(), 'hireledger-roles-'));
    const keyFile = join(dir, 'signing-key.pem');
    const prefix = `hltest_roles_${process.pid}`;
    const { privateKey } = generateKeyPairSync('ed25519');
    await writeFile(keyFile, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    const worker = spawnEntrypoint(
      'worker.ts',
      testEnv({
        NODE_ENV: 'production',
        LOG_LEVEL: 'info',
        DATABASE_URL: db.appUrl,
        QUEUE_PREFIX: prefix,
        EVIDENCE_SIGNING_KEY_FILE: keyFile,
      }),
      'pipe',
    );
    const workerExited = exitOf(worker);
    try {
      let out = '';
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`worker did not start: ${out}`)), 20000);
        worker.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('worker started')) {
            clearTimeout(timer);
            resolve();
          }
        });
        worker.stderr.on('data', (d: Buffer) => (out += d.toString()));
        void workerExited.then((code) => {
          clearTimeout(timer);
          reject(new Error(`worker exited with ${code}: ${out}`));
        });
      });
      // No warning about the role: it is what production wants.
      expect(out).not.toContain('could rewrite evidence');
      const res = await postCallback(api.url, signedCallback(TEST_KEYS, textMessage({ msgId: '7200000000000000002' })));
      expect(res.status).toBe(200);
      const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM evidence_records');
      expect(rows[0].n).toBe(1);
    } finally {
      api.child.kill('SIGTERM');
      worker.kill('SIGTERM');
      await Promise.all([api.exited, workerExited]);
      await rm(dir, { recursive: true, force: true });
      const redis = new Redis(REDIS_URL);
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
    }
  }, 40000);
});
