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
 * Each jest run owns the databases named after its process id, so two runs on one machine (a
 * developer's and CI's) never drop each other's. global-setup exports the id to the workers.
 */
export function runId(): string {
  return process.env['HIRELEDGER_TEST_RUN'] ?? String(process.pid);
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
