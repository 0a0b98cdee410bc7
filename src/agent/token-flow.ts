import { RunCancelledError } from '../errors.js';

/**
 * Back-pressure between the node that streams the answer and the caller that writes it out.
 *
 * LangGraph's `custom` stream mode queues every chunk a node writes, without limit, and its
 * reader pumps eagerly. A slow client would therefore make the run buffer the whole answer
 * while the model streams on. This gate bounds it: the node hands over a token, then waits while
 * more than `window` tokens are on their way; the caller marks each token delivered once it is
 * written (after the socket drained). While the node waits it does not pull the model stream, so
 * the provider's bytes stay in the TCP socket.
 */
export class TokenFlow {
  private inFlight = 0;
  private waiter: { resolve: () => void; reject: (error: Error) => void } | undefined;
  private readonly onAbort = () => this.waiter?.reject(new RunCancelledError());

  constructor(
    private readonly window: number,
    private readonly signal?: AbortSignal,
  ) {
    signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  /** Producer: one token handed over. Resolves at once while there is room, else on delivery. */
  sent(): Promise<void> | undefined {
    this.inFlight += 1;
    if (this.inFlight <= this.window) return undefined;
    if (this.signal?.aborted) return Promise.reject(new RunCancelledError());
    return new Promise<void>((resolve, reject) => {
      this.waiter = {
        resolve: () => {
          this.waiter = undefined;
          resolve();
        },
        reject: (error) => {
          this.waiter = undefined;
          reject(error);
        },
      };
    });
  }

  /** Consumer: one token written out. */
  delivered(): void {
    this.inFlight -= 1;
    if (this.inFlight <= this.window) this.waiter?.resolve();
  }

  /** The run is over: drop the abort listener. */
  close(): void {
    this.signal?.removeEventListener('abort', this.onAbort);
  }
}
