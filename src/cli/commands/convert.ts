/**
 * `payments convert --journal postgres://…?journal=NAME`: rewrites a PostgreSQL journal written in
 * the row format of an older version (one row a record) as batches, which this version reads. Other
 * commands refuse such a journal and name this one.
 */
import type { Argv, CommandModule } from 'yargs';
import { usageError } from '../../errors.js';
import { convertJournal } from '../../journal/postgres/convert.js';
import { isPostgresUrl, parsePostgresUrl } from '../../journal/postgres/url.js';
import { createLogger } from '../../ops/logger.js';
import type { CliIo } from '../io.js';
import { logConfigOf, type CommonArgs } from '../options.js';

interface ConvertArgs extends CommonArgs {
  journal: string;
}

export function convertCommand(io: CliIo, rawArgv: readonly string[]): CommandModule<object, ConvertArgs> {
  return {
    command: 'convert',
    describe: 'Rewrite a PostgreSQL journal of an older version (one row a record) as batches',
    builder: (y: Argv) =>
      y.option('journal', {
        type: 'string',
        demandOption: true,
        describe: 'the journal: postgres://…?journal=NAME',
      }) as unknown as Argv<ConvertArgs>,
    handler: async (argv) => {
      if (!isPostgresUrl(argv.journal))
        throw usageError('--journal: convert reads a PostgreSQL journal (postgres://…); a SQLite journal needs none');
      const target = parsePostgresUrl(argv.journal);
      const log = createLogger(logConfigOf(argv, rawArgv, io.stderrIsTty));
      const started = performance.now();
      const { audited, auditSinkFor } = await import('../../audit/recorder.js');
      const result = await audited(auditSinkFor(argv.journal, undefined), 'convert', rawArgv, () =>
        convertJournal(target),
      );
      const seconds = Math.round(performance.now() - started) / 1000;
      if (result.converted)
        log.info(
          { ...result, seconds },
          `journal ${target.display}: converted from format ${result.fromFormat}: ${result.batches} batches, ${result.records} records`,
        );
      else log.info({ seconds }, `journal ${target.display}: already stored as batches; nothing to convert`);
    },
  };
}
