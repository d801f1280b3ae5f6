/**
 * npm run bench:slowloris — RELIABILITY B15: do slow clients starve legitimate callbacks?
 *
 * Opens SLOW (default 1000) connections that send a partial request line and headers and then
 * trickle a byte every few seconds, then sends real signed callbacks and reports their latency
 * (goal: answered < 3 s), and how many slow connections the server had closed by the end
 * (headersTimeout 5 s, requestTimeout 10 s, in src/app.ts).
 */
import http from 'node:http';
import { connect, type Socket } from 'node:net';
import { percentile, send, signed, startBenchApi } from './support';

const SLOW = Number(process.env['SLOW'] ?? 1000);
const LEGIT = Number(process.env['LEGIT'] ?? 200);

async function main(): Promise<void> {
  const api = await startBenchApi();
  const sockets: Socket[] = [];
  let closedByServer = 0;
  const trickle: NodeJS.Timeout[] = [];
  try {
    for (let i = 0; i < SLOW; i++) {
      const s = connect(api.port, '127.0.0.1');
      s.on('error', () => undefined);
      s.resume(); // read the server's 408, or its FIN is never seen
      s.on('close', () => {
        closedByServer += 1;
      });
      s.write('POST /wecom/callback?msg_signature=a&timestamp=1&nonce=1 HTTP/1.1\r\nHost: x\r\nX-Slow: ');
      trickle.push(setInterval(() => s.write('a'), 2000));
      sockets.push(s);
    }
    await new Promise((r) => setTimeout(r, 1000));
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    const latencies: number[] = [];
    let failures = 0;
    const started = performance.now();
    for (let i = 0; i < LEGIT; i += 8) {
      await Promise.all(
        Array.from({ length: Math.min(8, LEGIT - i) }, (_, k) =>
          send(api.port, agent, signed(i + k)).then(
            (ms) => void latencies.push(ms),
            () => void (failures += 1),
          ),
        ),
      );
    }
    const seconds = (performance.now() - started) / 1000;
    latencies.sort((x, y) => x - y);
    agent.destroy();
    await new Promise((r) => setTimeout(r, 6000)); // past headersTimeout
    console.log(`${SLOW} slow-loris connections open, then ${LEGIT} legitimate callbacks in ${seconds.toFixed(1)} s`);
    console.log(
      `legitimate: p50 ${percentile(latencies, 50).toFixed(1)} ms  p99 ${percentile(latencies, 99).toFixed(1)} ms  max ${(latencies.at(-1) ?? NaN).toFixed(1)} ms  failures ${failures}  (goal < 3000 ms)`,
    );
    console.log(`slow connections closed by the server after ~7 s: ${closedByServer} of ${SLOW}`);
  } finally {
    trickle.forEach(clearInterval);
    sockets.forEach((s) => s.destroy());
    await api.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
