/**
 * npm run bench:hostile — what an unsigned request costs (issue 8 item 1; RELIABILITY B5–B8).
 *
 * 1. Creates a scratch database, migrates it and starts the API as its own process.
 * 2. CPU per request: BENCH_HOSTILE_N requests of each class, 4 in flight, and the API process's CPU
 *    time read from /proc/<pid>/stat around them (no admin endpoint involved): signed valid callbacks
 *    (stored, the reference), then hostile classes that are all refused (64 KiB envelope of ~9,000
 *    empty elements, 64 KiB of deep nesting, 64 KiB of attributes, a DOCTYPE bomb, 64 KiB JSON of
 *    ~6,000 keys, a normal body with a wrong signature). Beside each: the CPU a full parse of that
 *    body costs in this process, which is what the route spent on it before the signature was
 *    checked first.
 * 3. Real callbacks at a steady BENCH_RATE per second for BENCH_SECONDS: p50/p99 alone, then again
 *    with a stream of BENCH_HOSTILE_RATE hostile requests per second (the heaviest class of step 2).
 *
 * Options (env): BENCH_HOSTILE_N (2000), BENCH_RATE (100), BENCH_SECONDS (10), BENCH_HOSTILE_RATE (24),
 * DATABASE_URL (admin connection; default postgres://postgres@127.0.0.1:5432/test), REDIS_URL.
 * The load average is printed at the start and the end: other work on the machine moves the figures.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { cpus, loadavg } from 'node:os';
import { parseJsonLossless } from '../src/wecom/json';
import { parseWecomXml } from '../src/wecom/xml';
import { percentile, send, signed, startBenchApi, type SignedRequest } from './support';

const N = Number(process.env['BENCH_HOSTILE_N'] ?? 2000);
const RATE = Number(process.env['BENCH_RATE'] ?? 100);
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 10);
const HOSTILE_RATE = Number(process.env['BENCH_HOSTILE_RATE'] ?? 24);
const LIMIT = 65536;
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

/** CPU seconds used so far by a process (Linux /proc, clock ticks of 10 ms). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

interface Hostile {
  name: string;
  body: string;
  contentType: string;
  /** The query, made at send time so the timestamp is fresh (a stale one is refused before any scan). */
  query: () => string;
}

const unsignedQuery = () => `msg_signature=${'0'.repeat(40)}&timestamp=${Math.floor(Date.now() / 1000)}&nonce=1`;

/** `fill(k)` repeated as often as fits in the body limit around `head` and `tail`. */
function filled(head: string, tail: string, unit: (k: number) => string): string {
  let middle = '';
  for (let k = 0; ; k++) {
    const next = unit(k);
    if (Buffer.byteLength(head + middle + next + tail) > LIMIT - 64) break;
    middle += next;
  }
  return head + middle + tail;
}

function hostileClasses(): Hostile[] {
  // A real ciphertext, so every scan reaches it and checks a signature that does not match.
  const real = signed(90_000_000);
  const enc = /<Encrypt><!\[CDATA\[([^\]]*)\]\]>/.exec(real.body)?.[1] ?? '';
  const env = `<Encrypt><![CDATA[${enc}]]></Encrypt></xml>`;
  const laughs =
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">' +
    Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i === 0 ? '' : i};`.repeat(10)}">`).join('') +
    `]><xml><ToUserName>&lol9;</ToUserName>${env}`;
  const deepHalf = Math.floor((LIMIT - 64 - env.length - 10) / 7);
  return [
    {
      name: '64 KiB, ~9,000 empty elements',
      body: filled('<xml>', env, () => '<a></a>'),
      contentType: 'text/xml',
      query: unsignedQuery,
    },
    {
      name: '64 KiB, nesting ~4,600 deep',
      body: `<xml>${'<a>'.repeat(deepHalf)}${'</a>'.repeat(deepHalf)}${env}`,
      contentType: 'text/xml',
      query: unsignedQuery,
    },
    {
      name: '64 KiB of attributes on <xml>',
      body: filled('<xml', `>${env}`, (k) => ` a${k}="${k}"`),
      contentType: 'text/xml',
      query: unsignedQuery,
    },
    { name: 'DOCTYPE bomb (billion laughs)', body: laughs, contentType: 'text/xml', query: unsignedQuery },
    {
      name: '64 KiB JSON, ~6,000 keys',
      body: filled('{', `"encrypt":"${enc}"}`, (k) => `"k${k}":${k},`),
      contentType: 'application/json',
      query: unsignedQuery,
    },
    {
      name: 'normal body, wrong signature',
      body: real.body,
      contentType: 'text/xml',
      query: () => {
        const s = signed(90_000_001);
        return s.path.slice(s.path.indexOf('?') + 1).replace(/msg_signature=[0-9a-f]{8}/, 'msg_signature=00000000');
      },
    },
  ];
}

/** POSTs one request; resolves with its status. */
function post(port: number, path: string, body: string, contentType: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const r = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path,
        agent,
        headers: { 'content-type': contentType, 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    r.on('error', reject);
    r.end(body);
  });
}

/** `count` calls of `one`, 4 in flight. */
async function run(count: number, one: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < count) await one(next++);
    }),
  );
}

/** CPU ms a full parse of `body` costs in this process: what the route did before the signature check. */
function parseCpuMs(h: Hostile): number {
  const parse = () => {
    try {
      if (h.contentType === 'application/json') parseJsonLossless(h.body, { maxDepth: 8, rejectDuplicateKeys: true });
      else parseWecomXml(h.body);
    } catch {
      // refused by the parse: still paid for
    }
  };
  parse();
  const t = process.cpuUsage();
  const n = 20;
  for (let i = 0; i < n; i++) parse();
  const d = process.cpuUsage(t);
  return (d.user + d.system) / 1000 / n;
}

async function openLoop(
  port: number,
  offset: number,
  hostile?: Hostile,
): Promise<{ p50: number; p99: number; errors: number; hostileSent: number; hostileStatuses: Set<number> }> {
  const total = RATE * SECONDS;
  const reqs = Array.from({ length: total }, (_, i) => signed(offset + i));
  const latencies: number[] = [];
  let errors = 0;
  const statuses = new Set<number>();
  let hostileSent = 0;
  let stop = false;
  const hostileStream = (async () => {
    if (!hostile) return;
    const started = performance.now();
    const pending: Promise<void>[] = [];
    while (!stop) {
      const due = started + (hostileSent * 1000) / HOSTILE_RATE;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      if (stop) break;
      hostileSent += 1;
      pending.push(
        post(port, `/wecom/callback?${hostile.query()}`, hostile.body, hostile.contentType).then(
          (s) => void statuses.add(s),
          () => void statuses.add(0),
        ),
      );
    }
    await Promise.all(pending);
  })();
  const started = performance.now();
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    inflight.push(
      send(port, agent, reqs[i] as SignedRequest).then(
        (ms) => void latencies.push(ms),
        () => void (errors += 1),
      ),
    );
  }
  await Promise.all(inflight);
  stop = true;
  await hostileStream;
  latencies.sort((a, b) => a - b);
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), errors, hostileSent, hostileStatuses: statuses };
}

async function main(): Promise<void> {
  const api = await startBenchApi([], { stdout: 'ignore' });
  const pid = api.child.pid ?? 0;
  try {
    console.log(`machine: ${cpus().length} cores; load average at start ${load()}; N=${N} per class, 4 in flight`);
    const classes = hostileClasses();
    // Warm-up: every path once in a while, so the JIT has seen them.
    await run(300, async (i) => void (await send(api.port, agent, signed(80_000_000 + i))));
    for (const h of classes)
      await run(50, async () => void (await post(api.port, `/wecom/callback?${h.query()}`, h.body, h.contentType)));

    // What the API burns doing nothing (timers, queue polling), subtracted from each class below.
    let c0 = cpuSeconds(pid);
    let w0 = performance.now();
    await new Promise((r) => setTimeout(r, 3000));
    const idlePerMs = (cpuSeconds(pid) - c0) / (performance.now() - w0);
    /** CPU ms per request of the API process since c0/w0, idle CPU subtracted. */
    const perRequest = () => Math.max(0, ((cpuSeconds(pid) - c0 - idlePerMs * (performance.now() - w0)) * 1000) / N);
    const valid = Array.from({ length: N }, (_, i) => signed(i));
    c0 = cpuSeconds(pid);
    w0 = performance.now();
    await run(N, async (i) => void (await send(api.port, agent, valid[i] as SignedRequest)));
    await new Promise((r) => setTimeout(r, 1500)); // the group commits and GC of the last callbacks belong to them
    const validMs = perRequest();
    console.log(
      `\nAPI CPU per request (process CPU from /proc/${pid}/stat over ${N} requests, ` +
        `idle ${(idlePerMs * 1e6).toFixed(0)} ms/s subtracted):`,
    );
    const col = (s: string, n: number) => s.padEnd(n);
    console.log(
      `  ${col('class', 34)}${col('status', 14)}${col('CPU/request', 14)}${col('× signed', 10)}full parse in-process (before)`,
    );
    console.log(
      `  ${col('signed valid callback (stored)', 34)}${col('200', 14)}${col(`${validMs.toFixed(3)} ms`, 14)}${col('1.00', 10)}`,
    );
    const perClass: { h: Hostile; ms: number }[] = [];
    for (const h of classes) {
      const statuses = new Map<number, number>();
      await new Promise((r) => setTimeout(r, 1500)); // let the previous class's deferred work (GC, commits) finish
      c0 = cpuSeconds(pid);
      w0 = performance.now();
      await run(N, async () => {
        const s = await post(api.port, `/wecom/callback?${h.query()}`, h.body, h.contentType);
        statuses.set(s, (statuses.get(s) ?? 0) + 1);
      });
      const ms = perRequest();
      perClass.push({ h, ms });
      const status = [...statuses.keys()].join('/');
      const size = `${(Buffer.byteLength(h.body) / 1024).toFixed(1)} KiB`;
      console.log(
        `  ${col(h.name, 34)}${col(status, 14)}${col(`${ms.toFixed(3)} ms`, 14)}${col((ms / validMs).toFixed(2), 10)}` +
          `${parseCpuMs(h).toFixed(2)} ms (${size})`,
      );
    }

    const heaviest = perClass.reduce((a, b) => (b.ms > a.ms ? b : a));
    const xmlHeaviest = perClass.find((p) => p.h.name.startsWith('64 KiB, ~9,000')) ?? heaviest; // the issue's class
    console.log(`\nReal callbacks at ${RATE}/s for ${SECONDS} s (open loop, durable before 200):`);
    const alone = await openLoop(api.port, 1_000_000);
    console.log(
      `  alone:                      p50 ${alone.p50.toFixed(1)} ms  p99 ${alone.p99.toFixed(1)} ms  errors ${alone.errors}`,
    );
    for (const stream of new Set([xmlHeaviest, heaviest])) {
      const mixed = await openLoop(api.port, 2_000_000 + perClass.indexOf(stream) * 100_000, stream.h);
      console.log(
        `  + ${HOSTILE_RATE}/s "${stream.h.name}": p50 ${mixed.p50.toFixed(1)} ms  p99 ${mixed.p99.toFixed(1)} ms  errors ${mixed.errors}` +
          `  (${mixed.hostileSent} hostile sent, status ${[...mixed.hostileStatuses].join('/')}; p99 ratio ${(mixed.p99 / alone.p99).toFixed(2)})`,
      );
    }
    console.log(`\nload average at end ${load()} (1, 5, 15 min; 2 cores: above ~1.5 other work competes for the CPU)`);
  } finally {
    await api.stop();
    agent.destroy();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
