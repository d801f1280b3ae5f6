import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { REDIS_URL } from './env';
import { TEST_KEYS } from './wecom';

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

export interface ApiProcess {
  url: string;
  child: ChildProcess;
  exited: Promise<number | null>;
}

/** The real API as its own OS process (src/main.ts), for kill -9 and SIGTERM tests. */
export async function spawnApi(
  databaseUrl: string,
  port: number,
  extraEnv: Record<string, string> = {},
  /** 'healthy': /health answers 200; 'listening': it answers at all (e.g. 503 while Redis is down). */
  waitFor: 'healthy' | 'listening' = 'healthy',
): Promise<ApiProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, '..', '..', 'src', 'main.ts')], {
    env: {
      PATH: process.env['PATH'],
      LOG_LEVEL: 'silent',
      DATABASE_URL: databaseUrl,
      REDIS_URL,
      HOST: '127.0.0.1',
      PORT: String(port),
      WECOM_CORP_ID: TEST_KEYS.corpId,
      WECOM_AGENT_ID: '1000002',
      WECOM_SECRET: 'test-secret',
      WECOM_TOKEN: TEST_KEYS.token,
      WECOM_ENCODING_AES_KEY: TEST_KEYS.encodingAesKey,
      QUEUE_PREFIX: `hltest_proc_${port}`,
      ...extraEnv,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 150; i++) {
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
