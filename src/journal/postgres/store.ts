/**
 * A PostgreSQL journal as a whole (what manifest.json is for a SQLite journal): the row of
 * payments.journals naming its shard count and input fingerprint, and its partitions' tables.
 * Used by the main thread; each shard's worker then opens its own partition (partition.ts).
 */
import pg from './pg.js';
import { JournalCorrupt, usageError } from '../../errors.js';
import { inputDiffers, type InputFingerprint, type Manifest } from '../manifest.js';
import { readOnly, RetryingConnection } from './connection.js';
import { manifestFormat } from '../../journal-files.js';
import { lockJournal, runApplicationName } from './run-lock.js';
import { currentVersion, migrate, schemaCurrent, schemaVersion, snapshotsCheckedVersion } from './schema.js';
import type { PostgresTarget } from './url.js';
import {
  keyForJournal,
  newJournalSealId,
  refuseKeyForPlainJournal,
  type JournalKeyring,
  type JournalSealInfo,
} from '../seal.js';

/**
 * The journal format (as manifest formatVersion); the schema has its own version.
 *   1  records one row each in payments.records, batches without input proofs
 *   2  as 1, every batch with its input proof
 *   3  each batch one row of payments.batches, its records in the compact codec
 * Formats 1 and 2 are read only by `payments convert` (convert.ts), which rewrites them as format 3;
 * every other command refuses them with exit 2, naming it.
 */
export const postgresJournalFormatVersion = 3;

export const quote = (text: string): string => pg.escapeLiteral(text);

interface JournalRow {
  name: string;
  id: number;
  format_version: number;
  shards: number;
  input_name: string;
  input_size: string;
  input_head_crc: string;
  input_tail_crc: string;
  /** Since schema version 8: a cluster run's CRC-32 of its whole input. */
  input_crc?: string | null;
  committed_line: string;
  complete: boolean;
  created_at: Date;
  updated_at: Date;
  /** Since schema version 4; absent when read from an older schema. */
  seal_id?: string | null;
  seal_key_id?: string | null;
}

/** A journal row's seal: undefined for a journal that is not sealed. */
export function sealOfRow(row: { seal_id?: unknown; seal_key_id?: unknown }): JournalSealInfo | undefined {
  if (typeof row.seal_id !== 'string' || typeof row.seal_key_id !== 'string') return undefined;
  return { journalId: row.seal_id, keyId: row.seal_key_id };
}

export interface PostgresManifest extends Manifest {
  readonly id: number;
}

function manifestOf(row: JournalRow): PostgresManifest {
  return {
    id: row.id,
    format: manifestFormat,
    formatVersion: row.format_version,
    shards: row.shards,
    input: {
      name: row.input_name,
      size: Number(row.input_size),
      headCrc: Number(row.input_head_crc),
      tailCrc: Number(row.input_tail_crc),
      ...(row.input_crc === null || row.input_crc === undefined ? {} : { crc: Number(row.input_crc) }),
    },
    committedLine: Number(row.committed_line),
    complete: row.complete,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    ...(sealOfRow(row) ? { seal: sealOfRow(row) } : {}),
  };
}

export interface PostgresJournalStoreOptions {
  readonly onRetry?: (attempt: number, delayMs: number, error: unknown) => void;
  /**
   * A local run's store: its connection holds the journal's run lock (run-lock.ts) from before the
   * journal is opened or created until close. Not for the cluster, whose nodes share a journal.
   */
  readonly holdJournal?: boolean;
  /** For replay and inspect: every transaction read-only, so that nothing is ever written. */
  readonly readOnly?: boolean;
  /**
   * Journal keys (seal.ts): a journal openRun creates is sealed with the first; one it finds must
   * be sealed under one of them, or not sealed when none are given.
   */
  readonly keys?: JournalKeyring;
  /** A read-only session (partition.ts, readerSession()) its owner ends; only with readOnly. */
  readonly session?: RetryingConnection;
}

export class PostgresJournalStore {
  readonly connection: RetryingConnection;
  private readonly ownsConnection: boolean;
  private readonly localRun: boolean;
  private readonly keys: JournalKeyring;

  constructor(
    readonly target: PostgresTarget,
    options: PostgresJournalStoreOptions = {},
  ) {
    this.localRun = options.holdJournal === true;
    this.keys = options.keys ?? [];
    let connected = false;
    const onConnect = async (client: pg.Client): Promise<void> => {
      if (options.readOnly) await readOnly(client);
      if (options.holdJournal) await lockJournal(client, target.journal, target.display, connected);
      connected = true;
    };
    const name = options.holdJournal ? runApplicationName() : `payments ${target.journal}`;
    if (options.session !== undefined && options.readOnly !== true)
      throw new Error('invariant: a shared session only reads');
    this.ownsConnection = options.session === undefined;
    this.connection = options.session ?? new RetryingConnection(target, name, onConnect, options.onRetry);
  }

  get where(): string {
    return `journal ${this.target.display}`;
  }

  /**
   * Opens the journal of a run: checks an existing one against the input, or creates it (its row
   * and its partitions' tables, in one transaction). Migrates the schema first.
   */
  async openRun(
    input: { name: string } & InputFingerprint,
    shards: number,
  ): Promise<{ manifest: PostgresManifest; resumed: boolean }> {
    // Only a migration may be silent for long (waiting on another's lock): the rest is watched.
    const display = this.target.display;
    if (!(await this.connection.run('reading the schema version', (client) => schemaCurrent(client, display))))
      await this.connection.run('migrating the schema', (client) => migrate(client, display), { patient: true });
    return this.connection.run('opening the journal', async (client) => {
      const existing = await this.find(client);
      if (existing) {
        this.checkFormat(existing);
        if (existing.seal) keyForJournal(this.where, existing.seal, this.keys);
        else if (this.keys.length > 0) throw refuseKeyForPlainJournal(this.where);
        // A local run proves its input batch by batch; a cluster's submit checks its own way.
        if (this.localRun) await this.checkResumable(client);
        else await this.checkNotLocalRun(client);
        this.checkSameInput(existing, input);
        return { manifest: existing, resumed: true };
      }
      // Another run may create it between our look and our insert: then take it from the top.
      if (!(await this.create(client, input, shards))) return this.openRun(input, shards);
      return { manifest: (await this.find(client))!, resumed: false };
    });
  }

  private checkSameInput(existing: PostgresManifest, input: InputFingerprint): void {
    const differs = inputDiffers(existing.input, input);
    if (differs === undefined) return;
    throw new JournalCorrupt(
      `${this.where}: ${differs}; name a new journal for this file (?journal=NAME), or drop the old one`,
    );
  }

  /** The journal's row; false if another run won the race. */
  private async create(
    client: pg.Client,
    input: { name: string } & InputFingerprint,
    shards: number,
  ): Promise<boolean> {
    const key = this.keys[0];
    const inserted = await client.query(
      `INSERT INTO payments.journals (name, format_version, shards, input_name, input_size, input_head_crc, input_tail_crc, seal_id, seal_key_id, input_crc)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (name) DO NOTHING RETURNING id`,
      [
        this.target.journal,
        postgresJournalFormatVersion,
        shards,
        input.name,
        input.size,
        input.headCrc,
        input.tailCrc,
        key ? newJournalSealId() : null,
        key?.id ?? null,
        input.crc ?? null,
      ],
    );
    return inserted.rowCount === 1;
  }

  /** The journal for replay and inspect (never creates anything); exit 2 when there is none. */
  async read(): Promise<PostgresManifest> {
    return this.connection.run('reading the journal', async (client) => {
      const version = await currentVersion(client);
      if (version === undefined)
        throw usageError(`${this.where}: no payments journal in this database (no payments schema)`);
      if (version > schemaVersion) await migrate(client, this.target.display); // refuses, naming both versions
      const found = await this.find(client);
      if (found === undefined)
        throw usageError(`${this.where}: no journal named ${JSON.stringify(this.target.journal)} here`);
      // A cluster run finished before its nodes marked its journal so is finished all the same.
      const manifest =
        found.complete || !(await clusterRunFinished(client, this.target.journal))
          ? found
          : { ...found, complete: true };
      this.checkFormat(manifest);
      // Snapshots of an older schema may carry a checksum of 0 (schema.ts, version 7): reading
      // never migrates, so the reader is told to.
      if (version < snapshotsCheckedVersion)
        throw usageError(
          `${this.where}: the database's payments schema is version ${version}, older than this program's ${schemaVersion}; run payments migrate --journal URL (as the schema's owner) first`,
        );
      return manifest;
    });
  }

  /** Records how far every shard has applied the input, and whether the run finished. */
  async update(committedLine: number, complete: boolean): Promise<void> {
    await this.connection.run('updating the journal', (client) =>
      client.query(
        'UPDATE payments.journals SET committed_line = $2, complete = $3, updated_at = now() WHERE name = $1',
        [this.target.journal, committedLine, complete],
      ),
    );
  }

  async close(): Promise<void> {
    if (this.ownsConnection) await this.connection.drop();
  }

  private async find(client: pg.Client): Promise<PostgresManifest | undefined> {
    const result = await client.query<JournalRow>('SELECT * FROM payments.journals WHERE name = $1', [
      this.target.journal,
    ]);
    return result.rows[0] ? manifestOf(result.rows[0]) : undefined;
  }

  /**
   * A single-process run's batches carry input proofs, which a cluster's never do: a run submitted
   * under that name would apply into partitions of another reading of the input.
   */
  private async checkNotLocalRun(client: pg.Client): Promise<void> {
    if (await this.hasBatches(client, { proven: true }))
      throw new JournalCorrupt(
        `${this.where}: is the journal of a single-process run (payments FILE --journal), so a cluster run cannot apply into it; resume it that way, or submit under another --run`,
      );
  }

  /**
   * A journal with a batch stored without its input proof (written by a version before proofs, then
   * converted) cannot show that the input is the one it applied.
   */
  private async checkResumable(client: pg.Client): Promise<void> {
    if (await this.hasBatches(client, { proven: false }))
      throw new JournalCorrupt(
        `${this.where}: has batches stored without an input checksum (written by an older version, or by a cluster), so it cannot be resumed; replay and inspect still read it; name a new journal for this run (?journal=NAME)`,
      );
  }

  /** Whether the journal holds a batch with (or without) an input proof. */
  private async hasBatches(client: pg.Client, { proven }: { proven: boolean }): Promise<boolean> {
    const found = await client.query(
      `SELECT 1 FROM payments.batches WHERE journal = $1 AND input_end IS ${proven ? 'NOT NULL' : 'NULL'} LIMIT 1`,
      [this.target.journal],
    );
    return found.rows.length > 0;
  }

  private checkFormat(manifest: Manifest): void {
    if (manifest.formatVersion > postgresJournalFormatVersion)
      throw new JournalCorrupt(
        `${this.where}: written by a newer version (journal format ${manifest.formatVersion}; this program reads ${postgresJournalFormatVersion})`,
      );
    if (manifest.formatVersion < postgresJournalFormatVersion)
      throw new JournalCorrupt(
        `${this.where}: journal format ${manifest.formatVersion} (one row a record, an older version's); convert it first: payments convert --journal '${this.target.display}'`,
      );
  }
}

/**
 * Whether the cluster finished a run of this name: false where there is no cluster schema or no
 * right to read it (an auditor's role), asked of the catalogs so that nothing fails in the server's
 * log. Any other failure (a lost connection) is the caller's, and retried.
 */
async function clusterRunFinished(client: pg.Client, run: string): Promise<boolean> {
  const readable = await client.query(
    `SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'payments_cluster') THEN false
                 WHEN NOT has_schema_privilege('payments_cluster', 'USAGE') THEN false
                 ELSE to_regclass('payments_cluster.runs') IS NOT NULL
                      AND has_table_privilege('payments_cluster.runs', 'SELECT') END AS readable`,
  );
  if (readable.rows[0]?.readable !== true) return false;
  const r = await client.query('SELECT finished_at IS NOT NULL AS done FROM payments_cluster.runs WHERE name = $1', [
    run,
  ]);
  return r.rows[0]?.done === true;
}
