import { createHash, randomBytes } from 'node:crypto';

/**
 * RFC 3161 time-stamping client: asks a time-stamping authority (TSA) to countersign the SHA-256
 * of some bytes (a signed checkpoint), so that a third party can later show the checkpoint
 * existed at that time, independently of HireLedger's clocks and keys.
 *
 * The request is DER built by hand (it is five fields; no ASN.1 dependency for that). The
 * response is parsed only as far as needed to know the TSA granted the request and that the
 * token is for *this* request: status, then inside the token's TSTInfo the message imprint and
 * the nonce. The CMS signature over the token is not checked here; whoever relies on the token
 * checks it against the TSA's certificate (`openssl ts -verify`), which is how it will be used.
 */

export const OID_SHA256 = '2.16.840.1.101.3.4.2.1';
const OID_SIGNED_DATA = '1.2.840.113549.1.7.2';
const OID_TST_INFO = '1.2.840.113549.1.9.16.1.4';

export interface TimestampOptions {
  /** The TSA's HTTP(S) endpoint. */
  url: string;
  /** Whole exchange (connect, send, answer), in ms. */
  timeoutMs?: number;
  /** Ask for this TSA policy (dotted OID); by default the TSA's default policy. */
  policyOid?: string;
  /** Responses larger than this are refused (a token with its certificates is a few KiB). */
  maxResponseBytes?: number;
  /** Extra HTTP headers, e.g. credentials some commercial TSAs want. */
  headers?: Record<string, string>;
}

export interface TimestampResult {
  /** The DER TimeStampToken (a CMS ContentInfo): what to keep and hand to verifiers. */
  token: Buffer;
  /** The whole DER TimeStampResp as received. */
  response: Buffer;
  /** The DER TimeStampReq sent. */
  request: Buffer;
  /** PKIStatus: 0 granted, 1 granted with modifications. */
  status: 0 | 1;
  /** TSTInfo genTime as ISO 8601 UTC, with the TSA's fractional seconds if any. */
  genTime?: string;
  /** TSTInfo serialNumber, lower-case hex. */
  serialNumber?: string;
  /** TSTInfo policy (dotted OID). */
  policy?: string;
}

export type TimestampErrorCode = 'timeout' | 'network' | 'http' | 'rejected' | 'malformed' | 'mismatch';

export class TimestampError extends Error {
  constructor(
    readonly code: TimestampErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'TimestampError';
  }
}

/** Time-stamps `data` (its SHA-256) at the TSA. */
export async function requestTimestamp(data: Buffer | string, opts: TimestampOptions): Promise<TimestampResult> {
  const digest = createHash('sha256').update(data).digest();
  return requestTimestampForDigest(digest, opts);
}

export async function requestTimestampForDigest(digest: Buffer, opts: TimestampOptions): Promise<TimestampResult> {
  const nonce = randomBytes(8);
  const request = buildTimeStampReq(digest, { nonce, policyOid: opts.policyOid });
  const response = await post(request, opts);
  const parsed = parseTimeStampResp(response, { digest, nonce, policyOid: opts.policyOid });
  return { ...parsed, response, request };
}

export interface TimeStampReqOptions {
  /** Random bytes, read as a positive big-endian integer. */
  nonce: Buffer;
  policyOid?: string;
  /** Ask the TSA to include its certificate in the token (default true: verifiable on its own). */
  certReq?: boolean;
}

/**
 * TimeStampReq ::= SEQUENCE { version INTEGER (1), messageImprint MessageImprint,
 *   reqPolicy OBJECT IDENTIFIER OPTIONAL, nonce INTEGER OPTIONAL, certReq BOOLEAN DEFAULT FALSE, ... }
 * MessageImprint ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier (sha256, NULL), hashedMessage OCTET STRING }
 */
export function buildTimeStampReq(digest: Buffer, opts: TimeStampReqOptions): Buffer {
  if (digest.length !== 32) throw new RangeError('a SHA-256 digest is 32 bytes');
  if (opts.nonce.length === 0) throw new RangeError('the nonce must not be empty');
  const fields = [derInteger(Buffer.from([1])), derSequence(derSequence(derOid(OID_SHA256), DER_NULL), derTlv(0x04, digest))];
  if (opts.policyOid !== undefined) fields.push(derOid(opts.policyOid));
  fields.push(derInteger(opts.nonce));
  // DER leaves out a BOOLEAN equal to its DEFAULT (FALSE).
  if (opts.certReq ?? true) fields.push(derTlv(0x01, Buffer.from([0xff])));
  return derSequence(...fields);
}

export interface ExpectedTimestamp {
  digest: Buffer;
  nonce: Buffer;
  policyOid?: string;
}

/**
 * Reads a TimeStampResp: the status must be granted (0) or granted with modifications (1), and
 * the token's TSTInfo must carry our SHA-256 imprint and echo our nonce (RFC 3161 §2.4.2), so a
 * replayed or misrouted answer is not taken for ours.
 */
export function parseTimeStampResp(der: Buffer, expected: ExpectedTimestamp): Omit<TimestampResult, 'response' | 'request'> {
  return malformedIfThrown(() => {
    const resp = readOne(der, 0, der.length, 'TimeStampResp');
    expectTag(resp, SEQUENCE, 'TimeStampResp');
    const [statusInfo, tokenNode] = children(der, resp);
    if (!statusInfo) throw new TimestampError('malformed', 'TimeStampResp has no status');
    expectTag(statusInfo, SEQUENCE, 'PKIStatusInfo');
    const [statusNode, ...more] = children(der, statusInfo);
    if (!statusNode) throw new TimestampError('malformed', 'PKIStatusInfo has no status');
    expectTag(statusNode, INTEGER, 'PKIStatus');
    const status = smallInteger(der, statusNode);
    if (status !== 0 && status !== 1) {
      const texts: string[] = [];
      let failInfo: string[] = [];
      for (const n of more) {
        if (n.tag === SEQUENCE) for (const t of children(der, n)) texts.push(content(der, t).toString('utf8'));
        if (n.tag === BIT_STRING) failInfo = failureBits(content(der, n));
      }
      const name = PKI_STATUS[status] ?? `status ${status}`;
      throw new TimestampError(
        'rejected',
        `the TSA refused the request: ${name} (${status})` +
          (failInfo.length > 0 ? `, failInfo ${failInfo.join(', ')}` : '') +
          (texts.length > 0 ? `: ${texts.join('; ')}` : ''),
      );
    }
    if (!tokenNode) throw new TimestampError('malformed', 'the TSA granted the request but sent no token');
    const token = Buffer.from(der.subarray(tokenNode.start, tokenNode.end));
    const tst = readTstInfo(der, tokenNode);
    const imprint = tst.imprint;
    if (imprint.algorithm !== OID_SHA256 || !imprint.digest.equals(expected.digest)) {
      throw new TimestampError('mismatch', 'the token time-stamps another message (message imprint differs)');
    }
    if (tst.nonce === undefined || !tst.nonce.equals(magnitude(expected.nonce))) {
      throw new TimestampError('mismatch', 'the token does not echo our nonce: it answers another request');
    }
    if (expected.policyOid !== undefined && tst.policy !== expected.policyOid) {
      throw new TimestampError('mismatch', `the token is under policy ${tst.policy}, not ${expected.policyOid}`);
    }
    return { token, status, genTime: tst.genTime, serialNumber: tst.serialNumber, policy: tst.policy };
  });
}

interface TstInfo {
  policy: string;
  imprint: { algorithm: string; digest: Buffer };
  serialNumber: string;
  genTime: string;
  nonce?: Buffer;
}

/** ContentInfo { signedData, [0] SignedData { version, digestAlgorithms, encapContentInfo { TSTInfo OID, [0] OCTET STRING } } } */
function readTstInfo(der: Buffer, token: Node): TstInfo {
  expectTag(token, SEQUENCE, 'TimeStampToken');
  const [ctype, explicit] = children(der, token);
  if (!ctype || !explicit) throw new TimestampError('malformed', 'TimeStampToken is not a ContentInfo');
  if (readOid(der, ctype) !== OID_SIGNED_DATA) throw new TimestampError('malformed', 'TimeStampToken is not CMS SignedData');
  expectTag(explicit, 0xa0, 'ContentInfo content');
  const [signedData] = children(der, explicit);
  if (!signedData) throw new TimestampError('malformed', 'ContentInfo has no content');
  expectTag(signedData, SEQUENCE, 'SignedData');
  const [, , encap] = children(der, signedData);
  if (!encap) throw new TimestampError('malformed', 'SignedData has no encapsulated content');
  expectTag(encap, SEQUENCE, 'EncapsulatedContentInfo');
  const [etype, econtent] = children(der, encap);
  if (!etype || readOid(der, etype) !== OID_TST_INFO) throw new TimestampError('malformed', 'token content is not a TSTInfo');
  if (!econtent) throw new TimestampError('malformed', 'token has no TSTInfo');
  expectTag(econtent, 0xa0, 'eContent');
  const [octets] = children(der, econtent);
  if (!octets) throw new TimestampError('malformed', 'token has no TSTInfo');
  const tstDer = octetString(der, octets);

  const root = readOne(tstDer, 0, tstDer.length, 'TSTInfo');
  expectTag(root, SEQUENCE, 'TSTInfo');
  const [version, policy, imprint, serial, genTime, ...optional] = children(tstDer, root);
  if (!version || !policy || !imprint || !serial || !genTime) throw new TimestampError('malformed', 'TSTInfo is incomplete');
  expectTag(imprint, SEQUENCE, 'MessageImprint');
  const [alg, hashed] = children(tstDer, imprint);
  if (!alg || !hashed) throw new TimestampError('malformed', 'MessageImprint is incomplete');
  expectTag(alg, SEQUENCE, 'AlgorithmIdentifier');
  const [algOid] = children(tstDer, alg);
  if (!algOid) throw new TimestampError('malformed', 'AlgorithmIdentifier has no OID');
  expectTag(hashed, 0x04, 'hashedMessage');
  expectTag(serial, INTEGER, 'serialNumber');
  expectTag(genTime, 0x18, 'genTime');
  const nonceNode = optional.find((n) => n.tag === INTEGER);
  return {
    policy: readOid(tstDer, policy),
    imprint: { algorithm: readOid(tstDer, algOid), digest: Buffer.from(content(tstDer, hashed)) },
    serialNumber: magnitude(content(tstDer, serial)).toString('hex') || '0',
    genTime: generalizedTime(content(tstDer, genTime).toString('latin1')),
    nonce: nonceNode ? magnitude(content(tstDer, nonceNode)) : undefined,
  };
}

async function post(request: Buffer, opts: TimestampOptions): Promise<Buffer> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const max = opts.maxResponseBytes ?? 1024 * 1024;
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const res = await fetch(opts.url, {
      method: 'POST',
      headers: { ...opts.headers, 'content-type': 'application/timestamp-query', accept: 'application/timestamp-reply' },
      body: request,
      signal,
      redirect: 'error',
    });
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new TimestampError('http', `the TSA at ${opts.url} answered HTTP ${res.status}`);
    }
    const chunks: Buffer[] = [];
    let total = 0;
    if (res.body) {
      // fetch's body is typed ReadableStream<any>; its chunks are bytes.
      for await (const chunk of res.body as ReadableStream<Uint8Array>) {
        total += chunk.length;
        if (total > max) throw new TimestampError('malformed', `the TSA's answer is larger than ${max} bytes`);
        chunks.push(Buffer.from(chunk));
      }
    }
    return Buffer.concat(chunks);
  } catch (err) {
    if (err instanceof TimestampError) throw err;
    if (signal.aborted) throw new TimestampError('timeout', `no answer from the TSA at ${opts.url} within ${timeoutMs} ms`);
    const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause;
    const detail =
      typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' ? cause.message : (err as Error).message;
    throw new TimestampError('network', `cannot reach the TSA at ${opts.url}: ${detail}`);
  }
}

// --- DER writing -----------------------------------------------------------------------------

const SEQUENCE = 0x30;
const INTEGER = 0x02;
const BIT_STRING = 0x03;
const DER_NULL = Buffer.from([0x05, 0x00]);

function derTlv(tag: number, value: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), derLength(value.length), value]);
}

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function derSequence(...items: Buffer[]): Buffer {
  return derTlv(SEQUENCE, Buffer.concat(items));
}

/** A non-negative INTEGER from big-endian magnitude bytes, in minimal two's complement. */
function derInteger(unsigned: Buffer): Buffer {
  const m = magnitude(unsigned);
  const body = m.length === 0 ? Buffer.from([0]) : (m[0] as number) & 0x80 ? Buffer.concat([Buffer.from([0]), m]) : m;
  return derTlv(INTEGER, body);
}

function derOid(dotted: string): Buffer {
  if (!/^[0-2](\.(0|[1-9][0-9]*))+$/.test(dotted)) throw new RangeError(`not an OID: ${dotted}`);
  const arcs = dotted.split('.').map(Number);
  if (arcs.some((a) => !Number.isSafeInteger(a))) throw new RangeError(`OID arc too large: ${dotted}`);
  const [a, b, ...rest] = arcs as [number, number, ...number[]];
  if (a < 2 && b >= 40) throw new RangeError(`not an OID: ${dotted}`);
  const out: number[] = [];
  for (const arc of [a * 40 + b, ...rest]) {
    const groups: number[] = [];
    let v = arc;
    do {
      groups.unshift(v % 128);
      v = Math.floor(v / 128);
    } while (v > 0);
    groups.forEach((g, i) => out.push(i < groups.length - 1 ? g | 0x80 : g));
  }
  return derTlv(0x06, Buffer.from(out));
}

// --- BER/DER reading (definite lengths, and indefinite ones for constructed values) -----------

interface Node {
  tag: number;
  /** Offsets in the buffer: whole element [start, end), contents [contentStart, contentEnd). */
  start: number;
  contentStart: number;
  contentEnd: number;
  end: number;
}

function readOne(buf: Buffer, pos: number, limit: number, what: string): Node {
  const tag = buf[pos];
  if (tag === undefined || pos >= limit) throw new TimestampError('malformed', `${what}: truncated`);
  if ((tag & 0x1f) === 0x1f) throw new TimestampError('malformed', `${what}: unsupported high tag number`);
  const first = buf[pos + 1];
  if (first === undefined || pos + 1 >= limit) throw new TimestampError('malformed', `${what}: truncated length`);
  let p = pos + 2;
  if (first === 0x80) {
    // Indefinite length (BER, constructed only): children until an end-of-contents 00 00.
    if ((tag & 0x20) === 0) throw new TimestampError('malformed', `${what}: indefinite length on a primitive value`);
    let q = p;
    for (;;) {
      if (q + 1 < limit && buf[q] === 0 && buf[q + 1] === 0)
        return { tag, start: pos, contentStart: p, contentEnd: q, end: q + 2 };
      q = readOne(buf, q, limit, what).end;
    }
  }
  let len = first;
  if (first & 0x80) {
    const n = first & 0x7f;
    if (n > 4) throw new TimestampError('malformed', `${what}: length too large`);
    len = 0;
    for (let i = 0; i < n; i++) {
      const b = buf[p + i];
      if (b === undefined) throw new TimestampError('malformed', `${what}: truncated length`);
      len = len * 256 + b;
    }
    p += n;
  }
  if (p + len > limit) throw new TimestampError('malformed', `${what}: value runs past its container`);
  return { tag, start: pos, contentStart: p, contentEnd: p + len, end: p + len };
}

function children(buf: Buffer, node: Node): Node[] {
  if ((node.tag & 0x20) === 0) throw new TimestampError('malformed', `tag 0x${node.tag.toString(16)} is not constructed`);
  const out: Node[] = [];
  for (let p = node.contentStart; p < node.contentEnd;) {
    const child = readOne(buf, p, node.contentEnd, `tag 0x${node.tag.toString(16)}`);
    out.push(child);
    p = child.end;
  }
  return out;
}

function content(buf: Buffer, node: Node): Buffer {
  return buf.subarray(node.contentStart, node.contentEnd);
}

/** OCTET STRING, primitive or (BER) constructed from primitive pieces. */
function octetString(buf: Buffer, node: Node): Buffer {
  if (node.tag === 0x04) return Buffer.from(content(buf, node));
  if (node.tag === 0x24) return Buffer.concat(children(buf, node).map((c) => octetString(buf, c)));
  throw new TimestampError('malformed', `expected an OCTET STRING, found tag 0x${node.tag.toString(16)}`);
}

function expectTag(node: Node, tag: number, what: string): void {
  if (node.tag !== tag) {
    throw new TimestampError('malformed', `${what}: expected tag 0x${tag.toString(16)}, found 0x${node.tag.toString(16)}`);
  }
}

function readOid(buf: Buffer, node: Node): string {
  expectTag(node, 0x06, 'OBJECT IDENTIFIER');
  const bytes = content(buf, node);
  const arcs: number[] = [];
  let v = 0;
  for (const b of bytes) {
    v = v * 128 + (b & 0x7f);
    if (!Number.isSafeInteger(v)) throw new TimestampError('malformed', 'OID arc too large');
    if ((b & 0x80) === 0) {
      arcs.push(v);
      v = 0;
    }
  }
  const [first, ...rest] = arcs;
  if (first === undefined || (bytes[bytes.length - 1] as number) & 0x80) throw new TimestampError('malformed', 'truncated OID');
  const a = first < 40 ? 0 : first < 80 ? 1 : 2;
  return [a, first - a * 40, ...rest].join('.');
}

function smallInteger(buf: Buffer, node: Node): number {
  const bytes = content(buf, node);
  if (bytes.length === 0 || bytes.length > 4 || (bytes[0] as number) & 0x80) {
    throw new TimestampError('malformed', 'expected a small non-negative INTEGER');
  }
  return bytes.reduce((acc, b) => acc * 256 + b, 0);
}

/** Big-endian bytes without leading zeros: two INTEGERs are equal when their magnitudes are. */
function magnitude(bytes: Buffer): Buffer {
  let i = 0;
  while (i < bytes.length && bytes[i] === 0) i++;
  return Buffer.from(bytes.subarray(i));
}

/** YYYYMMDDhhmmss[.f+]Z (RFC 3161 §2.4.2: always UTC, 'Z') → ISO 8601, fractional digits kept. */
function generalizedTime(s: string): string {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\.\d+)?Z$/.exec(s);
  if (!m) throw new TimestampError('malformed', `genTime is not a UTC GeneralizedTime: ${JSON.stringify(s)}`);
  return `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${m[7] ?? ''}Z`;
}

const PKI_STATUS: Record<number, string> = {
  0: 'granted',
  1: 'grantedWithMods',
  2: 'rejection',
  3: 'waiting',
  4: 'revocationWarning',
  5: 'revocationNotification',
};

const FAILURE_BITS: Record<number, string> = {
  0: 'badAlg',
  2: 'badRequest',
  5: 'badDataFormat',
  14: 'timeNotAvailable',
  15: 'unacceptedPolicy',
  16: 'unacceptedExtension',
  17: 'addInfoNotAvailable',
  25: 'systemFailure',
};

/** PKIFailureInfo BIT STRING (first byte: unused bit count) → names of the set bits. */
function failureBits(bitString: Buffer): string[] {
  const out: string[] = [];
  for (let i = 1; i < bitString.length; i++) {
    for (let j = 0; j < 8; j++) {
      if (((bitString[i] as number) >> (7 - j)) & 1) {
        const bit = (i - 1) * 8 + j;
        out.push(FAILURE_BITS[bit] ?? `bit ${bit}`);
      }
    }
  }
  return out;
}

/** Anything unexpected while reading the answer (RangeError from a bad offset...) is a malformed answer. */
function malformedIfThrown<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof TimestampError) throw err;
    throw new TimestampError('malformed', `the TSA's answer is not a readable TimeStampResp: ${(err as Error).message}`);
  }
}
