/**
 * The grants of the three PostgreSQL roles, as the script `payments roles --print` writes:
 *   migrator  owns the schemas (runs `payments migrate`, `payments convert`); runs this script
 *   node      writes its journal rows and leases, appends to the audit log; no DDL, no UPDATE or
 *             DELETE of the audit log (also refused by its trigger for every role)
 *   auditor   reads payments.events and payments_audit.log, nothing else
 * The script is idempotent; run it again after every `payments migrate` (a migration may add tables).
 */
import { usageError } from '../errors.js';

export interface RoleNames {
  readonly migrator: string;
  readonly node: string;
  readonly auditor: string;
}

export const defaultRoles: RoleNames = {
  migrator: 'payments_migrator',
  node: 'payments_node',
  auditor: 'payments_auditor',
};

const rolePattern = /^[a-z_][a-z0-9_]{0,62}$/;

export function checkRoleName(option: string, name: string): string {
  if (!rolePattern.test(name))
    throw usageError(`--${option} ${name}: a role name of lower-case letters, digits and '_' (at most 63)`, {
      usageHint: true,
    });
  return name;
}

export function grantScript(roles: RoleNames = defaultRoles): string {
  const { migrator, node, auditor } = roles;
  return `-- payments: grants of the node and auditor roles. Before it, as a superuser:
--   CREATE ROLE ${migrator} LOGIN PASSWORD '…';
--   CREATE ROLE ${node} NOLOGIN;
--   CREATE ROLE ${node}_a LOGIN PASSWORD '…' IN ROLE ${node};
--     (a login role per node and per operator: a role may end its own role's sessions, not another's)
--   CREATE ROLE ${auditor} LOGIN PASSWORD '…';
--   GRANT CREATE ON DATABASE <database> TO ${migrator};
-- then, as ${migrator}: payments migrate --journal postgres://${migrator}@host/<database>
-- then this script, as ${migrator} (the owner of the schemas): psql -v ON_ERROR_STOP=1 -f -
-- Run it again after every \`payments migrate\`.
BEGIN;
REVOKE ALL ON SCHEMA payments, payments_cluster, payments_audit FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA payments, payments_cluster, payments_audit FROM PUBLIC, ${node}, ${auditor};

-- ${node}: journal rows, leases and nodes, audit records (INSERT only). No CREATE on any schema.
GRANT USAGE ON SCHEMA payments, payments_cluster, payments_audit TO ${node};
GRANT SELECT ON payments.schema_migrations, payments.records, payments.events TO ${node};
GRANT SELECT, INSERT, UPDATE ON payments.journals TO ${node};
GRANT SELECT, INSERT ON payments.batches TO ${node};
GRANT SELECT, INSERT, DELETE ON payments.snapshots, payments.snapshot_parts TO ${node};
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA payments_cluster TO ${node};
GRANT INSERT ON payments_audit.log TO ${node};

-- ${auditor}: reads the journal's readable view and the audit log.
GRANT USAGE ON SCHEMA payments, payments_audit TO ${auditor};
GRANT SELECT ON payments.events, payments_audit.log TO ${auditor};
COMMIT;
`;
}
