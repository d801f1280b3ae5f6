import axios, { AxiosError, type AxiosInstance, type AxiosResponse } from 'axios';
import { parseJsonLossless } from '../json';
import { RESPONSE_TOO_LARGE, WecomApiError, WecomConfigError, WecomNetworkError, WecomRateLimitedError } from './errors';
import type { AppRateLimiter } from './ratelimit';
import type { WecomLogger } from './types';

/**
 * One WeCom API call with everything WeCom's conventions need (doc 90664, doc 90313):
 * - `access_token` in the query, fetched from the shared cache;
 * - bodies parsed with parseJsonLossless (19-digit ids stay strings), never JSON.parse;
 * - failure = `errcode` present and non-zero (some successes have no errcode);
 * - 40014/42001 (and 40001 on a business API: WxJava treats it the same) → drop that token, refresh once,
 *   retry once;
 * - -1 and network failures → bounded exponential back-off with jitter. A failure after the request may
 *   have reached WeCom (timeout, reset, 5xx) is retried only for idempotent calls: a second applyevent
 *   would file a second approval, a second message/send without duplicate check a second reminder;
 * - 45009 → a longer bounded back-off, then WecomRateLimitedError; never for gettoken (looping on
 *   gettoken extends the block);
 * - gettoken 40013/40001/40091 → WecomConfigError, never retried.
 * The access_token and the secret live only in the axios query params: nothing thrown or logged here
 * contains them.
 */

export interface ApiCall {
  method: 'GET' | 'POST';
  /** Path under /cgi-bin/, e.g. `message/send`. */
  path: string;
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  /** Safe to send again when the first attempt may have been processed. */
  idempotent: boolean;
  /**
   * false for gettoken and the group robot webhook (its key in the query is the credential): no token is
   * fetched or sent, and 45009 is not retried. Default true.
   */
  auth?: boolean;
  /**
   * Largest answer accepted, in bytes (decompressed); a larger one is cut off while it arrives and
   * thrown as WecomNetworkError `RESPONSE_TOO_LARGE`, never retried. Default MAX_ANSWER_BYTES.
   */
  maxBytes?: number;
}

/** Largest answer of any call unless the call says otherwise: a hostile or broken answer cannot fill the heap. */
export const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

export type RawResult =
  { kind: 'json'; body: Record<string, unknown> } | { kind: 'binary'; data: Buffer; headers: Record<string, string> };

export interface TokenSource {
  get(reject?: string): Promise<string>;
  invalidate(token: string): Promise<void>;
}

export interface HttpOptions {
  apiBase: string;
  timeoutMs: number;
  busyRetries: number;
  busyBackoffMs: number;
  freqRetries: number;
  freqBackoffMs: number;
  logger: WecomLogger;
  sleep: (ms: number) => Promise<void>;
  limiter: AppRateLimiter | undefined;
}

const TOKEN_ERRORS = new Set([40014, 42001, 40001]);
const CONFIG_ERRORS = new Set([40013, 40001, 40091]);
/** The request never left: safe to retry whatever the call. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);

export class WecomHttp {
  private readonly axios: AxiosInstance;
  private tokens: TokenSource | undefined;

  constructor(private readonly o: HttpOptions) {
    const base = o.apiBase.replace(/\/+$/, '').replace(/\/cgi-bin$/, '');
    this.axios = axios.create({
      baseURL: `${base}/cgi-bin/`,
      timeout: o.timeoutMs,
      // WeCom answers API errors with HTTP 200; anything else is judged below, not thrown by axios.
      validateStatus: () => true,
      maxRedirects: 0,
      transformResponse: [(data: unknown) => (typeof data === 'string' ? parseLenient(data) : data)],
    });
  }

  /** Set once the token cache exists (it itself uses this class for gettoken). */
  useTokens(tokens: TokenSource): void {
    this.tokens = tokens;
  }

  /** A JSON API; resolves with the body when errcode is absent or 0. */
  async json<T>(call: ApiCall): Promise<T> {
    const res = await this.execute(call, false);
    if (res.kind !== 'json') throw new WecomNetworkError(call.path, 'UNEXPECTED_BINARY', false, 'expected a JSON body');
    return res.body as T;
  }

  /** An API that answers with a file, or with a JSON error body (told apart by Content-Type). */
  async raw(call: ApiCall): Promise<RawResult> {
    return this.execute(call, true);
  }

  private async execute(call: ApiCall, binary: boolean): Promise<RawResult> {
    const auth = call.auth ?? true;
    const log = this.o.logger;
    let busy = 0;
    let freq = 0;
    let tokenRetried = false;
    let badToken: string | undefined;
    for (;;) {
      let token: string | undefined;
      if (auth) {
        if (!this.tokens) throw new Error('WecomHttp: token source not set');
        token = await this.tokens.get(badToken);
      }
      if (this.o.limiter) await this.o.limiter.acquire();

      let result: RawResult;
      try {
        result = await this.send(call, token, binary);
      } catch (err) {
        const net = toNetworkError(call.path, err);
        // Too large again next time: not retried here; the caller decides (a smaller page, a refusal).
        if (net.code === RESPONSE_TOO_LARGE) throw net;
        if ((!net.maybeSent || call.idempotent) && busy < this.o.busyRetries) {
          busy += 1;
          const delay = backoff(this.o.busyBackoffMs, busy);
          log.warn({ path: call.path, code: net.code, retry: busy, delayMs: delay }, 'WeCom call failed; retrying');
          await this.o.sleep(delay);
          continue;
        }
        log.error({ path: call.path, code: net.code, maybeSent: net.maybeSent }, 'WeCom call failed');
        throw net;
      }
      if (result.kind === 'binary') return result;

      const errcode = errcodeOf(result.body);
      if (errcode === 0) return result;
      const errmsg = typeof result.body['errmsg'] === 'string' ? result.body['errmsg'] : '';

      if (auth && token !== undefined && TOKEN_ERRORS.has(errcode) && !tokenRetried && this.tokens) {
        tokenRetried = true;
        badToken = token;
        log.warn({ path: call.path, errcode }, 'WeCom rejected the access_token; refreshing once');
        await this.tokens.invalidate(token);
        continue;
      }
      if (errcode === -1 && busy < this.o.busyRetries) {
        busy += 1;
        const delay = backoff(this.o.busyBackoffMs, busy);
        log.warn({ path: call.path, errcode, retry: busy, delayMs: delay }, 'WeCom system busy; retrying');
        await this.o.sleep(delay);
        continue;
      }
      if (errcode === 45009 && auth && freq < this.o.freqRetries) {
        freq += 1;
        const delay = backoff(this.o.freqBackoffMs, freq);
        log.warn({ path: call.path, errcode, retry: freq, delayMs: delay }, 'WeCom rate limit hit; backing off');
        await this.o.sleep(delay);
        continue;
      }
      const { errcode: _c, errmsg: _m, ...rest } = result.body;
      log.warn({ path: call.path, errcode }, 'WeCom returned an error');
      if (!auth && CONFIG_ERRORS.has(errcode)) throw new WecomConfigError(errcode, errmsg, call.path, rest);
      if (errcode === 45009) throw new WecomRateLimitedError(errmsg, call.path, rest);
      throw new WecomApiError(errcode, errmsg, call.path, rest);
    }
  }

  private async send(call: ApiCall, token: string | undefined, binary: boolean): Promise<RawResult> {
    const params: Record<string, string | number> = {};
    for (const [k, v] of Object.entries(call.query ?? {})) if (v !== undefined) params[k] = v;
    if (token !== undefined) params['access_token'] = token;
    const res: AxiosResponse<unknown> = await this.axios.request({
      method: call.method,
      url: call.path,
      params,
      maxContentLength: call.maxBytes ?? MAX_ANSWER_BYTES,
      ...(call.method === 'POST' ? { data: call.body ?? {} } : {}),
      ...(binary ? { responseType: 'arraybuffer' as const, transformResponse: [(d: unknown) => d] } : {}),
    });
    const headers = flatHeaders(res.headers);
    const contentType = headers['content-type'] ?? '';
    let body: unknown = res.data;
    if (binary && Buffer.isBuffer(body)) {
      // media/get: a file, unless WeCom answered with a JSON error (Content-Type tells).
      const looksJson =
        /json|text\/plain/i.test(contentType) || (contentType === '' && body.subarray(0, 12).toString().startsWith('{"errcode"'));
      if (!looksJson && res.status >= 200 && res.status < 300) return { kind: 'binary', data: body, headers };
      body = parseLenient(body.toString('utf8'));
    }
    if (isRecord(body) && 'errcode' in body) return { kind: 'json', body };
    if (res.status < 200 || res.status >= 300) {
      // Not WeCom's API error format: a proxy, a gateway, an outage.
      const maybeSent = res.status >= 500;
      throw new HttpStatusError(res.status, maybeSent);
    }
    if (isRecord(body)) return { kind: 'json', body };
    throw new HttpStatusError(res.status, false, 'the body is not a JSON object');
  }
}

class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    readonly maybeSent: boolean,
    detail = `HTTP ${status}`,
  ) {
    super(detail);
  }
}

function toNetworkError(path: string, err: unknown): WecomNetworkError {
  if (err instanceof HttpStatusError)
    return new WecomNetworkError(path, `HTTP_${err.status}`, err.maybeSent, err.message, err.status);
  if (err instanceof AxiosError) {
    if (err.code === AxiosError.ERR_BAD_RESPONSE && /maxContentLength/.test(err.message))
      return new WecomNetworkError(path, RESPONSE_TOO_LARGE, false, err.message);
    const code = err.code ?? 'ERR_NETWORK';
    // Only the code and message: the AxiosError's config holds the URL params (token, secret).
    return new WecomNetworkError(path, code, !NOT_SENT.has(code), err.message);
  }
  return new WecomNetworkError(path, 'ERR_UNKNOWN', true, err instanceof Error ? err.message : String(err));
}

/** base × 2^(n-1), scaled by a random factor in [0.5, 1) ("equal jitter"), so processes do not retry in step. */
export function backoff(baseMs: number, n: number): number {
  const exp = baseMs * 2 ** (n - 1);
  return Math.round(exp / 2 + (Math.random() * exp) / 2);
}

function errcodeOf(body: Record<string, unknown>): number {
  const c = body['errcode'];
  if (c === undefined || c === null) return 0;
  const n = typeof c === 'number' ? c : Number(c);
  return Number.isFinite(n) ? n : -1;
}

function parseLenient(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return parseJsonLossless(text);
  } catch {
    return text;
  }
}

function flatHeaders(h: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (isRecord(h)) {
    for (const [k, v] of Object.entries(h)) {
      if (typeof v === 'string') out[k.toLowerCase()] = v;
      else if (typeof v === 'number') out[k.toLowerCase()] = String(v);
      else if (Array.isArray(v)) out[k.toLowerCase()] = v.map(String).join(', ');
    }
  }
  return out;
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);
}
