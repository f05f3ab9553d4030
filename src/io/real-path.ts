/**
 * Where a path leads, resolved as the kernel resolves it: one part at a time, a link replaced by
 * its target before the parts after it, so `L/../x` is the parent of L's target, not `./x` (what
 * path.resolve would say by dropping `L/..` first). Parts that do not exist yet are kept as named,
 * and a link whose target does not exist leads to that target: that is where a new file would be
 * written, and what it must be compared by.
 */
import { symlinksFollowedMax } from '../constants.js';
import { lstat, readlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';

const partsOf = (path: string): string[] => path.split('/').filter((p) => p !== '' && p !== '.');

/** The absolute path `path` names, every link followed. */
export async function resolveReal(path: string): Promise<string> {
  const pending = partsOf(path);
  let real = path.startsWith('/') ? '/' : process.cwd(); // getcwd(3) is already free of links
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '..') {
      real = dirname(real);
      continue;
    }
    const next = join(real, part);
    const info = await lstat(next).catch(() => undefined);
    // The rest does not exist yet: kept as named (`missing/../x` stays so, as the kernel would refuse it).
    if (info === undefined) return [next, ...pending].join('/');
    if (info.isSymbolicLink() && ++links <= symlinksFollowedMax) {
      const target = await readlink(next);
      pending.unshift(...partsOf(target));
      if (target.startsWith('/')) real = '/';
      continue;
    }
    real = next;
  }
  return real;
}

/** `dir` and every directory above it, nearest first, up to `/`. */
export function ancestorsOf(path: string): string[] {
  const all: string[] = [];
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    all.push(dir);
    if (dir === dirname(dir)) return all;
  }
}
