// A fixed-size ring of the last N items: log lines, state changes and samples are kept this
// way so the host's memory stays bounded however long it runs.

export class Ring<T> {
  readonly #items: T[] = [];
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  push(item: T): void {
    this.#items.push(item);
    if (this.#items.length > this.#max) this.#items.shift();
  }

  /** The last `n` items (all by default), oldest first. */
  last(n = this.#max): T[] {
    return n >= this.#items.length ? [...this.#items] : this.#items.slice(this.#items.length - n);
  }

  get size(): number {
    return this.#items.length;
  }
}
