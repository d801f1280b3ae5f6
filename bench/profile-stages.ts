/**
 * npx tsx bench/profile-stages.ts <file.cpuprofile> [callbacks] — where the API's CPU went, by stage
 * of the callback path, from a V8 CPU profile of the API (`BENCH_CPU_PROF=<dir> npm run bench:ingest`
 * writes one). Only the part of the profile between the first and the last sample inside the callback
 * route is counted (start-up and shut-down left out). Each sample goes to the first stage below that
 * names a function on its stack, so a stage's share includes what it calls (hashing inside the
 * ledger's prepare is the ledger's), and the last matching rules catch the HTTP layers around the
 * route. With `callbacks` (the number the API answered during the profile: the bench's N plus its
 * 1,000 warm-up requests), the share is also given as µs per callback.
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

type Rule = [stage: string, test: (f: CallFrame) => boolean];
const named =
  (...names: string[]) =>
  (f: CallFrame) =>
    names.includes(f.functionName);
const from =
  (...parts: string[]) =>
  (f: CallFrame) =>
    parts.some((p) => f.url.includes(p));

const RULES: Rule[] = [
  ['envelope scan (before the signature check)', named('envelopeCiphertext', 'envelopeCiphertextJson')],
  ['signature check (SHA-1, constant-time compare)', named('verifySignature')],
  ['envelope parse (after the signature check)', named('encryptOf')],
  ['AES decrypt, receiveid', named('decryptMessage')],
  ['message parse (XML/JSON fields)', named('deriveFields')],
  ['redelivery digest', named('digestOfMessage')],
  ['classification, keys, payload', named('classifyRead', 'readCallback', 'unparsedCallback', 'rawOf')],
  ['external contact id lookup', named('idsFor')],
  [
    'ledger: checks, canonical JSON and SHA-256 of payload and raw',
    (f) => f.functionName === 'prepare' && f.url.includes('ledger'),
  ],
  ['ledger: under the lock (header hashes, SQL text, sending)', named('appendLocked')],
  ['ledger: group commit scheduling', named('commitIsolated', 'commitBatch', 'kick')],
  ['pino logging', from('/pino', 'sonic-boom', 'fast-redact')],
  ['metrics (prom-client)', from('prom-client')],
  ['pg driver (results, protocol)', from('/pg/', 'pg-protocol', 'pg-types', '/pg-pool')],
  ['query string, timestamp', named('parseQuery', 'checkTimestamp', 'rawQuery')],
  ['callback route, other (reply, deadline timer)', from('callback-route')],
  ['Fastify', from('fastify')],
  ['Node HTTP and sockets', from('node:_http', 'node:net', 'node:stream', '_stream_')],
];

function main(): void {
  const [file, count] = process.argv.slice(2);
  if (!file) throw new Error('usage: tsx bench/profile-stages.ts <file.cpuprofile> [callbacks]');
  const callbacks = Number(count ?? 0);
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stackOf = (id: number): CallFrame[] => {
    const frames: CallFrame[] = [];
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const node = byId.get(cur);
      if (node) frames.push(node.callFrame);
    }
    return frames;
  };
  // The window: from the first to the last sample with the callback route on its stack.
  const inRoute = (id: number) => stackOf(id).some((f) => f.url.includes('callback-route'));
  let t = 0;
  let first = -1;
  let last = -1;
  profile.samples.forEach((id, i) => {
    t += profile.timeDeltas[i] ?? 0;
    if (inRoute(id)) {
      if (first < 0) first = t;
      last = t;
    }
  });
  const spent = new Map<string, number>();
  let busy = 0;
  t = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    t += dt;
    if (t < first || t > last) return;
    const stack = stackOf(id);
    const leaf = stack[0]?.functionName ?? '';
    if (leaf === '(idle)') return;
    busy += dt;
    const stage =
      leaf === '(garbage collector)' || leaf === '(program)'
        ? leaf
        : (RULES.find(([, test]) => stack.some(test))?.[0] ?? 'other (event loop, promises, timers)');
    spent.set(stage, (spent.get(stage) ?? 0) + dt);
  });
  console.log(
    `API CPU in the window: ${(busy / 1e6).toFixed(2)} s` +
      (callbacks > 0 ? `, ${(busy / callbacks).toFixed(0)} µs per callback over ${callbacks}` : ''),
  );
  for (const [stage, us] of [...spent].sort((a, b) => b[1] - a[1])) {
    const share = `${((100 * us) / busy).toFixed(1)} %`.padStart(7);
    console.log(`${share}${callbacks > 0 ? `  ${(us / callbacks).toFixed(0).padStart(4)} µs` : ''}  ${stage}`);
  }
}

main();
