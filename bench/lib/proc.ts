/**
 * Process plumbing for the benchmark driver: spawning the servers and stand-ins as separate
 * processes, waiting for them, and reading their CPU time and memory from /proc (Linux only).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import net from 'node:net';

/** Clock ticks per second for /proc/<pid>/stat utime/stime (USER_HZ; 100 on every common Linux). */
export const CLK_TCK: number = (() => {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of a process (all threads: JS, GC helpers, libuv pool), in milliseconds. */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // comm (field 2) may contain spaces and parentheses: split after the LAST ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state) → utime is field 14 → rest[11], stime field 15 → rest[12].
  const ticks = Number(rest[11]) + Number(rest[12]);
  return (ticks * 1000) / CLK_TCK;
}

/** utime + stime of a process in ms, or NaN when it is gone. */
export function cpuMsOrNaN(pid: number): number {
  try {
    return cpuMs(pid);
  } catch {
    return Number.NaN;
  }
}

/**
 * CPU time of the whole machine (every core, every process, other tenants included) from the
 * first line of /proc/stat, in ms: `busyMs` = user + nice + system + irq + softirq + steal.
 */
export function machineCpuMs(): { busyMs: number; totalMs: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] as string;
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number) as number[];
  const busy = (user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0);
  const total = busy + (idle ?? 0) + (iowait ?? 0);
  return { busyMs: (busy * 1000) / CLK_TCK, totalMs: (total * 1000) / CLK_TCK };
}

/** A `Vm*` line of /proc/<pid>/status in MiB (VmRSS = now, VmHWM = peak RSS since start). */
export function statusMiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  if (!match) throw new Error(`/proc/${pid}/status has no ${field}`);
  return Number(match[1]) / 1024;
}

/** The soft RLIMIT_NOFILE of this process (children inherit it). */
export function openFileLimit(): number {
  const limits = readFileSync('/proc/self/limits', 'utf8');
  const match = /^Max open files\s+(\d+|unlimited)/m.exec(limits);
  if (!match) return Number.NaN;
  return match[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(match[1]);
}

/** A free TCP port on 127.0.0.1 (tiny race between close and the child's bind; fine locally). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Every process this driver started, so that a failure or Ctrl-C still stops them (by pid). */
const started = new Set<ManagedProcess>();

/** Pids of every process this driver started that is still running. */
export function startedPids(): number[] {
  return [...started].filter((p) => p.running && p.child.pid !== undefined).map((p) => p.pid);
}

/** SIGTERM to every process still running, SIGKILL to those still there after `graceMs`. */
export async function stopAllStarted(graceMs = 3_000): Promise<void> {
  await Promise.all([...started].map((p) => p.stop(graceMs)));
}

export interface SpawnOptions {
  name: string;
  command: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  /** stdout + stderr go here (appended). */
  logFile: string;
}

/** One child process started directly (no shell), so `pid` is the node process itself. */
export class ManagedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logFile: string;
  private stdoutText = '';
  private exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly exitPromise: Promise<void>;

  constructor(options: SpawnOptions) {
    this.name = options.name;
    this.logFile = options.logFile;
    const fd = openSync(options.logFile, 'a');
    this.child = spawn(options.command, options.args, {
      cwd: options.cwd,
      env: options.env,
      // stdout piped (for `listening <url>` lines) and copied to the log; stderr straight to the log.
      stdio: ['ignore', 'pipe', fd],
    });
    closeSync(fd);
    const log = openSync(options.logFile, 'a');
    this.child.stdout?.on('data', (chunk: Buffer) => {
      if (this.stdoutText.length < 64 * 1024) this.stdoutText += chunk.toString('utf8');
      try {
        writeSync(log, chunk);
      } catch {
        /* log file gone: ignore */
      }
    });
    this.exitPromise = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exited = { code, signal };
        started.delete(this);
        try {
          closeSync(log);
        } catch {
          /* already closed */
        }
        resolve();
      });
    });
    started.add(this);
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`${this.name}: not started`);
    return this.child.pid;
  }

  get running(): boolean {
    return this.exited === undefined;
  }

  /** Resolves with the first match of `pattern` on stdout. */
  async waitForStdout(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = pattern.exec(this.stdoutText);
      if (match) return match;
      if (!this.running) throw new Error(`${this.name} exited (${JSON.stringify(this.exited)}) before printing ${pattern}; see ${this.logFile}`);
      if (Date.now() > deadline) throw new Error(`${this.name}: no ${pattern} on stdout within ${timeoutMs} ms; see ${this.logFile}`);
      await sleep(25);
    }
  }

  /** Polls `url` until it answers 200. */
  async waitForHttp(url: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last: string;
    for (;;) {
      if (!this.running) throw new Error(`${this.name} exited (${JSON.stringify(this.exited)}) before ${url} answered; see ${this.logFile}`);
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
        await res.arrayBuffer();
        if (res.status === 200) return;
        last = `HTTP ${res.status}`;
      } catch (error) {
        last = (error as Error).message;
      }
      if (Date.now() > deadline) throw new Error(`${this.name}: ${url} not ready within ${timeoutMs} ms (${last}); see ${this.logFile}`);
      await sleep(100);
    }
  }

  kill(signal: NodeJS.Signals): void {
    if (this.running && this.child.pid !== undefined) {
      try {
        process.kill(this.child.pid, signal);
      } catch {
        /* already gone */
      }
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    if (!this.running) return;
    this.kill('SIGTERM');
    const timer = setTimeout(() => this.kill('SIGKILL'), graceMs);
    await this.exitPromise;
    clearTimeout(timer);
  }

  exitStatus(): { code: number | null; signal: NodeJS.Signals | null } | undefined {
    return this.exited;
  }
}

/** Polls VmRSS of a pid; keeps the maximum and a coarse series. */
export class RssSampler {
  private timer: NodeJS.Timeout | undefined;
  maxMiB = 0;
  readonly series: { t: number; rssMiB: number }[] = [];
  private readonly t0 = Date.now();

  constructor(
    private readonly pid: number,
    private readonly intervalMs = 250,
  ) {}

  start(): this {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    return this;
  }

  sample(): number {
    try {
      const rss = statusMiB(this.pid, 'VmRSS');
      this.maxMiB = Math.max(this.maxMiB, rss);
      // keep the series small: one point per second is plenty for a report
      const t = Date.now() - this.t0;
      const lastPoint = this.series.at(-1);
      if (!lastPoint || t - lastPoint.t >= 1_000) this.series.push({ t, rssMiB: Math.round(rss * 10) / 10 });
      return rss;
    } catch {
      return Number.NaN;
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.sample();
  }
}
