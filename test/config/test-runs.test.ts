import { Client } from 'pg';
import { BASE_DATABASE_URL, newRunToken, runLockKey } from '../support/env';
import { dropTestDatabases, runIsGone } from '../support/global-setup';

/**
 * The rule that sweeps up test databases of runs that died (support/global-setup.ts): only a run
 * whose advisory lock nobody holds, anywhere on the cluster, loses its databases. A live run on
 * another machine (here: another connection holding its lock) keeps them.
 */
describe('test runs sharing a PostgreSQL', () => {
  const admin = new Client({ connectionString: BASE_DATABASE_URL });
  const otherMachine = new Client({ connectionString: BASE_DATABASE_URL });
  const live = newRunToken();
  const dead = newRunToken();
  const names = [`hireledger_t_${live}_1_aaaaaa`, `hireledger_t_${dead}_1_bbbbbb`];

  beforeAll(async () => {
    await Promise.all([admin.connect(), otherMachine.connect()]);
    await otherMachine.query('SELECT pg_advisory_lock($1::int, $2::int)', runLockKey(live));
    for (const name of names) await admin.query(`CREATE DATABASE ${name}`);
  });

  afterAll(async () => {
    for (const name of names) await admin.query(`DROP DATABASE IF EXISTS ${name}`);
    await Promise.all([admin.end(), otherMachine.end()]);
  });

  test('a run whose lock is held somewhere is alive; one whose lock nobody holds is gone', async () => {
    expect(await runIsGone(admin, live)).toBe(false);
    expect(await runIsGone(admin, dead)).toBe(true);
  });

  test("the sweep drops the dead run's databases and keeps the live one's and everything not named by a run", async () => {
    await dropTestDatabases(admin, (run) => (run === live || run === dead) && runIsGone(admin, run));
    const { rows } = await admin.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname = ANY($1)`, [names]);
    expect(rows.map((r) => r.datname)).toEqual([names[0]]);
  });
});
