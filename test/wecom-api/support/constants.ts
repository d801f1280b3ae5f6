/** The sandbox corp the client tests use (kept apart from harness.ts so child processes load nothing else). */
export const KEYS = {
  corpId: 'wwhireledgerdemo01',
  agentId: 1000002,
  secret: 'HireLedgerApiClientTestSecret01',
  token: 'ApiClientTestToken',
  encodingAESKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
} as const;
