// Lint rules, type-aware (typescript-eslint's recommendedTypeChecked on every TypeScript file).
// Import boundaries (which folder may import which, and no cycles) are not here: dependency-cruiser
// checks them from the project root (.dependency-cruiser.cjs, `npm run lint:deps`, ARCHITECTURE.md).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'coverage/', 'node_modules/', 'wecom-h5/', '**/*.js', '**/*.mjs', '**/*.cjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    // Types come from tsconfig.json, which covers src, sandbox, scripts, bench and test.
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
  },
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      // A switch over a closed union (callback types, rejection reasons) must name every member or have a default.
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      // Off on purpose: an async function without await is how Fastify plugins and handlers, TypeORM migrations
      // and stubs of Promise-returning interfaces are written. A forgotten await is what matters, and
      // no-floating-promises, no-misused-promises and await-thenable (all on) catch that.
      '@typescript-eslint/require-await': 'off',
      eqeqeq: ['error', 'always'],
      'no-console': 'error',
    },
  },
  {
    // Tests read HTTP and JSON bodies as `any` (res.json(), JSON.parse) and assert on them with expect(),
    // which is the check. Typing each body would be churn without a bug to catch; the promise rules stay on.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    // Speed is measured by bench/, never asserted in a test: a clock, even the process's CPU time,
    // moves with the machine's load, coverage instrumentation and the JIT. A test bounds cost by
    // counting work (test/support/work.ts).
    files: ['test/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        ...[
          'MemberExpression[property.name=/^(cpuUsage|hrtime|resourceUsage)$/]',
          'ObjectPattern > Property[key.name=/^(cpuUsage|hrtime|resourceUsage)$/]',
        ].map((selector) => ({
          selector,
          message: 'Tests count work (test/support/work.ts); speed is measured in bench/',
        })),
      ],
      'no-restricted-imports': [
        'error',
        {
          paths: ['process', 'node:process'].map((name) => ({
            name,
            importNames: ['cpuUsage', 'hrtime', 'resourceUsage'],
            message: 'Tests count work (test/support/work.ts); speed is measured in bench/',
          })),
        },
      ],
    },
  },
  {
    // Only config/env.ts reads the environment; everything else receives a Config.
    files: ['src/**/*.ts'],
    ignores: ['src/config/**'],
    rules: {
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'env', message: 'Read configuration through src/config/env.ts' },
      ],
    },
  },
  {
    // Only src/evidence touches the evidence tables (issue 7: read through createLedgerReader, write
    // through the ledger). roles.ts only asks the catalog who owns them.
    files: ['src/**/*.ts', 'scripts/**/*.ts'],
    ignores: ['src/evidence/**', 'src/infra/db/roles.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector:
            'Literal[value=/\\bevidence_(records|heads|counter|redeliveries|merkle_nodes|checkpoints|checkpoint_witnesses)\\b/]',
          message: 'Only src/evidence queries the evidence tables: use createLedgerReader or the ledger',
        },
        {
          selector:
            'TemplateElement[value.raw=/\\bevidence_(records|heads|counter|redeliveries|merkle_nodes|checkpoints|checkpoint_witnesses)\\b/]',
          message: 'Only src/evidence queries the evidence tables: use createLedgerReader or the ledger',
        },
      ],
    },
  },
  {
    files: ['scripts/**/*.ts', 'bench/**/*.ts', 'sandbox/main.ts'],
    rules: { 'no-console': 'off' },
  },
);
