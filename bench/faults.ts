/**
 * `npm run bench:faults`: callback latency when the network between the API and PostgreSQL /
 * Redis is slow or loses connections (RELIABILITY F14), through the tests' TCP fault proxy
 * (test/support/private-services.ts) in front of a private PostgreSQL cluster (initdb in a
 * temporary directory; needs /usr/lib/postgresql/<v>/bin and, as root, the postgres OS user) and
 * the Redis at REDIS_URL. The API runs in this process, built as the API's start-up builds it from
 * the configuration (its timeouts included), so a callback that cannot be stored in time is a 503.
 *
 * Latency is added to every chunk in each direction: "100 ms each way" is 200 ms more per round
 * trip (toxiproxy's latency toxic), "200 ms each way" 400 ms (netem's delay 200ms on loopback).
 * Loss: every 500 ms, each connection is dropped with probability 5% (half reset, half blackholed).
 *
 *   BENCH_CALLBACKS (default 200) callbacks per scenario, BENCH_CONCURRENCY (default 16) in flight.
 */
import { cpus, loadavg } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { loadConfig } from '../src/config/env';
import { createLogger } from '../src/observability/logger';
import { textMessage } from '../test/factories/callbacks';
import { signedCallback } from '../test/factories/signed';
import { REDIS_URL, testEnv } from '../test/support/env';
import { TEST_KEYS } from '../test/support/keys';
import {
  callbackLoad,
  percentileOf,
  startFaultProxy,
  startInProcessApi,
  startPrivatePostgres,
  throughProxy,
  type FaultSettings,
} from '../test/support/private-services';

const N = Number(process.env['BENCH_CALLBACKS'] ?? 200);
const CONCURRENCY = Number(process.env['BENCH_CONCURRENCY'] ?? 16);

const SCENARIOS: { name: string; faults: Partial<FaultSettings> }[] = [
  { name: 'no fault (through the proxy)', faults: { latencyMs: 0, dropRate: 0 } },
  { name: '100 ms each way (+200 ms RTT)', faults: { latencyMs: 100, dropRate: 0 } },
  { name: '200 ms each way (+400 ms RTT)', faults: { latencyMs: 200, dropRate: 0 } },
  { name: '+200 ms RTT, 5% loss', faults: { latencyMs: 100, dropRate: 0.05, dropWindowMs: 500 } },
  { name: '+400 ms RTT, 5% loss', faults: { latencyMs: 200, dropRate: 0.05, dropWindowMs: 500 } },
];

async function main(): Promise<void> {
  const pg = await startPrivatePostgres();
  const pgProxy = await startFaultProxy({ port: pg.port });
  const redisProxy = await startFaultProxy({ port: Number(new URL(REDIS_URL).port) });
  const config = loadConfig(
    testEnv({ DATABASE_URL: throughProxy(pg.appUrl, pgProxy), REDIS_URL: throughProxy(REDIS_URL, redisProxy) }),
  );
  const api = await startInProcessApi(config, createLogger('silent', 'bench-faults'));
  process.stdout.write(
    `bench:faults — ${N} callbacks per scenario, ${CONCURRENCY} in flight; ${cpus().length} CPUs, load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}\n` +
      `timeouts: pg connect ${config.PG_CONNECT_TIMEOUT_MS} ms, statement ${config.PG_API_STATEMENT_TIMEOUT_MS} ms ` +
      `(client ${config.PG_API_STATEMENT_TIMEOUT_MS + 500} ms), callback store ${config.CALLBACK_STORE_TIMEOUT_MS} ms, ` +
      `redis command ${config.REDIS_COMMAND_TIMEOUT_MS} ms; drop seeds pg ${pgProxy.seed}, redis ${redisProxy.seed}\n\n` +
      `${'scenario'.padEnd(32)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'max ms'.padStart(8)} ${'200'.padStart(5)} ${'503'.padStart(5)} ${'other'.padStart(5)} ${'drops'.padStart(6)} ${'lag ms'.padStart(7)}\n`,
  );
  let offset = 0;
  try {
    for (const s of SCENARIOS) {
      for (const proxy of [pgProxy, redisProxy]) proxy.set({ latencyMs: 0, dropRate: 0, ...s.faults });
      const drops = () => pgProxy.stats.reset + pgProxy.stats.blackholed + redisProxy.stats.reset + redisProxy.stats.blackholed;
      const before = drops();
      // This process also runs the proxy and the load: its event-loop delay is part of every figure.
      const lag = monitorEventLoopDelay({ resolution: 10 });
      lag.enable();
      const base = offset;
      const results = [
        ...(
          await callbackLoad(api.url, {
            count: N,
            concurrency: CONCURRENCY,
            signed: (i) =>
              signedCallback(TEST_KEYS, textMessage({ msgId: String(7_600_000_000_000_000_000n + BigInt(base + i)) })),
            abortMs: 15000,
          })
        ).values(),
      ];
      offset += N;
      lag.disable();
      const ms = results.map((r) => r.ms);
      const count = (f: (status: number) => boolean) => results.filter((r) => f(r.status)).length;
      process.stdout.write(
        `${s.name.padEnd(32)} ${percentileOf(ms, 50).toFixed(0).padStart(8)} ${percentileOf(ms, 99).toFixed(0).padStart(8)} ` +
          `${Math.max(...ms)
            .toFixed(0)
            .padStart(8)} ${String(count((x) => x === 200)).padStart(5)} ${String(count((x) => x === 503)).padStart(5)} ` +
          `${String(count((x) => x !== 200 && x !== 503)).padStart(5)} ${String(drops() - before).padStart(6)} ${(lag.max / 1e6).toFixed(0).padStart(7)}\n`,
      );
    }
  } finally {
    await api.close();
    await pgProxy.close();
    await redisProxy.close();
    await pg.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:faults failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
