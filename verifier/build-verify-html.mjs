#!/usr/bin/env node
// Builds verifier/verify.html from verify.template.html and the CORE of hireledger-verify.mjs (the
// text between its `// ---- BEGIN CORE` and `// ---- END CORE` lines, copied verbatim), so the browser
// verifier and the Node one are the same checks. Deterministic: the same inputs give the same bytes.
//   node verifier/build-verify-html.mjs           writes verifier/verify.html
//   node verifier/build-verify-html.mjs --check   exits 1 when the committed verify.html is stale
//   node verifier/build-verify-html.mjs --stdout  prints what it would write
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const BEGIN = '// ---- BEGIN CORE';
const END = '// ---- END CORE';
const PLACEHOLDER = '/*__CORE__*/';

export function coreOf(mjs) {
  const a = mjs.indexOf(`\n${BEGIN}`);
  const b = mjs.indexOf(`\n${END}`);
  if (a < 0 || b < a || mjs.indexOf(`\n${BEGIN}`, a + 1) >= 0 || mjs.indexOf(`\n${END}`, b + 1) >= 0)
    throw new Error('hireledger-verify.mjs must hold exactly one BEGIN CORE and one END CORE marker line');
  const core = mjs.slice(a + 1, mjs.indexOf('\n', b + 1) + 1);
  // Inside an inline <script>, these would end or confuse the script element.
  if (/<\/script|<!--/i.test(core)) throw new Error('the core must not contain "</script" or "<!--"');
  if (/^\s*(import|export)\b/m.test(core)) throw new Error('the core must not import or export (it runs as a plain script)');
  return core;
}

export function buildHtml(template, mjs) {
  const parts = template.split(PLACEHOLDER);
  if (parts.length !== 2) throw new Error(`verify.template.html must hold ${PLACEHOLDER} exactly once`);
  return parts[0] + coreOf(mjs) + parts[1];
}

const html = buildHtml(
  readFileSync(join(here, 'verify.template.html'), 'utf8'),
  readFileSync(join(here, 'hireledger-verify.mjs'), 'utf8'),
);
const out = join(here, 'verify.html');
const mode = process.argv[2];
if (mode === '--stdout') process.stdout.write(html);
else if (mode === '--check') {
  let current = null;
  try {
    current = readFileSync(out, 'utf8');
  } catch {
    current = null;
  }
  if (current !== html) {
    console.error('verifier/verify.html is not what node verifier/build-verify-html.mjs builds: run it and commit the result');
    process.exitCode = 1;
  }
} else if (mode === undefined) writeFileSync(out, html);
else {
  console.error('usage: node verifier/build-verify-html.mjs [--check | --stdout]');
  process.exitCode = 2;
}
