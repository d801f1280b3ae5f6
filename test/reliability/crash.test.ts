import { verifyLedger } from '../../src/evidence';
import { textMessage } from '../factories/callbacks';
import { postCallback, signedCallback } from '../factories/signed';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { TEST_KEYS } from '../support/keys';
import { freePort, spawnApi } from '../support/process';

/**
 * RELIABILITY F1, F17, F18 with real processes: the API is killed (-9) or stopped (SIGTERM) while
 * callbacks are in flight; WeCom's retries are simulated by sending every callback again.
 * What must hold: everything acknowledged is stored, every callback is stored exactly once after
 * the retries, and the chains verify.
 */
describe('API process faults during ingestion', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase();
  });
  afterEach(() => db.drop());

  const N = 150;
  const msgId = (i: number) => String(7_100_000_000_000_000_000n + BigInt(i));
  const plaintexts = Array.from({ length: N }, (_, i) => textMessage({ msgId: msgId(i), content: `第 ${i} 条：我再考虑一下` }));

  /** Sends all callbacks with `concurrency` in flight; returns the indexes WeCom saw a 200 for. */
  async function sendAll(url: string, concurrency: number, onAck?: (n: number) => void): Promise<Set<number>> {
    const acked = new Set<number>();
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < N) {
          const i = next++;
          const cb = signedCallback(TEST_KEYS, plaintexts[i] as string);
          try {
            const res = await postCallback(url, cb);
            await res.text();
            if (res.status === 200) {
              acked.add(i);
              onAck?.(acked.size);
            }
          } catch {
            // connection refused or reset: WeCom will retry
          }
        }
      }),
    );
    return acked;
  }

  async function storedIndexes(): Promise<number[]> {
    const { rows } = await db.pool.query<{ ref: string }>(`SELECT source_ref AS ref FROM evidence_records`);
    return rows.map((r) => Number(BigInt(r.ref.split(':msg:')[1] ?? '0') - 7_100_000_000_000_000_000n)).sort((a, b) => a - b);
  }

  test.each([5, 40, 100])(
    'kill -9 after %i acknowledgements: acked ⊆ stored, and after retries each callback is stored exactly once (F1)',
    async (killAfter) => {
      const port = await freePort();
      const api = await spawnApi(db.url, port);
      const acked = await sendAll(api.url, 16, (n) => {
        if (n === killAfter) api.child.kill('SIGKILL');
      });
      await api.exited;
      const afterCrash = await storedIndexes();
      for (const i of acked) expect(afterCrash).toContain(i);

      // WeCom retries everything it did not see a 200 for (we simply resend all, as retries may repeat).
      const again = await spawnApi(db.url, port);
      try {
        const retried = await sendAll(again.url, 16);
        expect(retried.size).toBe(N);
      } finally {
        again.child.kill('SIGTERM');
        await again.exited;
      }
      expect(await storedIndexes()).toEqual(Array.from({ length: N }, (_, i) => i));
      expect(await verifyLedger(db.pool)).toMatchObject({ ok: true, records: N });
    },
    60000,
  );

  test('SIGTERM under load: in-flight callbacks finish, the process exits 0, nothing acknowledged is lost (F18)', async () => {
    const port = await freePort();
    const api = await spawnApi(db.url, port, { SHUTDOWN_GRACE_MS: '10000' });
    const acked = await sendAll(api.url, 16, (n) => {
      if (n === 30) api.child.kill('SIGTERM');
    });
    api.child.kill('SIGTERM'); // a no-op when already stopping; keeps a failure from hanging
    expect(await api.exited).toBe(0);
    const stored = await storedIndexes();
    expect(acked.size).toBeGreaterThanOrEqual(30);
    for (const i of acked) expect(stored).toContain(i);
    expect(await verifyLedger(db.pool)).toMatchObject({ ok: true });
  }, 60000);
});
