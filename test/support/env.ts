import { randomBytes } from 'node:crypto';
import { TEST_KEYS, type TestCorpKeys } from './keys';

/** Where the tests find the real services. CI and the README use these defaults. */
export const BASE_DATABASE_URL = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';

/**
 * The login the app under test connects as (startApp, TestDatabase.appPool): a member of
 * hireledger_app and nothing else, as in production (issue 6), so the whole suite shows that
 * least privilege is enough. Roles are cluster-wide: global-setup creates it once, idempotently,
 * and every run shares it. Its password, when the cluster wants one, is DATABASE_URL's: whoever
 * knows that is a superuser already, so the test role gives nobody anything new.
 */
export const TEST_APP_ROLE = 'hireledger_test_api';

/**
 * Each jest run owns the databases and throwaway roles named after its run token (`r` + 8 random
 * hex digits), and holds a PostgreSQL advisory lock derived from it for as long as it runs
 * (global-setup.ts). Another run, on this machine or any other sharing the cluster, drops a run's
 * leftovers only when nobody holds that lock any more. global-setup exports the token to the workers.
 */
export function runId(): string {
  return (process.env['HIRELEDGER_TEST_RUN'] ??= newRunToken());
}

export function newRunToken(): string {
  return `r${randomBytes(4).toString('hex')}`;
}

/** The token in a test database's or throwaway role's name; legacy pid-named leftovers give undefined. */
export const RUN_TOKEN_IN_NAME = /^hireledger_(?:tpl|t|trole)_(r[0-9a-f]{8})(?:_|$)/;
/** The same, for a `~` match in SQL. */
export const RUN_TOKEN_SQL = '^hireledger_(tpl|t|trole)_r[0-9a-f]{8}(_|$)';

/** The advisory lock (two-int form, so pg_locks shows it as classid/objid, objsubid 2) a run holds. */
export function runLockKey(token: string): [number, number] {
  return [0x484c5452, parseInt(token.slice(1), 16) & 0x7fffffff];
}

export function templateDb(run = runId()): string {
  return `hireledger_tpl_${run}`;
}

/** DATABASE_URL pointed at another database, optionally as another user (password: `password`, else DATABASE_URL's). */
export function databaseUrl(name: string, as?: { user: string; password?: string }): string {
  const url = new URL(BASE_DATABASE_URL);
  url.pathname = `/${name}`;
  if (as) {
    url.username = encodeURIComponent(as.user);
    if (as.password !== undefined) url.password = encodeURIComponent(as.password);
  }
  return url.toString();
}

/** The password of DATABASE_URL's user, or undefined (trust or peer authentication). */
export function basePassword(): string | undefined {
  const password = new URL(BASE_DATABASE_URL).password;
  return password === '' ? undefined : decodeURIComponent(password);
}

/** What testEnv takes: the database is always named (no test falls back to the shared base database by accident). */
export type TestEnvOverrides = { DATABASE_URL: string } & Record<string, string | undefined>;

/**
 * The app's whole environment for tests and benchmarks, the one place it is written out: startApp
 * loads it in process, spawnApi and the worker-process tests hand it to src/main.ts and
 * src/worker.ts, the checkpoint tests to the scripts, and bench/ to the API it measures. NODE_ENV
 * is test, logs are silent unless TEST_LOG_LEVEL says otherwise, WeCom is TEST_KEYS' corp, and
 * every call gets a Redis key prefix of its own. Overrides win; an override of `undefined` removes
 * the variable, so the app's default applies.
 */
export function testEnv(overrides: TestEnvOverrides): Record<string, string> {
  const env: Record<string, string | undefined> = {
    NODE_ENV: 'test',
    LOG_LEVEL: process.env['TEST_LOG_LEVEL'] ?? 'silent',
    REDIS_URL,
    HOST: '127.0.0.1',
    PORT: '0',
    ...corpEnv(TEST_KEYS),
    QUEUE_PREFIX: `hltest_${randomBytes(4).toString('hex')}`,
    // Offer links to the acceptance page (docs/acceptance.md): a fresh secret per call.
    OFFER_LINK_SECRET: randomBytes(32).toString('hex'),
    PUBLIC_BASE_URL: 'https://hire.test.example',
    ...overrides,
  };
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
}

/** The WeCom part of the environment for a corp's keys (testEnv's default is TEST_KEYS). */
export function corpEnv(keys: TestCorpKeys): Record<string, string> {
  return {
    WECOM_CORP_ID: keys.corpId,
    WECOM_AGENT_ID: String(keys.agentId),
    WECOM_SECRET: keys.secret,
    WECOM_TOKEN: keys.token,
    WECOM_ENCODING_AES_KEY: keys.encodingAESKey,
  };
}
