/**
 * Small shared helpers for the local HTTP stand-ins (Langfuse prompts, OpenAI, OTLP).
 * node:http only; no third-party dependencies.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';

/** Read the whole request body into one Buffer. */
export function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
    });
    req.on('end', () => {
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    });
    req.on('error', reject);
  });
}

/** Create an http.Server tuned for local load: no request timeout, Nagle off. */
export function createStandInServer(handler: http.RequestListener): http.Server {
  const server = http.createServer({ noDelay: true, requestTimeout: 0, keepAlive: true }, handler);
  // keep-alive sockets from load generators should be reused, not churned
  server.keepAliveTimeout = 30_000;
  server.headersTimeout = 35_000;
  return server;
}

/** listen() as a promise; resolves with the bound port. Large backlog for bursts of connections. */
export function listen(server: http.Server, port: number, host: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const onError = (err: Error): void => {
      server.off('listening', onListening);
      reject(err);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ port, host, backlog: 4096 });
  });
}

/** Stop accepting connections and destroy every open socket (idle or not). */
export function closeServer(server: http.Server): Promise<void> {
  return new Promise<void>((resolve) => {
    if (!server.listening) {
      server.closeAllConnections();
      resolve();
      return;
    }
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/**
 * Send a fault body: strings go out verbatim as text/plain (override with a content-type header),
 * anything else as JSON.
 */
export function sendFaultBody(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers?: Record<string, string>,
): void {
  if (typeof body !== 'string') {
    sendJson(res, status, body, headers);
    return;
  }
  if (res.destroyed || res.headersSent) return;
  const h: Record<string, string | number> = {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  };
  if (headers) for (const k of Object.keys(headers)) h[k.toLowerCase()] = headers[k] as string;
  res.writeHead(status, h);
  res.end(body);
}

/** Send a JSON body with content-length. A string body is sent verbatim (must already be JSON). */
export function sendJson(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers?: Record<string, string>,
): void {
  if (res.destroyed || res.headersSent) return;
  const payload = typeof body === 'string' ? body : JSON.stringify(body);
  const h: Record<string, string | number> = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
  };
  if (headers) for (const k of Object.keys(headers)) h[k.toLowerCase()] = headers[k] as string;
  res.writeHead(status, h);
  res.end(payload);
}

/** Query string → plain object (last value wins). */
export function queryObject(params: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of params) out[k] = v;
  return out;
}

/** Minimal CLI parser: `--key value`, `--key=value`, `--flag`, `--no-flag`. Repeated keys collect into arrays. */
export interface CliArgs {
  get(name: string): string | undefined;
  all(name: string): string[];
  flag(name: string): boolean | undefined;
}

export function parseCliArgs(argv: readonly string[]): CliArgs {
  const values = new Map<string, string[]>();
  const flags = new Map<string, boolean>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (!a.startsWith('--')) continue;
    const eq = a.indexOf('=');
    if (eq > 0) {
      const k = a.slice(2, eq);
      values.set(k, [...(values.get(k) ?? []), a.slice(eq + 1)]);
      continue;
    }
    const k = a.slice(2);
    const next = argv[i + 1];
    if (next !== undefined && !next.startsWith('--')) {
      values.set(k, [...(values.get(k) ?? []), next]);
      i++;
    } else if (k.startsWith('no-')) {
      flags.set(k.slice(3), false);
    } else {
      flags.set(k, true);
    }
  }
  return {
    get: (name) => values.get(name)?.at(-1),
    all: (name) => values.get(name) ?? [],
    flag: (name) => flags.get(name),
  };
}

/** True when the module with this import.meta.url is the process entry point (`node --import tsx file.ts`). */
export function isDirectRun(importMetaUrl: string): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return importMetaUrl === pathToFileURL(entry).href;
  } catch {
    return false;
  }
}

/**
 * Standalone runner: starts the stand-in, prints exactly one line `listening <url>` on stdout,
 * and closes it on SIGTERM/SIGINT.
 */
export async function runStandalone(start: () => Promise<{ url: string; close(): Promise<void> }>): Promise<void> {
  const state: { handle?: { url: string; close(): Promise<void> } } = {};
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    if (!state.handle) process.exit(0);
    state.handle.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  // installed before start() so an early signal still exits cleanly
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  state.handle = await start();
  process.stdout.write(`listening ${state.handle.url}\n`);
}
