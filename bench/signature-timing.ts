/**
 * npm run bench:timing — RELIABILITY B1: is the callback signature check constant-time?
 *
 * Times verifySignature() for two classes of wrong signatures, interleaved to cancel drift:
 * (a) entirely wrong, (b) right in the first 39 of 40 hex digits. A timing leak would make (b)
 * slower, by an amount growing with the matching prefix. A control (c), another entirely wrong
 * signature, shows the measurement's own floor: with 10^5 samples even two equivalent classes
 * differ by a few ns (cache and allocation effects), so compare (a)–(b) with (a)–(c), not with 0.
 */
import { signatureOf, verifySignature } from '../src/wecom/crypto';
import { TEST_KEYS } from '../test/support/keys';

const SAMPLES = Number(process.env['SAMPLES'] ?? 100_000);
const token = TEST_KEYS.token;
const timestamp = '1795000000';
const nonce = '1234567890';
const encrypt = 'A'.repeat(600);
const good = signatureOf(token, timestamp, nonce, encrypt);
const allWrong = good.replace(/./g, (c) => (c === '0' ? '1' : '0'));
const prefixRight = good.slice(0, 39) + (good[39] === '0' ? '1' : '0');
const control = good.replace(/./g, (c) => (c === 'f' ? 'e' : 'f'));

function sample(sig: string): number {
  const t = process.hrtime.bigint();
  verifySignature(token, timestamp, nonce, encrypt, sig);
  return Number(process.hrtime.bigint() - t);
}

const a: number[] = [];
const b: number[] = [];
const c: number[] = [];
for (let i = 0; i < 20_000; i++) {
  // warm-up
  sample(allWrong);
  sample(prefixRight);
  sample(control);
}
const order: [string, number[]][] = [
  [allWrong, a],
  [prefixRight, b],
  [control, c],
];
for (let i = 0; i < SAMPLES; i++) {
  // Rotate the order so no class always runs first.
  for (let k = 0; k < 3; k++) {
    const [sig, out] = order[(i + k) % 3] as [string, number[]];
    out.push(sample(sig));
  }
}

function stats(xs: number[]) {
  const sorted = [...xs].sort((x, y) => x - y);
  // Trim the slowest 1% (GC pauses, preemption) from both classes alike.
  const kept = sorted.slice(0, Math.floor(sorted.length * 0.99));
  const mean = kept.reduce((s, x) => s + x, 0) / kept.length;
  const variance = kept.reduce((s, x) => s + (x - mean) ** 2, 0) / (kept.length - 1);
  return { median: sorted[Math.floor(sorted.length / 2)] ?? NaN, mean, variance, n: kept.length };
}

const sa = stats(a);
const sb = stats(b);
const sc = stats(c);
const welch = (x: ReturnType<typeof stats>, y: ReturnType<typeof stats>) =>
  (y.mean - x.mean) / Math.sqrt(x.variance / x.n + y.variance / y.n);
console.log(`samples per class: ${SAMPLES}`);
console.log(`(a) all wrong:          median ${sa.median} ns  mean ${sa.mean.toFixed(1)} ns`);
console.log(`(b) first 39 right:     median ${sb.median} ns  mean ${sb.mean.toFixed(1)} ns`);
console.log(`(c) all wrong, control: median ${sc.median} ns  mean ${sc.mean.toFixed(1)} ns`);
console.log(`(b)-(a): ${(sb.mean - sa.mean).toFixed(1)} ns, Welch t ${welch(sa, sb).toFixed(2)}`);
console.log(`(c)-(a): ${(sc.mean - sa.mean).toFixed(1)} ns, Welch t ${welch(sa, sc).toFixed(2)}  (the measurement floor)`);
console.log(`ratio of mean times (b)/(a): ${(sb.mean / sa.mean).toFixed(4)}`);
