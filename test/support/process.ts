import { spawn, type ChildProcess, type ChildProcessWithoutNullStreams, type StdioOptions } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { testEnv } from './env';

/** A free TCP port on loopback (bound and released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const address = s.address();
      s.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** The app's entrypoints: the API and the worker. */
export type Entrypoint = 'main.ts' | 'worker.ts';

/**
 * src/<entry> as its own OS process (through tsx) with exactly `env` and PATH, nothing else of
 * this process's environment. Default stdio: stdout ignored, stderr shown.
 */
export function spawnEntrypoint(entry: Entrypoint, env: Record<string, string>, stdio: 'pipe'): ChildProcessWithoutNullStreams;
export function spawnEntrypoint(entry: Entrypoint, env: Record<string, string>, stdio?: StdioOptions): ChildProcess;
export function spawnEntrypoint(
  entry: Entrypoint,
  env: Record<string, string>,
  stdio: StdioOptions = ['ignore', 'ignore', 'inherit'],
): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', join(__dirname, '..', '..', 'src', entry)], {
    env: { PATH: process.env['PATH'], ...env },
    stdio,
  });
}

/** Resolves with the exit code once `child` has exited. */
export function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
}

export interface ApiProcess {
  url: string;
  child: ChildProcess;
  exited: Promise<number | null>;
}

/** The real API as its own OS process (src/main.ts) on testEnv, for kill -9 and SIGTERM tests. */
export async function spawnApi(
  databaseUrl: string,
  port: number,
  extraEnv: Record<string, string> = {},
  /** 'healthy': /health answers 200; 'listening': it answers at all (e.g. 503 while Redis is down). */
  waitFor: 'healthy' | 'listening' = 'healthy',
): Promise<ApiProcess> {
  const child = spawnEntrypoint('main.ts', testEnv({ DATABASE_URL: databaseUrl, PORT: String(port), ...extraEnv }));
  const exited = exitOf(child);
  const url = `http://127.0.0.1:${port}`;
  // Up to 30 s: tsx compiles the API on start, which is slow on a loaded 2-core machine.
  for (let i = 0; i < 300; i++) {
    try {
      const status = (await fetch(`${url}/health`)).status;
      if (status === 200 || waitFor === 'listening') return { url, child, exited };
    } catch {
      // not up yet
    }
    if (child.exitCode !== null) throw new Error(`API exited with ${child.exitCode} during start-up`);
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error('API did not become healthy');
}
