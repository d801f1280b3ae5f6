import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Pool } from 'pg';
import { loadConfig } from '../../src/config/env';
import { verifyLedger } from '../../src/evidence';
import type { Logger } from '../../src/observability/logger';
import { textMessage } from '../factories/callbacks';
import { signedCallback } from '../factories/signed';
import { testEnv } from '../support/env';
import { TEST_KEYS } from '../support/keys';
import {
  freeBytes,
  percentileOf,
  report,
  startInProcessApi,
  startPrivatePostgres,
  timedCallback,
  type InProcessApi,
  type PrivatePostgres,
  type TimedCallback,
} from '../support/private-services';

/**
 * RELIABILITY F15: PostgreSQL's disk fills up. The private cluster's whole data directory, WAL
 * included, sits on a 96 MiB tmpfs of its own; the test fills what is left with a file. What must
 * hold: a callback that cannot be stored is answered 503 (WeCom retries), fast; the failure is an
 * alert (an error log line naming the full disk, and hireledger_wecom_callback_storage_failures_total
 * {reason="disk_full"}); no partial record (every refused callback is absent, the chain and its
 * counter agree); once space is freed the same app stores the retries and the chain verifies.
 *
 * The WAL is switched to a fresh, preallocated 16 MiB segment before the disk is filled, so what
 * runs out first is space for the tables (ERROR 53100, the transaction rolls back), as on a volume
 * that fills with data. WAL that cannot be written makes PostgreSQL itself stop (PANIC), which is
 * the kill of F2 (faults-postgres-kill.test.ts).
 */

const BASE = 7_300_000_000_000_000_000n;
/** One CreateTime for every message: WeCom's retries repeat the message exactly (a new CreateTime would be a new event). */
const CREATED = Math.floor(Date.now() / 1000);
const plaintext = (i: number) =>
  textMessage({
    msgId: String(BASE + BigInt(i)),
    createTime: CREATED,
    content: `第 ${i} 条：我想确认一下入职日期和试用期工资。`.repeat(8),
  });

describe('F15: PostgreSQL disk full', () => {
  let pg: PrivatePostgres | undefined;
  let admin: Pool | undefined;
  let api: InProcessApi | undefined;
  let filler: string | undefined;

  afterAll(async () => {
    if (filler) rmSync(filler, { force: true });
    await api?.close();
    await admin?.end().catch(() => undefined);
    await pg?.stop();
  });

  test('callbacks get 503 with an alert, nothing partial is stored, and storing resumes once space is freed', async () => {
    pg = await startPrivatePostgres({ tinyFsMb: 96 });
    admin = new Pool({ connectionString: pg.url(), max: 2 });
    admin.on('error', () => undefined);

    // The app as main.ts builds it, on the private cluster, its log lines kept for the test.
    const config = loadConfig(testEnv({ DATABASE_URL: pg.appUrl }));
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    const logger = pino({ level: 'warn' }, sink) as unknown as Logger;
    api = await startInProcessApi(config, logger);
    const { app, url } = api;
    const send = (i: number) => timedCallback(url, signedCallback(TEST_KEYS, plaintext(i)));

    let next = 0;
    for (; next < 20; next++) expect((await send(next)).status).toBe(200);

    // A fresh WAL segment with room for far more than this test writes, then no space left at all.
    await admin.query('CHECKPOINT');
    await admin.query('SELECT pg_switch_wal()');
    await admin.query('CREATE TABLE wal_probe AS SELECT 1 AS x; DROP TABLE wal_probe');
    const tinyFs = pg.tinyFs;
    if (!tinyFs) throw new Error('the cluster is not on a small filesystem');
    filler = join(tinyFs, 'filler');
    fill(filler);
    expect(freeBytes(tinyFs)).toBeLessThan(64 * 1024);

    // Callbacks until five in a row are refused.
    const outcomes = new Map<number, TimedCallback>();
    let refusedInARow = 0;
    for (; refusedInARow < 5 && next < 600; next++) {
      const r = await send(next);
      outcomes.set(next, r);
      refusedInARow = r.status === 200 ? 0 : refusedInARow + 1;
    }
    const refused = [...outcomes].filter(([, r]) => r.status !== 200);
    expect(refusedInARow).toBe(5);
    // 503, so WeCom retries; answered at once, not after a timeout.
    expect(new Set(refused.map(([, r]) => r.status))).toEqual(new Set([503]));
    const failureMs = refused.map(([, r]) => r.ms);
    expect(Math.max(...failureMs)).toBeLessThan(config.CALLBACK_STORE_TIMEOUT_MS);

    // The alert: a metric by reason, and an error line saying what to do.
    const metric = await app.metrics.callbackStorageFailures.get();
    const diskFull = metric.values.find((v) => v.labels.reason === 'disk_full')?.value ?? 0;
    expect(diskFull).toBe(refused.length);
    const alerts = lines.filter((l) => l['msg'] === 'wecom callback failed' && l['storage'] === 'disk_full');
    expect(alerts.length).toBe(refused.length);
    expect(alerts[0]).toMatchObject({ level: 50, hint: expect.stringContaining('out of disk space') });
    expect(JSON.stringify(alerts[0]?.['err'])).toContain('53100');

    // Nothing partial: exactly what was acknowledged is stored, and the chain, its counter and heads agree.
    const stored = async () => {
      const { rows } = await (admin as Pool).query<{ ref: string }>('SELECT source_ref AS ref FROM evidence_records');
      return rows.map((r) => Number(BigInt(r.ref.split(':msg:')[1] ?? '-1') - BASE)).sort((a, b) => a - b);
    };
    const acked = Array.from({ length: next }, (_, i) => i).filter((i) => outcomes.get(i)?.status !== 503);
    expect(await stored()).toEqual(acked);
    const counter = await admin.query<{ last_seq: string }>('SELECT last_seq FROM evidence_counter');
    expect(Number(counter.rows[0]?.last_seq)).toBe(acked.length);
    expect(await verifyLedger(admin)).toMatchObject({ ok: true, records: acked.length });

    // Space freed: WeCom's retries are stored by the same app, without a restart.
    rmSync(filler);
    filler = undefined;
    for (const [i] of refused) expect((await send(i)).status).toBe(200);
    for (let i = next; i < next + 10; i++) expect((await send(i)).status).toBe(200);
    next += 10;
    const all = await stored();
    expect(all).toEqual(Array.from({ length: next }, (_, i) => i));
    expect(await verifyLedger(admin)).toMatchObject({ ok: true, records: next });
    report('F15', {
      storedBeforeFull: acked.length,
      refused: refused.length,
      failureMsP50: percentileOf(failureMs, 50),
      failureMsMax: Math.max(...failureMs),
    });
  }, 120000);
});

/** Writes `path` until the filesystem has no space left. */
function fill(path: string): void {
  const fd = openSync(path, 'w');
  try {
    for (const size of [1 << 20, 64 << 10, 4 << 10, 512]) {
      const chunk = Buffer.alloc(size, 0x5a);
      for (;;) {
        try {
          if (writeSync(fd, chunk) < size) break;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
}
