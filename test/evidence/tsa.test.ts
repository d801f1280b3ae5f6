import { execFile } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { signCheckpoint } from '../../src/evidence/checkpoint';
import { rootOf } from '../../src/evidence/merkle';
import {
  buildTimeStampReq,
  parseTimeStampResp,
  requestTimestamp,
  TimestampError,
  type TimestampErrorCode,
} from '../../src/evidence/tsa';

/**
 * Against a real RFC 3161 TSA: OpenSSL's `openssl ts -reply`, behind a tiny HTTP server, with a
 * CA and a TSA certificate made for the test. The tokens are then checked by `openssl ts -verify`,
 * an implementation that shares nothing with ours.
 */

const run = promisify(execFile);

type Mode = 'openssl' | 'reject' | 'http500' | 'hang' | 'garbage' | 'replay';

let dir: string;
let server: Server;
let url: string;
let mode: Mode = 'openssl';
let lastRequest: Buffer = Buffer.alloc(0);
let lastResponse: Buffer = Buffer.alloc(0);
let contentTypes: (string | undefined)[] = [];
let seq = 0;

async function openssl(args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run('openssl', args, { cwd: dir });
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: e.stdout + e.stderr };
  }
}

async function must(args: string[]): Promise<string> {
  const r = await openssl(args);
  if (r.code !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.out}`);
  return r.out;
}

/** TimeStampResp { PKIStatusInfo { status 2, statusString { "unsupported algorithm" }, failInfo badAlg } }, by hand. */
function rejectionResponse(): Buffer {
  const text = Buffer.from('unsupported algorithm');
  const freeText = Buffer.concat([Buffer.from([0x30, text.length + 2, 0x0c, text.length]), text]);
  const failInfo = Buffer.from([0x03, 0x02, 0x07, 0x80]); // BIT STRING, 7 unused bits, bit 0 (badAlg) set
  const status = Buffer.concat([Buffer.from([0x02, 0x01, 0x02]), freeText, failInfo]);
  const info = Buffer.concat([Buffer.from([0x30, status.length]), status]);
  return Buffer.concat([Buffer.from([0x30, info.length]), info]);
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  lastRequest = Buffer.concat(chunks);
  contentTypes.push(req.headers['content-type']);
  switch (mode) {
    case 'hang':
      return; // never answers
    case 'http500':
      res.writeHead(500).end('oops');
      return;
    case 'garbage':
      res.writeHead(200, { 'content-type': 'application/timestamp-reply' }).end(randomBytes(100));
      return;
    case 'reject':
      res.writeHead(200, { 'content-type': 'application/timestamp-reply' }).end(rejectionResponse());
      return;
    case 'replay':
      res.writeHead(200, { 'content-type': 'application/timestamp-reply' }).end(lastResponse);
      return;
    case 'openssl': {
      const n = ++seq;
      await writeFile(join(dir, `q${n}.der`), lastRequest);
      await must([
        'ts',
        '-reply',
        '-queryfile',
        `q${n}.der`,
        '-config',
        'ts.cnf',
        '-inkey',
        'tsa.key',
        '-signer',
        'tsa.pem',
        '-out',
        `r${n}.der`,
      ]);
      lastResponse = await readFile(join(dir, `r${n}.der`));
      res.writeHead(200, { 'content-type': 'application/timestamp-reply' }).end(lastResponse);
      return;
    }
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hireledger-tsa-'));
  await writeFile(
    join(dir, 'ca.cnf'),
    [
      '[ req ]',
      'distinguished_name = dn',
      'prompt = no',
      '[ dn ]',
      'CN = HireLedger Test CA',
      '[ ca_ext ]',
      'basicConstraints = critical, CA:TRUE',
      'keyUsage = critical, keyCertSign, cRLSign',
      'subjectKeyIdentifier = hash',
      '[ tsa_ext ]',
      'basicConstraints = critical, CA:FALSE',
      'keyUsage = critical, digitalSignature, nonRepudiation',
      'extendedKeyUsage = critical, timeStamping',
      'subjectKeyIdentifier = hash',
      'authorityKeyIdentifier = keyid',
      '',
    ].join('\n'),
  );
  await writeFile(
    join(dir, 'ts.cnf'),
    [
      '[ tsa ]',
      'default_tsa = tsa_config',
      '[ tsa_config ]',
      `serial = ${join(dir, 'tsaserial')}`,
      'signer_digest = sha256',
      'default_policy = 1.3.6.1.4.1.99999.1',
      'other_policies = 1.3.6.1.4.1.99999.2',
      'digests = sha256',
      'accuracy = secs:1',
      'ordering = no',
      'tsa_name = yes',
      'ess_cert_id_chain = no',
      'ess_cert_id_alg = sha256',
      '',
    ].join('\n'),
  );
  await writeFile(join(dir, 'tsaserial'), '01\n');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  await must([
    'req',
    '-x509',
    '-new',
    ...ec,
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-config',
    'ca.cnf',
    '-extensions',
    'ca_ext',
  ]);
  await must(['req', '-new', ...ec, '-keyout', 'tsa.key', '-out', 'tsa.csr', '-subj', '/CN=HireLedger Test TSA']);
  await must([
    'x509', '-req', '-in', 'tsa.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
    '-out', 'tsa.pem', '-days', '2', '-extfile', 'ca.cnf', '-extensions', 'tsa_ext',
  ]); // prettier-ignore

  server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => res.writeHead(599).end(String(err)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/tsa`;
}, 60000);

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(dir, { recursive: true, force: true });
});

beforeEach(() => {
  mode = 'openssl';
  contentTypes = [];
});

/** The bytes HireLedger will time-stamp: a signed checkpoint. */
function checkpointNote(): string {
  const { privateKey } = generateKeyPairSync('ed25519');
  const origin = 'hireledger.evidence/wwtsatest';
  return signCheckpoint(
    { origin, size: 3, rootHash: rootOf([randomBytes(32), randomBytes(32), randomBytes(32)]) },
    origin,
    privateKey,
  );
}

async function expectTimestampError(p: Promise<unknown>, code: TimestampErrorCode, message?: RegExp): Promise<TimestampError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TimestampError);
  expect((err as TimestampError).code).toBe(code);
  if (message) expect((err as TimestampError).message).toMatch(message);
  return err as TimestampError;
}

describe('RFC 3161 time-stamping against an OpenSSL TSA', () => {
  test('a checkpoint is time-stamped; openssl ts -verify accepts the token for it and refuses other data', async () => {
    const note = checkpointNote();
    const before = Date.now();
    const ts = await requestTimestamp(note, { url, timeoutMs: 10000 });
    expect(contentTypes).toEqual(['application/timestamp-query']);
    expect(ts.status).toBe(0);
    expect(ts.policy).toBe('1.3.6.1.4.1.99999.1');
    expect(ts.request.equals(lastRequest)).toBe(true);
    expect(ts.response.equals(lastResponse)).toBe(true);
    expect(ts.genTime).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/);
    expect(Math.abs(Date.parse(ts.genTime as string) - before)).toBeLessThan(60000);
    expect(ts.serialNumber).toMatch(/^[0-9a-f]+$/);

    // What we sent, as OpenSSL reads it.
    await writeFile(join(dir, 'sent.der'), ts.request);
    const q = await must(['ts', '-query', '-in', 'sent.der', '-text']);
    expect(q).toMatch(/Version: 1/);
    expect(q).toMatch(/Hash Algorithm: sha256/);
    expect(q).toMatch(/Nonce: 0x[0-9A-F]+/);
    expect(q).toMatch(/Certificate required: yes/);
    const digest = createHash('sha256').update(note).digest('hex');
    const hexDump = [...q.matchAll(/^\s+[0-9a-f]{4} - ([0-9a-f -]+?)\s{2,}/gm)]
      .map((m) => (m[1] as string).replace(/[ -]/g, ''))
      .join('');
    expect(hexDump).toBe(digest);

    // The response and the bare token both verify for the checkpoint bytes, and only for them.
    await writeFile(join(dir, 'resp.der'), ts.response);
    await writeFile(join(dir, 'token.der'), ts.token);
    await writeFile(join(dir, 'note.txt'), note);
    await writeFile(join(dir, 'tampered.txt'), note.replace('\n3\n', '\n4\n'));
    expect((await openssl(['ts', '-verify', '-in', 'resp.der', '-data', 'note.txt', '-CAfile', 'ca.pem'])).code).toBe(0);
    expect(
      (await openssl(['ts', '-verify', '-in', 'token.der', '-token_in', '-data', 'note.txt', '-CAfile', 'ca.pem'])).code,
    ).toBe(0);
    const tampered = await openssl(['ts', '-verify', '-in', 'resp.der', '-data', 'tampered.txt', '-CAfile', 'ca.pem']);
    expect(tampered.code).not.toBe(0);
    expect(tampered.out).toMatch(/message imprint mismatch/);
    // And a CA that did not issue the TSA certificate does not vouch for it.
    await must(['req', '-x509', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'other.key', '-out', 'other.pem', '-days', '1', '-subj', '/CN=Other']); // prettier-ignore
    expect((await openssl(['ts', '-verify', '-in', 'resp.der', '-data', 'note.txt', '-CAfile', 'other.pem'])).code).not.toBe(0);
  }, 30000);

  test('a requested policy is sent and checked', async () => {
    const ts = await requestTimestamp('x', { url, policyOid: '1.3.6.1.4.1.99999.2' });
    expect(ts.policy).toBe('1.3.6.1.4.1.99999.2');
    await expectTimestampError(requestTimestamp('x', { url, policyOid: '1.3.6.1.4.1.99999.3' }), 'rejected', /unacceptedPolicy/);
  }, 30000);

  test('a rejection (status 2) is an error naming the status, failInfo and text', async () => {
    mode = 'reject';
    const err = await expectTimestampError(requestTimestamp('x', { url }), 'rejected');
    expect(err.message).toBe('the TSA refused the request: rejection (2), failInfo badAlg: unsupported algorithm');
  });

  test('an answer to another request (replayed) is refused', async () => {
    await requestTimestamp('first', { url });
    mode = 'replay';
    await expectTimestampError(requestTimestamp('second', { url }), 'mismatch', /message imprint/);
    // Same data, so the same imprint: only the nonce tells the answers apart.
    mode = 'openssl';
    await requestTimestamp('same', { url });
    mode = 'replay';
    await expectTimestampError(requestTimestamp('same', { url }), 'mismatch', /nonce/);
  }, 30000);

  test('HTTP errors, garbage, a dead server and a silent one fail clearly and within the timeout', async () => {
    mode = 'http500';
    await expectTimestampError(requestTimestamp('x', { url }), 'http', /HTTP 500/);
    mode = 'garbage';
    await expectTimestampError(requestTimestamp('x', { url }), 'malformed');

    // Nobody listening.
    const dead = createServer();
    await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
    const deadUrl = `http://127.0.0.1:${(dead.address() as AddressInfo).port}/tsa`;
    await new Promise<void>((resolve) => dead.close(() => resolve()));
    let started = Date.now();
    await expectTimestampError(requestTimestamp('x', { url: deadUrl, timeoutMs: 2000 }), 'network', /ECONNREFUSED/);
    expect(Date.now() - started).toBeLessThan(2000);

    // Accepts the request, never answers.
    mode = 'hang';
    started = Date.now();
    await expectTimestampError(requestTimestamp('x', { url, timeoutMs: 300 }), 'timeout', /within 300 ms/);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(2000);
  }, 30000);
});

describe('TimeStampReq / TimeStampResp encoding', () => {
  test('the request is the DER of RFC 3161 §2.4.1', () => {
    const digest = Buffer.alloc(32, 0xab);
    const req = buildTimeStampReq(digest, { nonce: Buffer.from('80000000000000ff', 'hex') });
    expect(req.toString('hex')).toBe(
      '3044' + // SEQUENCE, 68 bytes
        '020101' + // version 1
        '3031' +
        '300d' +
        '0609608648016503040201' +
        '0500' +
        '0420' +
        'ab'.repeat(32) + // messageImprint, sha256 + NULL
        '0209' +
        '0080000000000000ff' + // nonce, positive (leading 00 because the high bit is set)
        '0101ff', // certReq TRUE
    );
    // Leading zero bytes are dropped (minimal DER); certReq FALSE (the DEFAULT) is left out.
    expect(
      buildTimeStampReq(digest, { nonce: Buffer.from('00007f', 'hex'), certReq: false })
        .toString('hex')
        .slice(-6),
    ).toBe('02017f');
    expect(() => buildTimeStampReq(Buffer.alloc(20), { nonce: Buffer.from([1]) })).toThrow(RangeError);
  });

  test('malformed responses are refused, never half-read', () => {
    const expected = { digest: Buffer.alloc(32), nonce: Buffer.from([1]) };
    const cases = [
      Buffer.alloc(0),
      Buffer.from('3000', 'hex'), // no status
      Buffer.from('30053003020100', 'hex'), // granted, no token
      Buffer.from('300530030201', 'hex'), // truncated
      Buffer.from('3080308002010000000000', 'hex').subarray(0, 9), // indefinite, unterminated
      Buffer.from('3007300302010030', 'hex'), // token truncated
    ];
    for (const der of cases) expect(() => parseTimeStampResp(der, expected)).toThrow(TimestampError);
    const granted = Buffer.from('300530030201003000', 'hex'); // granted, token is an empty SEQUENCE
    expect(() => parseTimeStampResp(granted.subarray(0, 7), expected)).toThrow(TimestampError);
  });
});
