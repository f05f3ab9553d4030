#!/usr/bin/env -S node --max-semi-space-size=4
// The flag caps the parsing thread's V8 nursery at 4 MiB: its garbage dies young, and the default
// 16 MiB only added RSS (3.75 M rows: 222 -> 194 MB peak, same speed). `npm start` passes it too.
import { guardStdio, stdoutAbandoned } from './io.js';
import { run } from './run.js';

guardStdio();
process.exitCode = await run(process.argv.slice(2));
// The run is over (outputs discarded, workers closed); only a write nobody will read is left.
if (stdoutAbandoned) process.exit();
