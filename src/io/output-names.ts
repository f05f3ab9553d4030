/**
 * Names shared by the output check (output-paths.ts) and the writer (output-file.ts), so that the
 * check tests exactly what the writer will do.
 *
 * A temporary file is `.payments-<pid>-<16 hex>.tmp` beside its target: short and of fixed length,
 * never derived from the target's name, so any name the filesystem accepts as a target also leaves
 * room for the temporary one.
 */
import type { Stats } from 'node:fs';
import { join, resolve } from 'node:path';

export const randomHexLength = 16;

export function tempName(pid: number, random: string): string {
  return `.payments-${pid}-${random}.tmp`;
}

/** A temporary file of some run, with its pid; `.<target>.payments-…` is the longer form older runs left. */
export const tempNamePattern = /^\.(?:.+\.)?payments-(\d+)-[0-9a-f]{16}\.tmp$/;

/** The temporary path a check stats: the same directory and length as the writer's. */
export function sampleTempPath(dir: string): string {
  return join(dir, tempName(process.pid, '0'.repeat(randomHexLength)));
}

/**
 * Written where it is, never replaced: a device or FIFO, and a path that names an open descriptor
 * (/dev/stdout, /dev/fd/1, /proc/self/fd/1), appended to as the shell opened it. A plain file
 * elsewhere under /dev (/dev/shm) is an ordinary output, replaced whole.
 */
export function writtenInPlace(path: string, info: Stats | undefined): boolean {
  if (info === undefined) return false;
  if (!info.isFile()) return true;
  return /^\/(dev\/(stdin|stdout|stderr)$|dev\/fd\/|proc\/)/.test(resolve(path));
}
