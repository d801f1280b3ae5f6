/**
 * Run as a separate OS process by the transact crash test: makes a domain write inside a ledger
 * transaction, says so on stdout, then waits before returning its records, so the parent can
 * kill -9 it between the domain write and the commit.
 */
import { Pool } from 'pg';
import { createLedger } from '../../src/evidence';

async function main(): Promise<void> {
  const [url, id] = process.argv.slice(2) as [string, string];
  const pool = new Pool({ connectionString: url, max: 2 });
  const ledger = createLedger({ pool });
  await ledger.transact(async (tx) => {
    await tx.query(`INSERT INTO test_offers (id, state) VALUES ($1, 'approved')`, [id]);
    process.stdout.write('written\n');
    await new Promise((r) => setTimeout(r, 60_000));
    return {
      result: null,
      entries: [
        {
          stream: `offer:${id}`,
          kind: 'offer.approved',
          occurredAt: new Date(),
          actor: 'hireledger',
          source: 'hireledger',
          sourceRef: `offer:${id}:approved`,
          payload: {},
          raw: null,
        },
      ],
    };
  });
}

void main();
