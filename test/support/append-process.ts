/**
 * Run as a separate OS process by the concurrency test: appends `count` records spread over a few
 * shared streams, as an API and a worker process would, then prints how many it appended.
 */
import { Pool } from 'pg';
import { createLedger } from '../../src/evidence';
import { evidenceEntry } from '../factories/evidence';

async function main(): Promise<void> {
  const [url, tag, countText] = process.argv.slice(2);
  const count = Number(countText);
  const pool = new Pool({ connectionString: url, max: 4 });
  const ledger = createLedger({ pool, batchMax: 16 });
  const results = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      ledger.append(
        evidenceEntry({
          stream: `candidate:${i % 3}`,
          kind: 'test.append',
          occurredAt: new Date(),
          actor: tag ?? 'p',
          sourceRef: `${tag}-${i}`,
          payload: { i, tag: tag ?? '' },
        }),
      ),
    ),
  );
  await ledger.close();
  await pool.end();
  process.stdout.write(String(results.filter((r) => r.status === 'appended').length));
}

void main();
