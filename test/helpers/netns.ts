/**
 * A network namespace joined to this host by a veth pair, for partition tests: a process run under
 * `exec` reaches the host only at `hostAddress` (the servers listen there too), and `cut` takes the
 * link down (the host keeps its address, so its own clients are not disturbed; the namespace's
 * packets are dropped, no connection is reset: a partition, not a crash). Needs root.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export interface Netns {
  readonly name: string;
  readonly hostAddress: string;
  readonly nsAddress: string;
  /** The command prefix that runs a process inside. */
  readonly exec: string[];
  readonly hostLink: string;
}

const ip = (args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });

/** Why namespaces cannot be made here (undefined when they can). */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (ip netns add, veth pairs)';
  if (!['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].some((p) => existsSync(p)))
    return 'no ip command (iproute2)';
  return undefined;
}

/** Makes the namespace and its link (names and a /24 from the pid: files may run side by side on one host). */
export function createNetns(): Netns {
  const id = process.pid % 100_000;
  const subnet = `10.213.${process.pid % 250}`;
  const name = `pay-part-${id}`;
  const hostLink = `ph${id}`;
  const nsLink = `pn${id}`;
  const netns: Netns = {
    name,
    hostAddress: `${subnet}.1`,
    nsAddress: `${subnet}.2`,
    exec: ['ip', 'netns', 'exec', name],
    hostLink,
  };
  removeNetns(netns); // left over by a killed run of this pid
  ip(['netns', 'add', name]);
  ip(['link', 'add', hostLink, 'type', 'veth', 'peer', 'name', nsLink]);
  ip(['link', 'set', nsLink, 'netns', name]);
  ip(['addr', 'add', `${netns.hostAddress}/24`, 'dev', hostLink]);
  ip(['link', 'set', hostLink, 'up']);
  ip(['netns', 'exec', name, 'ip', 'addr', 'add', `${netns.nsAddress}/24`, 'dev', nsLink]);
  ip(['netns', 'exec', name, 'ip', 'link', 'set', nsLink, 'up']);
  ip(['netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up']);
  return netns;
}

/** Takes the link down: nothing passes between the namespace and the host. */
export function cut(netns: Netns): void {
  ip(['link', 'set', netns.hostLink, 'down']);
}

export function heal(netns: Netns): void {
  ip(['link', 'set', netns.hostLink, 'up']);
}

/** Removes the namespace and the link (either may be gone already). */
export function removeNetns(netns: Netns): void {
  for (const args of [
    ['link', 'del', netns.hostLink],
    ['netns', 'del', netns.name],
  ]) {
    try {
      ip(args);
    } catch {
      // not there
    }
  }
}

/** GETs `url` from inside the namespace (Node's fetch there, no other tool needed): a namespaced node's own HTTP port. */
export function fetchInside(netns: Netns, url: string): string {
  const get = `fetch(${JSON.stringify(url)}, { signal: AbortSignal.timeout(10000) })
    .then((r) => (r.ok ? r.text() : Promise.reject(new Error(String(r.status)))))
    .then((t) => process.stdout.write(t), () => process.exit(1))`;
  return execFileSync('ip', ['netns', 'exec', netns.name, process.execPath, '-e', get], { encoding: 'utf8' });
}
