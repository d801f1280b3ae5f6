/**
 * `npm run sandbox` (or `node dist/sandbox/main.js` in the demo compose profile).
 *
 * Environment (same WECOM_* names as the app, so one .env drives both):
 *   WECOM_SANDBOX_PORT      default 3100
 *   WECOM_SANDBOX_HOST      default $HOST, else 127.0.0.1 (compose sets HOST=0.0.0.0)
 *   WECOM_CORP_ID, WECOM_AGENT_ID, WECOM_SECRET, WECOM_TOKEN, WECOM_ENCODING_AES_KEY
 *                           default to the demo corp below when unset
 *   WECOM_CALLBACK_URL      where callbacks go; default http://127.0.0.1:$PORT/wecom/callback (PORT default 3000)
 *   WECOM_SANDBOX_TOKEN_TTL_SECONDS, WECOM_SANDBOX_CALLBACK_TIMEOUT_MS, WECOM_SANDBOX_CALLBACK_RETRIES (optional)
 *   WECOM_SANDBOX_ARCHIVE_DIR   optional: turns on the chat-archive stand-in. Compiles the Finance SDK
 *                           stand-in (gcc) to <dir>/lib/libWeWorkFinanceSdk_C.so, keeps the archive in
 *                           <dir>/data and the private keys in <dir>/keys (the app's MSGAUDIT_* values are printed)
 *   WECOM_SANDBOX_ARCHIVE_SECRET  the archive's Secret; default a demo one
 */
import { join, resolve } from 'node:path';
import { buildFinanceSdkStandIn } from './archive/build';
import { DEMO_AGENT_ID, DEMO_CORP_ID } from './seed';
import { createSandbox } from './server';

const DEMO = {
  secret: 'HireLedgerSandboxDemoSecret0000000000000000',
  token: 'HireLedgerSandboxToken',
  encodingAESKey: 'HireLedgerSandboxDemoEncodingAESKey20261122',
};

function env(name: string): string | undefined {
  const v = process.env[name];
  return v === undefined || v === '' ? undefined : v;
}

function intEnv(name: string, fallback: number): number {
  const v = env(name);
  if (v === undefined) return fallback;
  if (!/^\d+$/.test(v)) throw new Error(`${name} must be a whole number, got ${v}`);
  return Number(v);
}

async function main(): Promise<void> {
  const defaulted: string[] = [];
  const pick = (name: string, fallback: string): string => {
    const v = env(name);
    if (v === undefined) defaulted.push(name);
    return v ?? fallback;
  };
  const corpId = pick('WECOM_CORP_ID', DEMO_CORP_ID);
  const agentId = Number(pick('WECOM_AGENT_ID', String(DEMO_AGENT_ID)));
  const secret = pick('WECOM_SECRET', DEMO.secret);
  const token = pick('WECOM_TOKEN', DEMO.token);
  const encodingAESKey = pick('WECOM_ENCODING_AES_KEY', DEMO.encodingAESKey);
  const port = intEnv('WECOM_SANDBOX_PORT', 3100);
  const host = env('WECOM_SANDBOX_HOST') ?? env('HOST') ?? '127.0.0.1';
  const callbackUrl = env('WECOM_CALLBACK_URL') ?? `http://127.0.0.1:${intEnv('PORT', 3000)}/wecom/callback`;

  const archiveDir = env('WECOM_SANDBOX_ARCHIVE_DIR');
  const archive = archiveDir
    ? {
        dir: join(resolve(archiveDir), 'data'),
        keysDir: join(resolve(archiveDir), 'keys'),
        secret: env('WECOM_SANDBOX_ARCHIVE_SECRET') ?? 'HireLedgerSandboxArchiveSecret',
        library: await buildFinanceSdkStandIn({
          outDir: join(resolve(archiveDir), 'lib'),
          dataDir: join(resolve(archiveDir), 'data'),
        }),
      }
    : undefined;

  const sandbox = await createSandbox({
    port,
    host,
    corpId,
    agentId,
    secret,
    token,
    encodingAESKey,
    callbackUrl,
    tokenTtlSeconds: intEnv('WECOM_SANDBOX_TOKEN_TTL_SECONDS', 7200),
    callbackTimeoutMs: intEnv('WECOM_SANDBOX_CALLBACK_TIMEOUT_MS', 5000),
    callbackRetries: intEnv('WECOM_SANDBOX_CALLBACK_RETRIES', 3),
    logger: env('LOG_LEVEL') === 'debug' || env('LOG_LEVEL') === 'trace',
    ...(archive ? { archive: { dir: archive.dir, keysDir: archive.keysDir, secret: archive.secret } } : {}),
  });
  if (sandbox.archive && sandbox.archive.keyVersion === null) sandbox.archive.rotateKey();

  const out = process.stdout;
  out.write(`企业微信沙箱已启动 / WeCom sandbox listening on ${host}:${sandbox.port}\n`);
  out.write(`  API base (WECOM_API_BASE):  ${sandbox.url}   → ${sandbox.url}/cgi-bin/gettoken?corpid=${corpId}&corpsecret=…\n`);
  out.write(`  控制台 console:              ${sandbox.url}/sandbox/\n`);
  out.write(`  管理接口 admin API:          ${sandbox.url}/sandbox/admin/state\n`);
  out.write(
    `  OAuth 授权页:                ${sandbox.url}/connect/oauth2/authorize?appid=${corpId}&redirect_uri=…&response_type=code&scope=snsapi_base&state=STATE&agentid=${agentId}\n`,
  );
  out.write(`  回调地址 callbacks →         ${callbackUrl}\n`);
  out.write(`  CorpID ${corpId} · AgentID ${agentId}\n`);
  if (archive) {
    out.write(`  会话内容存档 chat archive:    POST ${sandbox.url}/sandbox/admin/archive/text {from,to,content}\n`);
    out.write(
      `    The app: MSGAUDIT_SDK_LIBRARY=${archive.library} MSGAUDIT_SECRET=${archive.secret} MSGAUDIT_PRIVATE_KEYS=${archive.keysDir}\n`,
    );
  }
  if (defaulted.length > 0) {
    out.write(`  使用演示默认值 (not set, demo defaults used): ${defaulted.join(', ')}\n`);
    out.write(
      `    The app must use the same values: WECOM_SECRET=${secret} WECOM_TOKEN=${token} WECOM_ENCODING_AES_KEY=${encodingAESKey}\n`,
    );
  }

  const shutdown = (): void => {
    void sandbox.close().then(() => process.exit(0));
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

main().catch((err: unknown) => {
  process.stderr.write(`sandbox failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
