import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRuntime, until, type RunningRuntime } from '../jobs/harness';
import { candidateOf, startKfWorld, type KfWorld } from './support';

/**
 * Media of KF messages (issue 9 item 2, DECISIONS 11): fetched with media/get by a ledger consumer,
 * stored content-addressed within the candidate (PostgreSQL or a directory), referenced by a
 * conversation.media record; never silently dropped.
 */

const CAND = 'wmCandLinXiao0002';
const OTHER = 'wmCandZhengXue0004';
const PNG = Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), Buffer.from('HireLedger test image, 一张简历截图')]);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('KF media', () => {
  let w: KfWorld;
  let worker: RunningRuntime | undefined;
  let dir: string | undefined;

  beforeEach(async () => {
    w = await startKfWorld();
  });
  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
    await w.close();
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  const send = (external_userid: string, bytes: Buffer, msgtype = 'image', filename = '简历.png') =>
    w.admin('kf/media-messages', {
      external_userid,
      msgtype,
      filename,
      content_type: 'image/png',
      base64: bytes.toString('base64'),
      wait: true,
    });
  const media = () => w.records("kind = 'conversation.media'");

  for (const kind of ['pg', 'fs'] as const) {
    test(`the same file twice is stored once per candidate, by SHA-256 (MEDIA_STORE=${kind})`, async () => {
      if (kind === 'fs') dir = await mkdtemp(join(tmpdir(), 'hl-media-'));
      const mod = w.module({ media: { kind, maxBytes: 1024 * 1024, ...(dir ? { dir } : {}) } });
      worker = await startRuntime(w.app, [mod], { concurrency: 1 });
      await send(CAND, PNG);
      await send(CAND, PNG, 'file', 'again.png');
      await send(OTHER, PNG);
      await until('three media records', async () => (await media()).length === 3);
      const rows = await media();
      const [a, b, c] = rows;
      const cand = await candidateOf(w, CAND);
      const other = await candidateOf(w, OTHER);
      expect(rows.map((r) => [r.stream, r.payload.status, r.payload.sha256, r.payload.size, r.payload.already_stored])).toEqual([
        [`candidate:${cand}`, 'stored', sha(PNG), PNG.length, false],
        [`candidate:${cand}`, 'stored', sha(PNG), PNG.length, true],
        [`candidate:${other}`, 'stored', sha(PNG), PNG.length, false],
      ]);
      // Each names its message record by seq and hash.
      const msgs = await w.records("kind = 'conversation.message' AND payload->>'msgtype' IN ('image', 'file')");
      expect([a, b, c].map((r) => r?.payload.message)).toEqual(
        msgs.map((m) => ({ seq: m.seq, hash: m.hash, source_ref: m.source_ref })),
      );
      expect(a?.payload.filename).toBe('简历.png');
      expect(a?.payload.content_type).toBe('image/png');
      // One object per candidate (DECISIONS 11): two rows, not three, not one.
      const { rows: objects } = await w.app.db.pool.query(
        'SELECT owner, sha256, size::int, store, data IS NOT NULL AS has_data FROM conversation_media ORDER BY owner',
      );
      expect(objects).toEqual(
        [cand, other]
          .sort()
          .map((owner) => ({ owner, sha256: sha(PNG), size: PNG.length, store: kind, has_data: kind === 'pg' })),
      );
      if (dir) {
        const files = await readdir(join(dir, w.app.keys.corpId, cand, sha(PNG).slice(0, 2)));
        expect(files).toEqual([sha(PNG)]);
        expect(await readFile(join(dir, w.app.keys.corpId, cand, sha(PNG).slice(0, 2), sha(PNG)))).toEqual(PNG);
      }
      const back = await mod.mediaStore.get({ corpId: w.app.keys.corpId, owner: cand }, sha(PNG));
      expect(back?.bytes).toEqual(PNG);
      const counted = Object.fromEntries((await mod.metrics.media.get()).values.map((v) => [v.labels.outcome, v.value]));
      expect(counted).toEqual({ stored: 2, duplicate: 1 });
    }, 60000);
  }

  test('a fetch that keeps failing is retried, then recorded as failed with its error', async () => {
    const mod = w.module({ mediaAttempts: 3 });
    worker = await startRuntime(w.app, [mod], {
      concurrency: 1,
      jobOptions: { attempts: 8, backoff: { type: 'fixed', delay: 100 } },
    });
    await w.admin('faults', { path: 'media/get', errcode: -1, count: 1000 });
    await send(CAND, PNG);
    await until('the failure record', async () => (await media()).length === 1);
    const [failed] = await media();
    expect(failed?.payload).toEqual(
      expect.objectContaining({
        status: 'failed',
        reason: 'retries_exhausted',
        attempts: 3,
        error: expect.objectContaining({ errcode: -1 }),
      }),
    );
    expect(failed?.source_ref).toMatch(/^media:kf:wkHireLedger01:.+:failed$/);
    expect(w.sandbox.state.stats.calls['media/get']).toBe(3);
    const { rows } = await w.app.db.pool.query(
      "SELECT outcome FROM ledger_consumer_done WHERE consumer = 'conversations.kf-media'",
    );
    expect(rows.every((r) => r.outcome === 'done')).toBe(true);
    expect(await w.records("kind = 'hireledger.job.failed'")).toHaveLength(0);
  }, 60000);

  test('media over MEDIA_MAX_BYTES is refused with its size; an expired media_id (40007) is recorded as failed at once', async () => {
    const mod = w.module({ media: { kind: 'pg', maxBytes: 16 } });
    worker = await startRuntime(w.app, [mod], { concurrency: 1 });
    await send(CAND, PNG);
    await until('the refusal', async () => (await media()).length === 1);
    expect((await media())[0]?.payload).toEqual(
      expect.objectContaining({ status: 'refused', reason: 'over_cap', size: PNG.length, error: { cap: 16 } }),
    );
    const { rows } = await w.app.db.pool.query('SELECT count(*)::int AS n FROM conversation_media');
    expect(rows[0].n).toBe(0);
    const bad = (await mod.metrics.badInput.get()).values.map((v) => [v.labels.reason, v.value]);
    expect(bad).toContainEqual(['media_over_cap', 1]);

    // WeCom keeps KF media 3 days: afterwards media/get answers 40007.
    await w.admin('kf/raw-messages', {
      message: {
        msgid: 'img-expired-1',
        external_userid: CAND,
        send_time: w.sandbox.state.nowSec(),
        origin: 3,
        msgtype: 'image',
        image: { media_id: '3expiredMediaIdThatWeComForgot' },
      },
      wait: true,
    });
    await until('the failure', async () => (await media()).length === 2);
    expect((await media())[1]?.payload).toEqual(
      expect.objectContaining({ status: 'failed', reason: 'errcode_40007', attempts: 1 }),
    );
  }, 60000);
});
