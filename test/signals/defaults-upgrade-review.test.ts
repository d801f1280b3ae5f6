import { databaseRules, DEFAULT_RULES, ensureDefaultRules, loadRules, saveRule } from '../../src/signals';
import { createTestDatabase, type TestDatabase } from '../support/db';

/**
 * Review of issue 9: the shipped patterns with `\s*` and `+` are now refused by the pattern cost
 * check (pattern-cost.ts) and ship as `\s{0,3}` / `{1,3}`. A corp whose database holds a default as
 * first shipped, never edited, must get the new one (a new version), not lose the rule; a default an
 * admin edited is left as the admin saved it.
 */

const CORP = 'wwsignalscorp';

describe('shipped defaults kept as shipped', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase();
  });
  afterEach(async () => {
    await db.drop();
  });

  test('are brought up to the shipped version; an admin edit is not touched', async () => {
    await ensureDefaultRules(db.appPool, CORP);
    // As a database seeded before the change holds them (written as the migration's owner would).
    await db.pool.query(
      `UPDATE signal_rules SET patterns = array_replace(patterns, 'think\\s{0,3}(?:一下|下|about it|it over)|再think',
                                                       'think\\s*(?:一下|下|about it|it over)|再think')
        WHERE corp_id = $1 AND id = 'hes.reconsider'`,
      [CORP],
    );
    const edited = DEFAULT_RULES.find((r) => r.id === 'res.told_employer');
    if (!edited) throw new Error('no res.told_employer');
    await saveRule(db.appPool, CORP, { ...edited, terms: [...edited.terms, '跟老板摊牌了'] }, 'ChenJing');
    const before = new Map((await loadRules(db.appPool, CORP)).map((r) => [r.id, r]));
    expect(before.get('hes.reconsider')?.patterns.some((p) => p.includes('\\s*'))).toBe(true);

    const invalid: string[] = [];
    const classifier = await databaseRules(db.appPool).classifier(CORP, {
      error: (o: object) => invalid.push(JSON.stringify(o)),
    });
    expect(invalid).toEqual([]);
    const after = new Map((await loadRules(db.appPool, CORP)).map((r) => [r.id, r]));
    expect(after.get('hes.reconsider')?.patterns).toEqual(DEFAULT_RULES.find((r) => r.id === 'hes.reconsider')?.patterns);
    expect(after.get('hes.reconsider')?.version).toBe((before.get('hes.reconsider')?.version ?? 0) + 1);
    expect(classifier.classify('candidate', '让我再think一下').map((h) => h.rule)).toEqual(['hes.reconsider']);
    // The admin's edit stays as saved.
    expect(after.get('res.told_employer')).toEqual(before.get('res.told_employer'));
  });
});
