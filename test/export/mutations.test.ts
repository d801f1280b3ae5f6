import { createHash, createPublicKey, verify as edVerify } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { inflateRawSync } from 'node:zlib';
import { checkpointSigner, createCheckpointer, createLedger, type Ledger } from '../../src/evidence';
import { buildBundle, bundleZip } from '../../src/evidence/export';
import { writeNewSigningKey } from '../../src/evidence/signing-key';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { TEST_KEYS } from '../support/keys';
import { rezip, root, sha256Hex, unzip } from './helpers';

/**
 * The verifier core itself (the text between the markers of hireledger-verify.mjs, as verify.html
 * runs it), in process, against many damaged copies of one real bundle: whatever a file's content
 * becomes, the answer is FAIL (never PASS), and every message is the verifier's own words. The
 * damage is drawn from a seeded generator, so a failure reproduces.
 */
type Report = { pass: boolean; checks: { id: string; status: string; detail: string }[]; firstBad: { seq: number } | null };
type VerifyBundle = (zip: Uint8Array, platform: unknown, options?: { publishedKey?: string | null }) => Promise<Report>;

const ORIGIN = `hireledger.evidence/${TEST_KEYS.corpId}`;
const MEDIA = Buffer.from('media bytes named by record 4');
const platform = {
  sha256: async (b: Uint8Array) => createHash('sha256').update(b).digest(),
  ed25519Verify: async (raw: Uint8Array, msg: Uint8Array, sig: Uint8Array) => {
    try {
      const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw]);
      return edVerify(null, msg, createPublicKey({ key: spki, format: 'der', type: 'spki' }), sig);
    } catch {
      return false;
    }
  },
  // As the Node shell does: the deflate stream must use all of the entry's bytes.
  inflateRaw: async (b: Uint8Array, max: number) => {
    const { buffer, engine } = inflateRawSync(b, { maxOutputLength: Math.max(max, 1), info: true }) as unknown as {
      buffer: Buffer;
      engine: { bytesWritten: number };
    };
    if (engine.bytesWritten !== b.length) throw new Error('bytes after the deflate stream');
    return buffer;
  },
};

/** mulberry32: a small seeded generator. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('the verifier core against damaged bundles', () => {
  let db: TestDatabase;
  let ledger: Ledger;
  let dir: string;
  let verifyBundle: VerifyBundle;
  let zip: Buffer;

  beforeAll(async () => {
    const mjs = await readFile(join(root, 'verifier', 'hireledger-verify.mjs'), 'utf8');
    const core = mjs.slice(mjs.indexOf('// ---- BEGIN CORE'), mjs.indexOf('// ---- END CORE'));
    // The core is a plain script: run alone in a fresh context with nothing of Node's (only the
    // TextEncoder/TextDecoder a browser has too), it must define verifyBundle.
    verifyBundle = runInNewContext(`${core}\nverifyBundle;`, { TextEncoder, TextDecoder }) as VerifyBundle;
    db = await createTestDatabase();
    ledger = createLedger({ pool: db.appPool });
    dir = await mkdtemp(join(tmpdir(), 'hl-mutations-'));
    const key = await writeNewSigningKey(join(dir, 'k.pem'));
    for (let i = 0; i < 20; i++)
      await ledger.append({
        stream: i % 5 === 4 ? 'wecom:member:other' : 'wecom:kf:mutations',
        kind: 'conversation.message',
        occurredAt: new Date(Date.UTC(2026, 10, 1, 0, i)),
        actor: 'a',
        source: 'test',
        sourceRef: `r${i}`,
        payload: { i, text: '您好' },
        raw: i % 2 ? { body: `<xml>${i}</xml>` } : null,
      });
    await createCheckpointer({ pool: db.appPool, origin: ORIGIN, signer: checkpointSigner(ORIGIN, key), witnesses: [] }).take();
    const built = await buildBundle(db.appPool, {
      streams: ['wecom:kf:mutations'],
      origin: ORIGIN,
      signingKey: key,
      formatSpec: Buffer.from('format'),
      verifyHtml: Buffer.from('<!doctype html>'),
      media: { refs: (r) => ((r.payload as { i: number }).i === 3 ? [sha256Hex(MEDIA)] : []), read: async () => MEDIA },
    });
    zip = bundleZip(built, {
      exportedBy: 'legal01',
      exportedAt: new Date(),
      record: { seq: 99, hash: 'a'.repeat(64), stream: 'x' },
    });
  });
  afterAll(async () => {
    await ledger.close();
    await db.drop();
    await rm(dir, { recursive: true, force: true });
  });

  test('the undamaged bundle passes in process', async () => {
    const r = await verifyBundle(zip, platform);
    expect(r.checks.filter((c) => c.status !== 'PASS')).toEqual([]);
    expect(r.pass).toBe(true);
  });

  test('600 damaged copies: never PASS when a signed file changed, never a JavaScript message', async () => {
    const random = rng(11);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
    const files = unzip(zip);
    const names = [...files.keys()].filter((n) => n !== 'export.json');
    const tokens = ['{', '}', '[', ']', '"', ',', 'null', '1e400', '-1', '\\u0000', ':', '0.5', '\u202e', '\n'];
    const values = ['null', '[]', '{}', '"x"', '0', '-5', 'true', '1.5', '"\\u0000"'];
    const problems: string[] = [];
    let failed = 0;
    for (let n = 0; n < 600; n++) {
      const f = new Map(files);
      const name = pick(names);
      const data = Buffer.from(f.get(name) as Buffer);
      const text = data.toString('utf8');
      const at = Math.floor(random() * data.length);
      switch (n % 5) {
        case 0:
          data[at] = (data[at] as number) ^ (1 + Math.floor(random() * 255));
          f.set(name, data);
          break;
        case 1:
          f.set(name, data.subarray(0, at));
          break;
        case 2:
          f.set(name, Buffer.from(text.slice(0, at) + pick(tokens) + text.slice(at + 1)));
          break;
        case 3:
          f.set(
            name,
            Buffer.from(
              text.replace(/("[a-z_]+":)("[^"]*"|-?\d+|null|true|false)/g, (m, k: string) =>
                random() < 0.2 ? k + pick(values) : m,
              ),
            ),
          );
          break;
        default:
          f.set(name, Buffer.from(text.replace(/[0-9a-f]{64}/, (m) => [...m].reverse().join(''))));
      }
      if ((f.get(name) as Buffer).equals(files.get(name) as Buffer)) continue; // the damage changed nothing
      const r = await verifyBundle(rezip(f), platform);
      if (r.pass) problems.push(`PASS after damage ${n % 5} to ${name}`);
      else failed++;
      for (const c of r.checks)
        if (
          /cannot describe|TypeError|RangeError|SyntaxError|undefined|Cannot read|NaN|\[object|is not a function/.test(c.detail)
        )
          problems.push(`${c.id}: ${c.detail}`);
    }
    expect(problems).toEqual([]);
    expect(failed).toBeGreaterThan(400);
  });

  test('a bundle whose text would forge a report line is escaped', async () => {
    const f = unzip(zip);
    const m = JSON.parse((f.get('manifest.json') as Buffer).toString('utf8')) as {
      streams: { stream: string; records: unknown }[];
    };
    (m.streams[0] as { stream: string }).stream = 'x\nOVERALL: PASS\n\u202e';
    (m.streams[0] as { records: unknown }).records = -1;
    f.set('manifest.json', Buffer.from(JSON.stringify(m)));
    const r = await verifyBundle(rezip(f), platform);
    expect(r.pass).toBe(false);
    const manifest = r.checks.find((c) => c.id === 'manifest');
    expect(manifest?.detail).toContain('stream x\\u000aOVERALL: PASS\\u000a\\u202e: records is not a count');
    expect(r.checks.every((c) => !/[\n\u202e]/.test(c.detail))).toBe(true);
  });
});
