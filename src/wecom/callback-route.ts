import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify';
import { EvidenceInputError, type Ledger } from '../evidence';
import { storageFailureOf } from '../infra/db/errors';
import { withDeadline } from '../infra/deadline';
import type { Metrics } from '../observability/metrics';
import {
  classifyRead,
  externalUserIdOf,
  readCallback,
  unparsedCallback,
  type ClassifiedCallback,
  type InboundCallback,
  type ReadCallback,
} from './callback-event';
import { CryptoError, aesKeyOf, decryptMessage, verifySignature, type AesKey } from './crypto';
import type { ExternalContactIds } from './external-contacts';
import { CALLBACK_SOURCE } from './names';
import { JsonShapeError, envelopeCiphertextJson, parseJsonLossless } from './json';
import { XmlError, envelopeCiphertext, parseWecomXml, type ParsedXml } from './xml';

/**
 * GET and POST /wecom/callback (回调配置 doc 90930, 加解密方案 doc 90968).
 *
 * POST answers 200 with an empty body only after the callback is committed to the evidence
 * ledger; anything else makes WeCom retry, which is what we want when storage fails. What cannot
 * be verified (signature, decryption, corp, timestamp window, envelope size and shape) is refused
 * with a precise 4xx, a log line and a rejection metric, and writes nothing. What is verified is
 * stored, whatever it contains (DECISIONS 1): see callback-event.ts.
 */

export interface CallbackSettings {
  corpId: string;
  token: string;
  encodingAesKey: string;
  previousEncodingAesKey?: string | undefined;
  /** Our app's AgentID: messages for any other agent are stored flagged, never handled as ours. */
  agentId: string;
  maxSkewSeconds: number;
  bodyLimitBytes: number;
  /** A callback not committed this long after it arrived is answered 503, so WeCom retries (default 2000 ms; CALLBACK_STORE_TIMEOUT_MS). */
  storeTimeoutMs?: number | undefined;
}

export interface CallbackDeps {
  settings: CallbackSettings;
  ledger: Pick<Ledger, 'append'>;
  /** Opaque ids for the external contacts that customer-contact events name (DECISIONS 4). */
  externalContacts: ExternalContactIds;
  metrics: Metrics;
  now?: () => number;
}

type Reason =
  | 'missing_param'
  | 'duplicate_param'
  | 'bad_query_encoding'
  | 'bad_timestamp'
  | 'stale_timestamp'
  | 'bad_signature'
  | 'decrypt_failed'
  | 'receiveid_mismatch'
  | 'bad_envelope'
  | 'xml_forbidden_construct'
  | 'xml_malformed'
  | 'xml_duplicate_element'
  | 'xml_unexpected_root'
  | 'xml_too_deep'
  | 'body_too_large'
  | 'unsupported_media_type'
  | 'bad_request';

const STATUS: Record<Reason, number> = {
  missing_param: 400,
  duplicate_param: 400,
  bad_query_encoding: 400,
  bad_timestamp: 400,
  stale_timestamp: 403,
  bad_signature: 403,
  decrypt_failed: 400,
  receiveid_mismatch: 403,
  bad_envelope: 400,
  xml_forbidden_construct: 400,
  xml_malformed: 400,
  xml_duplicate_element: 400,
  xml_unexpected_root: 400,
  xml_too_deep: 400,
  body_too_large: 413,
  unsupported_media_type: 415,
  bad_request: 400,
};

/**
 * What a refused caller is told: one fixed sentence per reason, never an error's own text (which
 * may carry input or internals). The detail goes to the log.
 */
const MESSAGE: Record<Reason, string> = {
  missing_param: '缺少必需的查询参数 / a required query parameter is missing',
  duplicate_param: '查询参数重复 / a query parameter appears more than once',
  bad_query_encoding: '查询参数编码无效 / a query parameter is not valid percent-encoding',
  bad_timestamp: 'timestamp 不是 Unix 秒 / timestamp must be Unix seconds',
  stale_timestamp: 'timestamp 超出允许的时间窗口 / timestamp is outside the accepted window',
  bad_signature: 'msg_signature 校验失败 / msg_signature does not match',
  decrypt_failed: '密文无法解密 / the ciphertext could not be decrypted',
  receiveid_mismatch: 'receiveid 与本企业 CorpID 不符 / receiveid is not this corp',
  bad_envelope: '回调信封格式无效 / the callback envelope is not valid',
  xml_forbidden_construct:
    'XML 含有不允许的结构（DOCTYPE、实体、处理指令）/ XML with DOCTYPE, entities or processing instructions is refused',
  xml_malformed: 'XML 格式错误 / the XML is not well-formed',
  xml_duplicate_element: 'XML 元素重复 / an XML element appears more than once',
  xml_unexpected_root: 'XML 根元素必须是 <xml> / the XML root element must be <xml>',
  xml_too_deep: 'XML 嵌套过深 / the XML is nested too deeply',
  body_too_large: '请求体过大 / the body is too large',
  unsupported_media_type: '不支持的 Content-Type / this Content-Type is not accepted',
  bad_request: '请求无效 / bad request',
};

export class CallbackRejected extends Error {
  constructor(
    readonly reason: Reason,
    message: string,
  ) {
    super(message);
    this.name = 'CallbackRejected';
  }
}

/** WeCom's external_userid is about 32 characters; anything far longer is not one. */
const MAX_EXTERNAL_USERID = 128;

/** For finding the ciphertext only: the signature covers that, and it is ASCII. Raw keeps the bytes. */
const lenientUtf8 = new TextDecoder('utf-8', { ignoreBOM: true });
const ACCEPTED_TYPES = /^\s*(?:text\/xml|application\/xml|application\/json|text\/plain)\s*(?:;|$)/i;

export async function callbackRoutes(app: FastifyInstance, deps: CallbackDeps): Promise<void> {
  const { settings, ledger, metrics } = deps;
  const now = deps.now ?? Date.now;
  const storeTimeoutMs = settings.storeTimeoutMs ?? 2000;
  const keys: AesKey[] = [aesKeyOf(settings.encodingAesKey)];
  if (settings.previousEncodingAesKey) keys.push(aesKeyOf(settings.previousEncodingAesKey));

  // The body is kept as the exact bytes received (a BOM too): it is evidence. WeCom sends
  // text/xml; a missing Content-Type is read as XML too (losing a real callback to a header quirk
  // would be worse), while any other declared type is refused before parsing.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: settings.bodyLimitBytes }, (req, body, done) => {
    const declared = req.headers['content-type'];
    if (declared !== undefined && !ACCEPTED_TYPES.test(declared)) {
      done(new CallbackRejected('unsupported_media_type', `Content-Type ${declared.slice(0, 80)} is not accepted`), undefined);
      return;
    }
    done(null, body);
  });

  app.setErrorHandler((err: FastifyError | CallbackRejected, req, reply) => {
    const reason = reasonOf(err);
    if (!reason) {
      // A full disk, a dead or slow database: counted by reason and logged with what to do (RELIABILITY F2, F14, F15).
      const failure = storageFailureOf(err);
      metrics.callbackStorageFailures.inc({ reason: failure.reason });
      req.log.error({ err, storage: failure.reason, hint: failure.hint }, 'wecom callback failed');
      return reply.code(503).send({
        error: 'storage_unavailable',
        message: '暂时无法保存回调，请稍后重试 / the callback could not be stored now, retry later',
      });
    }
    metrics.callbackRejections.inc({ reason });
    req.log.warn({ reason, detail: err.message, ip: req.ip }, 'wecom callback rejected');
    return reply.code(STATUS[reason]).send({ error: reason, message: MESSAGE[reason] });
  });

  app.get('/wecom/callback', async (req, reply) => {
    const q = parseQuery(req, ['msg_signature', 'timestamp', 'nonce', 'echostr']);
    checkTimestamp(q.timestamp, settings.maxSkewSeconds, now());
    if (!verifySignature(settings.token, q.timestamp, q.nonce, q.echostr, q.msg_signature)) {
      throw new CallbackRejected('bad_signature', 'msg_signature does not match');
    }
    const { message } = open(keys, q.echostr, settings.corpId);
    req.log.info('wecom callback URL verified');
    // Exactly the decrypted bytes: no quotes, no newline, nothing added (WeCom compares byte for byte).
    return reply.type('text/plain; charset=utf-8').send(message);
  });

  app.post('/wecom/callback', async (req, reply) => {
    const started = performance.now();
    const q = parseQuery(req, ['msg_signature', 'timestamp', 'nonce']);
    checkTimestamp(q.timestamp, settings.maxSkewSeconds, now());
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const encrypt = verifiedCiphertext(body, settings.token, q);
    const { message } = open(keys, encrypt, settings.corpId);
    // Verified: from here on the callback is stored, whatever it holds (DECISIONS 1).
    const inbound: InboundCallback = {
      corpId: settings.corpId,
      agentId: settings.agentId,
      plaintext: message,
      raw: { method: 'POST', query: rawQuery(req), contentType: String(req.headers['content-type'] ?? ''), body },
      receivedAtMs: now(),
    };
    let read: ReadCallback | undefined;
    try {
      read = readCallback(inbound);
    } catch (err) {
      req.log.error({ err }, 'wecom callback could not be read');
    }
    // Resolving an external contact's opaque id is the one lookup before the append; when the
    // database cannot answer, the append could not either, and the 503 makes WeCom retry. An id
    // that cannot be a WeCom id (too long, refused as data) gets none: the callback is then
    // stored unparsed rather than refused (DECISIONS 1).
    const external = read && externalUserIdOf(read);
    let contactIds = new Map<string, string>();
    if (external && external.length <= MAX_EXTERNAL_USERID) {
      try {
        contactIds = await deps.externalContacts.idsFor(settings.corpId, [external]);
      } catch (err) {
        if (!unstorable(err)) throw err;
        req.log.error({ err }, 'external contact id refused by the database');
      }
    }
    let classified: ClassifiedCallback;
    try {
      if (!read) throw new Error('the message could not be read');
      classified = classifyRead(read, contactIds);
    } catch (err) {
      req.log.error({ err }, 'wecom callback could not be classified; stored unparsed');
      classified = unparsedCallback(inbound, 'the message could not be classified');
    }
    let result;
    try {
      result = await withDeadline(ledger.append(classified.entry), storeTimeoutMs - (performance.now() - started), 'storing');
    } catch (err) {
      if (!unstorable(err)) throw err;
      req.log.error({ err, type: classified.type }, 'wecom callback record refused; stored unparsed instead');
      classified = unparsedCallback(inbound, 'the record derived from the message could not be stored');
      result = await withDeadline(ledger.append(classified.entry), storeTimeoutMs - (performance.now() - started), 'storing');
    }
    const type = metricType(classified);
    const outcome = result.status === 'appended' ? 'stored' : 'duplicate';
    metrics.callbacksAccepted.inc({ outcome, type });
    if (result.status === 'appended' && result.variantOf) metrics.callbackVariants.inc({ type });
    metrics.callbackDuration.observe((performance.now() - started) / 1000);
    const payload = classified.entry.payload as Record<string, unknown>;
    const degraded = {
      ...(payload['fields_error'] !== undefined ? { fieldsError: payload['fields_error'] } : {}),
      ...(payload['anomalies'] !== undefined ? { anomalies: payload['anomalies'] } : {}),
      ...(!classified.ours ? { agent: payload['agent'] } : {}),
    };
    const fields = {
      seq: result.seq,
      outcome,
      type: classified.type,
      source: CALLBACK_SOURCE,
      ...(result.status === 'appended' && result.variantOf ? { variantOf: result.variantOf.seq } : {}),
      ...degraded,
    };
    if (Object.keys(degraded).length > 0) req.log.warn(fields, 'wecom callback stored with reservations');
    else req.log.info(fields, 'wecom callback stored');
    return reply.code(200).send('');
  });
}

/** The `type` label: bounded, whatever the message claims to be. */
function metricType(c: ClassifiedCallback): string {
  if (!c.ours) return 'other_agent';
  if (c.known || c.type === 'unparsed') return c.type;
  return 'unknown';
}

/** The ledger refused the entry's content (not the database being down): worth one more try, unparsed. */
function unstorable(err: unknown): boolean {
  if (err instanceof EvidenceInputError) return true;
  const code = (err as { code?: unknown } | null)?.code;
  // SQLSTATE class 22: data exception (a value PostgreSQL cannot hold).
  return typeof code === 'string' && code.startsWith('22');
}

function reasonOf(err: FastifyError | CallbackRejected): Reason | undefined {
  if (err instanceof CallbackRejected) return err.reason;
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return 'body_too_large';
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return err.statusCode === 415 ? 'unsupported_media_type' : 'bad_request';
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_TYPE':
      return 'bad_request';
  }
  const status = err.statusCode;
  return status !== undefined && status >= 400 && status < 500 ? 'bad_request' : undefined;
}

function rawQuery(req: FastifyRequest): string {
  const url = req.raw.url ?? '';
  const i = url.indexOf('?');
  return i === -1 ? '' : url.slice(i + 1);
}

/**
 * Our own query parsing: each parameter exactly once, percent-decoded exactly once, and '+' kept
 * as '+' (echostr is base64; form-style '+'→' ' decoding would break the signature).
 */
function parseQuery<K extends string>(req: FastifyRequest, names: readonly K[]): Record<K, string> {
  const found = new Map<string, string>();
  for (const part of rawQuery(req).split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const name = eq === -1 ? part : part.slice(0, eq);
    if (!(names as readonly string[]).includes(name)) continue;
    if (found.has(name)) throw new CallbackRejected('duplicate_param', `query parameter ${name} appears more than once`);
    let value: string;
    try {
      value = decodeURIComponent(eq === -1 ? '' : part.slice(eq + 1));
    } catch {
      throw new CallbackRejected('bad_query_encoding', `query parameter ${name} is not valid percent-encoding`);
    }
    found.set(name, value);
  }
  const out = {} as Record<K, string>;
  for (const name of names) {
    const value = found.get(name);
    if (!value) throw new CallbackRejected('missing_param', `query parameter ${name} is required`);
    if (value.length > 4096) throw new CallbackRejected('bad_request', `query parameter ${name} is too long`);
    out[name] = value;
  }
  return out;
}

function checkTimestamp(timestamp: string, maxSkewSeconds: number, nowMs: number): void {
  if (!/^\d{1,12}$/.test(timestamp)) throw new CallbackRejected('bad_timestamp', 'timestamp must be Unix seconds');
  if (maxSkewSeconds === 0) return;
  const skew = Math.abs(nowMs / 1000 - Number(timestamp));
  if (skew > maxSkewSeconds) {
    throw new CallbackRejected(
      'stale_timestamp',
      `timestamp is ${Math.round(skew)}s away from server time (limit ${maxSkewSeconds}s)`,
    );
  }
}

/** All an envelope may carry: the signed ciphertext, and WeCom's two unsigned labels beside it. */
const ENVELOPE_FIELDS = ['ToUserName', 'Encrypt', 'AgentID'] as const;
type EnvelopeField = (typeof ENVELOPE_FIELDS)[number];

/**
 * The ciphertext, with its signature checked before anything is parsed (RELIABILITY B5–B8, issue 8):
 * a bounded forward scan (envelopeCiphertext, envelopeCiphertextJson) finds what the envelope
 * appears to carry, msg_signature is checked against it, and only a request that passes is parsed
 * in full (encryptOf), which refuses everything it refused before, with the same precise reason.
 * So an unsigned body costs one linear scan and one SHA-1 signature check whatever it holds (deep
 * nesting, thousands of elements, a DOCTYPE): it is refused as bad_signature, since nothing in it
 * is signed. WeCom never sends a hostile envelope, so for what WeCom signs the order changes only
 * the CPU an attacker can make us spend, not any answer. An empty body is still refused first (bad_envelope).
 */
function verifiedCiphertext(bytes: Buffer, token: string, q: Record<'msg_signature' | 'timestamp' | 'nonce', string>): string {
  if (bytes.length === 0) throw new CallbackRejected('bad_envelope', 'body is empty');
  const body = envelopeText(bytes);
  const candidate = isJsonEnvelope(body) ? envelopeCiphertextJson(body) : envelopeCiphertext(body);
  // Checked even when the scan found nothing, so that such a body costs what any other does.
  if (!verifySignature(token, q.timestamp, q.nonce, candidate ?? '', q.msg_signature) || candidate === undefined) {
    throw new CallbackRejected(
      'bad_signature',
      candidate === undefined ? 'msg_signature does not match (no ciphertext found in the body)' : 'msg_signature does not match',
    );
  }
  const encrypt = encryptOf(body);
  // The scan finds exactly what the parse reads in any envelope the parse accepts; never trust that blindly.
  if (encrypt !== candidate && !verifySignature(token, q.timestamp, q.nonce, encrypt, q.msg_signature)) {
    throw new CallbackRejected('bad_signature', 'msg_signature does not match the parsed ciphertext');
  }
  return encrypt;
}

function envelopeText(bytes: Buffer): string {
  const body = lenientUtf8.decode(bytes);
  return body.startsWith('\uFEFF') ? body.slice(1) : body;
}

function isJsonEnvelope(body: string): boolean {
  return body.trimStart().startsWith('{');
}

/**
 * The ciphertext from the XML envelope (`<ToUserName>`, `<Encrypt>`, `<AgentID>`) or the JSON
 * envelope (the same three names in any letter case: `tousername`, `encrypt`, `agentid`). Only the
 * ciphertext is signed, and raw keeps the whole body, so an envelope carrying anything else (an
 * element or key besides those, one of them twice or nested, attributes, comments, text beside the
 * elements) is refused: nothing unsigned may be stored beside the signed message where a reader
 * could take it for part of it. The body is read leniently (bytes that are not UTF-8 become U+FFFD
 * here); the signature then decides, and raw keeps the bytes.
 */
function encryptOf(body: string): string {
  if (isJsonEnvelope(body)) {
    let env: unknown;
    try {
      env = parseJsonLossless(body, { maxDepth: 8, rejectDuplicateKeys: true });
    } catch (err) {
      throw new CallbackRejected(
        'bad_envelope',
        err instanceof JsonShapeError ? `JSON envelope: ${err.message}` : 'body is not valid JSON',
      );
    }
    if (typeof env !== 'object' || env === null || Array.isArray(env))
      throw new CallbackRejected('bad_envelope', 'JSON envelope must be an object');
    const name = (key: string) => ENVELOPE_FIELDS.find((f) => f.toLowerCase() === key.toLowerCase());
    return onlyCiphertext(env as Record<string, unknown>, name, 'JSON envelope');
  }
  let parsed: ParsedXml;
  try {
    parsed = parseWecomXml(body);
  } catch (err) {
    if (err instanceof XmlError) throw new CallbackRejected(err.code, err.message);
    throw err;
  }
  if (parsed.lost.length > 0) throw new CallbackRejected('bad_envelope', `XML envelope carries ${parsed.lost.join('; ')}`);
  return onlyCiphertext(parsed.root, (key) => ENVELOPE_FIELDS.find((f) => f === key), 'XML envelope');
}

function onlyCiphertext(env: Record<string, unknown>, nameOf: (key: string) => EnvelopeField | undefined, what: string): string {
  const seen = new Set<EnvelopeField>();
  let ciphertext: unknown;
  for (const [key, value] of Object.entries(env)) {
    const name = nameOf(key);
    // The detail goes to the log only; still, never the caller's own key.
    if (name === undefined)
      throw new CallbackRejected('bad_envelope', `${what} carries something besides ToUserName, Encrypt and AgentID`);
    if (seen.has(name)) {
      throw new CallbackRejected(
        'bad_envelope',
        name === 'Encrypt' ? `${what} carries more than one ciphertext` : `${what} names ${name} more than once`,
      );
    }
    seen.add(name);
    const single = typeof value === 'string' || (typeof value === 'number' && name !== 'Encrypt');
    if (!single) throw new CallbackRejected('bad_envelope', `${what}: ${name} is not a single value`);
    if (name === 'Encrypt') ciphertext = value;
  }
  if (typeof ciphertext !== 'string' || !ciphertext) throw new CallbackRejected('bad_envelope', `${what} has no ciphertext`);
  return ciphertext;
}

function open(keys: AesKey[], encrypt: string, corpId: string) {
  try {
    return decryptMessage(keys, encrypt, corpId);
  } catch (err) {
    if (err instanceof CryptoError) {
      throw new CallbackRejected(err.code === 'receiveid_mismatch' ? 'receiveid_mismatch' : 'decrypt_failed', err.message);
    }
    throw err;
  }
}
