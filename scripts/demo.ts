/**
 * `npm run demo`: the whole stack against a local WeCom sandbox, for anyone without a WeCom corp.
 *
 * Checks its ports are free, builds the H5 when it is missing, starts the sandbox (in this process),
 * migrates the database, starts the API and the worker as their own processes, makes sure the API that
 * answers on PORT is the one it started, seeds a realistic scenario through WeCom's own channels
 * (callbacks signed and encrypted as WeCom does them, API calls through the real client), prints where
 * to go, and then prints what each approver does in the sandbox console.
 * Environment: PORT (3000), WECOM_SANDBOX_PORT (3100), DATABASE_URL, REDIS_URL, LOG_LEVEL; without
 * DATABASE_URL / REDIS_URL it reads POSTGRES_PASSWORD, HIRELEDGER_PG_PORT and HIRELEDGER_REDIS_PORT from
 * the environment or .env (ENV_FILE): the services of `docker compose up -d postgres redis`. The API and
 * the worker it starts never read .env. DEMO_BUILD_H5=0 skips building the H5. The small decisions are
 * in scripts/demo-support.ts (tested in test/demo/).
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { createHash } from 'node:crypto';
import { Client, Pool } from 'pg';
import { hrbpsFromAssignments, saveRoleAssignment } from '../src/approvals';
import { CANDIDATE_STREAMS, createCandidateDirectory, getPosition, savePosition } from '../src/candidates';
import {
  checkpointOrigin,
  createLedger,
  createLedgerReader,
  latestCheckpoint,
  loadSigningKey,
  verifierKeyOf,
  verifyLedger,
} from '../src/evidence';
import { writeNewSigningKey } from '../src/evidence/signing-key';
import { grantRole } from '../src/members';
import { createOffersModule, type Offers, type OfferTerms } from '../src/offers';
import { migrate } from '../src/infra/db/migrate';
import { createLogger } from '../src/observability/logger';
import { createWecomClient } from '../src/wecom/api';
import { createExternalContactIds } from '../src/wecom/external-contacts';
import { defaultSeed, DEMO_AGENT_ID, DEMO_CORP_ID, KF_OPEN_KFID, OFFER_CONTROLS, OFFER_TEMPLATE_ID } from '../sandbox/seed';
import { buildFinanceSdkStandIn } from '../sandbox/archive/build';
import { enterAgentXml } from '../sandbox/callbacks';
import { createSandbox, type Sandbox } from '../sandbox/server';
import { spSeqFromTime } from '../sandbox/state';
import {
  approvalSnapshot,
  checkDemoPorts,
  demoRunId,
  demoRunKeys,
  demoServices,
  demoWecomKeyPrefix,
  describeApprovalChange,
  isOurApi,
  parsePort,
  readDotenvFile,
  lockDemoDatabase,
  named,
  redactUrl,
  spSeqStartAfter,
} from './demo-support';

const ROOT = join(__dirname, '..');
const STARTED = Date.now();
const RUN_ID = demoRunId(STARTED);
/** The demo corp (the sandbox's seeded one) with this run's Secret and Token: the sandbox and the app share them. */
const KEYS = demoRunKeys({ corpId: DEMO_CORP_ID, agentId: DEMO_AGENT_ID }, RUN_ID);

const env = (name: string, fallback: string): string => {
  const v = process.env[name];
  return v === undefined || v === '' ? fallback : v;
};

const PORT = parsePort('PORT', env('PORT', '3000'));
const SANDBOX_PORT = parsePort('WECOM_SANDBOX_PORT', env('WECOM_SANDBOX_PORT', '3100'));
const SERVICES = demoServices(process.env, readDotenvFile(resolve(env('ENV_FILE', '.env'))));
const DATABASE_URL = SERVICES.databaseUrl;
const REDIS_URL = SERVICES.redisUrl;
const LOG_LEVEL = env('LOG_LEVEL', 'warn');

/** The sandbox's offer template controls (sandbox/seed.ts), as an admin would paste them into WECOM_OFFER_CONTROLS. */
const DEMO_OFFER_CONTROLS = JSON.stringify(OFFER_CONTROLS);

/**
 * The app's environment in the demo, the API's and the worker's alike: this process's environment,
 * with the demo's database, Redis, port, corp and keys, and the sandbox as WeCom.
 */
let DEMO_EVIDENCE = { keyFile: '', stateFile: '', exportsDir: '', verifierKey: '' };

function demoAppEnv(wecomApiBase: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    ...extra,
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
    // Offers go to the sandbox's offer template (every control of it), and the acceptance links point
    // at this API. The link key is this database's own, so a link printed by an earlier run still opens.
    WECOM_OFFER_TEMPLATE_ID: OFFER_TEMPLATE_ID,
    WECOM_OFFER_CONTROLS: DEMO_OFFER_CONTROLS,
    PUBLIC_BASE_URL: `http://127.0.0.1:${PORT}`,
    OFFER_LINK_SECRET: createHash('sha256').update(`hireledger-demo-offer-links:${DATABASE_URL}`).digest('hex'),
    // Phones typed on the acceptance page are kept as this HMAC (the demo records none beforehand:
    // phone_check is none_recorded).
    CANDIDATE_IDENTIFIER_HMAC_KEY: createHash('sha256').update(`hireledger-demo-identifiers:${DATABASE_URL}`).digest('hex'),
    // Queues of this database's own: another demo on the same Redis with another database never
    // takes (or removes the schedules of) this one's jobs.
    QUEUE_PREFIX: `hireledger-demo-${
      new URL(DATABASE_URL).pathname
        .slice(1)
        .toLowerCase()
        .replace(/[^a-z0-9_-]/g, '_')
        .slice(0, 24) || 'default'
    }`,
    // The demo's own evidence signing key: the worker signs a checkpoint every 10 seconds.
    EVIDENCE_SIGNING_KEY_FILE: DEMO_EVIDENCE.keyFile,
    EVIDENCE_CHECKPOINT_STATE_FILE: DEMO_EVIDENCE.stateFile,
    EVIDENCE_CHECKPOINT_INTERVAL_SECONDS: '10',
    EVIDENCE_EXPORT_DIR: DEMO_EVIDENCE.exportsDir,
    // The demo configures its processes completely; a .env written for a real deployment (NODE_ENV,
    // signing key, witnesses, ...) must not leak into them (src/config/dotenv.ts reads ENV_FILE).
    ENV_FILE: '/dev/null',
  };
}

/**
 * The chat archive (会话内容存档) for the demo: the Finance SDK stand-in compiled with gcc, its
 * archive and keys in a directory of this database's own, kept between runs (the archive's seq is a
 * ledger the app's cursor follows; a new, empty archive would sit behind it). Off with DEMO_ARCHIVE=0,
 * or when gcc is missing: then the channel is off, and /health and the completeness report say so.
 */
async function demoArchive(): Promise<{ dir: string; keysDir: string; secret: string; library: string } | { off: string }> {
  if (env('DEMO_ARCHIVE', '1') === '0') return { off: '已关闭（DEMO_ARCHIVE=0）' };
  const base = join(tmpdir(), 'hireledger-demo-archive', new URL(DATABASE_URL).pathname.slice(1) || 'default');
  try {
    const library = await buildFinanceSdkStandIn({ outDir: join(base, 'lib'), dataDir: join(base, 'data') });
    return { dir: join(base, 'data'), keysDir: join(base, 'keys'), secret: 'HireLedgerDemoArchiveSecret', library };
  } catch (err) {
    return { off: `未开启：无法编译 Finance SDK 替身（需要 gcc）：${(err as Error).message.split('\n')[0] ?? ''}` };
  }
}

/**
 * The evidence signing key of this database's demo (kept between runs, like the archive: the worker's
 * checkpoint state file must keep matching the ledger), and where the demo writes its export bundles.
 * The worker signs a checkpoint every 10 seconds, so the demo's legal export finds one covering the
 * story soon after it ends.
 */
async function demoEvidence(): Promise<{ keyFile: string; stateFile: string; exportsDir: string; verifierKey: string }> {
  const base = join(tmpdir(), 'hireledger-demo-evidence', new URL(DATABASE_URL).pathname.slice(1) || 'default');
  const keyFile = join(base, 'signing.pem');
  await mkdir(base, { recursive: true, mode: 0o700 });
  await mkdir(join(base, 'exports'), { recursive: true });
  const key = existsSync(keyFile) ? await loadSigningKey(keyFile) : await writeNewSigningKey(keyFile);
  return {
    keyFile,
    stateFile: join(base, 'checkpoint-state.json'),
    exportsDir: join(base, 'exports'),
    verifierKey: verifierKeyOf(checkpointOrigin(DEMO_CORP_ID), key.publicKey),
  };
}

/**
 * 赵磊 (法务) exports 陈晨's evidence as legal would, through the same command, once the worker has
 * signed a checkpoint covering her stream; then the bundle is verified as an outsider would.
 */
async function demoLegalExport(
  pool: Pool,
  evidence: Awaited<ReturnType<typeof demoEvidence>>,
  stream: string,
  channelEnv: Record<string, string>,
): Promise<{ file: string; verdict: string } | { problem: string }> {
  const ledger = createLedger({ pool });
  try {
    await grantRole(ledger, DEMO_CORP_ID, { userid: 'zhaolei', role: 'legal', by: 'liuyang' });
  } finally {
    await ledger.close();
  }
  const reader = createLedgerReader(pool);
  const covered = async () => {
    let head = 0;
    for await (const r of reader.cursor({ stream })) if (r.kind !== 'evidence.exported') head = r.seq;
    const checkpoint = await latestCheckpoint(pool, checkpointOrigin(DEMO_CORP_ID), evidence.verifierKey);
    return (checkpoint?.size ?? 0) >= head;
  };
  const deadline = Date.now() + 60_000;
  while (!(await covered())) {
    if (Date.now() > deadline) return { problem: '60 秒内没有覆盖陈晨记录的检查点（worker 是否在运行？）' };
    await new Promise((r) => setTimeout(r, 1000));
  }
  const file = join(evidence.exportsDir, `chenchen-${RUN_ID}.zip`);
  const run = (args: string[], env?: NodeJS.ProcessEnv) =>
    new Promise<{ code: number; stderr: string }>((done) => {
      execFile(process.execPath, args, { cwd: ROOT, ...(env ? { env } : {}), maxBuffer: 64 * 1024 * 1024 }, (err, _out, stderr) =>
        done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr: String(stderr) }),
      );
    });
  const exported = await run(
    [
      '--import',
      'tsx',
      join(ROOT, 'scripts', 'evidence-export.ts'),
      '--candidate',
      'wmCandChenChen0001',
      '--out',
      file,
      '--as',
      'zhaolei',
    ],
    // The worker's channel settings too: the bundle's completeness report and 环境说明 state them.
    demoAppEnv('http://127.0.0.1:1', channelEnv),
  );
  if (exported.code !== 0) return { problem: `导出失败：${exported.stderr.trim().split('\n')[0] ?? ''}` };
  const verified = await run([join(ROOT, 'verifier', 'hireledger-verify.mjs'), file, '--key', evidence.verifierKey]);
  return { file, verdict: verified.code === 0 ? '核验通过 PASS' : `核验失败 FAIL（退出码 ${verified.code}）` };
}

/** One demo per database (demo-support.ts, holdDemoDatabase); the lock lives as long as the demo. */
async function holdDemoDatabase(url: string): Promise<void> {
  const held = await lockDemoDatabase(url);
  if ('busy' in held) throw new DemoStop(held.busy);
  closers.push(held.release);
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

/** A reason to stop that says all there is to say (printed without a stack). */
class DemoStop extends Error {}

let stopping = false;
const children: ChildProcess[] = [];
const closers: (() => Promise<void>)[] = [];

function start(name: string, script: string, childEnv: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, script)], {
    env: childEnv,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  child.on('exit', (code, signal) => {
    if (!stopping) {
      const hint =
        name === 'api'
          ? `; if it could not listen on 127.0.0.1:${PORT}, another program took the port: PORT moves the demo's API`
          : '';
      console.error(`${name} exited (${signal ?? code})${hint}; stopping the demo`);
      void stop(1);
    }
  });
  return child;
}

/**
 * Waits until the API on PORT answers /health, then makes sure it is the one this run started: it must
 * answer WeCom's URL verification signed with this run's Token (a different server on the port cannot).
 */
async function waitForOurApi(url: string): Promise<void> {
  for (let i = 0; i < 150; i++) {
    let healthy = false;
    try {
      healthy = (await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) })).ok;
    } catch {
      // not listening yet
    }
    if (healthy) {
      if (await isOurApi(url, KEYS)) return;
      throw new DemoStop(
        `a server answers on 127.0.0.1:${PORT} but it is not the API this demo started (it does not know this run's ` +
          `Token); another program holds the port. PORT moves the demo's API, e.g. PORT=${PORT + 300} npm run demo`,
      );
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url}/health did not answer 200 within 30 s`);
}

async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  for (const c of children) c.kill('SIGTERM');
  await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))));
  for (const close of closers.reverse()) await close().catch(() => undefined);
  process.exit(code);
}

/** Builds the H5 (wecom-h5/dist) when it is missing, so the printed /h5/ link works. What to print about it. */
function ensureH5(): string {
  const dir = join(ROOT, 'wecom-h5');
  const how = '(cd wecom-h5 && npm ci && npm run build)';
  if (existsSync(join(dir, 'dist', 'index.html'))) return '';
  if (process.env['DEMO_BUILD_H5'] === '0') return `未构建（DEMO_BUILD_H5=0）：${how} 后重启演示`;
  console.log(`H5 尚未构建，正在构建 / building the H5 (wecom-h5/dist, ~20 s the first time): ${how}`);
  const run = (args: string[]): boolean => {
    const r = spawnSync('npm', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if (r.status === 0) return true;
    console.error(
      `npm ${args.join(' ')} failed in wecom-h5:\n${`${r.stdout}${r.stderr}`.trim().split('\n').slice(-15).join('\n')}`,
    );
    return false;
  };
  const ok = (existsSync(join(dir, 'node_modules')) || run(['ci', '--no-audit', '--no-fund'])) && run(['run', 'build']);
  return ok ? '' : `构建失败（见上）/ build failed (above): ${how} 后重启演示`;
}

/** The approval numbers the demo ledger already holds (streams wecom:approval:<SpNo>). */
async function recordedSpNos(url: string): Promise<string[]> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    const streams = await createLedgerReader(c).streams('wecom:approval:');
    return streams.map((s) => s.stream.slice('wecom:approval:'.length)).filter((sp) => /^[0-9]{12}$/.test(sp));
  } finally {
    await c.end();
  }
}

/**
 * Prints what each approver does on any approval of the sandbox (the console's 同意/驳回 included), once
 * the callback is delivered, with the number of records of that approval's stream in the ledger.
 */
function watchApprovals(sandbox: Sandbox, pool: Pool): () => void {
  const seen = new Map<string, string[]>();
  const report = async (raw: string, spNo: string): Promise<void> => {
    // The form names the candidate by opaque id (names stay out of WeCom forms): the demo knows whose.
    let line = raw;
    for (const [id, name] of DEMO_CANDIDATE_NAMES) line = line.replaceAll(id, name);
    await sandbox.idle();
    const stream = `wecom:approval:${spNo}`;
    const count = await createLedgerReader(pool)
      .streams(stream)
      .then((found) => String(found.find((f) => f.stream === stream)?.records ?? 0))
      .catch(() => '?');
    console.log(`${line}\n  已记入证据账本 / in the ledger: ${stream}（${count} 条记录）`);
  };
  const look = (): void => {
    for (const a of sandbox.state.approvals.values()) {
      const now = approvalSnapshot(a);
      const before = seen.get(a.sp_no);
      seen.set(a.sp_no, now);
      if (!before || now.join('\n') === before.join('\n')) continue;
      const line = describeApprovalChange(before, a);
      if (line) void report(line, a.sp_no);
    }
  };
  look();
  const timer = setInterval(look, 300);
  return () => clearInterval(timer);
}

/**
 * The demo's seed: the sandbox's, without its pending offer for 林晓 (submitted "2 h ago", before any
 * ledger existed): the demo submits 林晓's and 陈晨's offers itself, so both reach the ledger.
 */
function demoSeed(): ReturnType<typeof defaultSeed> {
  const seed = defaultSeed();
  return { ...seed, approvals: seed.approvals.filter((a) => a.actions.length > 0) };
}

/** The demo's candidates by their opaque id, for the approval lines (filled once the worker made them). */
const DEMO_CANDIDATE_NAMES = new Map<string, string>();

/** The terms the demo's offers share; each overrides salary, department and start date. */
const DEMO_TERMS: OfferTerms = {
  baseMonthlyYuan: 0,
  salaryMonths: 13,
  annualBonusTargetYuan: 40000,
  bonusNote: '按年度绩效发放',
  level: 'P6',
  department: '',
  location: '上海',
  startDate: '',
  probationMonths: 3,
  acceptanceDeadline: null,
  terms: '',
};

/** The calendar day in Asia/Shanghai of a moment (YYYY-MM-DD). */
function shanghaiDay(ms: number): string {
  return new Date(ms + 8 * 3600_000).toISOString().slice(0, 10);
}

/** Polls `check` (every 200 ms, up to a minute) until it answers a value; stops the demo otherwise. */
async function untilValue<T>(what: string, check: () => Promise<T | null>, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== null) return v;
    if (Date.now() > deadline) throw new DemoStop(`timed out waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function untilTrue(what: string, check: () => Promise<boolean>): Promise<void> {
  await untilValue(what, async () => ((await check()) ? true : null));
}

/** A candidate the worker made from their first contact (a KF message, a contact added). */
async function candidateOf(directory: ReturnType<typeof createCandidateDirectory>, externalUserid: string): Promise<string> {
  const c = await untilValue(`候选人 ${externalUserid}`, () => directory.find(DEMO_CORP_ID, externalUserid));
  return c.candidateId;
}

interface DemoOffer {
  corpId: string;
  offerId: string;
  version: number;
  contentSha256: string;
}

async function draftAndSubmit(offers: Offers, candidateId: string, positionId: string, terms: OfferTerms): Promise<DemoOffer> {
  const o = await offers.draftOffer({ corpId: DEMO_CORP_ID, candidateId, positionId, actor: 'zhangmin', terms });
  const v = { corpId: DEMO_CORP_ID, offerId: o.offerId, version: 1, contentSha256: o.versions[0]!.contentSha256 };
  await offers.submitForApproval({ ...v, actor: 'zhangmin' });
  return v;
}

/**
 * This run's copy of a position (same title, department and band), for its offers: a candidate has at
 * most one open offer per position, and an earlier run's offers stay as they were (their approvals were
 * in that run's sandbox), so each run drafts its own.
 */
async function runPosition(pool: Pool, positionId: string): Promise<string> {
  const p = await getPosition(pool, DEMO_CORP_ID, positionId);
  if (!p) throw new DemoStop(`position ${positionId} missing`);
  const id = `${positionId.replace(/^job-/, '').slice(0, 12)}-${RUN_ID}`.slice(0, 26);
  await savePosition(pool, DEMO_CORP_ID, { ...p, id });
  return id;
}

/** The SpNo WeCom gave the offer's approval (the worker's approvals job submits it). */
async function spNoOf(offers: Offers, o: DemoOffer): Promise<string> {
  return untilValue(`offer ${o.offerId} 的审批单号`, async () => (await offers.getOffer(o))?.versions[0]?.approvalSpNo ?? null);
}

const OFFER_LINK = /https?:\/\/[^\s"\\]+\/h5\/offer\.html#t=[A-Za-z0-9_-]+/;

/**
 * The acceptance link the app sent a candidate, and by which route: 微信客服 (the sandbox's record of
 * kf/send_msg) or a 企业群发 waiting for the recruiter, which the demo confirms as 张敏 would in her
 * client (the sandbox's admin action). A recruiter task is not followed here.
 */
async function linkSentTo(sandbox: Sandbox, externalUserid: string): Promise<{ link: string; route: string } | null> {
  for (const m of [...sandbox.state.kfSent].reverse()) {
    const found = m.touser === externalUserid ? JSON.stringify(m.body).match(OFFER_LINK) : null;
    if (found) return { link: found[0], route: '微信客服' };
  }
  for (const t of [...sandbox.state.groupMsgs].reverse()) {
    const found = t.recipients.some((r) => r.external_userid === externalUserid)
      ? (t.text?.content ?? '').match(OFFER_LINK)
      : null;
    if (!found) continue;
    if (t.task_status === 0) {
      const res = await fetch(`${sandbox.url}/sandbox/admin/group-msgs/${t.msgid}/confirm`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ userid: t.sender }),
      });
      if (!res.ok) throw new DemoStop(`confirming the 企业群发 answered ${res.status}: ${await res.text()}`);
    }
    return { link: found[0], route: `企业群发（${named(t.sender)}在客户端确认发送）` };
  }
  return null;
}

/** What the H5 page does when the candidate accepts: view, then accept with the hash of the text shown. */
async function acceptAsCandidate(apiUrl: string, link: string, name: string, phone: string): Promise<string> {
  const token = link.split('#t=')[1] ?? '';
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${apiUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'HireLedger demo (candidate H5)' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as { [k: string]: unknown } };
  };
  const view = await post('/h5/api/offer-link/view', { token });
  if (view.status !== 200) throw new DemoStop(`offer page answered ${view.status}: ${JSON.stringify(view.body)}`);
  const accepted = await post('/h5/api/offer-link/accept', {
    token,
    name,
    phone,
    shownTextSha256: view.body['shown_text_sha256'],
  });
  if (accepted.status !== 200) throw new DemoStop(`accepting answered ${accepted.status}: ${JSON.stringify(accepted.body)}`);
  return '接受（已记录时间、IP、浏览器与所见文本的哈希）';
}

/** Waits for an offer approved in the console, sends it as 张敏 and prints the candidate's link. */
function followOffer(offers: Offers, o: DemoOffer, sandbox: Sandbox, externalUserid: string, name: string): () => void {
  let busy = false;
  let done = false;
  const timer = setInterval(() => {
    if (busy || done) return;
    busy = true;
    void (async () => {
      const offer = await offers.getOffer(o);
      if (offer?.state === 'approved') {
        await offers.sendFormalOffer({ ...o, actor: 'zhangmin' });
        console.log(`张敏 zhangmin 已发出${name}的正式 offer / the formal offer is sent`);
      }
      if (offer?.state === 'approved' || offer?.state === 'sent') {
        const sent = await linkSentTo(sandbox, externalUserid);
        if (sent) {
          done = true;
          console.log(
            `${name}的 offer 链接（经${sent.route}送达）/ the candidate's link:\n  ${sent.link}\n  在浏览器打开即可确认或拒绝 / open it to accept or decline`,
          );
        }
      } else if (offer && offer.state !== 'pending_approval') {
        done = true;
        console.log(`${name}的 offer 状态：${offer.state}`);
      }
    })()
      .catch((err: unknown) => console.error(`${name}的 offer: ${(err as Error).message}`))
      .finally(() => {
        busy = false;
      });
  }, 1000);
  return () => clearInterval(timer);
}

async function main(): Promise<void> {
  const portProblems = await checkDemoPorts([
    { zh: ' API ', en: 'API', variable: 'PORT', port: PORT },
    { zh: '企业微信沙箱', en: 'WeCom sandbox', variable: 'WECOM_SANDBOX_PORT', port: SANDBOX_PORT },
  ]);
  if (portProblems.length > 0) {
    console.error(`demo not started:\n\n${portProblems.join('\n')}`);
    process.exit(1);
  }
  console.log(
    `PostgreSQL ${redactUrl(DATABASE_URL)} (${SERVICES.databaseFrom}) · Redis ${REDIS_URL} (${SERVICES.redisFrom}) · run ${RUN_ID}`,
  );
  const h5Problem = ensureH5();

  await ensureDatabase(DATABASE_URL);
  await holdDemoDatabase(DATABASE_URL);
  const applied = await migrate(DATABASE_URL);
  console.log(applied.length ? `migrated: ${applied.join(', ')}` : 'database is up to date');

  const apiUrl = `http://127.0.0.1:${PORT}`;
  const spSeqStart = spSeqStartAfter(await recordedSpNos(DATABASE_URL), spSeqFromTime(STARTED));
  const archive = await demoArchive();
  DEMO_EVIDENCE = await demoEvidence();
  let sandbox: Sandbox;
  try {
    sandbox = await createSandbox({
      port: SANDBOX_PORT,
      host: '127.0.0.1',
      ...KEYS,
      callbackUrl: `${apiUrl}/wecom/callback`,
      seed: demoSeed(),
      spSeqStart,
      ...('off' in archive ? {} : { archive: { dir: archive.dir, keysDir: archive.keysDir, secret: archive.secret } }),
    });
  } catch (err) {
    if ((err as { code?: string }).code === 'EADDRINUSE') {
      throw new DemoStop(`127.0.0.1:${SANDBOX_PORT} was taken just now; WECOM_SANDBOX_PORT moves the demo's sandbox`);
    }
    throw err;
  }
  closers.push(() => sandbox.close());

  if (sandbox.archive && sandbox.archive.keyVersion === null) sandbox.archive.rotateKey();
  const appEnv = demoAppEnv(
    sandbox.url,
    'off' in archive
      ? {}
      : { MSGAUDIT_SDK_LIBRARY: archive.library, MSGAUDIT_SECRET: archive.secret, MSGAUDIT_PRIVATE_KEYS: archive.keysDir },
  );
  children.push(start('api', 'src/main.ts', appEnv), start('worker', 'src/worker.ts', appEnv));
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  await waitForOurApi(apiUrl);

  const pool = new Pool({ connectionString: DATABASE_URL, max: 2 });
  pool.on('error', () => undefined);
  closers.push(() => pool.end());
  const unwatch = watchApprovals(sandbox, pool);
  closers.push(() => Promise.resolve(unwatch()));

  // The demo corp's approval role holders, as its admin sets them (no approver is shipped): the
  // sandbox's members, for every department.
  for (const [role, userid] of [
    ['hiring_manager', 'liqiang'],
    ['hrbp', 'wangfang'],
    ['department_head', 'chenjing'],
    ['hr_director', 'liuyang'],
  ] as const) {
    await saveRoleAssignment(pool, DEMO_CORP_ID, { department: '*', role, userids: [userid] }, 'zhaolei');
  }
  // The positions the contact ways (state) and the offers name, with their salary bands (yuan a month).
  await savePosition(pool, DEMO_CORP_ID, {
    id: 'job-fe-2026',
    title: '前端开发工程师',
    department: '前端研发部',
    salaryMin: 20000,
    salaryMax: 28000,
  });
  await savePosition(pool, DEMO_CORP_ID, {
    id: 'job-be-2026',
    title: '后端开发工程师',
    department: '基础架构部',
    salaryMin: 22000,
    salaryMax: 30000,
  });

  // The scenario, through WeCom's channels: callbacks from the sandbox, API calls via the client.
  const a = sandbox.actions;
  // The staff open HireLedger in WeCom (enter_agent): the members module records each visit and
  // fetches what the directory says of them, the record a legal export's 身份信息 ties a userid to.
  for (const userid of ['zhangmin', 'liqiang', 'wangfang', 'chenjing', 'zhaolei']) {
    await sandbox.deliverCallback(
      enterAgentXml({
        corpId: DEMO_CORP_ID,
        fromUserId: userid,
        createTime: Math.floor(Date.now() / 1000),
        agentId: DEMO_AGENT_ID,
      }),
      { kind: 'raw', summary: `${userid} 打开 HireLedger` },
    );
  }
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
    content: '谢谢，面试聊得不错，薪资方面我再考虑一下。',
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
    reader: createLedgerReader(pool),
    externalContacts: createExternalContactIds(pool),
    options: { keyPrefix: demoWecomKeyPrefix(RUN_ID) },
  });
  // The offers, drafted by 张敏 through the offers module (as the H5 will), each routed by the
  // approval rules and submitted to WeCom's approval by the worker's job.
  const offers = createOffersModule({
    db: pool,
    transact: (work) => ledger.transact(work),
    isHrbp: hrbpsFromAssignments(pool),
  }).offers;
  const directory = createCandidateDirectory(pool);
  const chen = await candidateOf(directory, 'wmCandChenChen0001');
  const lin = await candidateOf(directory, 'wmCandLinXiao0002');
  DEMO_CANDIDATE_NAMES.set(chen, '陈晨').set(lin, '林晓');
  const startDate = shanghaiDay(STARTED + 30 * 86400_000);
  // 陈晨 hesitates (「我再考虑一下」「薪资能否再谈」): 张敏 offers 30,000, above the band's 28,000, so
  // the route adds the department head after the hiring manager and the HRBP.
  const chenOffer = await draftAndSubmit(offers, chen, await runPosition(pool, 'job-fe-2026'), {
    ...DEMO_TERMS,
    baseMonthlyYuan: 30000,
    department: '前端研发部',
    startDate,
    terms: '候选人曾问「薪资能否再谈」，月薪按高于薪资带上限报批。',
  });
  // 林晓 has already resigned from her employer while her offer (26,000, within the band) waits.
  const linOffer = await draftAndSubmit(offers, lin, await runPosition(pool, 'job-be-2026'), {
    ...DEMO_TERMS,
    baseMonthlyYuan: 26000,
    department: '基础架构部',
    startDate,
  });
  const spChen = await spNoOf(offers, chenOffer);
  const spLin = await spNoOf(offers, linOffer);
  await wecom.message.send(
    {
      touser: 'liqiang',
      msgtype: 'text',
      text: { content: `【HireLedger】林晓的录用审批（${spLin}）待您处理；她已从原公司离职。` },
    },
    { idempotencyKey: `demo-${RUN_ID}-approval-reminder` },
  );
  await sandbox.idle();
  // Their conversations in 微信客服: the worker pulls them into each candidate's timeline, flags the
  // hesitation, the resignation before approval and the recruiter's over-promise, and alerts 张敏.
  await a.kfInbound({ external_userid: 'wmCandChenChen0001', content: '我再考虑一下，薪资能否再谈？另一家给到28K' }).delivered;
  await a.kfInbound({
    external_userid: 'wmCandChenChen0001',
    origin: 5,
    servicer_userid: 'zhangmin',
    content: '放心，你肯定被录用了，可以先辞职',
  }).delivered;
  // 林晓 is 张敏's contact too: she is her recruiter, the one told when 林晓 says she has resigned.
  await a.externalContactChange({ change_type: 'add_external_contact', userid: 'zhangmin', external_userid: 'wmCandLinXiao0002' })
    .delivered;
  await sandbox.idle();
  await a.kfInbound({ external_userid: 'wmCandLinXiao0002', content: '我这边已经辞职了，offer什么时候能下来' }).delivered;
  await sandbox.idle();
  // 张敏's own 1:1 chat with 陈晨, through the chat archive (the sandbox sends msgaudit_notify).
  if (sandbox.archive) {
    const archiveText = async (from: string, to: string, content: string) => {
      const res = await fetch(`${sandbox.url}/sandbox/admin/archive/text`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ from, to, content }),
      });
      if (!res.ok) throw new Error(`archive/text answered ${res.status}`);
    };
    await archiveText('zhangmin', 'wmCandChenChen0001', '陈晨你好，薪资我再跟领导争取一下，你先别急着回复另一家');
    await archiveText('wmCandChenChen0001', 'zhangmin', '好的，我这边还没有提离职，等你消息');
    await sandbox.idle();
  }
  // 陈晨's approvers act in order in the sandbox (the watcher prints each once its callback is in the
  // ledger); the last one's callback approves the offer, 张敏 sends it, the delivery hands 陈晨 the link
  // by 微信客服 (her window is open), and she accepts on the H5 page.
  for (const [userid, speech] of [
    ['liqiang', '同意。候选人还在犹豫，月薪 30K 高于薪资带，请 HRBP 与部门负责人确认。'],
    ['wangfang', '同意，按 30K 报批。'],
    ['chenjing', '同意。'],
  ] as const) {
    await a.approve(spChen, userid, speech).delivered;
    await sandbox.idle();
    // One approver at a time, so the watcher prints each.
    await new Promise((r) => setTimeout(r, 700));
  }
  await untilTrue('陈晨的 offer 审批通过 / approved', async () => (await offers.getOffer(chenOffer))?.state === 'approved');
  await offers.sendFormalOffer({ ...chenOffer, actor: 'zhangmin' });
  const chenLink = await untilValue('陈晨收到 offer 链接 / link delivered', async () =>
    linkSentTo(sandbox, 'wmCandChenChen0001'),
  );
  const chenAnswer = `经${chenLink.route}送达；陈晨已在 H5 页面${await acceptAsCandidate(apiUrl, chenLink.link, '陈晨', '13800001234')}`;
  // 林晓's offer waits for 李强 in the console; once approved, 张敏 sends it and its link is printed here.
  const followLin = followOffer(offers, linOffer, sandbox, 'wmCandLinXiao0002', '林晓');
  closers.push(() => Promise.resolve(followLin()));
  // The ledger and Redis stay open while the demo runs: 林晓's offer is sent when it is approved.
  closers.push(async () => {
    await ledger.close();
    redis.disconnect();
  });

  const archiveEnv: Record<string, string> =
    'off' in archive
      ? {}
      : { MSGAUDIT_SDK_LIBRARY: archive.library, MSGAUDIT_SECRET: archive.secret, MSGAUDIT_PRIVATE_KEYS: archive.keysDir };
  const legalExport = await demoLegalExport(pool, DEMO_EVIDENCE, CANDIDATE_STREAMS.candidate(chen), archiveEnv);
  const archiveVars = Object.entries(archiveEnv)
    .map(([k, v]) => ` ${k}=${v}`)
    .join('');
  const report = await verifyLedger(pool);

  const seconds = ((Date.now() - STARTED) / 1000).toFixed(1);
  const h5 = h5Problem === '' ? `${apiUrl}/h5/` : `${apiUrl}/h5/  ${h5Problem}`;
  console.log(`
HireLedger 演示环境已就绪（${seconds} 秒）/ demo is up

  API                 ${apiUrl}            健康检查 ${apiUrl}/health · 指标 ${apiUrl}/metrics
  WeCom 回调地址       ${apiUrl}/wecom/callback   (本次运行的 Token: ${KEYS.token})
  企业微信沙箱控制台    ${sandbox.url}/sandbox/
  沙箱 OAuth 登录页     ${sandbox.url}/connect/oauth2/authorize?appid=${DEMO_CORP_ID}&redirect_uri=${encodeURIComponent(`${apiUrl}/h5/`)}&response_type=code&scope=snsapi_base&state=demo&agentid=${DEMO_AGENT_ID}#wechat_redirect
  H5                  ${h5}

  录用审批 offer approvals (路由规则选出审批人 / approvers chosen by the routing rules):
    ${spChen}  陈晨 · 前端开发工程师 · 月薪 30000（高于薪资带 28000）  李强 → 王芳 → 陈静（部门负责人）均已同意
              正式 offer 已由 张敏 发出，${chenAnswer}
    ${spLin}  林晓 · 后端开发工程师 · 月薪 26000（薪资带内）  待 李强 liqiang → 王芳 wangfang 审批 ← 在控制台点「同意/驳回」
              审批通过后 张敏 发出正式 offer，候选人链接会打印在下面 / once approved, 林晓's offer link is printed below
  每位审批人在控制台的操作都会打印在下面 / every approver's action in the console is printed below.

  证据账本 evidence:   ${report.records} 条记录 / ${report.streams} 个流, ${report.ok ? '校验通过 verified' : `校验失败 ${report.firstProblem?.detail}`}
                       DATABASE_URL=${redactUrl(DATABASE_URL)} npm run evidence:verify

  法务导出 legal export: ${
    'problem' in legalExport
      ? legalExport.problem
      : `赵磊（法务）导出陈晨的证据包 ${legalExport.file}，${legalExport.verdict}
                       核验 verify:  node verifier/hireledger-verify.mjs ${legalExport.file} --key '${DEMO_EVIDENCE.verifierKey}'
                       或解压后用浏览器打开 verify.html 选择该 zip；时间线 timeline.pdf / timeline.html 在包内
                       再导出: DATABASE_URL=${redactUrl(DATABASE_URL)} WECOM_CORP_ID=${DEMO_CORP_ID} EVIDENCE_SIGNING_KEY_FILE=${DEMO_EVIDENCE.keyFile} EVIDENCE_EXPORT_DIR=${DEMO_EVIDENCE.exportsDir}${archiveVars} npm run -s evidence:export -- --candidate wmCandChenChen0001 --out ${DEMO_EVIDENCE.exportsDir}/<file>.zip --as zhaolei
                       授予法务角色 grant: DATABASE_URL=${redactUrl(DATABASE_URL)} WECOM_CORP_ID=${DEMO_CORP_ID} npm run -s members:role -- grant legal <userid> --as zhaolei`
  }

  会话内容存档:        ${'off' in archive ? archive.off : `已开启（Finance SDK 替身 ${archive.library}）：POST ${sandbox.url}/sandbox/admin/archive/text {from,to,content}`}
  微信客服会话 KF:     在控制台「微信客服会话」以候选人或招聘者身份输入，几秒内进入候选人时间线并标记风险信号
  候选人时间线:        DATABASE_URL=${redactUrl(DATABASE_URL)} WECOM_CORP_ID=${DEMO_CORP_ID} npm run -s candidate:timeline -- wmCandChenChen0001   （林晓：wmCandLinXiao0002）
  完整性报告:          DATABASE_URL=${redactUrl(DATABASE_URL)} WECOM_CORP_ID=${DEMO_CORP_ID}${'off' in archive ? '' : ` MSGAUDIT_SDK_LIBRARY=${archive.library} MSGAUDIT_SECRET=${archive.secret} MSGAUDIT_PRIVATE_KEYS=${archive.keysDir}`} npm run -s candidate:completeness -- wmCandChenChen0001

  角色: 招聘官 张敏 zhangmin · 用人经理 李强 liqiang · HRBP 王芳 wangfang · 部门负责人 陈静 chenjing · 法务 赵磊 zhaolei
  候选人: 陈晨（犹豫：「我再考虑一下」「薪资能否再谈」；张敏称「你肯定被录用了，可以先辞职」）· 林晓（offer 审批前已离职）

按 Ctrl+C 停止 / Ctrl+C stops everything.`);
}

main().catch(async (err: unknown) => {
  console.error(err instanceof DemoStop ? `demo stopped: ${err.message}` : `demo failed: ${(err as Error).stack ?? String(err)}`);
  await stop(1);
});
