// The live event stream (Server-Sent Events): state changes, log lines, metric samples and
// plugins loaded or unloaded, to every connected client. A client that does not read is cut
// off once its backlog passes maxEventBacklog, so no reader can grow the host's memory.
import type { ServerResponse } from 'node:http';

/** The kinds of event on the stream (the SSE `event:` field). */
export type EventKind = 'hello' | 'state' | 'log' | 'metrics' | 'plugins';

// Proxies and browsers drop an idle connection after a while; a comment line every so often
// keeps it open and lets a dead client be noticed by the failed write.
const KEEPALIVE_MS = 15_000;

export class EventHub {
  readonly #clients = new Set<ServerResponse>();
  readonly #maxClients: number;
  readonly #maxBacklog: number;
  #keepalive: NodeJS.Timeout | undefined;

  constructor(maxClients: number, maxBacklog: number) {
    this.#maxClients = maxClients;
    this.#maxBacklog = maxBacklog;
  }

  get size(): number {
    return this.#clients.size;
  }

  get full(): boolean {
    return this.#clients.size >= this.#maxClients;
  }

  /** Takes over a response as an event stream; `first` is sent before anything else. */
  add(res: ServerResponse, first: unknown): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write(frame('hello', first));
    this.#clients.add(res);
    const drop = () => this.#clients.delete(res);
    res.on('close', drop);
    res.on('error', drop);
    if (!this.#keepalive) {
      this.#keepalive = setInterval(() => this.#send(': keepalive\n\n'), KEEPALIVE_MS);
      this.#keepalive.unref();
    }
  }

  publish(kind: EventKind, data: unknown): void {
    if (this.#clients.size === 0) return;
    this.#send(frame(kind, data));
  }

  /** Ends every stream (the server is closing). */
  close(): void {
    clearInterval(this.#keepalive);
    this.#keepalive = undefined;
    for (const res of this.#clients) res.end();
    this.#clients.clear();
  }

  #send(text: string): void {
    for (const res of this.#clients) {
      if (res.writableLength > this.#maxBacklog) {
        this.#clients.delete(res);
        res.destroy();
        continue;
      }
      res.write(text);
    }
  }
}

function frame(kind: EventKind, data: unknown): string {
  // JSON has no raw newlines, so one `data:` line carries the whole event.
  return `event: ${kind}\ndata: ${JSON.stringify(data)}\n\n`;
}
