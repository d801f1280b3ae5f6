/**
 * A bound on how long a caller waits for work it cannot cancel (RELIABILITY F14): the callback
 * route answers 503 instead of hanging toward WeCom's 5 s when the database is slow. The work goes
 * on; what it settles with later is dropped here, never left as an unhandled rejection.
 */
export class DeadlineError extends Error {
  readonly code = 'HL_DEADLINE';
  constructor(
    readonly what: string,
    readonly ms: number,
  ) {
    super(`${what} did not finish within ${ms} ms`);
    this.name = 'DeadlineError';
  }
}

export function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  if (ms <= 0) {
    work.catch(() => undefined);
    return Promise.reject(new DeadlineError(what, 0));
  }
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineError(what, ms)), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}
