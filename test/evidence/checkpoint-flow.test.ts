import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createSandbox, type Sandbox } from '../../sandbox/server';
import { DEMO_ROBOT_KEY } from '../../sandbox/seed';
import { createLedger, openCheckpoint, verifierKeyOf, type Ledger } from '../../src/evidence';
import { writeNewSigningKey } from '../../src/evidence/signing-key';
import { conversationMessage } from '../factories/evidence';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { REDIS_URL, corpEnv, testEnv } from '../support/env';
import { SANDBOX_KEYS as KEYS } from '../support/keys';
import { readAllRows, rewriteLedger } from '../support/tamper';

/**
 * Issue 6, "done when": a checkpoint is taken and witnessed in a WeCom group, a stream is then
 * rewritten consistently by a superuser, and `evidence:verify --checkpoint` fails naming the range
 * of records that holds the rewrite (and the record, where the stored Merkle nodes allow).
 * The scripts run as their own processes, connected as the least-privileged app role.
 */
const run = promisify(execFile);
const root = join(__dirname, '..', '..');
const tsx = join(root, 'node_modules', '.bin', 'tsx');
const ORIGIN = `hireledger.evidence/${KEYS.corpId}`;

async function script(name: string, args: string[], env: Record<string, string>) {
  return run(tsx, [join(root, 'scripts', name), ...args], { env: { PATH: process.env['PATH'] ?? '', ...env } }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (err: { code: number; stdout: string; stderr: string }) => err,
  );
}

describe('signed, witnessed checkpoints catch a consistent rewrite', () => {
  let db: TestDatabase;
  let ledger: Ledger;
  let sb: Sandbox;
  let dir: string;
  let env: Record<string, string>;
  let vkey: string;

  beforeEach(async () => {
    // Each test its own ledger: the first one rewrites its history, after which (rightly) no
    // checkpoint will be signed over it again.
    db = await createTestDatabase();
    ledger = createLedger({ pool: db.appPool });
    env['DATABASE_URL'] = db.appUrl;
  });
  afterEach(async () => {
    await ledger.close();
    await db.drop();
  });

  beforeAll(async () => {
    sb = await createSandbox({ port: 0, ...KEYS });
    dir = await mkdtemp(join(tmpdir(), 'hl-checkpoint-'));
    const key = await writeNewSigningKey(join(dir, 'signing.pem'));
    vkey = verifierKeyOf(ORIGIN, key.publicKey);
    // The sandbox's own corp: its seed has the group robot the checkpoints are posted to.
    env = testEnv({
      DATABASE_URL: '', // set per test, below
      // Whatever TEST_LOG_LEVEL says: the checkpoint script's stdout must be the note alone.
      LOG_LEVEL: 'silent',
      ...corpEnv(KEYS),
      WECOM_API_BASE: sb.url,
      WECOM_CHECKPOINT_WEBHOOK_KEY: DEMO_ROBOT_KEY,
      EVIDENCE_SIGNING_KEY_FILE: join(dir, 'signing.pem'),
    });
  });
  afterAll(async () => {
    await sb.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function append(from: number, count: number) {
    for (let i = from; i < from + count; i++) {
      await ledger.append(conversationMessage(i, { stream: i % 2 ? 'candidate:c1' : 'offer:o1' }));
    }
  }

  test('checkpoint → witnessed in the group → rewrite → verify --checkpoint names the range', async () => {
    await append(1, 10);
    const first = await script('evidence-checkpoint.ts', [], env);
    expect(first.code).toBe(0);
    // stdout is the signed note alone, and it verifies with the public key.
    expect(openCheckpoint(first.stdout, vkey, ORIGIN)).toMatchObject({ origin: ORIGIN, size: 10 });
    await writeFile(join(dir, 'cp10'), first.stdout);

    // The group robot received exactly that note, and WeCom's whole answer was kept.
    const posted = (await (await fetch(`${sb.url}/sandbox/admin/webhooks/${DEMO_ROBOT_KEY}/messages`)).json()) as {
      messages: { text?: { content: string }; content?: string }[];
    };
    expect(JSON.stringify(posted.messages)).toContain(first.stdout.split('\n')[2]);
    const { rows: w } = await db.pool.query(`SELECT witness, status, response FROM evidence_checkpoint_witnesses`);
    expect(w).toEqual([{ witness: 'wecom_webhook', status: 'ok', response: { errcode: 0, errmsg: 'ok' } }]);

    await append(11, 10);
    const second = await script('evidence-checkpoint.ts', [], env);
    await writeFile(join(dir, 'cp20'), second.stdout);
    await append(21, 5);

    const intact = await script(
      'evidence-verify.ts',
      ['--checkpoint', join(dir, 'cp10'), '--checkpoint', join(dir, 'cp20'), '--key', vkey],
      env,
    );
    expect(intact.stdout).toMatch(/intact: 25 records/);
    expect(intact.code).toBe(0);

    // A superuser rewrites record 15 and re-hashes everything after it, heads, counter, and
    // leaves the Merkle nodes: the database alone still says intact.
    const rows = await readAllRows(db);
    rows[14] = { ...rows[14]!, payload: { text: '你肯定被录用了，可以先辞职' } };
    await rewriteLedger(db, rows, { merkle: false });
    const alone = await script('evidence-verify.ts', [], { DATABASE_URL: db.url });
    expect(alone.code).toBe(2); // the stored Merkle nodes disagree with the records

    const caught = await script(
      'evidence-verify.ts',
      ['--checkpoint', join(dir, 'cp10'), '--checkpoint', join(dir, 'cp20'), '--key', vkey],
      env,
    );
    expect(caught.code).toBe(2);
    expect(caught.stderr).toContain('checkpoint_mismatch');
    expect(caught.stderr).toContain('after seq 10 through seq 20');
    expect(caught.stderr).toContain('seq 15');

    // Rebuilding the Merkle nodes too hides it from the database alone, not from the checkpoint.
    await rewriteLedger(db, await readAllRows(db), { merkle: true });
    expect((await script('evidence-verify.ts', [], { DATABASE_URL: db.url })).code).toBe(0);
    const still = await script('evidence-verify.ts', ['--checkpoint', join(dir, 'cp20'), '--key', vkey], env);
    expect(still.code).toBe(2);
    expect(still.stderr).toContain('after seq 10 through seq 20'); // the stored checkpoint at 10 still matches
  }, 120_000);

  test('a witness that cannot be reached never stops a checkpoint; it is recorded and retried', async () => {
    await fetch(`${sb.url}/sandbox/admin/network-faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ path: 'webhook/send', mode: 'reset', count: 1 }),
    });
    const r = await script('evidence-checkpoint.ts', [], env);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/witness wecom_webhook: failed/);
    const { rows: failed } = await db.pool.query(
      `SELECT c.id, w.status FROM evidence_checkpoints c JOIN evidence_checkpoint_witnesses w ON w.checkpoint_id = c.id ORDER BY w.id DESC LIMIT 1`,
    );
    expect(failed[0].status).toBe('failed');

    const { checkpointerFromConfig } = await import('../../src/jobs/checkpoints');
    const { loadConfig } = await import('../../src/config/env');
    const { createLogger } = await import('../../src/observability/logger');
    const { createWecomClient } = await import('../../src/wecom/api');
    const { Redis } = await import('ioredis');
    const config = loadConfig(env);
    const logger = createLogger('silent', 'test');
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    try {
      const wecom = createWecomClient({
        apiBase: sb.url,
        corpId: KEYS.corpId,
        secret: KEYS.secret,
        agentId: KEYS.agentId,
        redis,
        logger,
        // Required by the client; only witness posts are made here, which the ledger does not record.
        ledger: createLedger({ pool: db.appPool }),
        options: { keyPrefix: `hltest:cp:${process.pid}:` },
      });
      const checkpointer = await checkpointerFromConfig(config, { pool: db.appPool, logger, wecom });
      const retried = await checkpointer!.retryWitnesses();
      expect(retried).toEqual([{ witness: 'wecom_webhook', status: 'ok' }]);
      expect(await checkpointer!.retryWitnesses()).toEqual([]);
    } finally {
      redis.disconnect();
    }
  }, 60_000);

  test('stdout is the signed note alone, whatever is logged (no witness configured, info level)', async () => {
    const { WECOM_CHECKPOINT_WEBHOOK_KEY: _unused, ...noWitness } = env;
    const r = await script('evidence-checkpoint.ts', [], { ...noWitness, LOG_LEVEL: 'info' });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('no witness configured');
    expect(openCheckpoint(r.stdout, vkey, ORIGIN).origin).toBe(ORIGIN);
  }, 60_000);
});
