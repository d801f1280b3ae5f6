/**
 * Why a write to PostgreSQL failed, in the few classes an operator acts on differently. The
 * callback route counts its 503s by these (hireledger_wecom_callback_storage_failures_total{reason})
 * and logs each with what to do, so a full disk or a dead database is an alert, not a guess.
 */
export type StorageFailureReason = 'disk_full' | 'unavailable' | 'timeout' | 'resources' | 'other';

export interface StorageFailure {
  reason: StorageFailureReason;
  /** One line for the log: what happened and what to do. */
  hint: string;
}

const HINTS: Record<StorageFailureReason, string> = {
  disk_full: 'PostgreSQL is out of disk space: free space on its data/WAL volume; callbacks are refused (503) until then',
  unavailable: 'PostgreSQL does not answer or closed the connection: check that it runs and is reachable at DATABASE_URL',
  timeout: 'PostgreSQL did not answer in time (connection, statement or commit timeout): check its load and the network',
  resources: 'PostgreSQL is out of a resource (memory, connections, locks): check its log',
  other: 'the evidence store failed: see the error',
};

/** Connection-level failures, as node and pg report them. */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
]);
const UNAVAILABLE_MESSAGES = [
  'Connection terminated',
  'connection error',
  'not queryable',
  'Client was closed',
  'the database system is',
];
const TIMEOUT_MESSAGES = ['timeout exceeded when trying to connect', 'Query read timeout', 'connection timeout'];

export function storageFailureOf(err: unknown): StorageFailure {
  const reason = reasonOf(err);
  return { reason, hint: HINTS[reason] };
}

function reasonOf(err: unknown): StorageFailureReason {
  const e = (err ?? {}) as { code?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  const message = typeof e.message === 'string' ? e.message : '';
  // SQLSTATE 53100 disk_full; 53xxx the other insufficient_resources.
  if (code === '53100') return 'disk_full';
  if (code === 'HL_DEADLINE' || code === '57014' || TIMEOUT_MESSAGES.some((m) => message.includes(m))) return 'timeout';
  if (code.startsWith('53')) return 'resources';
  // 08xxx connection exceptions; 57P01-57P03 shutdown, crash, cannot connect now.
  if (code.startsWith('08') || /^57P0[123]$/.test(code) || UNAVAILABLE_CODES.has(code)) return 'unavailable';
  if (UNAVAILABLE_MESSAGES.some((m) => message.includes(m))) return 'unavailable';
  return 'other';
}
