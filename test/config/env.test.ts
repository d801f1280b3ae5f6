import { ConfigError, loadConfig } from '../../src/config/env';
import { webhookKeyOf } from '../../src/wecom/api/webhook';

const valid = {
  DATABASE_URL: 'postgres://u@127.0.0.1:5432/db',
  REDIS_URL: 'redis://127.0.0.1:6379',
  WECOM_CORP_ID: 'wwhireledger01',
  WECOM_AGENT_ID: '1000002',
  WECOM_SECRET: 's3cret',
  WECOM_TOKEN: 'Token123',
  WECOM_ENCODING_AES_KEY: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
};

function problems(env: Record<string, string | undefined>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('configuration', () => {
  test('a complete environment parses, with documented defaults', () => {
    const c = loadConfig(valid);
    expect(c.PORT).toBe(3000);
    expect(c.HOST).toBe('127.0.0.1');
    expect(c.WECOM_API_BASE).toBe('https://qyapi.weixin.qq.com');
    expect(c.WECOM_CALLBACK_MAX_SKEW_SECONDS).toBe(300);
    expect(Object.isFrozen(c)).toBe(true);
  });

  test('every missing secret is named, none has a default', () => {
    const p = problems({ DATABASE_URL: valid.DATABASE_URL, REDIS_URL: valid.REDIS_URL });
    for (const name of ['WECOM_CORP_ID', 'WECOM_AGENT_ID', 'WECOM_SECRET', 'WECOM_TOKEN', 'WECOM_ENCODING_AES_KEY']) {
      expect(p).toContain(`${name} is required but not set`);
    }
  });

  test('an EncodingAESKey that is not 43 characters is refused by name', () => {
    expect(problems({ ...valid, WECOM_ENCODING_AES_KEY: 'short' })).toEqual([
      'WECOM_ENCODING_AES_KEY must be exactly 43 letters or digits (WeCom EncodingAESKey)',
    ]);
  });

  test.each([
    ['PORT', 'eighty', 'PORT must be a whole number'],
    ['PORT', '70000', 'PORT'],
    ['DATABASE_URL', 'mysql://x', 'DATABASE_URL must be a URL with scheme postgres: or postgresql:'],
    ['REDIS_URL', 'not a url', 'REDIS_URL'],
    ['WECOM_CALLBACK_MAX_SKEW_SECONDS', '-1', 'WECOM_CALLBACK_MAX_SKEW_SECONDS'],
  ])('malformed %s=%s is reported', (name, value, message) => {
    const p = problems({ ...valid, [name]: value });
    expect(p).toHaveLength(1);
    expect(p[0]).toContain(message);
  });

  test('0 turns the callback timestamp check off', () => {
    expect(loadConfig({ ...valid, WECOM_CALLBACK_MAX_SKEW_SECONDS: '0' }).WECOM_CALLBACK_MAX_SKEW_SECONDS).toBe(0);
  });

  test('WECOM_CHECKPOINT_WEBHOOK_KEY accepts exactly the keys the webhook client sends (webhookKeyOf)', () => {
    const clientTakes = (key: string) => {
      try {
        webhookKeyOf(key);
        return true;
      } catch {
        return false;
      }
    };
    const keys = [
      'a',
      '1234567',
      '12345678',
      'abcd-ef01-2345',
      'x'.repeat(128),
      'x'.repeat(129),
      'abc_defgh',
      'abcdefg=',
      '测试测试测试测试',
    ];
    for (const key of keys) {
      const accepted = problems({ ...valid, WECOM_CHECKPOINT_WEBHOOK_KEY: key }).length === 0;
      expect({ key, accepted }).toEqual({ key, accepted: clientTakes(key) });
    }
    expect(problems({ ...valid, WECOM_CHECKPOINT_WEBHOOK_KEY: '1234567' })).toEqual([
      'WECOM_CHECKPOINT_WEBHOOK_KEY must be the key= value of the robot webhook URL (8 to 128 letters, digits or -)',
    ]);
  });

  test('the process exits with the problems when started with a bad environment', async () => {
    const { execFile } = await import('node:child_process');
    // eslint-disable-next-line @typescript-eslint/unbound-method -- path.join does not use `this`
    const { join } = await import('node:path');
    const tsx = join(__dirname, '..', '..', 'node_modules', '.bin', 'tsx');
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(
        tsx,
        [join(__dirname, '..', '..', 'src', 'main.ts')],
        { env: { PATH: process.env['PATH'], ...valid, WECOM_TOKEN: '' } },
        (err, _o, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
      );
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('WECOM_TOKEN is required but not set');
  }, 20000);
});
