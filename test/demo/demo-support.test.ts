/**
 * The demo's small decisions (scripts/demo-support.ts): ports, whose server answers, per-run keys,
 * where the services are, approval numbers past the ledger's, and what is printed when an approver acts.
 */
import http from 'node:http';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { decrypt, getSignature } from '@wecom/crypto';
import { approvalAct, buildNodes, type Approval } from '../../sandbox/approvals';
import {
  approvalSnapshot,
  checkDemoPorts,
  DEMO_ENCODING_AES_KEY,
  demoRunId,
  demoRunKeys,
  demoServices,
  demoWecomKeyPrefix,
  describeApprovalChange,
  isOurApi,
  lockDemoDatabase,
  parsePort,
  portIsFree,
  readDotenv,
  redactUrl,
  spSeqStartAfter,
  takenPortMessage,
  urlVerificationQuery,
} from '../../scripts/demo-support';

import { createTestDatabase } from '../support/db';

const BASE = { corpId: 'wwhireledgerdemo01', agentId: 1000002 };

describe('one demo per database', () => {
  test('a second demo on the same database is told which database is busy and how to use another', async () => {
    const db = await createTestDatabase();
    try {
      const first = await lockDemoDatabase(db.url);
      expect('release' in first).toBe(true);
      const second = await lockDemoDatabase(db.url);
      expect(second).toEqual({
        busy: expect.stringContaining(`another demo is running on database ${new URL(db.url).pathname.slice(1)}`),
      });
      if ('release' in first) await first.release();
      const third = await lockDemoDatabase(db.url);
      expect('release' in third).toBe(true);
      if ('release' in third) await third.release();
    } finally {
      await db.drop();
    }
  });
});

async function listen(server: Server | http.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

describe('ports', () => {
  test('a port something listens on is taken; once closed it is free', async () => {
    const server = createServer();
    const port = await listen(server);
    expect(await portIsFree(port)).toBe(false);
    await new Promise((r) => server.close(r));
    expect(await portIsFree(port)).toBe(true);
  });

  test('a taken port is reported with the variable that moves it and a free port to try', async () => {
    const server = createServer();
    const port = await listen(server);
    try {
      const problems = await checkDemoPorts([
        { zh: ' API ', en: 'API', variable: 'PORT', port },
        { zh: '企业微信沙箱', en: 'WeCom sandbox', variable: 'WECOM_SANDBOX_PORT', port: 0 },
      ]);
      expect(problems).toHaveLength(1);
      expect(problems[0]).toContain(`127.0.0.1:${port}`);
      expect(problems[0]).toContain('PORT moves it');
      expect(problems[0]).toMatch(new RegExp(`PORT=\\d+ npm run demo`));
      expect(problems[0]).not.toContain(`PORT=${port} npm`);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  test('the same port for both is refused', async () => {
    const problems = await checkDemoPorts([
      { zh: ' API ', en: 'API', variable: 'PORT', port: 1 },
      { zh: '沙箱', en: 'sandbox', variable: 'WECOM_SANDBOX_PORT', port: 1 },
    ]);
    expect(problems[0]).toContain('must differ');
  });

  test('the message names WECOM_SANDBOX_PORT for the sandbox', () => {
    const text = takenPortMessage({ zh: '企业微信沙箱', en: 'WeCom sandbox', variable: 'WECOM_SANDBOX_PORT', port: 3100 }, 3101);
    expect(text).toContain('WECOM_SANDBOX_PORT=3101 npm run demo');
    expect(text).toContain('端口 127.0.0.1:3100 已被占用');
  });

  test('parsePort names the variable of a bad value', () => {
    expect(parsePort('PORT', '3300')).toBe(3300);
    expect(() => parsePort('WECOM_SANDBOX_PORT', 'abc')).toThrow(/WECOM_SANDBOX_PORT/);
    expect(() => parsePort('PORT', '70000')).toThrow(/PORT/);
  });
});

describe('per-run keys', () => {
  test('each run has its own Secret and Token, well formed; the EncodingAESKey is the published one', () => {
    const a = demoRunKeys(BASE, demoRunId(1795700000000, Buffer.from([0, 1])));
    const b = demoRunKeys(BASE, demoRunId(1795700000001, Buffer.from([0, 1])));
    expect(a.secret).not.toBe(b.secret);
    expect(a.token).not.toBe(b.token);
    for (const k of [a, b]) {
      expect(k.secret).toMatch(/^[A-Za-z0-9]{43}$/);
      expect(k.token).toMatch(/^[A-Za-z0-9]{1,32}$/);
      expect(k.encodingAESKey).toBe(DEMO_ENCODING_AES_KEY);
    }
    expect(demoRunId(1795700000000, Buffer.from([0, 1]))).toMatch(/^[a-z0-9]{10}$/);
    expect(demoRunId(1795700000000, Buffer.from([0, 1]))).not.toBe(demoRunId(1795700000000, Buffer.from([0, 2])));
  });

  test("the demo client's Redis prefix is the run's", () => {
    expect(demoWecomKeyPrefix('aaaa')).not.toBe(demoWecomKeyPrefix('bbbb'));
    expect(demoWecomKeyPrefix('aaaa')).toMatch(/^hireledger-demo:aaaa:wecom:$/);
  });

  test('URL verification: the echo decrypts with the keys and the signature covers it', () => {
    const keys = demoRunKeys(BASE, 'run1');
    const q = urlVerificationQuery(keys, 'hello', 1795700000000);
    const echostr = q.get('echostr') ?? '';
    expect(q.get('timestamp')).toBe('1795700000');
    expect(q.get('msg_signature')).toBe(getSignature(keys.token, q.get('timestamp') ?? '', q.get('nonce') ?? '', echostr));
    expect(decrypt(keys.encodingAESKey, echostr).message).toBe('hello');
  });

  test("isOurApi: only a server holding this run's Token answers the echo; one that merely answers is not ours", async () => {
    const ours = demoRunKeys(BASE, 'ours');
    const other = demoRunKeys(BASE, 'other');
    // A server that verifies WeCom's way with `other`'s Token (another demo on the port), answering /health too.
    const server = http.createServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      if (u.pathname !== '/wecom/callback') return res.end('{"status":"ok"}');
      const [ts, nonce, echostr, sig] = ['timestamp', 'nonce', 'echostr', 'msg_signature'].map(
        (k) => u.searchParams.get(k) ?? '',
      );
      if (getSignature(other.token, ts ?? '', nonce ?? '', echostr ?? '') !== sig) {
        res.statusCode = 400;
        return res.end('bad_signature');
      }
      res.end(decrypt(other.encodingAESKey, echostr ?? '').message);
    });
    const port = await listen(server);
    try {
      expect(await isOurApi(`http://127.0.0.1:${port}`, ours)).toBe(false);
      expect(await isOurApi(`http://127.0.0.1:${port}`, other)).toBe(true);
    } finally {
      await new Promise((r) => server.close(r));
    }
    expect(await isOurApi(`http://127.0.0.1:${port}`, ours)).toBe(false); // nothing listening
  });
});

describe('services', () => {
  test('DATABASE_URL and REDIS_URL win; the URL is never taken from .env', () => {
    const s = demoServices(
      { DATABASE_URL: 'postgres://a@h/db', REDIS_URL: 'redis://r:1' },
      { POSTGRES_PASSWORD: 'pw', DATABASE_URL: 'postgres://hireledger_api:x@127.0.0.1/hireledger' },
    );
    expect(s.databaseUrl).toBe('postgres://a@h/db');
    expect(s.redisUrl).toBe('redis://r:1');
    expect(demoServices({}, { DATABASE_URL: 'postgres://hireledger_api:x@127.0.0.1/hireledger' }).databaseUrl).toBe(
      'postgres://postgres@127.0.0.1:5432/hireledger_demo',
    );
  });

  test("docker compose's postgres: POSTGRES_PASSWORD and the published ports from .env, the environment first", () => {
    const dotenv = readDotenv(
      '# c\nPOSTGRES_PASSWORD="p@ss word"\nHIRELEDGER_PG_PORT=55432 # moved\nHIRELEDGER_REDIS_PORT=56379\n',
    );
    expect(dotenv['HIRELEDGER_PG_PORT']).toBe('55432');
    const s = demoServices({}, dotenv);
    expect(s.databaseUrl).toBe('postgres://postgres:p%40ss%20word@127.0.0.1:55432/hireledger_demo');
    expect(new URL(s.databaseUrl).password).toBe('p%40ss%20word');
    expect(s.redisUrl).toBe('redis://127.0.0.1:56379');
    expect(demoServices({ POSTGRES_PASSWORD: 'env', HIRELEDGER_PG_PORT: '5433' }, dotenv).databaseUrl).toBe(
      'postgres://postgres:env@127.0.0.1:5433/hireledger_demo',
    );
    expect(redactUrl(s.databaseUrl)).toBe('postgres://postgres:***@127.0.0.1:55432/hireledger_demo');
  });
});

describe('approval numbers', () => {
  test("start past the ledger's numbers of the day, never below the time seed", () => {
    const start = spSeqStartAfter(['202611260002', '202611268077', '202611258100', 'junk'], 100);
    expect(start('20261126')).toBe(8078);
    expect(start('20261125')).toBe(8101);
    expect(start('20261127')).toBe(100);
    expect(spSeqStartAfter(['202611269999'], 100)('20261126')).toBe(100);
  });
});

describe('what an approver did', () => {
  const approval = (): Approval => ({
    sp_no: '202611268077',
    sp_name: '录用审批',
    sp_status: 1,
    template_id: 't',
    apply_time: 0,
    applyer: { userid: 'zhangmin', partyid: '2' },
    nodes: buildNodes([
      { type: 1, apv_rel: 2, userid: ['liqiang'] },
      { type: 1, apv_rel: 2, userid: ['wangfang'] },
      { type: 2, userid: ['zhaolei'] },
    ]),
    contents: [{ control: 'Text', id: 'Text-1', title: [], value: { text: '陈晨' } }],
    comments: [],
    summary_list: [],
    last_event: 1,
  });

  test('the first approver agrees: who, whose offer, the opinion, who is next', () => {
    const a = approval();
    const before = approvalSnapshot(a);
    expect(describeApprovalChange(before, a)).toBeUndefined();
    approvalAct(a, 'liqiang', 'approve', '薪资可再谈', 1);
    expect(describeApprovalChange(before, a)).toBe(
      '✔ 李强（liqiang）已同意 陈晨 的录用审批（202611268077），意见：「薪资可再谈」。下一步：王芳（wangfang） 审批。',
    );
    const mid = approvalSnapshot(a);
    approvalAct(a, 'wangfang', 'reject', '', 2);
    expect(describeApprovalChange(mid, a)).toBe('✘ 王芳（wangfang）已驳回 陈晨 的录用审批（202611268077）。审批单状态：已驳回。');
  });
});
