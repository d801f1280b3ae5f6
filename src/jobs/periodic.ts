import type { Logger } from '../observability/logger';

/**
 * Runs `task` every `intervalMs` (the first time after one interval), one run at a time, until
 * stopped. A failing run is logged and the next one tries again: for upkeep that must not stop
 * for good because Redis or PostgreSQL was away once (re-upserting schedulers a Redis lost).
 */
export interface Periodic {
  /** Stops the timer and waits for a run in progress. */
  stop(): Promise<void>;
}

export function every(intervalMs: number, task: () => Promise<void>, log: Logger, what: string): Periodic {
  let stopped = false;
  let current: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      current = task()
        .catch((err: unknown) =>
          log.warn({ err: err instanceof Error ? err.message : String(err) }, `${what} failed; will retry`),
        )
        .finally(schedule);
    }, intervalMs);
    timer.unref();
  };
  schedule();
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await current;
    },
  };
}
