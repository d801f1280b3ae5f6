/** Shared by the benchmarks: a scratch database, the API as its own process, signed callbacks. */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { join } from 'node:path';
import { encrypt, getSignature } from '@wecom/crypto';
import { Client } from 'pg';
import { migrate } from '../src/infra/db/migrate';

export const ADMIN_URL = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
export const KEYS = { corpId: 'wwbenchcorp0001', token: 'BenchToken', aesKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG' };

export function dbUrl(name: string): string {
  const u = new URL(ADMIN_URL);
  u.pathname = `/${name}`;
  return u.toString();
}

export function plaintext(i: number): string {
  return (
    `<xml><ToUserName><![CDATA[${KEYS.corpId}]]></ToUserName><FromUserName><![CDATA[recruiter${i % 50}]]></FromUserName>` +
    `<CreateTime>${Math.floor(Date.now() / 1000)}</CreateTime><MsgType><![CDATA[text]]></MsgType>` +
    `<Content><![CDATA[候选人${i}：我再考虑一下，薪资能否再谈？]]></Content><MsgId>${7_000_000_000_000_000_000n + BigInt(i)}</MsgId><AgentID>1000002</AgentID></xml>`
  );
}

export interface SignedRequest {
  path: string;
  body: string;
}

/** A distinct callback (MsgId from i), signed and encrypted as WeCom does, with @wecom/crypto. */
export function signed(i: number): SignedRequest {
  const ts = String(Math.floor(Date.now() / 1000));
  const nonce = randomBytes(5).toString('hex');
  const enc = encrypt(KEYS.aesKey, plaintext(i), KEYS.corpId);
  const sig = getSignature(KEYS.token, ts, nonce, enc);
  return {
    path: `/wecom/callback?msg_signature=${sig}&timestamp=${ts}&nonce=${nonce}`,
    body: `<xml><ToUserName><![CDATA[${KEYS.corpId}]]></ToUserName><Encrypt><![CDATA[${enc}]]></Encrypt><AgentID><![CDATA[1000002]]></AgentID></xml>`,
  };
}

/** POSTs one callback; resolves with its latency in ms, rejects on non-200. */
export function send(port: number, agent: http.Agent, req: SignedRequest): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const r = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: req.path,
        agent,
        headers: { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(req.body) },
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          res.statusCode === 200 ? resolve(performance.now() - started) : reject(new Error(`status ${res.statusCode}`)),
        );
      },
    );
    r.on('error', reject);
    r.end(req.body);
  });
}

export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

export interface BenchApi {
  port: number;
  db: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** A scratch database, migrated, and the API (src/main.ts) on it as its own process. */
export async function startBenchApi(extraArgs: string[] = []): Promise<BenchApi> {
  const db = `hireledger_bench_${randomBytes(3).toString('hex')}`;
  const port = 3900 + Math.floor(Math.random() * 90);
  const admin = new Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${db}`);
  if (process.env['BENCH_LOG_STATEMENTS']) await admin.query(`ALTER DATABASE ${db} SET log_min_duration_statement = 0`);
  let child: ChildProcess | undefined;
  const stop = async () => {
    child?.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 1500));
    await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    await admin.end();
  };
  try {
    await migrate(dbUrl(db));
    child = spawn(process.execPath, [...extraArgs, '--import', 'tsx', join(__dirname, '..', 'src', 'main.ts')], {
      env: {
        ...process.env,
        NODE_ENV: 'production',
        LOG_LEVEL: 'warn',
        DATABASE_URL: dbUrl(db),
        REDIS_URL,
        PORT: String(port),
        HOST: '127.0.0.1',
        WECOM_CORP_ID: KEYS.corpId,
        WECOM_AGENT_ID: '1000002',
        WECOM_SECRET: 'bench',
        WECOM_TOKEN: KEYS.token,
        WECOM_ENCODING_AES_KEY: KEYS.aesKey,
        QUEUE_PREFIX: `bench_${db}`,
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    await waitHealthy(port);
    return { port, db, child, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function waitHealthy(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      http
        .get({ host: '127.0.0.1', port, path: '/health' }, (res) => {
          res.resume();
          resolve(res.statusCode === 200);
        })
        .on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('API did not become healthy');
}
