import {
  databaseRules,
  DEFAULT_RULES,
  ensureDefaultRules,
  loadRules,
  ruleAtVersion,
  saveRule,
  SignalRuleError,
  type SignalRule,
} from '../../src/signals';
import { createTestDatabase, type TestDatabase } from '../support/db';

/**
 * Rules in PostgreSQL (migrations/1764547200001-signals.sql), as the app's least-privileged login
 * uses them: the defaults go in at version 1, an admin's edit changes what is flagged and bumps the
 * version (the database does it, also for an edit made by hand), and every version stays readable.
 */

const CORP = 'wwsignalscorp';

describe('signal rules in the database', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase();
  });
  afterEach(async () => {
    await db.drop();
  });

  test('the shipped defaults go in once, at version 1, per corp', async () => {
    expect(await ensureDefaultRules(db.appPool, CORP)).toBe(DEFAULT_RULES.length);
    expect(await ensureDefaultRules(db.appPool, CORP)).toBe(0);
    const rules = await loadRules(db.appPool, CORP);
    expect(rules.map((r) => [r.id, r.version, r.updatedBy])).toEqual(
      [...DEFAULT_RULES].sort((a, b) => a.id.localeCompare(b.id)).map((r) => [r.id, 1, 'hireledger']),
    );
    expect(await loadRules(db.appPool, 'wwothercorp')).toEqual([]);
    const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM signal_rule_versions');
    expect(rows).toEqual([{ n: DEFAULT_RULES.length }]);
  });

  test("an admin's edit changes the classification and bumps the version; the old version stays resolvable", async () => {
    const source = databaseRules(db.appPool);
    const before = await source.classifier(CORP);
    expect(before.classify('candidate', '让我缓缓')).toEqual([]);

    const rule = (await loadRules(db.appPool, CORP)).find((r) => r.id === 'hes.reconsider') as SignalRule;
    const saved = await saveRule(db.appPool, CORP, { ...rule, terms: [...rule.terms, '让我缓缓'] }, 'ChenJing');
    expect(saved).toEqual(expect.objectContaining({ id: 'hes.reconsider', version: 2, updatedBy: 'chenjing' }));

    const after = await source.classifier(CORP);
    expect(after.classify('candidate', '让我缓缓')).toEqual([
      { type: 'hesitation', rule: 'hes.reconsider', ruleVersion: 2, match: { start: 0, end: 4, text: '让我缓缓' } },
    ]);
    // A hit found before names version 1: it reads back as it was.
    expect((await ruleAtVersion(db.appPool, CORP, 'hes.reconsider', 1))?.terms).toEqual(rule.terms);
    expect((await ruleAtVersion(db.appPool, CORP, 'hes.reconsider', 2))?.terms).toContain('让我缓缓');

    // Saving what is already there is no new version.
    expect((await saveRule(db.appPool, CORP, saved, 'chenjing')).version).toBe(2);
    // Disabling is a version too, and stops the rule.
    const off = await saveRule(db.appPool, CORP, { ...saved, enabled: false }, 'chenjing');
    expect(off.version).toBe(3);
    expect((await source.classifier(CORP)).classify('candidate', '我再考虑一下')).toEqual([]);
  });

  test('an edit made by hand in SQL is versioned the same way; the history cannot be rewritten', async () => {
    const source = databaseRules(db.appPool);
    await source.classifier(CORP);
    await db.pool.query(
      `UPDATE signal_rules SET terms = array_append(terms, '不想搬家'), version = 1, updated_by = 'liuyang'
        WHERE corp_id = $1 AND id = 'hes.undecided'`,
      [CORP],
    );
    const { rows } = await db.pool.query(
      `SELECT version, updated_by FROM signal_rules WHERE corp_id = $1 AND id = 'hes.undecided'`,
      [CORP],
    );
    expect(rows).toEqual([{ version: 2, updated_by: 'liuyang' }]);
    expect((await source.classifier(CORP)).classify('candidate', '不想搬家').map((h) => `${h.rule}@${h.ruleVersion}`)).toEqual([
      'hes.undecided@2',
    ]);

    await expect(
      db.appPool.query(`UPDATE signal_rule_versions SET terms = '{}' WHERE corp_id = $1`, [CORP]),
    ).rejects.toMatchObject({ code: '42501' });
    await expect(db.pool.query(`DELETE FROM signal_rule_versions WHERE corp_id = $1`, [CORP])).rejects.toThrow(/append-only/);
    await expect(db.appPool.query(`DELETE FROM signal_rules WHERE corp_id = $1`, [CORP])).rejects.toMatchObject({
      code: '42501',
    });
    // A rule keeps its type.
    await expect(
      db.appPool.query(
        `UPDATE signal_rules SET type = 'over_promise', role = 'recruiter' WHERE corp_id = $1 AND id = 'hes.pay'`,
        [CORP],
      ),
    ).rejects.toThrow(/keeps its corp, id, type and role/);
  });

  test('a bad rule is refused before it is saved; one broken by hand is left out, the others still judge', async () => {
    const rule = DEFAULT_RULES.find((r) => r.id === 'res.already') as SignalRule;
    await expect(saveRule(db.appPool, CORP, { ...rule, patterns: ['(a+)+$'] }, 'chenjing')).rejects.toThrow(SignalRuleError);
    const source = databaseRules(db.appPool);
    await source.classifier(CORP);
    await db.pool.query(`UPDATE signal_rules SET patterns = '{"(?:"}', updated_by = 'x' WHERE corp_id = $1 AND id = 'hes.pay'`, [
      CORP,
    ]);
    const logged: unknown[] = [];
    const c = await source.classifier(CORP, { error: (o: unknown) => logged.push(o) });
    expect(logged).toEqual([expect.objectContaining({ rule: 'hes.pay', version: 2 })]);
    expect(c.classify('candidate', '薪资能否再谈')).toEqual([]);
    expect(c.classify('candidate', '我已经辞职了').map((h) => h.rule)).toEqual(['res.already']);
  });
});
