import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { LoadResult, LoadSpec } from '../load-generator.js';

/** The driver's side of bench/load-generator.ts: forks it once, one load run per IPC message. */
export class LoadGenerator {
  private child: ChildProcess | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: LoadResult) => void; reject: (e: Error) => void }>();

  constructor(
    private readonly root: string,
    private readonly env: () => Record<string, string>,
  ) {}

  async start(): Promise<void> {
    const child = fork(path.join(this.root, 'bench/load-generator.ts'), [], {
      cwd: this.root,
      env: this.env(),
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child = child;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('load generator did not start in 30 s')), 30_000);
      child.on('message', (message: { type: string; id?: number; result?: LoadResult; error?: string }) => {
        if (message.type === 'ready') {
          clearTimeout(timer);
          resolve();
          return;
        }
        const waiter = message.id === undefined ? undefined : this.pending.get(message.id);
        if (!waiter || message.id === undefined) return;
        this.pending.delete(message.id);
        if (message.type === 'result' && message.result) waiter.resolve(message.result);
        else waiter.reject(new Error(`load generator: ${message.error ?? 'unknown error'}`));
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        const error = new Error(`load generator exited (${code})`);
        reject(error);
        for (const waiter of this.pending.values()) waiter.reject(error);
        this.pending.clear();
      });
    });
  }

  get pid(): number {
    if (this.child?.pid === undefined) throw new Error('load generator not started');
    return this.child.pid;
  }

  run(spec: LoadSpec): Promise<LoadResult> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child?.send({ type: 'run', id, spec });
    });
  }

  stop(): void {
    if (this.child?.connected) this.child.disconnect();
    if (this.child?.pid !== undefined && this.child.exitCode === null) {
      try {
        process.kill(this.child.pid, 'SIGTERM');
      } catch {
        /* gone */
      }
    }
  }
}
