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

  it('streams server-sent events as they arrive, as the async iterable the OpenAI SDK reads', async () => {
    const nodeFetch = createNodeHttpFetch();
    const response = await nodeFetch(`${base}/events`);
    expect(response.ok).toBe(true);
    // What openai/internal/shims.mjs does with a body: iterate it when it is async-iterable.
    const body = response.body as unknown as AsyncIterable<Uint8Array>;
    expect(typeof body[Symbol.asyncIterator]).toBe('function');
    const started = Date.now();
    const chunks: string[] = [];
    for await (const chunk of body) {
      if (chunks.length === 0) expect(Date.now() - started).toBeLessThan(250);
      chunks.push(new TextDecoder().decode(chunk));
    }
    expect(chunks).toEqual(['data: first\n\n', 'data: last\n\n']);
    expect(response.bodyUsed).toBe(true);
    nodeFetch.destroy();
  });

  it('reads a whole event stream with text(), and aborts one mid-body with the abort reason', async () => {
    const nodeFetch = createNodeHttpFetch();
    expect(await (await nodeFetch(`${base}/events`)).text()).toBe('data: first\n\ndata: last\n\n');

    const controller = new AbortController();
    const response = await nodeFetch(`${base}/events`, { signal: controller.signal });
    const reading = (async () => {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        if (new TextDecoder().decode(chunk).includes('first')) controller.abort(new DOMException('client left', 'AbortError'));
      }
    })();
    await expect(reading).rejects.toMatchObject({ name: 'AbortError', message: 'client left' });
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
