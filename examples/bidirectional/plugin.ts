import { serve } from '@plugwire/sdk';
import { type AddHelper, type Counter, counter } from './counter.js';

class Counters implements Counter {
  readonly #values = new Map<string, number>();
  async put(key: string, value: number, helper: AddHelper) {
    // A call from the plugin back into the host, in the middle of the host's call.
    this.#values.set(key, await helper.sum(this.#values.get(key) ?? 0, value));
  }
  async get(key: string) {
    return this.#values.get(key) ?? 0;
  }
}

await serve({ plugins: { counter: counter.implement(new Counters()) } });
