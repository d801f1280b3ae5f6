import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseEnv } from 'node:util';

/**
 * Reads `.env` (or ENV_FILE) from the working directory into process.env, once, before any
 * configuration is parsed. The environment wins: a variable already set, even to an empty string,
 * is never replaced by the file. A missing file is fine (production sets the environment itself).
 *
 * Node's own `process.loadEnvFile` also leaves existing variables alone (checked on 20.20 and
 * 24.9), but its parser and semantics are Node's to change; this states ours and is tested
 * (test/config/dotenv.test.ts). The test suite writes out the whole environment of every process
 * it starts (test/support/env.ts testEnv, NODE_ENV=test), so a developer's `.env` is skipped there.
 */
export function loadDotEnv(
  env: NodeJS.ProcessEnv = process.env,
  cwd = process.cwd(),
): { file: string; loaded: string[] } | undefined {
  if (env['NODE_ENV'] === 'test' && env['ENV_FILE'] === undefined) return undefined;
  const file = resolve(cwd, env['ENV_FILE'] || '.env');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !env['ENV_FILE']) return undefined;
    throw new Error(`cannot read ${file} (ENV_FILE): ${(err as Error).message}`);
  }
  const loaded: string[] = [];
  for (const [key, value] of Object.entries(parseEnv(text))) {
    if (value === undefined || env[key] !== undefined) continue;
    env[key] = value;
    loaded.push(key);
  }
  return { file, loaded };
}

let done = false;

/** For entrypoints (config/env.ts loadConfigOrExit and the scripts that read process.env themselves). */
export function loadDotEnvOnce(): void {
  if (done) return;
  done = true;
  try {
    loadDotEnv();
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(1);
  }
}
