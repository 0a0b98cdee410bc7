/**
 * A real Redis for tests: Debian's `redis-server` on a free 127.0.0.1 port, no persistence,
 * started and stopped by the test itself (never a system service). `stop()` kills it like a
 * crash (SIGKILL); `start()` brings it back on the same port, empty.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

export interface TestRedis {
  readonly url: string;
  readonly port: number;
  /** The running server's pid, or undefined while stopped. */
  readonly pid: number | undefined;
  start(): Promise<void>;
  /** SIGKILL: connections drop at once, as in a crash. */
  stop(): Promise<void>;
  /** One redis-cli command's output (e.g. `PUBSUB NUMSUB channel`). */
  cli(...args: string[]): string;
}

/** Why Redis tests cannot run here, or undefined when they can. CI sets CI_REQUIRE_REDIS=1 so a missing server fails. */
export function redisUnavailable(): string | undefined {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (probe.status === 0) return undefined;
  const reason = 'redis-server not installed (Debian: apt-get install redis-server)';
  if (process.env.CI_REQUIRE_REDIS === '1') throw new Error(`CI_REQUIRE_REDIS=1 but ${reason}`);
  return reason;
}

export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

export async function startTestRedis(): Promise<TestRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined;

  const start = async () => {
    if (child) return;
    const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    proc.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    child = proc;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) throw new Error(`redis-server exited: ${output}`);
      if (spawnSync('redis-cli', ['-p', String(port), 'PING'], { encoding: 'utf8' }).stdout.trim() === 'PONG') return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`redis-server did not answer on ${port}: ${output}`);
  };

  const stop = async () => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGKILL');
    await exited;
  };

  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    get pid() {
      return child?.pid;
    },
    start,
    stop,
    cli: (...args) => spawnSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' }).stdout.trim(),
  };
}
