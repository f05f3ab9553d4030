#!/usr/bin/env -S node --max-semi-space-size=4
// The flag caps the parsing thread's V8 nursery at 4 MiB: its garbage dies young, and the default
// 16 MiB only added RSS (3.75 M rows: 222 -> 194 MB peak, same speed). `npm start` passes it too.
import { prerenderedHelp, versionAnswer } from './help-text.js';
import { guardStdio, stdoutAbandoned } from './io.js';

guardStdio();
const argv = process.argv.slice(2);
const help = versionAnswer(argv) ?? prerenderedHelp(argv, process.stdout.isTTY ? process.stdout.columns : undefined);
if (help !== undefined) {
  process.stdout.write(help);
} else {
  // The parser and the commands load only when there is more to do than print a help page.
  const { run } = await import('./run.js');
  process.exitCode = await run(argv);
  // The run is over (outputs discarded, workers closed); only a write nobody will read is left.
  if (stdoutAbandoned) process.exit();
}
