/**
 * Run as a separate OS process by token.test.ts: builds its own client with its own Redis connection,
 * prints "ready", waits for "go" on stdin (so both processes start together), then makes `count`
 * concurrent calls that need the access_token and prints the tokens it used as JSON.
 */
import { Redis } from 'ioredis';
import { createWecomClient, type WecomLogger } from '../../../src/wecom/api';
import { KEYS } from './constants';

const noop = (): void => undefined;
const silent: WecomLogger = { info: noop, warn: noop, error: noop, debug: noop, child: () => silent };

async function main(): Promise<void> {
  const [apiBase, redisUrl, prefix, countText] = process.argv.slice(2);
  if (!apiBase || !redisUrl || !prefix) throw new Error('usage: token-process <apiBase> <redisUrl> <prefix> <count>');
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  await redis.ping();
  const client = createWecomClient({
    apiBase,
    corpId: KEYS.corpId,
    secret: KEYS.secret,
    agentId: KEYS.agentId,
    redis,
    logger: silent,
    // This process only reads (contact/user/get); a send would fail loudly here rather than go unrecorded.
    ledger: { append: () => Promise.reject(new Error('token-process sends no messages')) },
    options: { keyPrefix: prefix },
  });
  process.stdout.write('ready\n');
  await new Promise<void>((resolve) => {
    process.stdin.on('data', (d: Buffer) => {
      if (d.toString().includes('go')) resolve();
    });
  });
  const count = Number(countText ?? '5');
  const results = await Promise.all(
    Array.from({ length: count }, async () => {
      const user = await client.contact.getUser('zhangmin');
      return { token: await client.getAccessToken(), userid: user.userid };
    }),
  );
  process.stdout.write(
    `${JSON.stringify({ tokens: [...new Set(results.map((r) => r.token))], users: results.map((r) => r.userid) })}\n`,
  );
  redis.disconnect();
  process.stdin.destroy();
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
