// RSS and CPU time of a plugin process, read from /proc on Linux. No dependency: pidusage
// does the same with `ps` on other systems, which would cost a process per sample here.
import { readFileSync } from 'node:fs';

/** One sample of a process. */
export interface ProcessSample {
  /** Resident set size in bytes. */
  rssBytes: number;
  /** User + system CPU time used so far, in seconds. */
  cpuSeconds: number;
}

// The kernel reports utime/stime in USER_HZ ticks, which Linux fixes at 100 for user space
// on every architecture (sysconf(_SC_CLK_TCK)).
const TICKS_PER_SECOND = 100;

/** Reads a process's RSS and CPU time, or undefined where /proc has no such process. */
export function sampleProcess(pid: number): ProcessSample | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // pid (comm) state ppid … : comm may hold spaces and parentheses, so split after the last ')'
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state): utime is field 14, stime field 15
    const ticks = Number(fields[11]) + Number(fields[12]);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return {
      rssBytes: rss ? Number(rss[1]) * 1024 : 0,
      cpuSeconds: ticks / TICKS_PER_SECOND,
    };
  } catch {
    return undefined;
  }
}
