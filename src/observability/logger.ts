import type { FastifyBaseLogger } from 'fastify';
import pino from 'pino';

/** pino, as Fastify uses it. Times are UTC ISO-8601; redaction keeps secrets and tokens out of logs. */
export type Logger = FastifyBaseLogger;

export function createLogger(level: string, name: string): Logger {
  return pino({
    name,
    level,
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: ['req.headers.authorization', 'req.headers.cookie', '*.access_token', '*.secret', '*.corpsecret'],
      censor: '[redacted]',
    },
  }) as unknown as Logger;
}
