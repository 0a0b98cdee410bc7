import type { FastifyInstance } from 'fastify';

/**
 * Listen like src/server.ts (same 4096 backlog, so connection bursts are handled alike), print
 * `listening <url>` for the driver, and close on SIGTERM/SIGINT.
 */
export async function serveBaseline(app: FastifyInstance, host: string, port: number): Promise<void> {
  await app.listen({ host, port, backlog: 4096 });
  process.stdout.write(`listening http://${host}:${port}\n`);
  const stop = () => {
    app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
