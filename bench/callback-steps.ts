/**
 * npm run bench:steps — what each step of the callback path costs in this process, without HTTP
 * and without PostgreSQL (a benchmark, not a test): the same signed callbacks as bench:ingest, each
 * step run over all of them, µs per callback. Beside bench:ingest (the whole path over HTTP) and
 * bench:append (PostgreSQL's side), it shows how much of a callback's CPU is the work itself.
 *
 * Options (env): BENCH_N (default 20000).
 */
import { canonicalize } from '../src/evidence';
import { leafHashOfHeader, sha256Hex } from '../src/evidence/record';
import { classifyRead, readCallback, type InboundCallback } from '../src/wecom/callback-event';
import { aesKeyOf, decryptMessage, verifySignature } from '../src/wecom/crypto';
import { envelopeCiphertext, parseWecomXml } from '../src/wecom/xml';
import { TEST_KEYS } from '../test/support/keys';
import { signed } from './support';

const N = Number(process.env['BENCH_N'] ?? 20000);
const requests = Array.from({ length: N }, (_, i) => signed(i));
const queries = requests.map((r) => new URLSearchParams(r.path.split('?')[1] ?? ''));
const keys = [aesKeyOf(TEST_KEYS.encodingAESKey)];

let total = 0;
/** Runs `step` over every callback (after a warm-up round) and prints µs per callback. */
function time<T>(name: string, step: (i: number) => T): T[] {
  for (let i = 0; i < Math.min(N, 2000); i++) step(i);
  const out: T[] = new Array<T>(N);
  const started = performance.now();
  for (let i = 0; i < N; i++) out[i] = step(i);
  const us = ((performance.now() - started) * 1000) / N;
  total += us;
  console.log(`${name.padEnd(52)} ${us.toFixed(1).padStart(6)} µs`);
  return out;
}

console.log(`callback path in-process, ${N} callbacks, µs per callback`);
const ciphertexts = time('envelope scan (before the signature)', (i) => envelopeCiphertext(requests[i]?.body ?? '') ?? '');
time('signature (SHA-1, constant-time compare)', (i) => {
  const q = queries[i] as URLSearchParams;
  return verifySignature(
    TEST_KEYS.token,
    q.get('timestamp') ?? '',
    q.get('nonce') ?? '',
    ciphertexts[i] ?? '',
    q.get('msg_signature') ?? '',
  );
});
time('envelope parse (after the signature)', (i) => parseWecomXml(requests[i]?.body ?? ''));
const messages = time(
  'AES-256-CBC decrypt, receiveid',
  (i) => decryptMessage(keys, ciphertexts[i] ?? '', TEST_KEYS.corpId).message,
);
const inbound = (i: number): InboundCallback => ({
  corpId: TEST_KEYS.corpId,
  agentId: TEST_KEYS.agentId,
  plaintext: messages[i] as Buffer,
  raw: {
    method: 'POST',
    query: requests[i]?.path.split('?')[1] ?? '',
    contentType: 'text/xml',
    body: Buffer.from(requests[i]?.body ?? ''),
  },
  receivedAtMs: Date.now(),
});
const reads = time('message parse (fields, their canonical form)', (i) => readCallback(inbound(i)));
const entries = time(
  'classification, payload, redelivery digest',
  (i) => classifyRead(reads[i] as ReturnType<typeof readCallback>, new Map()).entry,
);
time('ledger: canonical JSON and SHA-256 of payload, raw', (i) => {
  const e = entries[i] as (typeof entries)[number];
  return [sha256Hex(canonicalize(e.payload)), sha256Hex(canonicalize(e.raw))];
});
time('ledger: record hash (under the lock)', (i) =>
  leafHashOfHeader({
    seq: i + 1,
    stream: entries[i]?.stream ?? '',
    kind: entries[i]?.kind ?? '',
    occurredAt: entries[i]?.occurredAt ?? new Date(),
    recordedAt: new Date(),
    actor: entries[i]?.actor ?? '',
    source: entries[i]?.source ?? '',
    sourceRef: entries[i]?.sourceRef ?? '',
    prevHash: null,
    payloadSha256: '0'.repeat(64),
    rawSha256: '0'.repeat(64),
  }),
);
console.log(`${'all steps'.padEnd(52)} ${total.toFixed(1).padStart(6)} µs`);
