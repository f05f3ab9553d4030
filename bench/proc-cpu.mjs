// CPU seconds of processes from /proc (Linux): a process's own, and a PostgreSQL server's (by its
// postmaster's pid, so other servers on the machine are not counted).
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const clockTicks = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;
/** utime, stime, cutime, cstime of a process (ticks), or undefined once it is gone. */
const procTimes = (pid) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(f[1]), own: Number(f[11]) + Number(f[12]), reaped: Number(f[13]) + Number(f[14]) };
  } catch {
    return undefined;
  }
};
/** CPU seconds of a process (all its threads). */
export const cpuOf = (pid) => (procTimes(pid)?.own ?? NaN) / clockTicks;
/**
 * CPU seconds of the PostgreSQL server: the postmaster (its pid file's first line), the children it
 * reaped, and its live children (backends, checkpointer, WAL writer). A difference of two readings is
 * the server's CPU between them, ended backends included.
 */
export const postgresCpu = (dataDir) => {
  const postmaster = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const own = procTimes(postmaster);
  let ticks = own.own + own.reaped;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const t = procTimes(pid);
    if (t?.ppid === postmaster) ticks += t.own;
  }
  return ticks / clockTicks;
};
