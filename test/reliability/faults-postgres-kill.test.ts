import { Pool } from 'pg';
import { verifyLedger } from '../../src/evidence';
import { textMessage } from '../factories/callbacks';
import { signedCallback } from '../factories/signed';
import { TEST_KEYS } from '../support/keys';
import {
  percentileOf,
  report,
  startPrivatePostgres,
  timedCallback,
  waitFor,
  type PrivatePostgres,
  type TimedCallback,
} from '../support/private-services';
import { freePort, spawnApi, type ApiProcess } from '../support/process';

/**
 * RELIABILITY F2: kill -9 of PostgreSQL's postmaster while callbacks stream in, on a private
 * cluster (test/support/private-services.ts), with the real API as its own process (src/main.ts).
 * What must hold: the API process survives (every pool and client has an error listener);
 * callbacks fail fast with a 5xx, within 1 s, never hanging toward WeCom's 5 s; readiness
 * (/health) goes red; after PostgreSQL restarts the same process stores callbacks again by itself;
 * nothing acknowledged is lost, every callback is stored exactly once after WeCom's retries, and
 * the chain verifies.
 */

/** The contractual bound for a callback that cannot be stored (RELIABILITY F2). */
const FAIL_FAST_MS = 1000;

const BASE = 7_200_000_000_000_000_000n;
/** One CreateTime for every message: WeCom's retries repeat the message exactly (a new CreateTime would be a new event). */
const CREATED = Math.floor(Date.now() / 1000);
const plaintext = (i: number) =>
  textMessage({ msgId: String(BASE + BigInt(i)), createTime: CREATED, content: `第 ${i} 条：薪资还能再谈吗？` });

describe('F2: kill -9 of PostgreSQL under callback load', () => {
  let pg: PrivatePostgres | undefined;
  let api: ApiProcess | undefined;
  let admin: Pool | undefined;

  afterAll(async () => {
    if (api && api.child.exitCode === null) {
      api.child.kill('SIGKILL');
      await api.exited;
    }
    await admin?.end().catch(() => undefined);
    await pg?.stop();
  });

  test('the API survives, fails fast while PostgreSQL is down, recovers by itself, and loses nothing acknowledged', async () => {
    pg = await startPrivatePostgres();
    admin = new Pool({ connectionString: pg.url(), max: 2 });
    admin.on('error', () => undefined);
    api = await spawnApi(pg.appUrl, await freePort());
    const { url, child } = api;
    const pid = child.pid;

    type Phase = 'up' | 'down' | 'recovering';
    let phase = 'up' as Phase;
    const sent: { i: number; phase: Phase; r: TimedCallback }[] = [];
    const acked = new Set<number>();
    let next = 0;
    let readyAgainMs = 0;
    let stop = false;
    const workers = Array.from({ length: 8 }, async () => {
      while (!stop) {
        const i = next++;
        const at = phase;
        const r = await timedCallback(url, signedCallback(TEST_KEYS, plaintext(i)));
        sent.push({ i, phase: at, r });
        if (r.status === 200) acked.add(i);
        // While PostgreSQL is down every callback fails at once: don't spin.
        else await new Promise((res) => setTimeout(res, 20));
      }
    });

    const health = async () => {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(10000) });
      return { status: res.status, body: (await res.json()) as { checks: Record<string, { ok: boolean }> } };
    };

    try {
      await waitFor('100 callbacks acknowledged before the kill', () => acked.size >= 100, 60000);
      await pg.kill9();
      phase = 'down';
      const ackedAtKill = acked.size;

      // Readiness goes red (the probe's own bound is 1.5 s).
      let red: Awaited<ReturnType<typeof health>> | undefined;
      await waitFor(
        '/health to report PostgreSQL down',
        async () => {
          red = await health();
          return red.status === 503;
        },
        15000,
      );
      expect(red?.body.checks['postgres']?.ok).toBe(false);
      // Some callbacks arrive while it is down (the load keeps going).
      const before = sent.length;
      await waitFor('callbacks sent while PostgreSQL is down', () => sent.length >= before + 40, 30000);

      phase = 'recovering';
      await pg.restart();
      const restarted = performance.now();
      // The same process, not restarted, becomes ready and stores callbacks again by itself.
      await waitFor('/health to be green again', async () => (await health()).status === 200, 30000, 200);
      readyAgainMs = Math.round(performance.now() - restarted);
      const ackedAtRestart = acked.size;
      await waitFor('callbacks acknowledged after the restart', () => acked.size >= ackedAtRestart + 50, 30000);
      expect(ackedAtRestart).toBeGreaterThanOrEqual(ackedAtKill);
    } finally {
      stop = true;
      await Promise.all(workers);
    }

    // The process survived: same pid, never exited, and every request got an HTTP answer.
    expect(child.exitCode).toBeNull();
    expect(child.signalCode).toBeNull();
    expect(child.pid).toBe(pid);
    expect(sent.filter((s) => s.r.status === 0)).toEqual([]);
    // Failures are 503 (WeCom retries), and fast.
    const failed = sent.filter((s) => s.r.status !== 200);
    expect(new Set(failed.map((s) => s.r.status))).toEqual(new Set([503]));
    expect(failed.filter((s) => s.phase === 'down').length).toBeGreaterThanOrEqual(20);
    const slowest = Math.max(...failed.map((s) => s.r.ms));
    report('F2', {
      acked: acked.size,
      failed: failed.length,
      failedWhileDown: failed.filter((s) => s.phase === 'down').length,
      failureMsP50: percentileOf(
        failed.map((s) => s.r.ms),
        50,
      ),
      failureMsMax: slowest,
      readyAgainMsAfterRestart: readyAgainMs,
    });
    expect(slowest).toBeLessThanOrEqual(FAIL_FAST_MS);

    // Each 503 is counted for alerting, by why the store failed (here: PostgreSQL unavailable).
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const counted = [...metrics.matchAll(/^hireledger_wecom_callback_storage_failures_total\{reason="(\w+)"\} (\d+)$/gm)];
    expect(counted.reduce((n, m) => n + Number(m[2]), 0)).toBe(failed.length);
    expect(Number(counted.find((m) => m[1] === 'unavailable')?.[2] ?? 0)).toBeGreaterThan(0);

    // Nothing acknowledged was lost.
    const stored = async () => {
      const { rows } = await (admin as Pool).query<{ ref: string }>('SELECT source_ref AS ref FROM evidence_records');
      return rows.map((r) => Number(BigInt(r.ref.split(':msg:')[1] ?? '-1') - BASE));
    };
    const afterFault = new Set(await stored());
    expect([...acked].filter((i) => !afterFault.has(i))).toEqual([]);

    report('F2 after', { refusedButStored: failed.filter((s) => afterFault.has(s.i)).length });

    // WeCom retries what it did not see a 200 for; then each callback is stored exactly once.
    const total = next;
    const missing = Array.from({ length: total }, (_, i) => i).filter((i) => !acked.has(i));
    for (const i of missing) {
      const r = await timedCallback(url, signedCallback(TEST_KEYS, plaintext(i)));
      expect(r.status).toBe(200);
    }
    const all = await stored();
    expect(all.length).toBe(total);
    expect(new Set(all).size).toBe(total);
    expect(await verifyLedger(admin)).toMatchObject({ ok: true, records: total });
  }, 180000);
});
