import { createDecipheriv, createHash, createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { leafHashOfHeader, openCheckpoint } from '../../src/evidence';

/**
 * docs/evidence-format.md carries complete test vectors for an outside verifier. This test reads
 * them from the page and recomputes each with Node's SHA-256, SHA-1, AES and Ed25519 only, so the
 * page and the implementation cannot drift apart unnoticed.
 */
const doc = readFileSync(join(__dirname, '..', '..', 'docs', 'evidence-format.md'), 'utf8');

function block(label: string): string {
  const m = new RegExp('```\\w+ vector:' + label + '\\n([\\s\\S]*?)\\n```').exec(doc);
  if (!m) throw new Error(`vector ${label} is missing from docs/evidence-format.md`);
  return m[1] as string;
}
function stated(name: string): string {
  const m = new RegExp('`' + name + '` = `([0-9a-f]{64})`').exec(doc);
  if (!m) throw new Error(`${name} is not stated in docs/evidence-format.md`);
  return m[1] as string;
}
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest();
const leaf = (text: string) => sha256(Buffer.concat([Buffer.from([0]), Buffer.from(text, 'utf8')])).toString('hex');

describe('docs/evidence-format.md test vectors', () => {
  const hashes = [...doc.matchAll(/`hash` = (?:SHA-256\(`0x00` ‖ those bytes\) = )?`([0-9a-f]{64})`/g)].map(
    (m) => m[1] as string,
  );

  test('record 1: content digests, hashed form and leaf hash', () => {
    expect(sha256(block('payload-1')).toString('hex')).toBe(stated('payload_sha256'));
    expect(sha256(block('raw-1')).toString('hex')).toBe(stated('raw_sha256'));
    const form = block('hashed-form-1');
    const parsed = JSON.parse(form) as Record<string, unknown>;
    expect(parsed['payload_sha256']).toBe(stated('payload_sha256'));
    expect(parsed['raw_sha256']).toBe(stated('raw_sha256'));
    expect(leaf(form)).toBe(hashes[0]);
    // And the implementation agrees with the page.
    expect(
      leafHashOfHeader({
        seq: 1,
        stream: 'candidate:c_7f3a9e',
        kind: 'test.note',
        occurredAt: new Date('2026-11-20T01:02:03.456Z'),
        recordedAt: new Date('2026-11-20T01:02:04.007Z'),
        actor: 'zhangmin',
        source: 'test',
        sourceRef: 'vector-1',
        payloadSha256: stated('payload_sha256'),
        rawSha256: stated('raw_sha256'),
        prevHash: null,
      }),
    ).toBe(hashes[0]);
  });

  test('record 2 links to record 1', () => {
    const form = block('hashed-form-2');
    expect((JSON.parse(form) as Record<string, unknown>)['prev_hash']).toBe(hashes[0]);
    expect((JSON.parse(form) as Record<string, unknown>)['payload_sha256']).toBe(sha256('{"text":"可以先辞职"}').toString('hex'));
    expect(leaf(form)).toBe(hashes[1]);
  });

  test('the two-leaf Merkle root', () => {
    const m = /= SHA-256\(`0x01` ‖ hash₁ ‖ hash₂\) =\s+`([0-9a-f]{64})` \(base64 `([A-Za-z0-9+/=]+)`\)/.exec(doc);
    const root = sha256(
      Buffer.concat([Buffer.from([1]), Buffer.from(hashes[0] as string, 'hex'), Buffer.from(hashes[1] as string, 'hex')]),
    );
    expect(root.toString('hex')).toBe(m?.[1]);
    expect(root.toString('base64')).toBe(m?.[2]);
    expect(block('checkpoint').split('\n')[2]).toBe(m?.[2]);
  });

  test('the checkpoint: verifier key, deterministic signature, and it opens', () => {
    const key = createPrivateKey(`${block('test-key')}\n`);
    const pub = createPublicKey(key).export({ format: 'der', type: 'spki' }).subarray(-32);
    const vkey = block('verifier-key');
    // The base64 key may itself contain '+': split off the first two fields only.
    const [name, id] = vkey.split('+') as [string, string];
    const b64 = vkey.slice(name.length + id.length + 2);
    expect(Buffer.from(b64, 'base64').equals(Buffer.concat([Buffer.from([1]), pub]))).toBe(true);
    const keyId = sha256(Buffer.concat([Buffer.from(name, 'utf8'), Buffer.from([0x0a, 0x01]), pub])).subarray(0, 4);
    expect(keyId.toString('hex')).toBe(id);

    const note = `${block('checkpoint')}\n`;
    const [body, sigLine] = note.split('\n\n') as [string, string];
    const signed = `${body}\n`;
    expect(signed.split('\n')[0]).toBe(name);
    expect(sigLine.startsWith(`\u2014 ${name} `)).toBe(true);
    const sig = Buffer.from(sigLine.trim().split(' ').at(-1) as string, 'base64');
    expect(sig.subarray(0, 4).equals(keyId)).toBe(true);
    expect(verify(null, Buffer.from(signed, 'utf8'), createPublicKey(key), sig.subarray(4))).toBe(true);
    expect(sign(null, Buffer.from(signed, 'utf8'), key).equals(sig.subarray(4))).toBe(true);
    expect(openCheckpoint(note, vkey)).toMatchObject({ size: 2 });
  });

  test('the WeCom callback layout and signature', () => {
    const params = new Map(
      block('wecom-query')
        .split('&')
        .map((kv) => kv.split('=') as [string, string]),
    );
    const q = (k: string) => decodeURIComponent(params.get(k) as string);
    const token = 'QDG6eK';
    const sig = createHash('sha1')
      .update([token, q('timestamp'), q('nonce'), q('echostr')].sort().join(''))
      .digest('hex');
    expect(sig).toBe(q('msg_signature'));
    const key = Buffer.from('jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C=', 'base64');
    const d = createDecipheriv('aes-256-cbc', key, key.subarray(0, 16));
    d.setAutoPadding(false);
    const plain = Buffer.concat([d.update(Buffer.from(q('echostr'), 'base64')), d.final()]);
    const body = plain.subarray(0, plain.length - (plain.at(-1) as number));
    expect(body.subarray(0, 16).toString('hex')).toBe('63343162363434393163323436386430');
    const len = body.readUInt32BE(16);
    expect(len).toBe(19);
    expect(body.subarray(20, 20 + len).toString('utf8')).toBe('1616140317555161061');
    expect(body.subarray(20 + len).toString('utf8')).toBe('wx5823bf96d3bd56c7');
  });
});
