import { connect } from 'node:net';

/**
 * Whether something accepts TCP connections at the OTLP endpoint's host and port. Used only
 * at shutdown: with no Collector running (a laptop, `npm start` on a fresh machine) the
 * exporters' back-off retries would hold every Ctrl-C for ~8 s for spans that cannot be
 * delivered; a refused connect answers in about a millisecond.
 */
export function isAcceptingConnections(endpoint: string, timeoutMs = 500): Promise<boolean> {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return Promise.resolve(false);
  }
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  // URL keeps IPv6 literals bracketed; net.connect wants them bare.
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (reachable: boolean) => {
      socket.destroy();
      resolve(reachable);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
