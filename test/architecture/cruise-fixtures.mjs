// Runs the project's dependency-cruiser rules on each fixture folder and prints the violations as JSON:
//   node test/architecture/cruise-fixtures.mjs <config> <fixtures dir>
//   -> { "<case>": [{ "rule": "...", "from": "src/...", "to": "src/..." }, ...], ... }
// dependency-cruiser is ESM-only and jest runs CommonJS, so boundaries.test.ts calls this in a child
// process: one process for every case instead of one CLI start (and one TypeScript load) per case.
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cruise } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';

const [configFile, fixturesDir] = process.argv.slice(2).map((p) => resolve(p));
if (!configFile || !fixturesDir) {
  throw new Error('usage: cruise-fixtures.mjs <config> <fixtures dir>');
}
const options = await extractDepcruiseOptions(configFile);

const report = {};
for (const name of readdirSync(fixturesDir).sort()) {
  const baseDir = join(fixturesDir, name);
  if (!statSync(baseDir).isDirectory()) continue;
  const roots = ['src', 'sandbox', 'test'].filter((dir) => {
    try {
      return statSync(join(baseDir, dir)).isDirectory();
    } catch {
      return false;
    }
  });
  const { output } = await cruise(roots, { ...options, baseDir, outputType: 'json' });
  const result = typeof output === 'string' ? JSON.parse(output) : output;
  report[name] = result.summary.violations.map((v) => ({ rule: v.rule.name, from: v.from, to: v.to }));
}
process.stdout.write(JSON.stringify(report));
