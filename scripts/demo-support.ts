/**
 * The small decisions of `npm run demo` (scripts/demo.ts), kept apart so they can be unit-tested
 * (test/demo/demo-support.test.ts): which ports are free, whose server answers on ours, the per-run
 * keys, where PostgreSQL and Redis are, how approval numbers continue past the ledger's, and what to
 * print when an approver acts.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { parseEnv } from 'node:util';
import { Client } from 'pg';
import { SP_STATUS_ZH, type Approval } from '../sandbox/approvals';
import { randomNonce, signAndEncrypt } from '../sandbox/callbacks';

// ------------------------------------------------------------------ ports

/** True when nothing listens on host:port (we could bind it ourselves just now). */
export function portIsFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE' || err.code === 'EACCES') resolve(false);
      else reject(err);
    });
    server.listen({ port, host, exclusive: true }, () => {
      server.close(() => resolve(true));
    });
  });
}

/** The first free port after `from` (up to `tries` of them), to suggest in a message; undefined if none. */
export async function nextFreePort(from: number, host = '127.0.0.1', tries = 50): Promise<number | undefined> {
  for (let p = from + 1; p <= Math.min(from + tries, 65535); p += 1) {
    if (await portIsFree(p, host)) return p;
  }
  return undefined;
}

export interface PortNeed {
  /** What listens there, for the message, in Chinese and in English. */
  zh: string;
  en: string;
  /** The environment variable that moves it. */
  variable: 'PORT' | 'WECOM_SANDBOX_PORT';
  port: number;
}

/** What to say when a port the demo needs is taken: which port, for what, and which variable moves it. */
export function takenPortMessage(need: PortNeed, suggestion: number | undefined, host = '127.0.0.1'): string {
  const example = suggestion === undefined ? `${need.variable}=<另一个端口 another port>` : `${need.variable}=${suggestion}`;
  return (
    `端口 ${host}:${need.port} 已被占用，演示的${need.zh}无法在此启动（这个端口由 ${need.variable} 决定）。\n` +
    `port ${host}:${need.port} is already in use, so the demo cannot start its ${need.en} there; ` +
    `${need.variable} moves it, e.g.\n\n    ${example} npm run demo\n`
  );
}

/** Checks every port the demo will listen on; the messages for those that are taken (empty: all free). */
export async function checkDemoPorts(needs: readonly PortNeed[], host = '127.0.0.1'): Promise<string[]> {
  const problems: string[] = [];
  const ports = needs.map((n) => n.port);
  for (const need of needs) {
    if (ports.filter((p) => p === need.port).length > 1) {
      problems.push(`PORT 和 WECOM_SANDBOX_PORT 不能相同 / PORT and WECOM_SANDBOX_PORT must differ (both ${need.port})`);
      break;
    }
  }
  for (const need of needs) {
    if (!(await portIsFree(need.port, host))) {
      let suggestion = await nextFreePort(need.port, host);
      if (suggestion !== undefined && ports.includes(suggestion)) suggestion = await nextFreePort(suggestion, host);
      problems.push(takenPortMessage(need, suggestion, host));
    }
  }
  return problems;
}

/** A port from the environment: a whole number 1..65535, else an error naming the variable. */
export function parsePort(variable: string, value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 65535) {
    throw new Error(`${variable} must be a port number (1-65535), got "${value}"`);
  }
  return Number(value);
}

// ------------------------------------------------------------------ per-run keys

/** A run's id: the start time in base 36 and two random characters, 10 lowercase letters or digits. */
export function demoRunId(startMs: number, random: Buffer = randomBytes(2)): string {
  const time = startMs.toString(36).padStart(8, '0').slice(-8);
  const tail = ((random.readUInt16BE(0) % 1296) + 1296).toString(36).slice(-2);
  return `${time}${tail}`;
}

export interface DemoKeys {
  corpId: string;
  agentId: number;
  secret: string;
  token: string;
  encodingAESKey: string;
}

/** The EncodingAESKey of every demo (public; it decrypts every demo callback in every demo ledger). */
export const DEMO_ENCODING_AES_KEY = 'HireLedgerSandboxDemoEncodingAESKey20261122';

/**
 * This run's keys. The Secret and the callback Token carry the run id:
 *  - the app caches access_tokens in Redis under a key made of the corp, the agent and a fingerprint of
 *    the Secret, and each sandbox issues its own tokens, in memory; with a Secret of this run, the key is
 *    this sandbox instance's, so no run (or other demo on the same Redis) picks up another's token (40014);
 *  - only an API started with this run's Token can answer the signed URL verification (isOurApi), so a
 *    different server that happens to answer on PORT is never taken for ours.
 * The EncodingAESKey stays the published demo one.
 */
export function demoRunKeys(base: { corpId: string; agentId: number }, runId: string): DemoKeys {
  if (!/^[a-z0-9]{1,10}$/.test(runId)) throw new Error(`bad demo run id ${runId}`);
  return {
    corpId: base.corpId,
    agentId: base.agentId,
    // 43 characters like a real Secret; the Token at most 32 letters and digits, as WeCom allows.
    secret: `HireLedgerSandboxDemoSecret${runId.padStart(16, '0')}`,
    token: `HireLedgerSandboxToken${runId}`,
    encodingAESKey: DEMO_ENCODING_AES_KEY,
  };
}

/** Redis key prefix for the demo script's own WeCom client: this run's, never shared with another run. */
export function demoWecomKeyPrefix(runId: string): string {
  return `hireledger-demo:${runId}:wecom:`;
}

/**
 * WeCom's callback URL verification (GET /wecom/callback with a signed, encrypted echostr): the query
 * for `echo`. Only a server holding `keys.token` and `keys.encodingAESKey` answers `echo` back.
 */
export function urlVerificationQuery(
  keys: Pick<DemoKeys, 'token' | 'encodingAESKey' | 'corpId'>,
  echo: string,
  nowMs = Date.now(),
): URLSearchParams {
  const signed = signAndEncrypt(keys, echo, { timestamp: Math.floor(nowMs / 1000), nonce: randomNonce() });
  return new URLSearchParams({
    msg_signature: signed.msgSignature,
    timestamp: signed.timestamp,
    nonce: signed.nonce,
    echostr: signed.encrypt,
  });
}

/** Whether the server at `apiUrl` is this run's API: it answers this run's signed echo. */
export async function isOurApi(apiUrl: string, keys: DemoKeys, timeoutMs = 2000): Promise<boolean> {
  const echo = `hireledger-demo-${randomBytes(8).toString('hex')}`;
  try {
    const res = await fetch(`${apiUrl}/wecom/callback?${urlVerificationQuery(keys, echo).toString()}`, {
      signal: AbortSignal.timeout(timeoutMs),
    });
    return res.status === 200 && (await res.text()) === echo;
  } catch {
    return false;
  }
}

// ------------------------------------------------------------------ PostgreSQL and Redis

/**
 * A .env file's values, parsed as the app parses it (node:util parseEnv, as src/config/dotenv.ts does).
 * The demo takes only POSTGRES_PASSWORD, HIRELEDGER_PG_PORT and HIRELEDGER_REDIS_PORT from it (see
 * demoServices), never DATABASE_URL: that one is the least-privileged login of a real deployment, which
 * cannot create or migrate the demo database.
 */
export function readDotenv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(parseEnv(text))) if (v !== undefined) out[k] = v;
  return out;
}

export function readDotenvFile(path: string): Record<string, string> {
  return existsSync(path) ? readDotenv(readFileSync(path, 'utf8')) : {};
}

export interface DemoServices {
  databaseUrl: string;
  redisUrl: string;
  /** Where each came from, for the start-up line. */
  databaseFrom: string;
  redisFrom: string;
}

/**
 * Where the demo finds PostgreSQL and Redis: DATABASE_URL / REDIS_URL when set; otherwise the services
 * of `docker compose up -d postgres redis` when .env (or the environment) has POSTGRES_PASSWORD — the
 * image's superuser `postgres` with that password, on 127.0.0.1:${HIRELEDGER_PG_PORT:-5432}, Redis on
 * 127.0.0.1:${HIRELEDGER_REDIS_PORT:-6379}; otherwise a local PostgreSQL that lets `postgres` in
 * without a password. The environment wins over .env.
 */
export function demoServices(env: NodeJS.ProcessEnv, dotenv: Record<string, string>): DemoServices {
  const get = (name: string): string | undefined => {
    const v = env[name];
    if (v !== undefined && v !== '') return v;
    const f = dotenv[name];
    return f === undefined || f === '' ? undefined : f;
  };
  const pgPort = get('HIRELEDGER_PG_PORT') ?? '5432';
  const redisPort = get('HIRELEDGER_REDIS_PORT') ?? '6379';
  const password = get('POSTGRES_PASSWORD');
  const envDb = env['DATABASE_URL'];
  const envRedis = env['REDIS_URL'];
  const databaseUrl =
    envDb !== undefined && envDb !== ''
      ? envDb
      : `postgres://postgres${password === undefined ? '' : `:${encodeURIComponent(password)}`}@127.0.0.1:${pgPort}/hireledger_demo`;
  const databaseFrom =
    envDb !== undefined && envDb !== ''
      ? 'DATABASE_URL'
      : password === undefined
        ? 'default (local PostgreSQL, user postgres without a password)'
        : 'POSTGRES_PASSWORD (docker compose postgres)';
  return {
    databaseUrl,
    redisUrl: envRedis !== undefined && envRedis !== '' ? envRedis : `redis://127.0.0.1:${redisPort}`,
    databaseFrom,
    redisFrom: envRedis !== undefined && envRedis !== '' ? 'REDIS_URL' : 'default',
  };
}

/** A URL with its password replaced by ***, for printing. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

// ------------------------------------------------------------------ approval numbers

/**
 * The first daily sequence for the demo's sandbox: past every approval number its ledger already holds
 * for that day (streams `wecom:approval:<SpNo>`), and no lower than the time-seeded start, so a re-run
 * never files its approvals in a previous run's stream.
 */
export function spSeqStartAfter(recordedSpNos: readonly string[], timeSeeded: number, maxSeq = 9999): (day: string) => number {
  const highest = new Map<string, number>();
  for (const sp of recordedSpNos) {
    const m = /^(\d{8})(\d{4})$/.exec(sp);
    if (!m?.[1] || !m[2]) continue;
    highest.set(m[1], Math.max(highest.get(m[1]) ?? 0, Number(m[2])));
  }
  return (day) => {
    const after = (highest.get(day) ?? 0) + 1;
    // Past the top there is nothing above: wrap to the time seed (older numbers of that day may repeat).
    return after > maxSeq ? timeSeeded : Math.max(timeSeeded, after);
  };
}

// ------------------------------------------------------------------ what approvers did

export const NAMES: Record<string, string> = {
  zhangmin: '张敏',
  liqiang: '李强',
  wangfang: '王芳',
  zhaolei: '赵磊',
  sunwei: '孙伟',
  chenjing: '陈静',
  liuyang: '刘洋',
};

export const named = (userid: string): string => `${NAMES[userid] ?? userid}（${userid}）`;

/** The approvers' decisions of an approval, as `userid:status:speech` per entry, to tell what changed. */
export function approvalSnapshot(a: Approval): string[] {
  return a.nodes.flatMap((n, i) => n.entries.map((e) => `${i}:${e.userid}:${e.sp_status}:${e.speech}`));
}

function candidateOf(a: Approval): string {
  const c = a.contents.find((x) => x.control === 'Text');
  const text = c?.value['text'];
  return typeof text === 'string' ? text : '';
}

/**
 * What to print after an approver acted on an approval (undefined if no approver's decision changed):
 * who decided what on whose offer, and what comes next.
 */
export function describeApprovalChange(before: readonly string[], a: Approval): string | undefined {
  const after = approvalSnapshot(a);
  const entry = a.nodes.flatMap((n) => n.entries).find((e, i) => before[i] !== after[i] && e.sp_status !== 1);
  if (!entry) return undefined;
  const verb = entry.sp_status === 2 ? '同意' : entry.sp_status === 3 ? '驳回' : '处理';
  const speech = entry.speech === '' ? '' : `，意见：「${entry.speech}」`;
  const candidate = candidateOf(a);
  const next = a.nodes.find((n) => n.node_type !== 2 && n.sp_status === 1);
  const status = SP_STATUS_ZH[a.sp_status] ?? String(a.sp_status);
  const then =
    a.sp_status === 1 && next
      ? `下一步：${next.entries
          .filter((e) => e.sp_status === 1)
          .map((e) => named(e.userid))
          .join('、')} 审批`
      : `审批单状态：${status}`;
  const mark = entry.sp_status === 2 ? '✔' : entry.sp_status === 3 ? '✘' : '•';
  return `${mark} ${named(entry.userid)}已${verb}${candidate ? ` ${candidate} 的` : ''}${a.sp_name}（${a.sp_no}）${speech}。${then}。`;
}

/**
 * One demo per database: two demos on one database share the KF cursors, the archive cursor and the
 * queues, so one would pull the other's conversation and lose what was typed into its own console.
 * The lock is held by a connection of its own until `release` (or the process ends).
 */
export async function lockDemoDatabase(url: string): Promise<{ release: () => Promise<void> } | { busy: string }> {
  const holder = new Client({ connectionString: url });
  holder.on('error', () => undefined);
  await holder.connect();
  const { rows } = await holder.query<{ ok: boolean }>("SELECT pg_try_advisory_lock(hashtext('hireledger-demo')) AS ok");
  if (rows[0]?.ok) return { release: () => holder.end() };
  await holder.end();
  const name = new URL(url).pathname.slice(1);
  const other = new URL(url);
  other.pathname = `/${name}_2`;
  return {
    busy: `另一个演示正在使用数据库 ${name} / another demo is running on database ${name}: stop it, or give this one its own database, e.g. DATABASE_URL=${redactUrl(other.toString())}`,
  };
}
