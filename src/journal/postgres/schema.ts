/**
 * The `payments` schema, created and migrated by the tool. `payments.schema_migrations` lists the
 * versions applied; each migration runs in one transaction under an advisory lock, so two runs
 * starting together migrate once. A database whose schema is newer than this program knows is
 * refused (exit 2): an older program must not write into a layout it does not understand.
 *
 * Layout (version 1):
 *   journals        one row per journal: its shard count and input fingerprint (the manifest)
 *   records         one row per input row a partition applied: the outcome (event or rejection),
 *                   declaratively partitioned by journal, then by partition (one leaf per shard,
 *                   written by that shard's worker alone, with COPY). No primary key: a B-tree
 *                   halved COPY throughput (measured, see README); each leaf has a BRIN index on
 *                   seq (rows arrive in seq order), and a row can only be committed together with
 *                   its batch's row in `batches`, whose keys are unique, so seq stays unique.
 *   batches         one row per committed batch: the idempotency key (journal, partition,
 *                   first_line), its sequence range and a CRC-32 of its records; since version 2
 *                   also its input proof (input_end, input_crc: io/input-proof.ts)
 *   snapshots, snapshot_parts   a partition's accounts and transaction index as bytea parts
 *   events (view)   records in readable form (names, amounts in units) for auditors
 *
 * Version 3: the unit of storage is the batch. batches.data holds a batch's records in the compact
 * codec (journal/compact-codec.ts), its crc covers them and every field of the row, and generation
 * names the cluster lease that wrote it. payments.records keeps only journals in the row format
 * until `payments convert` rewrites them; events reads both, decoding batches in the database
 * (batch_records).
 *
 * Version 4: journals may be sealed (journal/seal.ts): seal_id (the random id every sealed unit's
 * associated data names) and seal_key_id (the key id its units are sealed with); null for a journal
 * that is not sealed. batch_records refuses a sealed batch, naming its key id, rather than decode
 * its ciphertext: SQL has no key, and auditors read a sealed journal with `payments inspect`.
 *
 * Version 5: a snapshot may hold accounts alone (tx_parts = -1, no snapshot_parts): a finished
 * cluster shard's last one, which outputs read. A recovery reads whole snapshots only, so an older
 * program, which would take it for a whole one and fail on it, is kept off such a database.
 *
 * Version 6: snapshots.base_seq, null for a full snapshot. A snapshot with a base_seq holds every
 * account but only the index entries added or changed after the full snapshot at that seq, which
 * it is read over (snapshot-write.ts); its checksum (or sealed associated data) covers base_seq.
 *
 * Version 7: the snapshots are dropped. Up to version 6 a whole snapshot's checksums were stored as
 * 0 whatever its bytes (snapshot-codec.ts), so its damage went unnoticed; snapshots are a cache of
 * the batches, which stay, so the next run or recovery replays them and writes checked snapshots.
 */
import { pgSchemaLockAttempts } from '../../constants.js';
import type pg from 'pg';
import { JournalCorrupt, errorCode } from '../../errors.js';

const schemaName = 'payments';
/** Any advisory-lock key the tool takes starts with this (first half of a two-int key). */
export const migrationLockKey = 0x70617900; // "pay\0"

/** The readable columns of the events view, from a record's codes (kind 5 is a rejection). */
function readable(t: string): string {
  return `(ARRAY['Deposited','Withdrawn','DisputeOpened','DisputeResolved','ChargedBack','Rejected'])[${t}.kind + 1] AS record,
          (ARRAY['deposit','withdrawal','dispute','resolve','chargeback'])[${t}.type + 1] AS type,
          ${t}.client, ${t}.tx,
          CASE WHEN ${t}.kind = 5 AND ${t}.type > 1 THEN NULL ELSE (${t}.amount::numeric / 10000)::numeric(20, 4) END AS amount,
          (ARRAY['malformed_row','unknown_type','invalid_client','invalid_tx','missing_amount','invalid_amount',
                 'duplicate_tx','insufficient_funds','account_locked','unknown_tx','not_disputable',
                 'already_disputed','tx_charged_back','not_disputed','balance_out_of_range'])[${t}.reason + 1] AS reason`;
}

/**
 * payments.batch_records(data, first_line, first_seq, count): one row per record of a stored batch,
 * decoding the compact codec (journal/compact-codec.ts) in the database, for auditors' SQL. It
 * checks no checksum: `payments inspect` reads the same records with every check.
 */
const batchRecordsFunction = `
CREATE FUNCTION payments.batch_records(p_data bytea, p_first_line bigint, p_first_seq bigint, p_count integer)
  RETURNS TABLE (seq bigint, line bigint, kind smallint, type smallint, client integer, tx bigint, amount bigint, reason smallint)
  LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
DECLARE
  -- A copy, detoasted once: get_byte on the stored value would fetch it from TOAST at every call.
  d bytea := substring(p_data from 1);
  at integer := 0;
  head integer;
  b integer;
  v bigint;
  scale bigint;
  field integer;
  delta bigint;
  cur_line bigint := p_first_line;
  cur_tx bigint := 0;
BEGIN
  FOR i IN 0 .. p_count - 1 LOOP
    head := get_byte(d, at);
    at := at + 1;
    FOR field IN 1 .. 4 LOOP
      v := 0;
      scale := 1;
      LOOP
        b := get_byte(d, at);
        at := at + 1;
        v := v + (b & 127) * scale;
        EXIT WHEN b < 128;
        scale := scale * 128;
      END LOOP;
      CASE field
        WHEN 1 THEN cur_line := cur_line + v;
        WHEN 2 THEN client := v;
        WHEN 3 THEN
          delta := CASE WHEN v % 2 = 0 THEN v / 2 ELSE -(v + 1) / 2 END;
          cur_tx := cur_tx + delta;
        ELSE amount := v;
      END CASE;
    END LOOP;
    seq := p_first_seq + i;
    line := cur_line;
    tx := cur_tx;
    type := head % 5;
    IF head < 25 THEN
      kind := head / 5;
      reason := NULL;
    ELSE
      kind := 5;
      reason := (head - 25) / 5;
    END IF;
    RETURN NEXT;
  END LOOP;
END
$fn$;
`;

/** batch_records as of version 4: a sealed batch (seal.ts: its first byte 0xE5) is an error, not garbage. */
const batchRecordsRefusingSealed = batchRecordsFunction
  .replace('CREATE FUNCTION', 'CREATE OR REPLACE FUNCTION')
  .replace(
    'BEGIN\n',
    `BEGIN
  IF get_byte(d, 0) = 229 THEN
    RAISE EXCEPTION USING ERRCODE = 'feature_not_supported',
      MESSAGE = format('payments.batch_records: this batch is sealed (encrypted at rest, key id %s); SQL cannot decode it: read the journal with payments inspect --journal URL --journal-key-file FILE',
                       encode(substring(d from 2 for 8), 'hex'));
  END IF;
`,
  );

interface Migration {
  readonly version: number;
  readonly description: string;
  readonly sql: string;
}

export const migrations: readonly Migration[] = [
  {
    version: 1,
    description: 'journals, records (partitioned), batches, snapshots, events view',
    sql: `
      CREATE TABLE payments.journals (
        name text PRIMARY KEY,
        id integer GENERATED ALWAYS AS IDENTITY UNIQUE,
        format_version integer NOT NULL,
        shards integer NOT NULL CHECK (shards > 0),
        input_name text NOT NULL,
        input_size bigint NOT NULL,
        input_head_crc bigint NOT NULL,
        input_tail_crc bigint NOT NULL,
        committed_line bigint NOT NULL DEFAULT 0,
        complete boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      -- Column order keeps the 8-byte columns aligned: 72 bytes of data a row.
      CREATE TABLE payments.records (
        journal text NOT NULL,
        seq bigint NOT NULL,
        line bigint NOT NULL,
        tx bigint NOT NULL,
        amount bigint NOT NULL,
        client integer NOT NULL,
        partition smallint NOT NULL,
        kind smallint NOT NULL,
        type smallint NOT NULL,
        reason smallint
      ) PARTITION BY LIST (journal);
      CREATE TABLE payments.batches (
        journal text NOT NULL,
        partition smallint NOT NULL,
        first_line bigint NOT NULL,
        last_line bigint NOT NULL,
        first_seq bigint NOT NULL,
        count integer NOT NULL,
        events integer NOT NULL,
        crc bigint NOT NULL,
        committed_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (journal, partition, first_line),
        UNIQUE (journal, partition, first_seq)
      );
      CREATE TABLE payments.snapshots (
        journal text NOT NULL,
        partition smallint NOT NULL,
        seq bigint NOT NULL,
        line bigint NOT NULL,
        events bigint NOT NULL,
        accounts bytea NOT NULL,
        crc bigint NOT NULL,
        tx_parts integer NOT NULL,
        PRIMARY KEY (journal, partition, seq)
      );
      CREATE TABLE payments.snapshot_parts (
        journal text NOT NULL,
        partition smallint NOT NULL,
        seq bigint NOT NULL,
        part integer NOT NULL,
        data bytea NOT NULL,
        crc bigint NOT NULL,
        PRIMARY KEY (journal, partition, seq, part)
      );
      -- Typed-array columns hardly compress, and pglz on 4 MiB values costs more than it saves.
      ALTER TABLE payments.snapshots ALTER COLUMN accounts SET STORAGE EXTERNAL;
      ALTER TABLE payments.snapshot_parts ALTER COLUMN data SET STORAGE EXTERNAL;
      CREATE VIEW payments.events AS
        SELECT journal, partition, seq, line,
          (ARRAY['Deposited','Withdrawn','DisputeOpened','DisputeResolved','ChargedBack','Rejected'])[kind + 1] AS record,
          (ARRAY['deposit','withdrawal','dispute','resolve','chargeback'])[type + 1] AS type,
          client, tx,
          CASE WHEN kind = 5 AND type > 1 THEN NULL ELSE (amount::numeric / 10000)::numeric(20, 4) END AS amount,
          (ARRAY['malformed_row','unknown_type','invalid_client','invalid_tx','missing_amount','invalid_amount',
                 'duplicate_tx','insufficient_funds','account_locked','unknown_tx','not_disputable',
                 'already_disputed','tx_charged_back','not_disputed','balance_out_of_range'])[reason + 1] AS reason
        FROM payments.records;
    `,
  },
  {
    version: 2,
    description: 'batches: the input proof of each batch (bytes of input text before its end, their CRC-32)',
    // Nullable: batches of journals written before have none, and such journals are not resumed.
    sql: `
      ALTER TABLE payments.batches ADD COLUMN input_end bigint, ADD COLUMN input_crc bigint;
    `,
  },
  {
    version: 3,
    description: 'batches: the records of each batch in one compact column; events decodes them',
    // data is null only for the batches of journals in the row format (formats 1 and 2), until
    // `payments convert` rewrites them. Already compact: compressing it again costs and saves nothing.
    sql: `
      ALTER TABLE payments.batches
        ADD COLUMN data bytea,
        ADD COLUMN generation bigint DEFAULT nullif(current_setting('payments_cluster.generation', true), '')::bigint;
      ALTER TABLE payments.batches ALTER COLUMN data SET STORAGE EXTERNAL;
      ${batchRecordsFunction}
      CREATE OR REPLACE VIEW payments.events AS
        SELECT b.journal, b.partition::smallint, r.seq, r.line,
          ${readable('r')}
        FROM payments.batches b CROSS JOIN LATERAL payments.batch_records(b.data, b.first_line, b.first_seq, b.count) r
        WHERE b.data IS NOT NULL
        UNION ALL
        SELECT journal, partition, seq, line, ${readable('payments.records')}
        FROM payments.records;
    `,
  },
  {
    version: 4,
    description: 'journals: sealed (encrypted at rest) or not; batch_records refuses sealed batches',
    sql: `
      ALTER TABLE payments.journals ADD COLUMN seal_id text, ADD COLUMN seal_key_id text;
      ${batchRecordsRefusingSealed}
    `,
  },
  {
    version: 5,
    description: 'snapshots: tx_parts -1 marks a snapshot of the accounts alone (a finished shard)',
    sql: `
      ALTER TABLE payments.snapshots ADD CONSTRAINT snapshots_tx_parts CHECK (tx_parts >= -1);
    `,
  },
  {
    version: 6,
    description: 'snapshots: a snapshot may hold only the index entries changed since a full one (base_seq)',
    sql: `
      ALTER TABLE payments.snapshots ADD COLUMN base_seq bigint;
    `,
  },
  {
    version: 7,
    description: 'snapshots dropped: whole snapshots were stored with a checksum of 0 (the batches replay them)',
    sql: `
      DELETE FROM payments.snapshot_parts;
      DELETE FROM payments.snapshots;
    `,
  },
  {
    version: 8,
    description: "journals: a cluster run's CRC-32 of its whole input (its batches carry no input proofs)",
    sql: `
      ALTER TABLE payments.journals ADD COLUMN IF NOT EXISTS input_crc bigint;
    `,
  },
];

export const schemaVersion = migrations[migrations.length - 1]!.version;
/** The first version whose snapshots all have real checksums: readers of an older one refuse it. */
export const snapshotsCheckedVersion = 7;

/**
 * Whether the database's `payments` schema is this program's version, without a lock (most runs
 * find it so); refuses a newer one. A quick read, so it is watched for silence (connection.ts)
 * where a migration, which may rightly wait on another's lock, is not.
 */
export async function schemaCurrent(
  client: pg.Client,
  display: string,
  known: readonly Migration[] = migrations,
): Promise<boolean> {
  const target = known[known.length - 1]!.version;
  const current = await currentVersion(client);
  if (current === undefined || current < target) return false;
  refuseNewer(current, target, display);
  return true;
}

/**
 * Brings the database's `payments` schema to this program's version (creating it on first use),
 * or refuses a newer one. Runs in its own transaction on `client`.
 */
export async function migrate(
  client: pg.Client,
  display: string,
  known: readonly Migration[] = migrations,
): Promise<void> {
  const target = known[known.length - 1]!.version;
  if (await schemaCurrent(client, display, known)) return;
  await underSchemaLock(client, migrationLockKey, async () => {
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${schemaName}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${schemaName}.schema_migrations (
        version integer PRIMARY KEY, description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const locked = (await client.query(`SELECT coalesce(max(version), 0) AS v FROM ${schemaName}.schema_migrations`))
      .rows[0].v as number;
    refuseNewer(locked, target, display);
    for (const migration of known) {
      if (migration.version <= locked) continue;
      await client.query(migration.sql);
      await client.query(`INSERT INTO ${schemaName}.schema_migrations (version, description) VALUES ($1, $2)`, [
        migration.version,
        migration.description,
      ]);
    }
  });
}

/** SQLSTATEs of "it exists already": another process created the object while this one waited. */
const alreadyCreatedSqlStates = new Set(['23505', '42P06', '42P07', '42710', '42723']);

/**
 * Runs `body` in one transaction holding the advisory lock `key`, so that one process at a time
 * creates or migrates. The lock alone is not enough: a process that looked the schema up before it
 * waited keeps PostgreSQL's cached "no such schema" past the wait (advisory locks do not process
 * catalog invalidations), and its CREATE … IF NOT EXISTS then collides with the other's. A new
 * transaction reads the catalog afresh, so on "already exists" the body runs again.
 */
export async function underSchemaLock(client: pg.Client, key: number, body: () => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    await client.query('BEGIN');
    try {
      await client.query('SELECT pg_advisory_xact_lock($1, 0)', [key]);
      await body();
      await client.query('COMMIT');
      return;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      const code = errorCode(error);
      if (attempt >= pgSchemaLockAttempts || code === undefined || !alreadyCreatedSqlStates.has(code)) throw error;
    }
  }
}

/** The schema version a database holds (undefined when the tool never ran there). */
export async function currentVersion(client: pg.Client): Promise<number | undefined> {
  const exists = await client.query(`SELECT to_regclass('${schemaName}.schema_migrations') IS NOT NULL AS ok`);
  if (!exists.rows[0].ok) return undefined;
  const row = await client.query(`SELECT coalesce(max(version), 0) AS v FROM ${schemaName}.schema_migrations`);
  return row.rows[0].v as number;
}

function refuseNewer(found: number, known: number, display: string): void {
  if (found > known)
    throw new JournalCorrupt(
      `journal ${display}: the database's payments schema is version ${found}, newer than this program's ${known}; use a newer payments build`,
    );
}
