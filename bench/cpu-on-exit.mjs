// Preloaded (node --import) into a process the cluster bench spawns: on exit, one JSON line on
// stderr with the process's CPU seconds (every thread: getrusage of the whole process).
import { writeSync } from 'node:fs';
process.on('exit', () => {
  const { user, system } = process.cpuUsage();
  writeSync(2, `${JSON.stringify({ benchCpuSeconds: (user + system) / 1e6 })}\n`);
});
