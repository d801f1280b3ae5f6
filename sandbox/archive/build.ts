import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * Compiles the Finance SDK stand-in (finance-sdk-standin.c, libc only) into
 * `<outDir>/libWeWorkFinanceSdk_C.so`, reading the chat items the sandbox writes in `dataDir`.
 * Needs gcc (or $CC). Returns the library's path, which is what MSGAUDIT_SDK_LIBRARY names.
 */
export async function buildFinanceSdkStandIn(opts: { outDir: string; dataDir: string; cc?: string }): Promise<string> {
  if (!/^[^"\\\n]+$/.test(opts.dataDir))
    throw new Error('the stand-in data directory may not contain quotes, backslashes or newlines');
  mkdirSync(opts.outDir, { recursive: true });
  mkdirSync(opts.dataDir, { recursive: true });
  const out = join(opts.outDir, 'libWeWorkFinanceSdk_C.so');
  await promisify(execFile)(opts.cc ?? 'gcc', [
    '-std=c11',
    '-O2',
    '-Wall',
    '-Wextra',
    '-Werror',
    '-shared',
    '-fPIC',
    `-DSTANDIN_DATA_DIR="${opts.dataDir}"`,
    '-o',
    out,
    join(__dirname, 'finance-sdk-standin.c'),
  ]);
  return out;
}
