import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface ServerProcess {
  url: string;
  child: ChildProcessWithoutNullStreams;
  /** Every log line so far (JSON lines from pino, plus anything else on stdout/stderr). */
  logs: () => string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop: () => Promise<void>;
}

export interface StartOptions {
  timeoutMs?: number;
  /**
   * Start through the README's command, `npm start`, in its own process group (as systemd or a
   * terminal runs it), so a test can signal the whole group: `process.kill(-child.pid, sig)`.
   */
  viaNpmStart?: boolean;
}

/** Starts `src/server.ts` as a user would (own process, real signals), on a free port. */
export async function startServerProcess(env: Record<string, string>, options: StartOptions | number = {}): Promise<ServerProcess> {
  const { timeoutMs = 20_000, viaNpmStart = false } = typeof options === 'number' ? { timeoutMs: options } : options;
  // Each process gets its own prompt snapshot unless the test shares one on purpose (never the repo's .cache/).
  const scratch = mkdtempSync(path.join(tmpdir(), 'agent-process-'));
  const childEnv = { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', PROMPT_SNAPSHOT_FILE: path.join(scratch, 'prompt-snapshot.json'), ...env };
  const child = viaNpmStart
    ? spawn('npm', ['start'], { env: { HOME: process.env.HOME ?? '/tmp', ...childEnv }, stdio: ['pipe', 'pipe', 'pipe'], detached: true })
    : spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], { env: childEnv, stdio: ['pipe', 'pipe', 'pipe'] });
  child.on('exit', () => rmSync(scratch, { recursive: true, force: true }));
  const lines: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      // Never leave a half-started server behind (it would outlive the test run); npm start: its whole group.
      if (viaNpmStart && child.pid) process.kill(-child.pid, 'SIGKILL');
      else child.kill('SIGKILL');
      reject(new Error(`server did not start:\n${lines.join('\n')}`));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        lines.push(line);
        const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(line);
        if (match?.[1]) {
          clearTimeout(timer);
          resolve(match[1]);
        }
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then(() => reject(new Error(`server exited during start-up:\n${lines.join('\n')}`)));
  });
  return {
    url,
    child,
    logs: () => lines,
    exited,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        if (viaNpmStart && child.pid) process.kill(-child.pid, 'SIGKILL');
        else child.kill('SIGKILL');
      }
      await exited;
    },
  };
}

export const orderStatusBody = (userId = 'usr_proc_01') =>
  JSON.stringify({ query: 'Where is my order?', order_reference: 'ORDER-924', region: 'eu', user_id: userId });

export function postOrderStatus(url: string, userId?: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url}/order-status`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: orderStatusBody(userId) });
}
