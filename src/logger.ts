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

/** JSON logs; CLIs pass stderr so stdout stays for their contract output. */
export function createLogger(level: string, destination: DestinationStream | NodeJS.WritableStream = process.stdout): Logger {
  const stream = destination as NodeJS.WritableStream & { on?: (e: string, cb: (err: NodeJS.ErrnoException) => void) => void };
  // A vanished reader (EPIPE) must not turn shutdown into a write-error loop.
  stream.on?.('error', (error) => {
    if (error.code !== 'EPIPE') throw error;
  });
  return pino({ level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { service: 'order-status-agent' } }, destination as DestinationStream);
}
