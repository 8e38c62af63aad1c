// go-plugin's bidirectional example: the plugin keeps counters, but the addition is done by
// a helper that lives in the host and is passed along with every call.
import { definePlugin } from '@plugwire/sdk';

export interface AddHelper {
  sum(a: number, b: number): Promise<number>;
}

export interface Counter {
  put(key: string, value: number, helper: AddHelper): Promise<void>;
  get(key: string): Promise<number>;
}

export const counter = definePlugin<Counter>({ name: 'counter', methods: ['put', 'get'] });
