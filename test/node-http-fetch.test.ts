import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNodeHttpFetch } from '../src/model/node-http-fetch.js';

/** The keep-alive node:http fetch under the OpenAI SDK (the SDK's own paths are covered in providers/faults). */
let server: http.Server;
let base: string;
let connections = 0;
const seen: { method: string; headers: http.IncomingHttpHeaders; body: string }[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', headers: req.headers, body });
      if (req.url === '/json') {
        res.setHeader('x-multi', ['a', 'b']);
        return res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ echo: body }));
      }
      if (req.url === '/empty') return res.writeHead(204).end();
      if (req.url === '/events') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: first\n\n');
        // The rest only after the client has read the first event.
        return void setTimeout(() => res.end('data: last\n\n'), 300);
      }
      if (req.url === '/hang') return; // never answers
      res.writeHead(404).end();
    });
  });
  server.on('connection', () => (connections += 1));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('node:http fetch', () => {
  it('sends method, headers and body, and returns status, headers and a JSON body like fetch', async () => {
    const nodeFetch = createNodeHttpFetch();
    const response = await nodeFetch(`${base}/json`, {
      method: 'post',
      headers: new Headers({ 'content-type': 'application/json', authorization: 'Bearer k', 'accept-encoding': 'gzip' }),
      body: '{"q":1}',
    });
    expect(response.status).toBe(201);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(response.headers.get('x-multi')).toBe('a, b');
    expect(await response.json()).toEqual({ echo: '{"q":1}' });
    const request = seen.at(-1);
    expect(request).toMatchObject({ method: 'POST', body: '{"q":1}' });
    expect(request?.headers.authorization).toBe('Bearer k');
    // Nothing compressed comes back, so nothing needs decompressing.
    expect(request?.headers['accept-encoding']).toBeUndefined();
    nodeFetch.destroy();
  });

  it('keeps connections alive between calls', async () => {
    const nodeFetch = createNodeHttpFetch();
    const before = connections;
    for (let i = 0; i < 5; i++) await (await nodeFetch(`${base}/json`, { method: 'POST', body: 'x' })).text();
    expect(connections - before).toBe(1);
    nodeFetch.destroy();
  });

  it('answers a 204 with a null body', async () => {
    const nodeFetch = createNodeHttpFetch();
    const response = await nodeFetch(`${base}/empty`);
    expect(response.status).toBe(204);
    expect(response.body).toBeNull();
    nodeFetch.destroy();
  });

  it('streams server-sent events as they arrive', async () => {
    const nodeFetch = createNodeHttpFetch();
    const response = await nodeFetch(`${base}/events`);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const started = Date.now();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toBe('data: first\n\n');
    expect(Date.now() - started).toBeLessThan(250);
    let rest = '';
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) rest += new TextDecoder().decode(chunk.value);
    expect(rest).toBe('data: last\n\n');
    nodeFetch.destroy();
  });

  it('rejects with the abort reason, before and during a request', async () => {
    const nodeFetch = createNodeHttpFetch();
    const aborted = AbortSignal.abort();
    await expect(nodeFetch(`${base}/json`, { signal: aborted })).rejects.toMatchObject({ name: 'AbortError' });

    const controller = new AbortController();
    const pending = nodeFetch(`${base}/hang`, { method: 'POST', body: 'x', signal: controller.signal });
    setTimeout(() => controller.abort(new DOMException('deadline', 'TimeoutError')), 50);
    const started = Date.now();
    await expect(pending).rejects.toMatchObject({ name: 'TimeoutError' });
    expect(Date.now() - started).toBeLessThan(1_000);
    nodeFetch.destroy();
  });

  it('fails like fetch on a refused connection: TypeError with the socket error as cause', async () => {
    const nodeFetch = createNodeHttpFetch();
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const error = await nodeFetch(`http://127.0.0.1:${port}/`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as { cause?: { code?: string } }).cause?.code).toBe('ECONNREFUSED');
    nodeFetch.destroy();
  });

  it('hands bodies it does not cover (streams, forms) to the global fetch', async () => {
    const nodeFetch = createNodeHttpFetch();
    const response = await nodeFetch(`${base}/json`, { method: 'POST', body: new URLSearchParams({ a: '1' }) });
    expect(await response.json()).toEqual({ echo: 'a=1' });
    nodeFetch.destroy();
  });
});
