import { ReceiveBudgetExceededError } from './errors.js';

/**
 * How many bytes of partly received messages the peers of one connection may hold between
 * them. Each RpcPeer holds the bytes of a message that has not fully arrived (up to
 * maxMessageSize); over a multiplexed connection a remote can start a large message on
 * every stream and never finish them, so the per-message limit alone does not bound the
 * connection. Give every peer of one connection the same budget (`receiveBudget`): a peer
 * whose next bytes would exceed it closes with ReceiveBudgetExceededError, before they are
 * kept. Complete messages are not counted: they are decoded and released at once.
 */
export class ReceiveBudget {
  /** The most bytes the peers sharing this budget may hold, in all. */
  readonly limit: number;
  #used = 0;

  constructor(limit: number) {
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw new RangeError('the receive budget must be a positive integer number of bytes');
    }
    this.limit = limit;
  }

  /** Bytes held now by the peers sharing this budget. */
  get used(): number {
    return this.#used;
  }

  /** @internal Takes `bytes`, or throws (taking nothing) when they do not fit. */
  take(bytes: number): void {
    if (this.#used + bytes > this.limit) {
      throw new ReceiveBudgetExceededError(this.#used + bytes, this.limit);
    }
    this.#used += bytes;
  }

  /** @internal Gives back bytes taken before. */
  give(bytes: number): void {
    this.#used -= bytes;
  }
}
