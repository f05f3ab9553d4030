/**
 * `payments migrate --journal postgres://…`: creates or brings up to date the schemas (payments,
 * payments_cluster, payments_audit), as the migrator role that owns them. Other roles then find
 * them current and run no DDL. The first command of any role that may create them does the same.
 */
import type { Argv, CommandModule } from 'yargs';
import type { CliIo } from '../io.js';
import type { CommonArgs } from '../options.js';
import { checkPostgresJournal, journalOption } from './cluster-options.js';

interface MigrateArgs extends CommonArgs {
  journal: string;
}

export function migrateCommand(io: CliIo, rawArgv: readonly string[]): CommandModule<object, MigrateArgs> {
  return {
    command: 'migrate',
    describe: 'Create or update the PostgreSQL schemas (as the role that owns them)',
    builder: (y: Argv) => journalOption(y) as unknown as Argv<MigrateArgs>,
    handler: async (argv) => {
      const journalUrl = checkPostgresJournal(argv.journal);
      const [{ audited, auditSinkFor }, { migrateAll }] = await Promise.all([
        import('../../audit/recorder.js'),
        import('../../cluster/migrate.js'),
      ]);
      // Migrated first: the audit table the record goes to is one of the schemas made here.
      const version = await migrateAll(journalUrl);
      await audited(auditSinkFor(journalUrl, undefined), 'migrate', rawArgv, async () => undefined);
      io.stderr(`schemas payments (version ${version}), payments_cluster, payments_audit: up to date\n`);
    },
  };
}
