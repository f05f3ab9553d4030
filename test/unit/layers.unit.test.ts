/**
 * The layer rule of src/, enforced: a folder imports only from folders in a lower layer (and from
 * itself). Type-only imports count too: a type shared by two layers lives in the lower one.
 * docs/architecture.md draws the same table. And no file of src/ grows past filesLinesMax lines: a
 * file a reader can hold in mind at once.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const srcDir = resolve(import.meta.dirname, '../../src');

/** Lowest first. Folders of one layer do not import each other. `.` is src/'s own files. */
const layers: readonly (readonly string[])[] = [
  ['.'], // constants (every limit), errors, column layouts
  ['domain'], // money, ids, accounts' decide/evolve, rejection reasons
  ['io', 'ops'], // CSV bytes in and out; logging, report, metrics
  ['engine'], // a shard's state and its per-batch step; the journal port it writes through
  ['journal'], // SQLite and PostgreSQL partitions behind that port
  ['pool', 'audit'], // worker threads that each own an engine; the audit log of operator actions
  ['pipeline', 'generate'], // read → route → batch → merge; synthetic datasets
  ['cluster'], // NATS transport, leases, nodes, submit
  ['cli'], // argument parsing and commands
];

function layerOf(folder: string): number {
  const index = layers.findIndex((layer) => layer.includes(folder));
  if (index < 0) throw new Error(`src/${folder} is in no layer: add it to the table in this test`);
  return index;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** The top folder under src/ of a file (`.` for src/'s own files). */
function folderOf(file: string): string {
  const parts = relative(srcDir, file).split('/');
  return parts.length > 1 ? parts[0]! : '.';
}

interface Edge {
  from: string;
  to: string;
  file: string;
  specifier: string;
}

function importsOf(file: string): Edge[] {
  const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  return info.importedFiles
    .map((ref) => ref.fileName)
    .filter((specifier) => specifier.startsWith('.'))
    .map((specifier) => ({
      from: folderOf(file),
      to: folderOf(resolve(dirname(file), specifier)),
      file: relative(srcDir, file),
      specifier,
    }));
}

const edges = sourceFiles(srcDir).flatMap(importsOf);
const filesLinesMax = 400;

describe('layers of src/', () => {
  it('finds the imports it judges', () => {
    expect(edges.length).toBeGreaterThan(100);
    expect(edges.some((e) => e.from === 'cli' && e.to === 'pipeline')).toBe(true);
  });

  it('every folder imports only from lower layers', () => {
    const wrongWay = edges
      .filter((e) => e.from !== e.to && layerOf(e.to) >= layerOf(e.from))
      .map((e) => `${e.file} imports ${e.specifier} (${e.from} may not import ${e.to})`);
    expect(wrongWay).toEqual([]);
  });

  it(`no file is longer than ${filesLinesMax} lines`, () => {
    const files = sourceFiles(srcDir);
    expect(files.length).toBeGreaterThan(100);
    const long = files
      .map((file) => ({ file: relative(srcDir, file), lines: readFileSync(file, 'utf8').split('\n').length - 1 }))
      .filter((f) => f.lines > filesLinesMax)
      .map((f) => `${f.file}: ${f.lines} lines`);
    expect(long).toEqual([]);
  });
});
