/**
 * The import rules of ARCHITECTURE.md are enforced by dependency-cruiser (.dependency-cruiser.cjs,
 * `npm run lint:deps`). This test runs the same config on fixture projects in ./fixtures, each laid out
 * like the real one: one obeys every rule and must pass; each other breaks a rule and must be refused
 * with that rule's name. If a rule stops matching (a typo in a path, a folder renamed), this fails.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = join(__dirname, '..', '..');
const config = join(root, '.dependency-cruiser.cjs');
const fixtures = join(__dirname, 'fixtures');

interface Violation {
  rule: string;
  from: string;
  to: string;
}

/** What each fixture must produce, exactly: nothing more (a rule too wide) and nothing less. */
const expected: Record<string, Violation[]> = {
  'obeys-all-rules': [],
  'evidence-imports-wecom': [
    { rule: 'evidence-is-a-leaf', from: 'src/evidence/ledger.ts', to: 'src/wecom/crypto.ts' },
    { rule: 'evidence-is-a-leaf', from: 'src/evidence/merkle/tree.ts', to: 'src/wecom/api/client.ts' },
    { rule: 'evidence-is-a-leaf', from: 'src/evidence/settings.ts', to: 'src/config/env.ts' },
  ],
  'wecom-imports-jobs': [
    { rule: 'wecom-knows-no-domain', from: 'src/wecom/api/approvals.ts', to: 'src/approvals/index.ts' },
    { rule: 'wecom-knows-no-domain', from: 'src/wecom/api/x.ts', to: 'src/jobs/queues.ts' },
    { rule: 'wecom-knows-no-domain', from: 'src/wecom/callback-route.ts', to: 'src/app.ts' },
  ],
  'platform-imports-jobs': [
    { rule: 'platform-below-domains', from: 'src/platform/errors.ts', to: 'src/members/index.ts' },
    { rule: 'platform-below-domains', from: 'src/platform/module.ts', to: 'src/jobs/registry.ts' },
  ],
  'domain-imports-internal-file': [
    { rule: 'domain-only-through-index', from: 'src/h5/routes.ts', to: 'src/offers/offer-service.ts' },
    { rule: 'domain-only-through-index', from: 'src/modules.ts', to: 'src/candidates/repository.ts' },
    { rule: 'domain-only-through-index', from: 'src/offers/offer-service.ts', to: 'src/candidates/repository.ts' },
  ],
  'domain-imports-app': [
    { rule: 'domain-imports-allowed-folders-only', from: 'src/candidates/deep/x.ts', to: 'src/app.ts' },
    { rule: 'domain-imports-allowed-folders-only', from: 'src/offers/offer-jobs.ts', to: 'src/jobs/queues.ts' },
    { rule: 'domain-imports-allowed-folders-only', from: 'src/reminders/wiring.ts', to: 'src/modules.ts' },
  ],
  'domain-imports-h5': [
    { rule: 'domain-imports-allowed-folders-only', from: 'src/offers/links.ts', to: 'src/h5/routes.ts' },
    { rule: 'h5-is-an-entry-point', from: 'src/offers/links.ts', to: 'src/h5/routes.ts' },
  ],
  'src-imports-sandbox': [
    { rule: 'src-not-to-sandbox-or-test', from: 'src/app.ts', to: 'sandbox/server.ts' },
    { rule: 'src-not-to-sandbox-or-test', from: 'src/infra/db/pool.ts', to: 'test/support/env.ts' },
  ],
  'sandbox-imports-src': [{ rule: 'sandbox-independent-of-src', from: 'sandbox/routes/oa.ts', to: 'src/wecom/crypto.ts' }],
  // The cycle runs through an `import type`: it counts in src/.
  'cycle-in-src': [{ rule: 'no-circular', from: 'src/jobs/dispatcher.ts', to: 'src/observability/health.ts' }],
  // Outside src/ only run-time cycles count (obeys-all-rules has a type-only one in its sandbox).
  'runtime-cycle-in-sandbox': [{ rule: 'no-runtime-circular', from: 'sandbox/seed.ts', to: 'sandbox/state.ts' }],
  'dev-dependency-in-production': [
    { rule: 'production-not-to-dev-dep', from: 'src/config/env.ts', to: 'node_modules/typescript/lib/typescript.js' },
  ],
  // A folder in neither DOMAINS nor INFRASTRUCTURE (and a file at the top of src/ that is not an app file) would
  // escape every other rule: each of its modules is refused, whatever it imports, even nothing.
  'unknown-src-folder': [
    { rule: 'src-folder-is-known', from: 'src/interviews/index.ts', to: 'src/interviews/index.ts' },
    { rule: 'src-folder-is-known', from: 'src/interviews/lonely.ts', to: 'src/interviews/lonely.ts' },
    { rule: 'src-folder-is-known', from: 'src/scheduler.ts', to: 'src/scheduler.ts' },
  ],
  'imports-outside-project': [{ rule: 'not-outside-project', from: 'src/config/env.ts', to: '../outside-project.ts' }],
};

/** npm packages resolve to the project's node_modules, some levels above a fixture: drop the climb. */
const normalise = (v: Violation): Violation => ({ ...v, to: v.to.replace(/^(\.\.\/)+node_modules\//, 'node_modules/') });
const byText = (a: Violation, b: Violation): number => JSON.stringify(a).localeCompare(JSON.stringify(b));

describe('import rules (.dependency-cruiser.cjs)', () => {
  let report: Record<string, Violation[]>;

  beforeAll(async () => {
    const { stdout } = await run(process.execPath, [join(__dirname, 'cruise-fixtures.mjs'), config, fixtures], {
      cwd: root,
      maxBuffer: 16 * 1024 * 1024,
    });
    report = JSON.parse(stdout) as Record<string, Violation[]>;
  }, 120_000);

  it('has an expectation for every fixture and a fixture for every expectation', () => {
    expect(Object.keys(report).sort()).toEqual(Object.keys(expected).sort());
  });

  it.each(Object.entries(expected))('reports exactly the broken rules in %s', (name, violations) => {
    expect((report[name] ?? []).map(normalise).sort(byText)).toEqual([...violations].sort(byText));
  });

  it('has a fixture refused by every rule in the config', async () => {
    const { default: ruleSet } = (await import(config)) as { default: { forbidden: { name: string }[] } };
    const refused = new Set(Object.values(expected).flatMap((violations) => violations.map((v) => v.rule)));
    const untested = ruleSet.forbidden.map((rule) => rule.name).filter((name) => !refused.has(name));
    // An import that does not resolve or a package missing from package.json fails `npm run typecheck` first,
    // so no fixture (which typecheck also reads) can hold one.
    expect(untested).toEqual(['not-to-unresolvable', 'no-non-package-json']);
  });

  it('makes the depcruise command (as `npm run lint:deps` runs it) exit non-zero and name the rule', async () => {
    const failure = await run(join(root, 'node_modules', '.bin', 'depcruise'), ['src', '--config', config], {
      cwd: join(fixtures, 'wecom-imports-jobs'),
    }).then(
      () => ({ code: 0, stdout: '' }),
      (error: { code: number; stdout: string }) => error,
    );
    expect(failure.code).not.toBe(0);
    expect(failure.stdout).toContain('error wecom-knows-no-domain: src/wecom/api/x.ts → src/jobs/queues.ts');
  }, 120_000);
});
