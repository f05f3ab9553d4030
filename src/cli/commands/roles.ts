/** `payments roles [--migrator R] [--node R] [--auditor R]`: prints the grant script of the three roles. */
import type { Argv, CommandModule } from 'yargs';
import { checkRoleName, defaultRoles, grantScript } from '../../audit/roles.js';
import type { CliIo } from '../io.js';
import type { CommonArgs } from '../options.js';

interface RolesArgs extends CommonArgs {
  migrator: string;
  node: string;
  auditor: string;
  print: boolean;
}

export const rolesOptionNames = ['migrator', 'node', 'auditor', 'print'];

export function rolesCommand(io: CliIo): CommandModule<object, RolesArgs> {
  return {
    command: 'roles',
    describe: 'Print the SQL that grants the migrator, node and auditor roles their rights',
    builder: (y: Argv) =>
      y
        .option('migrator', {
          type: 'string',
          requiresArg: true,
          default: defaultRoles.migrator,
          describe: 'owns the schemas',
        })
        .option('node', {
          type: 'string',
          requiresArg: true,
          default: defaultRoles.node,
          describe: 'nodes, submit, result, shards',
        })
        .option('auditor', {
          type: 'string',
          requiresArg: true,
          default: defaultRoles.auditor,
          describe: 'reads events and the audit log',
        })
        .option('print', {
          type: 'boolean',
          default: true,
          describe: 'print the script (what this command does)',
        }) as unknown as Argv<RolesArgs>,
    handler: async (argv) => {
      const roles = {
        migrator: checkRoleName('migrator', argv.migrator),
        node: checkRoleName('node', argv.node),
        auditor: checkRoleName('auditor', argv.auditor),
      };
      await io.stdout(grantScript(roles));
    },
  };
}
