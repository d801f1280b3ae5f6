// Lint rules, including the dependency directions written down in ARCHITECTURE.md.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const DOMAIN = ['candidates', 'conversations', 'signals', 'offers', 'approvals', 'reminders', 'h5'];
const patternsFor = (folders) => folders.flatMap((f) => [`../${f}`, `../${f}/*`, `../../${f}`, `../../${f}/*`]);

export default tseslint.config(
  { ignores: ['dist/', 'coverage/', 'node_modules/', 'wecom-h5/', '**/*.js', '**/*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      eqeqeq: ['error', 'always'],
      'no-console': 'error',
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
      'no-restricted-imports': [
        'error',
        {
          patterns: [{ group: ['**/sandbox/**', '**/test/**'], message: 'Production code may not import the sandbox or tests' }],
        },
      ],
    },
  },
  {
    // The ledger is a leaf: it knows nothing of WeCom, jobs or any domain.
    files: ['src/evidence/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [...patternsFor([...DOMAIN, 'wecom', 'jobs']), '../app', '../main', '../worker'],
              message: 'src/evidence is a leaf module (ARCHITECTURE.md)',
            },
          ],
        },
      ],
    },
  },
  {
    // WeCom knowledge stays in src/wecom, which calls nothing of the domain.
    files: ['src/wecom/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [...patternsFor([...DOMAIN, 'jobs']), '../app', '../../app', '../main', '../worker'],
              message: 'src/wecom may depend on evidence/config/observability only (ARCHITECTURE.md)',
            },
          ],
        },
      ],
    },
  },
  {
    // The sandbox stands in for WeCom: it must not share code with the app it tests.
    files: ['sandbox/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['../src/*', '../../src/*', '**/src/**'],
              message: 'The sandbox is an independent implementation of WeCom (ARCHITECTURE.md)',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['scripts/**/*.ts', 'bench/**/*.ts', 'sandbox/main.ts'],
    rules: { 'no-console': 'off' },
  },
);
