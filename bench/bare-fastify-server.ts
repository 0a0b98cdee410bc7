/**
 * Baseline (a): a bare Fastify route that answers POST /order-status with the same JSON shape
 * (and about the same size) as the service, without any agent, model call, validation or tracing.
 * It is the ceiling for "HTTP in, JSON out" on this machine and runtime.
 *
 *   HOST=127.0.0.1 PORT=3400 node --import tsx bench/bare-fastify-server.ts
 * prints `listening http://127.0.0.1:3400`.
 */
import { randomBytes } from 'node:crypto';
import Fastify from 'fastify';
import { serveBaseline } from './lib/serve.js';

const host = process.env.HOST ?? '127.0.0.1';
const port = Number(process.env.PORT ?? 3400);

interface Body {
  conversation_id?: string;
}

const app = Fastify({ logger: false, bodyLimit: 16 * 1024 });

app.get('/healthz', async () => ({ status: 'ok' }));

app.post('/order-status', async (request) => {
  const body = (request.body ?? {}) as Body;
  return {
    outcome: 'answer',
    answer: 'stand-in answer (2 messages)',
    conversation_id: body.conversation_id ?? `conv_${randomBytes(16).toString('hex')}`,
    trace_id: randomBytes(16).toString('hex'),
    prompt: { name: 'order-status-answer', version: 1, label: 'production', source: 'langfuse' },
  };
});

await serveBaseline(app, host, port);
