import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import 'reflect-metadata';
import { projectRoot } from '../paths';
import { DataSource, type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Migrations are plain SQL files in migrations/, named `<13-digit timestamp>-<name>.sql`, run in
 * name order by TypeORM's migration runner (which records them in the `migrations` table and
 * wraps each in its own transaction). They only go forward: evidence is never migrated down.
 */
export const MIGRATIONS_DIR = join(projectRoot(), 'migrations');

const FILE = /^(\d{13})-([a-z0-9-]+)\.sql$/;

export function loadSqlMigrations(dir: string = MIGRATIONS_DIR): (new () => MigrationInterface)[] {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort();
  return files.map((file) => {
    const match = FILE.exec(file);
    if (!match) throw new Error(`migration file name ${file} must look like 1763769600000-some-name.sql`);
    const [, timestamp, slug] = match as unknown as [string, string, string];
    const sql = readFileSync(join(dir, file), 'utf8');
    const className = slug.replace(/(^|-)([a-z0-9])/g, (_m, _d, c: string) => c.toUpperCase()) + timestamp;
    const migration = class implements MigrationInterface {
      name = className;
      async up(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(sql);
      }
      async down(): Promise<void> {
        throw new Error(`${className} cannot be reverted: evidence schema only moves forward`);
      }
    };
    Object.defineProperty(migration, 'name', { value: className });
    return migration;
  });
}

export function createDataSource(databaseUrl: string): DataSource {
  return new DataSource({
    type: 'postgres',
    url: databaseUrl,
    migrations: loadSqlMigrations(),
    migrationsTransactionMode: 'each',
    logging: ['error'],
  });
}

/** Apply every pending migration; returns the names applied. Throws on the first failure. */
export async function migrate(databaseUrl: string): Promise<string[]> {
  const ds = createDataSource(databaseUrl);
  await ds.initialize();
  try {
    const applied = await ds.runMigrations({ transaction: 'each' });
    return applied.map((m) => m.name);
  } finally {
    await ds.destroy();
  }
}
