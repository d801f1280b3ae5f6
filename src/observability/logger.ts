import type { FastifyBaseLogger } from 'fastify';
import pino from 'pino';

/** pino, as Fastify uses it. Times are UTC ISO-8601; redaction keeps secrets and tokens out of logs. */
export type Logger = FastifyBaseLogger;

/**
 * `to: 'stderr'` for commands whose stdout is their result (e.g. evidence:checkpoint prints the
 * signed note alone, to be saved as a file).
 */
export function createLogger(level: string, name: string, opts: { to?: 'stdout' | 'stderr' } = {}): Logger {
  const options = {
    name,
    level,
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: ['req.headers.authorization', 'req.headers.cookie', '*.access_token', '*.secret', '*.corpsecret'],
      censor: '[redacted]',
    },
  };
  return opts.to === 'stderr' ? pino(options, pino.destination(2)) : pino(options);
}
