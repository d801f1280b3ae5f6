/**
 * Shared helpers for the sandbox tests: start a sandbox on a random port, call it over real HTTP, run a
 * tiny callback receiver, and compare response/XML shapes with the WeCom samples in ./fixtures.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { createSandbox, type Sandbox, type SandboxOptions } from '../../sandbox/server';
import { SANDBOX_KEYS } from '../support/keys';

/** The sandbox's seeded corp, as in every test that runs a sandbox of its own (test/support/keys.ts). */
export const KEYS = SANDBOX_KEYS;

export type Json = Record<string, unknown>;

export function fixture(name: string): string {
  return readFileSync(path.join(__dirname, 'fixtures', name), 'utf8');
}

export function jsonFixture(name: string): Json {
  return JSON.parse(fixture(name)) as Json;
}

export async function startSandbox(overrides: Partial<SandboxOptions> = {}): Promise<Sandbox> {
  return createSandbox({ port: 0, ...KEYS, callbackRetryDelayMs: 50, ...overrides });
}

/** Minimal WeCom client over fetch (what the app does, without its retry logic). */
export class Client {
  private cached: string | undefined;

  constructor(readonly sb: Sandbox) {}

  async token(): Promise<string> {
    if (this.cached) return this.cached;
    const r = await this.raw('GET', `/cgi-bin/gettoken?corpid=${KEYS.corpId}&corpsecret=${KEYS.secret}`);
    if (r['errcode'] !== 0 || typeof r['access_token'] !== 'string') throw new Error(`gettoken failed: ${JSON.stringify(r)}`);
    this.cached = r['access_token'];
    return this.cached;
  }

  forgetToken(): void {
    this.cached = undefined;
  }

  async get(api: string, query: Record<string, string> = {}): Promise<Json> {
    const q = new URLSearchParams({ access_token: await this.token(), ...query });
    return this.raw('GET', `/cgi-bin/${api}?${q.toString()}`);
  }

  async post(api: string, body: unknown): Promise<Json> {
    return this.raw('POST', `/cgi-bin/${api}?access_token=${encodeURIComponent(await this.token())}`, body);
  }

  async raw(method: 'GET' | 'POST' | 'DELETE', pathAndQuery: string, body?: unknown): Promise<Json> {
    const res = await fetch(`${this.sb.url}${pathAndQuery}`, {
      method,
      ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } } : {}),
    });
    return (await res.json()) as Json;
  }

  /** Admin API call; returns HTTP status and JSON. */
  async admin(method: 'GET' | 'POST' | 'DELETE', p: string, body?: unknown): Promise<{ status: number; body: Json }> {
    const res = await fetch(`${this.sb.url}/sandbox/admin/${p}`, {
      method,
      ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } } : {}),
    });
    return { status: res.status, body: (await res.json()) as Json };
  }
}

// ------------------------------------------------------------------ callback receiver

export interface Received {
  attempt: number;
  url: string;
  query: URLSearchParams;
  contentType: string | undefined;
  body: string;
  atMs: number;
}

export interface Receiver {
  url: string;
  received: Received[];
  close(): Promise<void>;
}

/**
 * A node:http server standing in for the app's /wecom/callback. `behave(n)` decides, for the n-th request
 * (1-based), how long to wait before answering and with which status.
 */
export async function startReceiver(
  behave: (n: number) => { delayMs?: number; status?: number } = () => ({}),
): Promise<Receiver> {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const attempt = received.length + 1;
      const u = new URL(req.url ?? '/', 'http://x');
      received.push({
        attempt,
        url: req.url ?? '',
        query: u.searchParams,
        contentType: req.headers['content-type'],
        body: Buffer.concat(chunks).toString('utf8'),
        atMs: Date.now(),
      });
      const { delayMs = 0, status = 200 } = behave(attempt);
      setTimeout(() => {
        if (res.destroyed) return;
        res.writeHead(status).end('');
      }, delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/wecom/callback`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function envelopeEncrypt(body: string): string {
  const m = /<Encrypt><!\[CDATA\[([^\]]+)\]\]><\/Encrypt>/.exec(body);
  if (!m?.[1]) throw new Error(`no Encrypt in ${body}`);
  return m[1];
}

// ------------------------------------------------------------------ shape comparison

/**
 * Lists where `actual` lacks a field of `sample` or has it with another JSON type. Arrays compare their first
 * elements; an empty actual array where the sample has items is reported (nothing was checked).
 */
export function shapeMismatches(actual: unknown, sample: unknown, at = '$'): string[] {
  if (sample === null || sample === undefined) return [];
  if (Array.isArray(sample)) {
    if (!Array.isArray(actual)) return [`${at}: expected array, got ${typeof actual}`];
    if (sample.length === 0) return [];
    if (actual.length === 0) return [`${at}: empty array, sample has items`];
    return shapeMismatches(actual[0], sample[0], `${at}[0]`);
  }
  if (typeof sample === 'object') {
    if (typeof actual !== 'object' || actual === null || Array.isArray(actual)) return [`${at}: expected object`];
    const a = actual as Json;
    return Object.entries(sample as Json).flatMap(([k, v]) =>
      k in a ? shapeMismatches(a[k], v, `${at}.${k}`) : [`${at}.${k}: missing`],
    );
  }
  return typeof actual === typeof sample ? [] : [`${at}: expected ${typeof sample}, got ${typeof actual}`];
}

/**
 * Element structure of an XML document: every element path, and which leaf paths hold CDATA.
 * Enough to say "same elements, same CDATA usage" without an XML library.
 */
export function xmlStructure(xml: string): { paths: Set<string>; cdata: Set<string> } {
  const paths = new Set<string>();
  const cdata = new Set<string>();
  const stack: string[] = [];
  const re = /<!\[CDATA\[[\s\S]*?\]\]>|<(\/?)([A-Za-z_][\w]*)\s*>/g;
  for (let m = re.exec(xml); m; m = re.exec(xml)) {
    if (m[0].startsWith('<![CDATA[')) {
      cdata.add(stack.join('/'));
      continue;
    }
    const name = m[2] ?? '';
    if (m[1] === '/') {
      const top = stack.pop();
      if (top !== name) throw new Error(`mismatched </${name}> (open: ${String(top)})`);
    } else {
      stack.push(name);
      paths.add(stack.join('/'));
    }
  }
  if (stack.length > 0) throw new Error(`unclosed ${stack.join('/')}`);
  return { paths, cdata };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
