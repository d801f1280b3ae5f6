/**
 * `npm run demo`: the whole stack against a local WeCom sandbox, for anyone without a WeCom corp.
 *
 * Starts the sandbox (in this process), migrates the database, starts the API and the worker as
 * their own processes, seeds a realistic scenario through WeCom's own channels (callbacks signed
 * and encrypted as WeCom does them, API calls through the real client) and prints where to go.
 * Environment: PORT (3000), WECOM_SANDBOX_PORT (3100), DATABASE_URL, REDIS_URL, LOG_LEVEL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Client, Pool } from 'pg';
import { createLedger, verifyLedger } from '../src/evidence';
import { migrate } from '../src/infra/db/migrate';
import { createLogger } from '../src/observability/logger';
import { createWecomClient } from '../src/wecom/api';
import { DEMO_AGENT_ID, DEMO_CORP_ID, KF_OPEN_KFID, OFFER_TEMPLATE_ID, offerContents } from '../sandbox/seed';
import { createSandbox } from '../sandbox/server';

/** The demo corp (the sandbox's seeded one) and its credentials: the sandbox and the app share them. */
const KEYS = {
  corpId: DEMO_CORP_ID,
  agentId: DEMO_AGENT_ID,
  secret: 'HireLedgerSandboxDemoSecret0000000000000000',
  token: 'HireLedgerSandboxToken',
  encodingAESKey: 'HireLedgerSandboxDemoEncodingAESKey20261122',
};

const env = (name: string, fallback: string): string => {
  const v = process.env[name];
  return v === undefined || v === '' ? fallback : v;
};

const PORT = Number(env('PORT', '3000'));
const SANDBOX_PORT = Number(env('WECOM_SANDBOX_PORT', '3100'));
const DATABASE_URL = env('DATABASE_URL', 'postgres://postgres@127.0.0.1:5432/hireledger_demo');
const REDIS_URL = env('REDIS_URL', 'redis://127.0.0.1:6379');
const LOG_LEVEL = env('LOG_LEVEL', 'warn');

/**
 * The app's environment in the demo, the API's and the worker's alike: this process's environment,
 * with the demo's database, Redis, port, corp and keys, and the sandbox as WeCom.
 */
function demoAppEnv(wecomApiBase: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    LOG_LEVEL,
    DATABASE_URL,
    REDIS_URL,
    HOST: '127.0.0.1',
    PORT: String(PORT),
    WECOM_CORP_ID: KEYS.corpId,
    WECOM_AGENT_ID: String(KEYS.agentId),
    WECOM_SECRET: KEYS.secret,
    WECOM_TOKEN: KEYS.token,
    WECOM_ENCODING_AES_KEY: KEYS.encodingAESKey,
    WECOM_API_BASE: wecomApiBase,
    QUEUE_PREFIX: 'hireledger-demo',
  };
}

/** Creates the demo database when it does not exist yet (a fresh machine). */
async function ensureDatabase(url: string): Promise<void> {
  const probe = new Client({ connectionString: url });
  try {
    await probe.connect();
    await probe.end();
    return;
  } catch (err) {
    if ((err as { code?: string }).code !== '3D000') throw err;
  }
  const target = new URL(url);
  const name = target.pathname.slice(1);
  if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`refusing to create database with name ${name}`);
  target.pathname = '/postgres';
  const admin = new Client({ connectionString: target.toString() });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  console.log(`created database ${name}`);
}

function start(name: string, script: string, childEnv: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, '..', script)], {
    env: childEnv,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  child.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`${name} exited (${signal ?? code}); stopping the demo`);
      void stop(1);
    }
  });
  return child;
}

async function waitHealthy(url: string): Promise<void> {
  for (let i = 0; i < 150; i++) {
    try {
      if ((await fetch(`${url}/health`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url}/health did not answer 200 within 30 s`);
}

let stopping = false;
const children: ChildProcess[] = [];
let closeSandbox: (() => Promise<void>) | undefined;

async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  for (const c of children) c.kill('SIGTERM');
  await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))));
  await closeSandbox?.();
  process.exit(code);
}

async function main(): Promise<void> {
  const started = Date.now();
  await ensureDatabase(DATABASE_URL);
  const applied = await migrate(DATABASE_URL);
  console.log(applied.length ? `migrated: ${applied.join(', ')}` : 'database is up to date');

  const apiUrl = `http://127.0.0.1:${PORT}`;
  const sandbox = await createSandbox({
    port: SANDBOX_PORT,
    host: '127.0.0.1',
    ...KEYS,
    callbackUrl: `${apiUrl}/wecom/callback`,
  });
  closeSandbox = () => sandbox.close();

  const appEnv = demoAppEnv(sandbox.url);
  children.push(start('api', 'src/main.ts', appEnv), start('worker', 'src/worker.ts', appEnv));
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  await waitHealthy(apiUrl);

  // The scenario, through WeCom's channels: callbacks from the sandbox, API calls via the client.
  const a = sandbox.actions;
  await a.externalContactChange({
    change_type: 'add_external_contact',
    userid: 'zhangmin',
    external_userid: 'wmCandChenChen0001',
    state: 'job-fe-2026',
  }).delivered;
  await a.kfInbound({
    open_kfid: KF_OPEN_KFID,
    external_userid: 'wmCandChenChen0001',
    content: '您好，我看到前端开发工程师的岗位，想了解一下。',
  }).delivered;
  await a.kfInbound({
    open_kfid: KF_OPEN_KFID,
    external_userid: 'wmCandChenChen0001',
    content: '谢谢，offer 我收到了，我再考虑一下。',
  }).delivered;
  await a.kfInbound({
    open_kfid: KF_OPEN_KFID,
    external_userid: 'wmCandChenChen0001',
    content: '薪资能否再谈？另一家给到了 28K。',
  }).delivered;
  await a.kfInbound({
    open_kfid: KF_OPEN_KFID,
    external_userid: 'wmCandLinXiao0002',
    content: '我已经从原公司离职了，什么时候可以入职？',
  }).delivered;
  await a.memberSendsText('zhangmin', '提醒：林晓说已经离职，正式 offer 还在审批中。').delivered;

  const logger = createLogger(LOG_LEVEL, 'demo');
  const pool = new Pool({ connectionString: DATABASE_URL, max: 2 });
  pool.on('error', () => undefined);
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  const ledger = createLedger({ pool });
  const wecom = createWecomClient({
    apiBase: sandbox.url,
    corpId: DEMO_CORP_ID,
    secret: KEYS.secret,
    agentId: DEMO_AGENT_ID,
    redis,
    logger,
    ledger,
    options: { keyPrefix: 'hireledger-demo:wecom:' },
  });
  const runTag = new Date().toISOString().replace(/\D/g, '').slice(0, 14);
  const { sp_no: spNo } = await wecom.oa.applyEvent({
    creator_userid: 'zhangmin',
    template_id: OFFER_TEMPLATE_ID,
    use_template_approver: 1,
    apply_data: { contents: offerContents('林晓', '后端开发工程师', '26000', Math.floor(Date.now() / 1000) + 14 * 86400) },
    summary_list: [
      { summary_info: [{ text: '候选人：林晓', lang: 'zh_CN' }] },
      { summary_info: [{ text: '岗位：后端开发工程师', lang: 'zh_CN' }] },
    ],
  });
  await wecom.message.send(
    { touser: 'liqiang', msgtype: 'text', text: { content: `【HireLedger】林晓的录用审批（${spNo}）待您处理。` } },
    { idempotencyKey: `demo-${runTag}-approval-reminder` },
  );
  await sandbox.idle();
  await ledger.close();
  redis.disconnect();

  await new Promise((r) => setTimeout(r, 500));
  const report = await verifyLedger(pool);
  await pool.end();

  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`
HireLedger 演示环境已就绪（${seconds} 秒）/ demo is up

  API                 ${apiUrl}            健康检查 ${apiUrl}/health · 指标 ${apiUrl}/metrics
  WeCom 回调地址       ${apiUrl}/wecom/callback
  企业微信沙箱控制台    ${sandbox.url}/sandbox/     ← 在这里点「同意/驳回」审批 ${spNo}（审批人：李强 liqiang）
  沙箱 OAuth 登录页     ${sandbox.url}/connect/oauth2/authorize?appid=${DEMO_CORP_ID}&redirect_uri=${encodeURIComponent(`${apiUrl}/h5/`)}&response_type=code&scope=snsapi_base&state=demo&agentid=${DEMO_AGENT_ID}#wechat_redirect
  H5（构建后）          ${apiUrl}/h5/   (cd wecom-h5 && npm ci && npm run build)

  证据账本 evidence:   ${report.records} 条记录 / ${report.streams} 个流, ${report.ok ? '校验通过 verified' : `校验失败 ${report.firstProblem?.detail}`}
                       DATABASE_URL=${DATABASE_URL} npm run evidence:verify

  角色: 招聘官 张敏 zhangmin · 用人经理 李强 liqiang · HRBP 王芳 wangfang · 法务 赵磊 zhaolei
  候选人: 陈晨（犹豫：「我再考虑一下」「薪资能否再谈」）· 林晓（offer 审批前已离职）

按 Ctrl+C 停止 / Ctrl+C stops everything.`);
}

main().catch(async (err: unknown) => {
  console.error(`demo failed: ${(err as Error).stack ?? String(err)}`);
  await stop(1);
});
