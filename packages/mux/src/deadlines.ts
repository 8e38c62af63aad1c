/**
 * Items that each expire a fixed time after they were added, watched by one timer. The
 * timeout is the same for every item, so insertion order is deadline order: the timer only
 * ever waits for the oldest item, and adding or removing one is a Map operation, not a timer
 * (a session may hold hundreds of opening streams or broker streams at once).
 */
export class Deadlines<T> {
  readonly ms: number;
  readonly #onExpire: (item: T) => void;
  readonly #items = new Map<T, number>();
  #timer: NodeJS.Timeout | undefined;

  /** `ms <= 0` disables expiry: add() only counts. */
  constructor(ms: number, onExpire: (item: T) => void) {
    this.ms = ms;
    this.#onExpire = onExpire;
  }

  get size(): number {
    return this.#items.size;
  }

  has(item: T): boolean {
    return this.#items.has(item);
  }

  /** The items, oldest first. */
  keys(): IterableIterator<T> {
    return this.#items.keys();
  }

  add(item: T): void {
    this.#items.set(item, performance.now() + this.ms);
    if (this.ms > 0 && this.#timer === undefined) this.#arm(this.ms);
  }

  delete(item: T): boolean {
    return this.#items.delete(item);
  }

  /** Forgets every item and stops the timer. */
  clear(): void {
    this.#items.clear();
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(ms: number): void {
    // Unref'd: the connection these items belong to keeps the process alive, not a timeout.
    this.#timer = setTimeout(this.#fire, Math.max(1, Math.ceil(ms)));
    this.#timer.unref();
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    const now = performance.now();
    for (const [item, at] of this.#items) {
      if (at > now) {
        if (this.#timer === undefined) this.#arm(at - now);
        return;
      }
      this.#items.delete(item);
      this.#onExpire(item);
    }
  };
}
