/**
 * Run as a separate OS process by outbound-crash.test.ts, standing in for a job that sends one message: builds its
 * own ledger (PostgreSQL, as the app role) and client, sends one message under the given idempotency key, prints
 * `{"ok":true,"msgid":…}` or `{"ok":false,"error":…}` as one JSON line, and exits. The test kills it with SIGKILL
 * between intent and outcome, then runs it again as the retried job.
 */
import { Redis } from 'ioredis';
import { Pool } from 'pg';
import { createLedger, createLedgerReader } from '../../../src/evidence';
import { createWecomClient, type WecomLogger } from '../../../src/wecom/api';
import { createExternalContactIds } from '../../../src/wecom/external-contacts';
import { KEYS } from './constants';

const noop = (): void => undefined;
const silent: WecomLogger = { info: noop, warn: noop, error: noop, debug: noop, child: () => silent };

const KF_OPEN_KFID = 'wkHireLedger01';

async function main(): Promise<void> {
  const [apiBase, redisUrl, prefix, databaseUrl, api, key] = process.argv.slice(2);
  if (!apiBase || !redisUrl || !prefix || !databaseUrl || !api || !key)
    throw new Error('usage: send-process <apiBase> <redisUrl> <prefix> <databaseUrl> <message|kf> <idempotencyKey>');
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  redis.on('error', noop);
  const pool = new Pool({ connectionString: databaseUrl, max: 2 });
  pool.on('error', noop);
  const ledger = createLedger({ pool });
  const client = createWecomClient({
    apiBase,
    corpId: KEYS.corpId,
    secret: KEYS.secret,
    agentId: KEYS.agentId,
    redis,
    logger: silent,
    ledger,
    reader: createLedgerReader(pool),
    externalContacts: createExternalContactIds(pool),
    options: { keyPrefix: prefix, timeoutMs: 20_000 },
  });
  try {
    const res =
      api === 'kf'
        ? await client.kf.sendMsg(
            {
              touser: 'wmCandChenChen0001',
              open_kfid: KF_OPEN_KFID,
              msgtype: 'text',
              text: { content: `面试改到周五 15:00（${key}）` },
            },
            { idempotencyKey: key },
          )
        : await client.message.send(
            // The key in the text: two reminders are two different messages, which WeCom's duplicate check keeps apart.
            { touser: 'liqiang', msgtype: 'text', text: { content: `【HireLedger】陈晨的录用审批待您处理（${key}）` } },
            { idempotencyKey: key },
          );
    process.stdout.write(`${JSON.stringify({ ok: true, msgid: res.msgid })}\n`);
  } catch (err) {
    process.stdout.write(`${JSON.stringify({ ok: false, error: err instanceof Error ? err.name : String(err) })}\n`);
  } finally {
    await ledger.close();
    await pool.end();
    redis.disconnect();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
