import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * The folder holding package.json, migrations/ and wecom-h5/: found by walking up, so the same code
 * works from src/ (tsx) and from dist/src/ (the image).
 */
export function projectRoot(from: string = __dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'migrations'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no project root (package.json + migrations/) above ${from}`);
  }
}
