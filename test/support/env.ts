/** Where the tests find the real services. CI and the README use these defaults. */
export const BASE_DATABASE_URL = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';

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

export function databaseUrl(name: string): string {
  const url = new URL(BASE_DATABASE_URL);
  url.pathname = `/${name}`;
  return url.toString();
}
