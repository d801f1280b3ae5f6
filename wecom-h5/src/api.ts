// Small fetch wrapper for the HireLedger API (same origin; the session cookie
// set by the WeCom OAuth callback travels with credentials: 'same-origin').

export class ApiError extends Error {
  readonly status: number;
  readonly code: string | undefined;

  constructor(message: string, status: number, code?: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

const STATUS_MESSAGES: Record<number, string> = {
  400: '请求参数有误',
  401: '登录已失效，请从企业微信重新进入',
  403: '没有权限执行此操作',
  404: '请求的内容不存在',
  409: '数据已被修改，请刷新后重试',
  413: '提交的内容过大',
  422: '提交的数据未通过校验',
  429: '操作过于频繁，请稍后再试',
  500: '服务器内部错误',
  502: '服务暂时不可用（网关错误）',
  503: '服务暂时不可用，请稍后再试',
  504: '服务响应超时，请稍后再试',
};

function statusMessage(status: number): string {
  return STATUS_MESSAGES[status] ?? (status >= 500 ? '服务器错误' : '请求失败');
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

/** Pull a human-readable message out of a JSON error body (Fastify or our own shape). */
function messageFromBody(body: unknown): { message?: string; code?: string } {
  if (!isRecord(body)) return {};
  const nested = isRecord(body.error) ? body.error : undefined;
  const message =
    (typeof body.message === 'string' && body.message) ||
    (nested && typeof nested.message === 'string' && nested.message) ||
    (typeof body.error === 'string' && body.error) ||
    undefined;
  const code =
    (typeof body.code === 'string' && body.code) || (nested && typeof nested.code === 'string' && nested.code) || undefined;
  const out: { message?: string; code?: string } = {};
  if (message) out.message = message;
  if (code) out.code = code;
  return out;
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Milliseconds before the request is aborted. Default 15000. */
  timeoutMs?: number;
}

export async function request<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const { method = 'GET', body, headers = {}, signal, timeoutMs = 15_000 } = opts;

  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const onOuterAbort = () => controller.abort();
  signal?.addEventListener('abort', onOuterAbort, { once: true });

  const init: RequestInit = {
    method,
    credentials: 'same-origin',
    headers: { Accept: 'application/json', ...headers },
    signal: controller.signal,
  };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)['Content-Type'] = 'application/json';
  }

  let res: Response;
  try {
    res = await fetch(path, init);
  } catch (err) {
    if (controller.signal.aborted && !signal?.aborted) {
      throw new ApiError('请求超时，请检查网络后重试', 0, 'TIMEOUT');
    }
    if (signal?.aborted) throw new ApiError('请求已取消', 0, 'ABORTED');
    throw new ApiError('网络连接失败，请检查网络后重试', 0, 'NETWORK');
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onOuterAbort);
  }

  const contentType = res.headers.get('content-type') ?? '';
  const isJson = contentType.includes('application/json');
  let parsed: unknown = undefined;
  if (res.status !== 204) {
    try {
      parsed = isJson ? await res.json() : await res.text();
    } catch {
      if (res.ok) throw new ApiError('服务器返回的数据格式有误', res.status, 'BAD_RESPONSE');
    }
  }

  if (!res.ok) {
    const { message, code } = messageFromBody(parsed);
    const base = statusMessage(res.status);
    // Server messages are usually English/technical; keep the Chinese summary
    // first and append the detail so support can still see it.
    const text = message ? `${base}：${message}` : `${base}（HTTP ${res.status}）`;
    throw new ApiError(text, res.status, code);
  }

  return parsed as T;
}

export const api = {
  get: <T>(path: string, opts?: Omit<RequestOptions, 'method' | 'body'>) => request<T>(path, { ...opts, method: 'GET' }),
  post: <T>(path: string, body?: unknown, opts?: Omit<RequestOptions, 'method' | 'body'>) =>
    request<T>(path, { ...opts, method: 'POST', body }),
};

/** Turn anything thrown into a Chinese message fit for the UI. */
export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  return '发生未知错误，请稍后重试';
}
