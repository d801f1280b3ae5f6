/**
 * Start-up messages for a service that does not answer: which one, at which URL (password
 * masked), through which variable, and what to do. One line instead of a driver's stack trace.
 */

/** The URL with its password replaced by *** (anything unparsable is not printed at all). */
export function maskUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(not a URL)';
  }
}

/** Connection-level failures (the service is not there or refuses us), as opposed to bugs. */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  '28P01', // password authentication failed
  '28000', // no pg_hba.conf entry / role does not exist
  '3D000', // database does not exist
  '57P03', // the database system is starting up / shutting down
]);

function codeOf(err: unknown): string | undefined {
  const e = err as { code?: unknown; errors?: unknown[]; driverError?: unknown } | undefined;
  if (typeof e?.code === 'string') return e.code;
  if (e?.driverError) return codeOf(e.driverError);
  // AggregateError from net.connect trying ::1 and 127.0.0.1.
  if (Array.isArray(e?.errors) && e.errors.length > 0) return codeOf(e.errors[0]);
  return undefined;
}

export function isUnreachable(err: unknown): boolean {
  const code = codeOf(err);
  if (code !== undefined) return UNREACHABLE_CODES.has(code);
  return /timeout|terminated|Connection terminated/i.test((err as Error | undefined)?.message ?? '');
}

/** An error whose printed stack is its message: the message already says everything. */
export class ServiceUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ServiceUnavailableError';
    this.stack = message;
  }
}

const HINTS: Record<string, string> = {
  '28P01': 'the password is wrong',
  '28000': 'the user may not log in (role missing or pg_hba.conf)',
  '3D000': 'the database does not exist (create it, or run npm run db:roles / npm run demo)',
};

export function unreachable(
  service: 'PostgreSQL' | 'Redis',
  variable: string,
  url: string,
  err: unknown,
): ServiceUnavailableError {
  const code = codeOf(err) ?? ((err as Error | undefined)?.message || String(err));
  const hint =
    HINTS[code] ??
    (service === 'PostgreSQL'
      ? 'start PostgreSQL (README "Quick start": docker compose up -d postgres) or point it elsewhere'
      : 'start Redis (README "Quick start": docker compose up -d redis) or point it elsewhere');
  return new ServiceUnavailableError(
    `${service} at ${maskUrl(url)} (${variable}) does not answer: ${code}. ${hint[0]?.toUpperCase()}${hint.slice(1)}; ` +
      `set ${variable} in the environment or in .env.`,
  );
}
