import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify';
import { EvidenceInputError, type Ledger } from '../evidence';
import type { Metrics } from '../observability/metrics';
import { CALLBACK_SOURCE, classifyCallback } from './callback-event';
import { CryptoError, aesKeyOf, decryptMessage, verifySignature, type AesKey } from './crypto';
import { parseJsonLossless } from './json';
import { XmlError, parseWecomXml, textOf } from './xml';

/**
 * GET and POST /wecom/callback (回调配置 doc 90930, 加解密方案 doc 90968).
 *
 * POST answers 200 with an empty body only after the callback is committed to the evidence
 * ledger; anything else makes WeCom retry, which is what we want when storage fails. Bad input
 * is refused with a precise 4xx, a log line and a rejection metric, and writes nothing.
 */

export interface CallbackSettings {
  corpId: string;
  token: string;
  encodingAesKey: string;
  previousEncodingAesKey?: string | undefined;
  maxSkewSeconds: number;
  bodyLimitBytes: number;
}

export interface CallbackDeps {
  settings: CallbackSettings;
  ledger: Pick<Ledger, 'append'>;
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
  | 'body_not_utf8'
  | 'xml_forbidden_construct'
  | 'xml_malformed'
  | 'xml_duplicate_element'
  | 'xml_unexpected_root'
  | 'body_too_large'
  | 'unsupported_media_type'
  | 'unstorable_content'
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
  body_not_utf8: 400,
  xml_forbidden_construct: 400,
  xml_malformed: 400,
  xml_duplicate_element: 400,
  xml_unexpected_root: 400,
  body_too_large: 413,
  unsupported_media_type: 415,
  unstorable_content: 400,
  bad_request: 400,
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

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const ACCEPTED_TYPES = /^\s*(?:text\/xml|application\/xml|application\/json|text\/plain)\s*(?:;|$)/i;

export async function callbackRoutes(app: FastifyInstance, deps: CallbackDeps): Promise<void> {
  const { settings, ledger, metrics } = deps;
  const now = deps.now ?? Date.now;
  const keys: AesKey[] = [aesKeyOf(settings.encodingAesKey)];
  if (settings.previousEncodingAesKey) keys.push(aesKeyOf(settings.previousEncodingAesKey));

  // The body is kept as the exact received text: it is evidence, and the signature covers it.
  // WeCom sends text/xml; a missing Content-Type is read as XML too (losing a real callback to a
  // header quirk would be worse), while any other declared type is refused before parsing.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: settings.bodyLimitBytes }, (req, body, done) => {
    const declared = req.headers['content-type'];
    if (declared !== undefined && !ACCEPTED_TYPES.test(declared)) {
      done(new CallbackRejected('unsupported_media_type', `Content-Type ${declared.slice(0, 80)} is not accepted`), undefined);
      return;
    }
    try {
      done(null, strictUtf8.decode(body as Buffer));
    } catch {
      done(new CallbackRejected('body_not_utf8', 'body is not valid UTF-8'), undefined);
    }
  });

  app.setErrorHandler((err: FastifyError | CallbackRejected, req, reply) => {
    const reason = reasonOf(err);
    if (!reason) {
      req.log.error({ err }, 'wecom callback failed');
      return reply.code(503).send({ error: 'storage_unavailable', message: '暂时无法保存回调，请稍后重试' });
    }
    metrics.callbackRejections.inc({ reason });
    req.log.warn({ reason, detail: err.message, ip: req.ip }, 'wecom callback rejected');
    return reply.code(STATUS[reason]).send({ error: reason, message: err.message });
  });

  app.get('/wecom/callback', async (req, reply) => {
    const q = parseQuery(req, ['msg_signature', 'timestamp', 'nonce', 'echostr']);
    checkTimestamp(q.timestamp, settings.maxSkewSeconds, now());
    if (!verifySignature(settings.token, q.timestamp, q.nonce, q.echostr, q.msg_signature)) {
      throw new CallbackRejected('bad_signature', 'msg_signature does not match');
    }
    const { message } = open(keys, q.echostr, settings.corpId);
    req.log.info('wecom callback URL verified');
    // Exactly the decrypted text: no quotes, no newline, no BOM (WeCom compares it byte for byte).
    return reply.type('text/plain; charset=utf-8').send(message);
  });

  app.post('/wecom/callback', async (req, reply) => {
    const started = performance.now();
    const q = parseQuery(req, ['msg_signature', 'timestamp', 'nonce']);
    checkTimestamp(q.timestamp, settings.maxSkewSeconds, now());
    const body = typeof req.body === 'string' ? req.body : '';
    const encrypt = encryptOf(body);
    if (!verifySignature(settings.token, q.timestamp, q.nonce, encrypt, q.msg_signature)) {
      throw new CallbackRejected('bad_signature', 'msg_signature does not match');
    }
    const { message } = open(keys, encrypt, settings.corpId);
    let classified;
    try {
      classified = classifyCallback({
        corpId: settings.corpId,
        plaintext: message,
        raw: { method: 'POST', query: rawQuery(req), contentType: String(req.headers['content-type'] ?? ''), body },
      });
    } catch (err) {
      if (err instanceof XmlError) throw new CallbackRejected(err.code, `decrypted message: ${err.message}`);
      throw err;
    }
    const result = await ledger.append(classified.entry);
    const outcome = result.status === 'appended' ? 'stored' : 'duplicate';
    metrics.callbacksAccepted.inc({ outcome, type: classified.known ? classified.type : 'unknown' });
    metrics.callbackDuration.observe((performance.now() - started) / 1000);
    req.log.info({ seq: result.seq, outcome, type: classified.type, source: CALLBACK_SOURCE }, 'wecom callback stored');
    return reply.code(200).send('');
  });
}

function reasonOf(err: FastifyError | CallbackRejected): Reason | undefined {
  if (err instanceof CallbackRejected) return err.reason;
  if (err instanceof EvidenceInputError) return 'unstorable_content';
  switch ((err as FastifyError).code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return 'body_too_large';
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return (err as FastifyError).statusCode === 415 ? 'unsupported_media_type' : 'bad_request';
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_TYPE':
      return 'bad_request';
  }
  const status = (err as FastifyError).statusCode;
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

/** The ciphertext from the XML envelope or the JSON envelope (`encrypt` or `Encrypt`). */
function encryptOf(body: string): string {
  if (body.length === 0) throw new CallbackRejected('bad_envelope', 'body is empty');
  if (body.trimStart().startsWith('{')) {
    let env: unknown;
    try {
      env = parseJsonLossless(body);
    } catch {
      throw new CallbackRejected('bad_envelope', 'body is not valid JSON');
    }
    const record = (typeof env === 'object' && env !== null ? env : {}) as Record<string, unknown>;
    const value = record['encrypt'] ?? record['Encrypt'];
    if (typeof value !== 'string' || !value) throw new CallbackRejected('bad_envelope', 'JSON envelope has no encrypt field');
    return value;
  }
  try {
    const value = textOf(parseWecomXml(body), 'Encrypt');
    if (!value) throw new CallbackRejected('bad_envelope', 'XML envelope has no <Encrypt>');
    return value;
  } catch (err) {
    if (err instanceof XmlError) throw new CallbackRejected(err.code, err.message);
    throw err;
  }
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
