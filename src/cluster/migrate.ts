/** Every schema the tool keeps in PostgreSQL, created or brought up to date in one call (`payments migrate`). */
import { ensureAuditSchema } from '../audit/pg-schema.js';
import { RetryingConnection } from '../journal/postgres/connection.js';
import { schemaVersion } from '../journal/postgres/schema.js';
import { parsePostgresUrl } from '../journal/postgres/url.js';
import { ensureClusterSchema } from './schema.js';

/** Returns the journal schema's version now in the database. */
export async function migrateAll(journalUrl: string): Promise<number> {
  const target = parsePostgresUrl(journalUrl);
  const connection = new RetryingConnection(target, 'payments migrate');
  try {
    await connection.run(
      'migrating the schemas',
      async (c) => {
        await ensureClusterSchema(c, target.display); // the journal's schema first, then the cluster's
        await ensureAuditSchema(c);
      },
      { patient: true },
    );
    return schemaVersion;
  } finally {
    await connection.drop();
  }
}
