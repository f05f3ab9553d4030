/**
 * The tests that a resumed run proves the input it skips, for any journal storage (SQLite and
 * PostgreSQL register them with their own backend). A finished journal is cut back to the batches
 * of its first reads (as a run killed there leaves it), the input is edited in rows the journal
 * holds without changing its size or its first and last MiB, and the resume must stop with exit 2,
 * one line naming the partition and the lines, before it commits anything; the unedited input then
 * resumes to the exact output of a run without a journal.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorLine, runCli } from './cli.js';
import { inputEdits, twoMemberGzip, withBlankLine } from './input-edits.js';

export interface ProofBackend {
  /** The --journal value of a journal named `name`. */
  location(name: string): string;
  /** The input_end of each batch of partition 0, in commit order. */
  proofEnds(name: string): Promise<number[]>;
  /** Cuts the journal back to the batches whose proof ends at or before `end`, unfinished, without snapshots. */
  truncate(name: string, end: number): Promise<void>;
  /** What the journal holds (batches and records per partition, progress), to show nothing was committed. */
  state(name: string): Promise<string>;
}

const mib = 1 << 20;

/** Several full runs and resumes of 150,000 rows each: longer than the default under load. */
const testTimeoutMs = 300_000;

export function registerInputProofTests(backend: ProofBackend): void {
  describe('a resume proves the input it skips', () => {
    const dir = mkdtempSync(join(tmpdir(), 'payments-proof-'));
    const input = join(dir, 'input.csv');
    let original: Buffer = Buffer.alloc(0);
    const reference = { accounts: '', rejects: '' };

    async function finish(file: string, name: string): Promise<{ accounts: string; rejects: string; records: number }> {
      const rejects = join(dir, 'rejects.csv');
      const report = join(dir, 'report.json');
      const args = [file, '--journal', backend.location(name), '--rejects', rejects, '--report', report, '--quiet'];
      const result = await runCli(args);
      expect(result.code, result.stderr).toBe(0);
      const records = JSON.parse(readFileSync(report, 'utf8')).journalRecords as number;
      return { accounts: result.stdout, rejects: readFileSync(rejects, 'utf8'), records };
    }

    /** A finished journal of `file` cut back after a few reads: the proofs around the edits, and its records. */
    async function cutJournal(file: string, name: string, text: Buffer) {
      const full = await finish(file, name);
      const ends = await backend.proofEnds(name);
      const at = ends.findIndex((end) => end > 1.4 * mib);
      const [boundary, next] = [ends[at]!, ends[at + 1]!];
      // Every edit lies before the journal's last committed read, and clear of the input's last MiB.
      const cut = ends.find((end) => end > next + 64 * 1024)!;
      expect(cut, 'the edits lie between the first and last MiB').toBeLessThan(text.length - 1.1 * mib);
      await backend.truncate(name, cut);
      return { boundary, next, records: full.records };
    }

    /** Resumes `file` with the edited input: exit 2 naming the line, nothing on stdout, nothing committed. */
    async function expectRefused(file: string, name: string, line: number): Promise<void> {
      const before = await backend.state(name);
      const result = await runCli([file, '--journal', backend.location(name), '--quiet']);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      const message = errorLine(result.stderr);
      const found =
        /partition \d+: the input changed since the journal was written \(.* in lines? (\d+)(?:-(\d+))?\)/.exec(
          message,
        );
      expect(found, message).not.toBeNull();
      const [from, to] = [Number(found![1]), Number(found![2] ?? found![1])];
      expect(line).toBeGreaterThanOrEqual(from);
      expect(line).toBeLessThanOrEqual(to);
      expect(await backend.state(name)).toBe(before);
    }

    beforeAll(async () => {
      const generated = join(dir, 'generated.csv');
      const args = ['generate', '-n', '150000', '-c', '2000', '--seed', '11', '--bad-rate', '0.02', generated];
      expect((await runCli(args)).code).toBe(0);
      // One blank line, for the edit of a blank line (the generator writes none).
      original = withBlankLine(readFileSync(generated), Math.floor(1.65 * mib));
      writeFileSync(input, original);
      const rejects = join(dir, 'ref-rejects.csv');
      const plain = await runCli([input, '--rejects', rejects, '--quiet']);
      expect(plain.code).toBe(0);
      reference.accounts = plain.stdout;
      reference.rejects = readFileSync(rejects, 'utf8');
    });

    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it(
      'each edit of rows the journal holds: exit 2 before anything is committed; unedited, the exact output',
      async () => {
        const { boundary, next, records } = await cutJournal(input, 'edits', original);
        for (const edit of inputEdits) {
          const { bytes, line } = edit.apply(original, boundary, next);
          expect(bytes.length, edit.name).toBe(original.length);
          writeFileSync(input, bytes);
          await expectRefused(input, 'edits', line);
        }
        writeFileSync(input, original);
        const resumed = await finish(input, 'edits');
        expect(resumed.accounts).toBe(reference.accounts);
        expect(resumed.rejects).toBe(reference.rejects);
        expect(resumed.records).toBe(records);
      },
      testTimeoutMs,
    );

    it(
      'gzip input: the decompressed text is what is proven',
      async () => {
        const gz = join(dir, 'input.csv.gz');
        const split = original.length - Math.floor(1.05 * mib); // the second member holds the last MiB
        const compressed = twoMemberGzip(original, split);
        writeFileSync(gz, compressed);
        const { boundary, next, records } = await cutJournal(gz, 'gzip', original);
        const { bytes, line } = inputEdits[0]!.apply(original, boundary, next);
        const edited = twoMemberGzip(bytes, split);
        // The file's fingerprint cannot see the edit: same size, same first and last MiB.
        expect(edited.length).toBe(compressed.length);
        expect(edited.subarray(0, mib).equals(compressed.subarray(0, mib))).toBe(true);
        expect(edited.subarray(-mib).equals(compressed.subarray(-mib))).toBe(true);
        expect(gunzipSync(edited).equals(bytes)).toBe(true);
        writeFileSync(gz, edited);
        await expectRefused(gz, 'gzip', line);
        writeFileSync(gz, compressed);
        const resumed = await finish(gz, 'gzip');
        expect(resumed.accounts).toBe(reference.accounts);
        expect(resumed.records).toBe(records);
      },
      testTimeoutMs,
    );
  });
}
