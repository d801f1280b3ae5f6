// The import rules of ARCHITECTURE.md ("Dependency rules"), checked by `npm run lint:deps`.
// Every path is relative to the folder the cruise runs from (the project root), so a rule that
// names `^src/jobs/` matches src/jobs however deep the importing file sits. The rules themselves are
// tested against fixtures that break each one: test/architecture/boundaries.test.ts.

/** Domain folders under src/. A new domain is one more name here; every rule below follows. */
const DOMAINS = [
  'members',
  'candidates',
  'conversations',
  'signals',
  'offers',
  'approvals',
  'reminders',
  'timeline',
  'acceptance',
  'onboarding',
  'legal',
];

/**
 * What a domain may import besides other domains' index.ts. `platform` holds the module contract (the
 * types of what a domain contributes) and the errors a module throws to the job policy. No `jobs`:
 * jobs run what the modules contribute, so they call domains, never the reverse.
 */
const DOMAIN_MAY_IMPORT = ['platform', 'evidence', 'wecom', 'config', 'observability', 'infra'];

/** What src/platform may import besides itself: what the contract is written in, nothing that implements it. */
const PLATFORM_MAY_IMPORT = ['evidence', 'wecom', 'config', 'observability', 'infra'];

/**
 * The other folders of src/: what the domains build on, the worker runtime and the H5 entry point. A
 * folder in neither this list nor DOMAINS would escape every rule below, so src-folder-is-known refuses it.
 */
const INFRASTRUCTURE = ['config', 'evidence', 'wecom', 'platform', 'jobs', 'infra', 'observability', 'h5'];

/** The app files at the top of src/, which wire everything together. */
const APP_FILES = ['app', 'main', 'worker', 'modules', 'runtime'];

/** What src/wecom may import besides itself. */
const WECOM_MAY_IMPORT = ['evidence', 'config', 'observability', 'infra'];

const any = (names) => `(${names.join('|')})`;
const DOMAIN = `^src/${any(DOMAINS)}/`;
/**
 * Our own code: what an allow-list rule restricts. Node built-ins and npm packages may be imported by every
 * folder; an import that does not resolve is reported once, by not-to-unresolvable.
 */
const EXTERNAL = { pathNot: '(^|/)node_modules/', dependencyTypesNot: ['core'], couldNotResolve: false };

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'src-folder-is-known',
      comment:
        'Every folder of src/ is a domain or a known infrastructure folder, so every rule below holds for it: add a new ' +
        'folder to DOMAINS (a domain) or INFRASTRUCTURE in .dependency-cruiser.cjs (and to ARCHITECTURE.md), and a new ' +
        `file at the top of src/ to APP_FILES (${APP_FILES.join(', ')}).`,
      severity: 'error',
      // A module rule: it refuses the module itself, whatever it imports and whoever imports it (an import
      // rule would miss a file that imports nothing). dependency-cruiser judges a module by its number of
      // dependents; counting none of them (from.pathNot matches every path) makes that 0 < 1 for every module.
      from: { pathNot: '.' },
      module: {
        path: '^src/',
        pathNot: `^src/(${any([...DOMAINS, ...INFRASTRUCTURE])}/|${any(APP_FILES)}\\.ts$)`,
        numberOfDependentsLessThan: 1,
      },
    },
    {
      name: 'evidence-is-a-leaf',
      comment: 'src/evidence imports nothing of the project but itself (node built-ins and npm packages are fine).',
      severity: 'error',
      from: { path: '^src/evidence/' },
      to: { ...EXTERNAL, pathNot: [EXTERNAL.pathNot, '^src/evidence/'] },
    },
    {
      name: 'wecom-knows-no-domain',
      comment: `src/wecom may import only itself and ${WECOM_MAY_IMPORT.join(', ')}: never jobs, the app, h5 or a domain.`,
      severity: 'error',
      from: { path: '^src/wecom/' },
      to: { ...EXTERNAL, pathNot: [EXTERNAL.pathNot, `^src/${any(['wecom', ...WECOM_MAY_IMPORT])}/`] },
    },
    {
      name: 'platform-below-domains',
      comment:
        `src/platform (the module contract) may import only itself and ${PLATFORM_MAY_IMPORT.join(', ')}: ` +
        'never a domain, jobs, h5 or the app files.',
      severity: 'error',
      from: { path: '^src/platform/' },
      to: { ...EXTERNAL, pathNot: [EXTERNAL.pathNot, `^src/${any(['platform', ...PLATFORM_MAY_IMPORT])}/`] },
    },
    {
      name: 'domain-imports-allowed-folders-only',
      comment:
        `A domain may import ${DOMAIN_MAY_IMPORT.join(', ')} and other domains: ` +
        'never jobs, h5, or the app files at the top of src/ (app, main, worker, modules, runtime).',
      severity: 'error',
      from: { path: DOMAIN },
      to: { path: '^src/', pathNot: `^src/${any([...DOMAIN_MAY_IMPORT, ...DOMAINS])}/` },
    },
    {
      name: 'domain-only-through-index',
      comment: 'Outside its own folder, a domain is reached only through its index.ts, never a file inside it.',
      severity: 'error',
      // $1 is the importer's own folder (or file) under src/, so a domain's files may import each other.
      from: { path: '^src/([^/]+)' },
      to: { path: `${DOMAIN}.`, pathNot: ['^src/$1/', `${DOMAIN}index\\.ts$`] },
    },
    {
      name: 'h5-is-an-entry-point',
      comment: 'src/h5 calls domains; only the app files at the top of src/ (app.ts, modules.ts) may import it.',
      severity: 'error',
      from: { path: '^src/[^/]+/', pathNot: '^src/h5/' },
      to: { path: '^src/h5/' },
    },
    {
      name: 'src-not-to-sandbox-or-test',
      comment: 'Production code never imports the WeCom sandbox or the tests.',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(sandbox|test)/' },
    },
    {
      name: 'sandbox-independent-of-src',
      comment:
        "The sandbox is a second, independent implementation of WeCom's wire format: it never imports src/ " +
        '(or the tests), so a bug in our crypto or parsing cannot hide behind the same bug in the stand-in.',
      severity: 'error',
      from: { path: '^sandbox/' },
      to: { path: '^(src|test)/' },
    },
    {
      name: 'no-circular',
      comment: 'No import cycles in src/ (type-only imports count: they are a cycle in the design all the same).',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'no-runtime-circular',
      comment: 'Outside src/, no cycle of imports that exist at run time (a cycle through `import type` only is allowed).',
      severity: 'error',
      from: { pathNot: '^src/' },
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    {
      name: 'production-not-to-dev-dep',
      comment:
        'src/, sandbox/ and scripts/ run in the image built with `npm ci --omit=dev` (Dockerfile): ' +
        'they may not need a devDependency at run time.',
      severity: 'error',
      from: { path: '^(src|sandbox|scripts)/' },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'], pathNot: '(^|/)node_modules/@types/' },
    },
    {
      name: 'not-outside-project',
      comment: 'Nothing imports a file outside the project (in particular never ../shared): the image holds only the project.',
      severity: 'error',
      from: {},
      to: { path: '^\\.\\./', pathNot: '(^|/)node_modules/', couldNotResolve: false },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'An import that does not resolve to a file would escape every rule above.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: 'no-non-package-json',
      comment: 'An npm package that is not in package.json works by accident (a transitive dependency).',
      severity: 'error',
      from: {},
      to: { dependencyTypes: ['npm-no-pkg', 'npm-unknown'] },
    },
  ],
  options: {
    // The rule fixtures break the rules on purpose; the test cruises them on their own.
    exclude: { path: '^test/architecture/fixtures/' },
    doNotFollow: { path: '(^|/)node_modules/' },
    // Count `import type` too: a type-only import is still a dependency of the design.
    tsPreCompilationDeps: true,
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
  },
};
