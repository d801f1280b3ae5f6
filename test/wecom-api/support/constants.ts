/** The sandbox corp the client tests use (kept apart from harness.ts so child processes load nothing else). */
export { SANDBOX_KEYS as KEYS } from '../../support/keys';
