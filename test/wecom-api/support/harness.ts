/**
 * Shared set-up for the WeCom API client tests: a sandbox over real HTTP, a real Redis connection with a
 * key prefix unique to the test file (removed afterwards), a logger that keeps every line so tests can
 * check that no token or secret was logged, and a fake clock + sleep that never waits for real.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { createSandbox, type Sandbox, type SandboxOptions } from '../../../sandbox/server';
import type { AppendResult, EvidenceEntry } from '../../../src/evidence';
import { newExternalContactId, type ExternalContactIds } from '../../../src/wecom/external-contacts';
import {
  createWecomClient,
  type OutboundLedger,
  type WecomClient,
  type WecomClientDeps,
  type WecomLogger,
} from '../../../src/wecom/api';
import { REDIS_URL } from '../../support/env';
import { KEYS } from './constants';

export { KEYS };

export const KF_OPEN_KFID = 'wkHireLedger01';
export const OFFER_TEMPLATE_ID = '3TkZHireLedgerOfferTemplate01';

export function startSandbox(overrides: Partial<SandboxOptions> = {}): Promise<Sandbox> {
  return createSandbox({ port: 0, ...KEYS, callbackRetries: 1, callbackRetryDelayMs: 10, ...overrides });
}

export function uniquePrefix(name: string): string {
  return `test:wecom-api:${name}:${process.pid}:${randomBytes(4).toString('hex')}:`;
}

export function connectRedis(): Redis {
  const r = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, enableOfflineQueue: true });
  r.on('error', () => undefined);
  return r;
}

/**
 * Redis that is never there (port 1), failing fast as the production "producer" connection does. It gives
 * up reconnecting after the first refusal, so the client sees command errors first, then a closed
 * connection. Close it with closeDeadRedis: ioredis's disconnect() on an already-closed socket arms a
 * 2-second timer that nothing clears, which keeps jest alive.
 */
export function deadRedis(): Redis {
  const r = new Redis('redis://127.0.0.1:1', {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  r.on('error', () => undefined);
  return r;
}

export function closeDeadRedis(r: Redis): void {
  if (r.status !== 'end') r.disconnect();
}

export async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
}

export interface LogLine {
  level: string;
  obj: Record<string, unknown>;
  msg: string | undefined;
}

export function memoryLogger(lines: LogLine[] = [], bindings: Record<string, unknown> = {}): WecomLogger & { lines: LogLine[] } {
  const at =
    (level: string) =>
    (obj: Record<string, unknown>, msg?: string): void => {
      lines.push({ level, obj: { ...bindings, ...obj }, msg });
    };
  return {
    lines,
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    debug: at('debug'),
    child: (b) => memoryLogger(lines, { ...bindings, ...b }),
  };
}

/** A clock tests move by hand; `sleep` advances it instead of waiting, and records every pause. */
export class FakeTime {
  readonly sleeps: number[] = [];
  constructor(public ms = Date.UTC(2026, 10, 22, 2, 0, 0)) {}
  now = (): number => this.ms;
  sleep = async (ms: number): Promise<void> => {
    this.sleeps.push(ms);
    this.ms += ms;
    await new Promise((r) => setImmediate(r));
  };
  advance(ms: number): void {
    this.ms += ms;
  }
}

/**
 * An in-memory stand-in for the ledger's append, for tests about something else than the evidence (which run
 * against PostgreSQL in evidence.test.ts and outbound-crash.test.ts): an equal (source, sourceRef) is a duplicate,
 * as in the real ledger. The hash is a placeholder.
 */
export function memoryLedger(): OutboundLedger & { entries: EvidenceEntry[] } {
  const entries: EvidenceEntry[] = [];
  const known = new Map<string, number>();
  return {
    entries,
    append(e): Promise<AppendResult> {
      const key = `${e.source}\u0000${e.sourceRef}`;
      const prior = known.get(key);
      const hash = (seq: number) => seq.toString(16).padStart(64, '0');
      if (prior !== undefined) return Promise.resolve({ status: 'duplicate', seq: prior, hash: hash(prior) });
      entries.push(e);
      known.set(key, entries.length);
      return Promise.resolve({ status: 'appended', seq: entries.length, hash: hash(entries.length), recordedAt: new Date() });
    },
  };
}

/** An in-memory stand-in for the opaque ids of external contacts (the real one is a table, external-contacts.ts). */
export function memoryContacts(): ExternalContactIds & { ids: Map<string, string> } {
  const ids = new Map<string, string>();
  return {
    ids,
    idsFor(corpId, externalUserIds) {
      const out = new Map<string, string>();
      for (const e of externalUserIds) {
        const key = `${corpId}\u0000${e}`;
        const id = ids.get(key) ?? newExternalContactId();
        ids.set(key, id);
        out.set(e, id);
      }
      return Promise.resolve(out);
    },
  };
}

/** A client for the sandbox (or a stub); an in-memory ledger and contact ids unless `over` gives them. */
export function makeClient(
  sb: Sandbox | { url: string },
  redis: Redis,
  prefix: string,
  over: Partial<WecomClientDeps> = {},
): WecomClient {
  return createWecomClient({
    apiBase: sb.url,
    corpId: KEYS.corpId,
    secret: KEYS.secret,
    agentId: KEYS.agentId,
    redis,
    logger: memoryLogger(),
    ...over,
    ledger: over.ledger ?? memoryLedger(),
    externalContacts: over.externalContacts ?? memoryContacts(),
    options: { keyPrefix: prefix, ...over.options },
  });
}

export async function admin(
  sb: Sandbox,
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  body?: unknown,
): Promise<Record<string, unknown>> {
  const res = await fetch(`${sb.url}/sandbox/admin/${path}`, {
    method,
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  const json = (await res.json()) as Record<string, unknown>;
  if (!res.ok) throw new Error(`sandbox admin ${path}: ${JSON.stringify(json)}`);
  return json;
}

/** Inject `count` errcode answers on a /cgi-bin path through the sandbox admin API. */
export function fault(sb: Sandbox, path: string, errcode: number, count = 1): Promise<Record<string, unknown>> {
  return admin(sb, 'POST', 'faults', { path, errcode, count });
}

export interface Stub {
  url: string;
  requests: { method: string; url: string; body: string }[];
  close(): Promise<void>;
}

/**
 * A tiny node:http server for what the sandbox cannot do: bare 19-digit numbers in JSON, slow answers,
 * dropped connections. `handler` returns the raw response, or 'destroy' to cut the socket.
 */
export async function startStub(
  handler: (req: StubRequest) => StubAnswer | 'destroy' | Promise<StubAnswer | 'destroy'>,
): Promise<Stub> {
  const requests: Stub['requests'] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const u = new URL(req.url ?? '/', 'http://stub');
      requests.push({ method: req.method ?? 'GET', url: req.url ?? '/', body });
      void Promise.resolve(handler({ method: req.method ?? 'GET', path: u.pathname, query: u.searchParams, body })).then(
        (out) => {
          if (out === 'destroy') {
            req.socket.destroy();
            return;
          }
          const send = (): void => {
            res.writeHead(out.status ?? 200, { 'content-type': 'application/json; charset=UTF-8', ...out.headers });
            res.end(out.body);
          };
          if (out.delayMs) setTimeout(send, out.delayMs);
          else send();
        },
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface StubRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  body: string;
}

export interface StubAnswer {
  status?: number;
  headers?: Record<string, string>;
  body: string | Buffer;
  delayMs?: number;
}

/** Passes one request a stub received on to `target` (the sandbox) and returns its answer, for a proxy stub. */
export async function forwardTo(target: string, req: StubRequest): Promise<StubAnswer> {
  const res = await fetch(`${target}${req.path}?${req.query.toString()}`, {
    method: req.method,
    ...(req.method === 'POST' ? { body: req.body, headers: { 'content-type': 'application/json' } } : {}),
  });
  const body = Buffer.from(await res.arrayBuffer());
  const headers: Record<string, string> = {};
  res.headers.forEach((v, k) => {
    if (k === 'content-type' || k === 'content-disposition') headers[k] = v;
  });
  return { status: res.status, headers, body };
}

/** A proxy in front of the sandbox that holds gettoken answers for `delayMs`, so concurrent refreshes really overlap. */
export async function slowGettokenProxy(target: string, delayMs: number): Promise<Stub> {
  return startStub(async (req) => ({
    ...(await forwardTo(target, req)),
    ...(req.path === '/cgi-bin/gettoken' ? { delayMs } : {}),
  }));
}
