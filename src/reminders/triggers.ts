import type { Queue } from 'bullmq';
import { REMINDER_JOBS, triggerJobId } from './names';

/**
 * The trigger of a reminder: one BullMQ delayed job on the corp's jobs queue, named
 * `reminders.fire` (so the worker runtime's jobs worker runs it under the job policy) with the
 * job id from the reminder's id. Redis holds only this trigger: the row in PostgreSQL is the
 * reminder, and the sweeper arms again whatever Redis lost (NOTES: a custom jobId dedupes only
 * while the job exists, so the row's state, not the job, is what makes sending at most once).
 */
export interface ReminderTriggers {
  /**
   * Makes sure a trigger for the reminder is waiting: does nothing when one is delayed, waiting or
   * active; replaces one that already ran (completed or failed: the row is still pending, so it
   * must run again); adds one when Redis has none. Returns whether it added one.
   */
  ensure(reminderId: string, dueAt: Date, now: Date): Promise<boolean>;
}

const LIVE = new Set(['delayed', 'waiting', 'active', 'prioritized', 'waiting-children']);

/** The triggers on a BullMQ queue: the corp's jobs queue (`QUEUES.jobs`), the one the worker's jobs worker serves. */
export function bullmqTriggers(queue: Pick<Queue, 'add' | 'getJob'>): ReminderTriggers {
  return {
    async ensure(reminderId, dueAt, now) {
      const jobId = triggerJobId(reminderId);
      const existing = await queue.getJob(jobId);
      if (existing) {
        const state = await existing.getState();
        if (LIVE.has(state)) return false;
        // It ran while the row stayed pending (a trigger that came early, a send refused by a rate limit): again.
        await existing.remove();
      }
      await queue.add(
        REMINDER_JOBS.fire,
        { reminderId },
        {
          jobId,
          delay: Math.max(0, dueAt.getTime() - now.getTime()),
          // Each attempt re-reads the row; only a pending, due row is ever sent.
          removeOnComplete: true,
          removeOnFail: { age: 7 * 24 * 3600 },
        },
      );
      return true;
    },
  };
}
