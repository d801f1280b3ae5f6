import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDotEnv } from '../../src/config/dotenv';
import { maskUrl, unreachable } from '../../src/config/services';

function dirWith(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'hl-dotenv-'));
  writeFileSync(join(dir, '.env'), text);
  return dir;
}

describe('.env', () => {
  const file = [
    '# a comment',
    'DATABASE_URL=postgres://fromfile@127.0.0.1:5432/x',
    'REDIS_URL="redis://fromfile:6379"',
    'export LOG_LEVEL=debug',
    'PORT=4000 # trailing comment',
    'EMPTY_IN_ENV=file',
  ].join('\n');

  test('fills in what the environment leaves unset; the environment wins, even when empty', () => {
    const env: NodeJS.ProcessEnv = { REDIS_URL: 'redis://fromenv:6379', EMPTY_IN_ENV: '' };
    const result = loadDotEnv(env, dirWith(file));
    expect(env['DATABASE_URL']).toBe('postgres://fromfile@127.0.0.1:5432/x');
    expect(env['REDIS_URL']).toBe('redis://fromenv:6379');
    expect(env['LOG_LEVEL']).toBe('debug');
    expect(env['PORT']).toBe('4000');
    expect(env['EMPTY_IN_ENV']).toBe('');
    expect(result?.loaded.sort()).toEqual(['DATABASE_URL', 'LOG_LEVEL', 'PORT']);
  });

  test('a missing .env is fine; a missing ENV_FILE is an error naming it', () => {
    const empty = mkdtempSync(join(tmpdir(), 'hl-dotenv-'));
    expect(loadDotEnv({}, empty)).toBeUndefined();
    expect(() => loadDotEnv({ ENV_FILE: 'nope.env' }, empty)).toThrow(/nope\.env.*ENV_FILE/);
  });

  test('ENV_FILE names another file', () => {
    const dir = dirWith('');
    writeFileSync(join(dir, 'other.env'), 'WECOM_TOKEN=fromother\n');
    const env: NodeJS.ProcessEnv = { ENV_FILE: 'other.env' };
    loadDotEnv(env, dir);
    expect(env['WECOM_TOKEN']).toBe('fromother');
  });

  test('the test suite writes out whole environments: NODE_ENV=test skips .env unless ENV_FILE is set', () => {
    const env: NodeJS.ProcessEnv = { NODE_ENV: 'test' };
    expect(loadDotEnv(env, dirWith(file))).toBeUndefined();
    expect(env['DATABASE_URL']).toBeUndefined();
  });

  test("Node's own process.loadEnvFile does not override either (the behaviour this mirrors)", () => {
    const dir = dirWith('HL_PROBE=file\nHL_PROBE_NEW=file\n');
    const script = `process.loadEnvFile(${JSON.stringify(join(dir, '.env'))}); console.log(process.env.HL_PROBE, process.env.HL_PROBE_NEW)`;
    const out = spawnSync(process.execPath, ['-e', script], { env: { HL_PROBE: 'env' }, encoding: 'utf8' });
    expect(out.stdout.trim()).toBe('env file');
  });
});

describe('a service that does not answer', () => {
  test('is named with its variable and a masked URL, in one line', () => {
    const err = unreachable('PostgreSQL', 'DATABASE_URL', 'postgres://app:s3cret@db:5432/hl', { code: 'ECONNREFUSED' });
    expect(err.message).toContain('PostgreSQL at postgres://app:***@db:5432/hl (DATABASE_URL) does not answer: ECONNREFUSED');
    expect(err.message).not.toContain('s3cret');
    expect(err.stack).toBe(err.message);
    expect(maskUrl('redis://:pw@127.0.0.1:6379')).toBe('redis://:***@127.0.0.1:6379');
  });
});
