import { hostname } from 'node:os';

/** This process as `host.pid`: what staged files and runs are marked with, so leftovers can be told from live work. */
export const THIS_PROCESS = `${hostname()}.${process.pid}`;

/** Whether `host.pid` (or `host:pid`) names a live process: known only for processes on this host. */
export function processAlive(owner: string): boolean | undefined {
  const [host, pid] = splitOwner(owner);
  if (host !== hostname() || !pid || !/^\d+$/.test(pid)) return undefined;
  try {
    process.kill(Number(pid), 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// Host names may contain dots; the pid is the first all-digit part after the host.
function splitOwner(owner: string): [string, string] | [undefined, undefined] {
  const match = /^(.+?)[.:](\d+)(?:[.:]|$)/.exec(owner);
  return match ? [match[1]!, match[2]!] : [undefined, undefined];
}
