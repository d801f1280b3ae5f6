/**
 * Names every module shares. Each owner keeps its own names (ARCHITECTURE.md, "Names"); only what
 * no single owner has lives here.
 */

/** `actor` of what HireLedger does by itself (a decision no person took, a fetch, a retry given up). */
export const HIRELEDGER_ACTOR = 'hireledger';
