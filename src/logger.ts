import { createRequire } from 'node:module';
import pino, { type DestinationStream, type Logger } from 'pino';

/** Never logged, wherever they appear. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'headers.authorization',
  'authorization',
  '*.apiKey',
  '*.secretKey',
  '*.publicKey',
  'apiKey',
  'secretKey',
];

export type LogFormat = 'auto' | 'json' | 'pretty';

type LogStream = NodeJS.WritableStream & { isTTY?: boolean; fd?: number; on?: (e: string, cb: (err: NodeJS.ErrnoException) => void) => void };

/**
 * `auto`: readable lines for a person (pino-pretty) in development when the log stream is a
 * terminal; JSON everywhere else (CI, containers, pipes, files), where machines read them.
 */
export function usePrettyLogs(format: LogFormat, environment: string, destination: LogStream): boolean {
  if (format !== 'auto') return format === 'pretty';
  return environment === 'development' && destination.isTTY === true;
}

/** pino-pretty, loaded only when used; synchronous so nothing is lost at process.exit. */
function prettyStream(destination: LogStream): DestinationStream {
  const pretty = createRequire(import.meta.url)('pino-pretty') as (options: Record<string, unknown>) => DestinationStream;
  return pretty({
    destination: destination.fd ?? 1,
    sync: true,
    colorize: destination.isTTY === true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,service',
  });
}

/** Logs for the service (stdout) and CLIs (stderr, so stdout stays for their contract lines). */
export function createLogger(
  level: string,
  destination: LogStream = process.stdout,
  { format = 'json', environment = 'development' }: { format?: LogFormat; environment?: string } = {},
): Logger {
  // A vanished reader (EPIPE) must not turn shutdown into a write-error loop.
  destination.on?.('error', (error) => {
    if (error.code !== 'EPIPE') throw error;
  });
  const stream = usePrettyLogs(format, environment, destination) ? prettyStream(destination) : (destination as DestinationStream);
  return pino({ level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { service: 'order-status-agent' } }, stream);
}
