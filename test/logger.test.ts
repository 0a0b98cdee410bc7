import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { usePrettyLogs } from '../src/logger.js';

describe('log format', () => {
  const tty = { isTTY: true } as NodeJS.WritableStream & { isTTY: boolean };
  const pipe = {} as NodeJS.WritableStream;

  it('auto: readable lines only in development on a terminal; JSON for pipes, CI, containers, production', () => {
    expect(usePrettyLogs('auto', 'development', tty)).toBe(true);
    expect(usePrettyLogs('auto', 'development', pipe)).toBe(false);
    expect(usePrettyLogs('auto', 'production', tty)).toBe(false);
    expect(usePrettyLogs('json', 'development', tty)).toBe(false);
    expect(usePrettyLogs('pretty', 'production', pipe)).toBe(true);
  });

  it.skipIf(spawnSync('script', ['--version']).status !== 0)('npm start on a terminal prints readable lines, not JSON', () => {
    // `script` gives the server a real pseudo-terminal, as a developer's shell does.
    const result = spawnSync('script', ['-qec', 'timeout -s INT 10 npm start', '/dev/null'], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME ?? '/tmp', PORT: '0', OTEL_SDK_DISABLED: 'true' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    const lines = result.stdout.split(/\r?\n/).filter((l) => l.includes('Server listening at'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/INFO/);
    expect(lines[0]?.trimStart().startsWith('{')).toBe(false);
    expect(result.stdout).toMatch(/OFFLINE deterministic model/);
  });
});
