#!/usr/bin/env node
/**
 * Part of the build: renders every help page through the real parser (dist/cli/run.js, with stdout
 * a pipe, so at the parser's widest wrap) into dist/cli/help/, where `payments --help` reads it
 * without loading yargs (src/cli/help-text.ts).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const helpText = new URL('../dist/cli/help-text.js', import.meta.url);
const runJs = new URL('../dist/cli/run.js', import.meta.url).href;
const { helpPages, helpFile } = await import(helpText.href);

const dir = fileURLToPath(new URL('../dist/cli/help/', import.meta.url));
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
// Without the files, a help call below goes to the parser, which is what we render.
const pages = await Promise.all(
  helpPages.map(async (page) => {
    const argv = page === '' ? ['--help'] : [page, '--help'];
    const script = `const { run } = await import(${JSON.stringify(runJs)}); process.exitCode = await run(${JSON.stringify(argv)});`;
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PAYMENTS_')));
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { env });
    return [page, stdout];
  }),
);
for (const [page, text] of pages) writeFileSync(helpFile(page), text);
